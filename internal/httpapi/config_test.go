package httpapi_test

import (
	"testing"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/httpapi"
)

func TestListenAddress(t *testing.T) {
	c, err := config.Load[httpapi.Config](config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Addr(config.Development); got != "127.0.0.1:8080" {
		t.Errorf("dev default = %s: a laptop's server must not listen on the network", got)
	}
	if got := c.Addr(config.Production); got != "0.0.0.0:8080" {
		t.Errorf("production default = %s", got)
	}
	c.Host, c.Port = "::1", 0 // 0: a free port
	if got := c.Addr(config.Production); got != "[::1]:0" {
		t.Errorf("explicit host = %s", got)
	}
	for _, p := range []string{"-1", "65536"} {
		if _, err := config.Load[httpapi.Config](config.Map(map[string]string{"PORT": p})); err == nil {
			t.Errorf("PORT=%s accepted", p)
		}
	}
}
