package guard_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/guard"
	"github.com/jarvis-core/jarvis/internal/ratelimit"
)

func TestConfigDefaultsAndOverrides(t *testing.T) {
	c, err := guard.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != ratelimit.DefaultConfig() || c.BodyTimeout != 30*time.Second || c.WriteTimeout != time.Minute ||
		len(c.TrustedProxies) != 0 || len(c.CORS.AllowedOrigins) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	t.Setenv("RATELIMIT_AUTH_ACCOUNT_PER_MINUTE", "2")
	t.Setenv("TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")
	t.Setenv("CORS_ALLOWED_ORIGINS", "https://app.example.com")
	c, err = guard.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.AuthAccountPerMinute != 2 || len(c.TrustedProxies) != 2 || c.CORS.AllowedOrigins[0] != "https://app.example.com" {
		t.Fatalf("overrides: %+v", c)
	}
	t.Setenv("RATELIMIT_IP_PER_MINUTE", "lots")
	if _, err := guard.LoadConfig(); err == nil {
		t.Fatal("a non-number limit was accepted")
	}
}

// Every variable the guard rails read is documented in .env.example.
func TestEnvExampleListsTheGuardVariables(t *testing.T) {
	example, err := config.ReadEnvFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for f := range typ.Fields() {
			if name := f.Tag.Get("env"); name != "" {
				names = append(names, name)
			} else if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[guard.Config]())
	walk(reflect.TypeFor[password.Bound]())
	if len(names) < 10 {
		t.Fatalf("found only %v", names)
	}
	for _, n := range names {
		if _, ok := example[n]; !ok {
			t.Errorf(".env.example lacks %s", n)
		}
	}
}
