package guard_test

import (
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/browserpolicy"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/guard"
	"github.com/jarvis-core/jarvis/internal/ratelimit"
)

// (.env.example is held to every module's Config by internal/app's test.)
func TestConfigDefaultsAndOverrides(t *testing.T) {
	c, err := config.Load[guard.Config](config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	l, err := config.Load[ratelimit.Config](config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	cors, err := config.Load[browserpolicy.Config](config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	if l != ratelimit.DefaultConfig() || c.BodyTimeout != 30*time.Second || c.WriteTimeout != time.Minute ||
		len(c.TrustedProxies) != 0 || len(cors.AllowedOrigins) != 0 {
		t.Fatalf("defaults: %+v %+v %+v", c, l, cors)
	}
	src := config.Map(map[string]string{
		"RATELIMIT_AUTH_ACCOUNT_PER_MINUTE": "2",
		"TRUSTED_PROXIES":                   "10.0.0.0/8,127.0.0.1",
		"CORS_ALLOWED_ORIGINS":              "https://app.example.com",
	})
	c, _ = config.Load[guard.Config](src)
	l, _ = config.Load[ratelimit.Config](src)
	cors, _ = config.Load[browserpolicy.Config](src)
	if l.AuthAccountPerMinute != 2 || len(c.TrustedProxies) != 2 || cors.AllowedOrigins[0] != "https://app.example.com" {
		t.Fatalf("overrides: %+v %+v %+v", c, l, cors)
	}
	if _, err := config.Load[ratelimit.Config](config.Map(map[string]string{"RATELIMIT_IP_PER_MINUTE": "lots"})); err == nil {
		t.Fatal("a non-number limit was accepted")
	}
}
