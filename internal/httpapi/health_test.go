package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/httpapi"
	"github.com/jarvis-core/jarvis/internal/redisconn"
)

func ready(t *testing.T, checks []httpapi.Check) (int, map[string]any) {
	t.Helper()
	h, err := httpapi.NewHandler(httpapi.Params{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Checks: checks})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestReadyzReportsWhichDependencyIsDown(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	pg := d.App(t)
	up := &redisconn.Conn{Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})}
	down := &redisconn.Conn{Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})}
	t.Cleanup(func() { up.Client.Close(); down.Client.Close() })
	if err := up.Ping(context.Background()); err != nil {
		t.Fatalf("the test needs Redis on 127.0.0.1:6379: %v", err)
	}

	code, body := ready(t, httpapi.Checks(pg, up))
	if code != 200 || body["status"] != "ok" || body["checks"].(map[string]any)["migrations"] != "ok" {
		t.Fatalf("all up: %d %v", code, body)
	}
	code, body = ready(t, httpapi.Checks(pg, down))
	checks := body["checks"].(map[string]any)
	// Redis is optional: the API serves without it (in-process limits and
	// fan-out), so the instance stays in the load balancer, degraded.
	if code != 200 || body["status"] != "degraded" || checks["redis"] != "down" || checks["postgres"] != "ok" {
		t.Fatalf("redis down: %d %v", code, body)
	}
	code, body = ready(t, httpapi.Checks(pg, &redisconn.Conn{}))
	checks = body["checks"].(map[string]any)
	if code != 200 || checks["redis"] != "disabled" {
		t.Fatalf("redis not configured: %d %v", code, body)
	}
	// The database loses its newest revision: the binary is ahead of it.
	owner := d.OwnerClient(t)
	if _, err := owner.ExecContext(context.Background(),
		`DELETE FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = (SELECT max(version) FROM atlas_schema_revisions.atlas_schema_revisions)`); err != nil {
		t.Fatal(err)
	}
	code, body = ready(t, httpapi.Checks(pg, up))
	checks = body["checks"].(map[string]any)
	if code != 503 || checks["migrations"] != "behind" || checks["postgres"] != "ok" {
		t.Fatalf("schema behind: %d %v", code, body)
	}

	closed := d.App(t)
	closed.Pool.Close()
	code, body = ready(t, httpapi.Checks(closed, up))
	checks = body["checks"].(map[string]any)
	if code != 503 || checks["postgres"] != "down" || checks["redis"] != "ok" {
		t.Fatalf("postgres down: %d %v", code, body)
	}
	// A required dependency down wins over an optional one.
	code, body = ready(t, httpapi.Checks(closed, down))
	if code != 503 || body["status"] != "unavailable" {
		t.Fatalf("postgres and redis down: %d %v", code, body)
	}
}

// A probe checks Postgres and the schema one after the other, on the
// connection the pool has: a fresh instance's first probe would otherwise
// dial a second connection just to answer it.
func TestReadyzTakesOnePostgresConnection(t *testing.T) {
	t.Parallel()
	pg := dbtest.New(t).App(t)
	if n := pg.Pool.Stat().TotalConns(); n != 1 {
		t.Fatalf("a fresh pool holds %d connections, want the 1 its ping opened", n)
	}
	if code, body := ready(t, httpapi.Checks(pg, &redisconn.Conn{})); code != 200 {
		t.Fatalf("readyz: %d %v", code, body)
	}
	if n := pg.Pool.Stat().TotalConns(); n != 1 {
		t.Fatalf("after a probe the pool holds %d connections, want 1", n)
	}
}
