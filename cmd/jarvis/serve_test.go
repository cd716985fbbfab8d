package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

// listenAddr waits for the server's "http server listening" line (PORT=0
// lets the system pick the port) and returns its address.
func listenAddr(t *testing.T, logs *logtest.Buffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for line := range strings.Lines(logs.String()) {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "http server listening" {
				return l.Addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned before listening: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("not listening after 10s:\n%s", logs.String())
	return ""
}

// TestServeIsReadyAndStopsGracefully runs the real app against a real
// database and Redis, waits for /readyz, then cancels the context as
// SIGTERM does and expects an orderly stop.
func TestServeIsReadyAndStopsGracefully(t *testing.T) {
	d := dbtest.New(t)
	src := config.Map(map[string]string{
		"APP_ENV": "test", "PORT": "0", "DATABASE_URL": d.AppURL, "LOG_LEVEL": "info",
		"REDIS_URL": "redis://127.0.0.1:6379/0", "JWT_SECRET": strings.Repeat("x", 32),
		"SECRETS_MASTER_KEY": strings.Repeat("0f", 32), "SHUTDOWN_TIMEOUT": "5s",
	})
	var logs logtest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, src, &logs) }()

	url := "http://" + listenAddr(t, &logs, done) + "/readyz"
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
	t.Setenv("LOG_LEVEL", "verbose")
	err := run(context.Background(), []string{"serve"}, &bytes.Buffer{}, &stderr)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("serve without configuration: %v, want a *config.Error", err)
	}
	// Only the list of variables, not fx's account of the wiring.
	if !strings.HasPrefix(err.Error(), "invalid configuration:") {
		t.Errorf("error = %v", err)
	}
	for _, v := range []string{"DATABASE_URL", "JWT_SECRET", "SECRETS_MASTER_KEY", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s: %v", v, err)
		}
	}
	if strings.Contains(err.Error(), "short-secret-value") {
		t.Error("error echoes JWT_SECRET")
	}
}

// TestEnvExampleDocumentsTheCommands' variables (the modules' are checked in
// internal/app).
func TestEnvExampleDocumentsTheCommands(t *testing.T) {
	example, err := readEnvFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars[migrateConfig]() {
		if _, ok := example[v]; !ok {
			t.Errorf(".env.example lacks %s", v)
		}
	}
	if _, err := config.Load[migrateConfig](config.Map(example)); err != nil {
		t.Errorf(".env.example: %v", err)
	}
}
