package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServeIsReadyAndStopsGracefully runs the real app against a real
// database and Redis, waits for /readyz, then cancels the context as
// SIGTERM does and expects an orderly stop.
func TestServeIsReadyAndStopsGracefully(t *testing.T) {
	d := dbtest.New(t)
	port := freePort(t)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"APP_ENV": "test", "PORT": fmt.Sprint(port), "DATABASE_URL": d.AppURL,
			"REDIS_URL": "redis://127.0.0.1:6379/0", "JWT_SECRET": strings.Repeat("x", 32),
			"SECRETS_MASTER_KEY": strings.Repeat("0f", 32), "SHUTDOWN_TIMEOUT": "5s",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logging.New(&logs, logging.ParseLevel("info"))) }()

	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	var body map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if resp.Header.Get("X-Correlation-ID") == "" {
					t.Error("response without X-Correlation-ID")
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 10s: %v %v\n%s", err, body, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if checks := body["checks"].(map[string]any); checks["postgres"] != "ok" || checks["redis"] != "ok" {
		t.Fatalf("readyz = %v", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s")
	}
	if _, err := http.Get(url); err == nil {
		t.Fatal("server still answers after stop")
	}
	out := logs.String()
	for _, want := range []string{"http server listening", "http server draining", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, strings.Repeat("x", 32)) || strings.Contains(out, strings.Repeat("0f", 32)) {
		t.Error("a secret reached the logs")
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	var stderr bytes.Buffer
	t.Setenv("DATABASE_URL", "")
	t.Setenv("JWT_SECRET", "short-secret-value")
	t.Setenv("SECRETS_MASTER_KEY", "")
	err := run(context.Background(), []string{"serve"}, &bytes.Buffer{}, &stderr)
	if err == nil {
		t.Fatal("serve started without configuration")
	}
	for _, v := range []string{"DATABASE_URL", "JWT_SECRET", "SECRETS_MASTER_KEY"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s: %v", v, err)
		}
	}
	if strings.Contains(err.Error(), "short-secret-value") {
		t.Error("error echoes JWT_SECRET")
	}
}
