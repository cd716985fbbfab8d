package realtime_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/openapi"
)

// BenchmarkEmitBatch is one POST /v1/runs/{id}/event-batches of ten
// agent.token events, as a worker streams them, through the whole service
// on Redis, client included (allocs/op is what the emit path costs the GC).
func BenchmarkEmitBatch(b *testing.B) {
	_, prefix := redisPrefix(b)
	s := apptest.New(b, apptest.Env(map[string]string{"REDIS_URL": testRedisURL(),
		"REALTIME_REDIS_PREFIX":   prefix,
		"RATELIMIT_IP_PER_MINUTE": "0", "RATELIMIT_USER_PER_MINUTE": "0"}))
	c, tok := s.SignUp(b, "bench-emit@example.com")
	run, err := c.CreateRun(context.Background(), openapi.OptRunCreate{})
	if err != nil {
		b.Fatal(err)
	}
	event := `{"type":"agent.token","data":{"text":"1733536000123456789"}}`
	body := `{"events":[` + strings.Repeat(event+",", 9) + event + `]}`
	url := fmt.Sprintf("%s/v1/runs/%s/event-batches", s.URL, run.ID)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("emit: %d", resp.StatusCode)
		}
	}
}
