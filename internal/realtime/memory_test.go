package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

// activeUserRun emits what one agent run of a busy user puts in the
// stream, with the sizes the product produces: three status changes, the
// user's message, a tool call and its result, tokens, the final answer and
// the assistant's message carrying it again.
func activeUserRun(t *testing.T, p *Publisher, user uuid.UUID, tokens int) {
	t.Helper()
	ctx, run := context.Background(), uuid.Must(uuid.NewV7())
	at := time.Now().UTC().Format(time.RFC3339Nano)
	status := func(to, from string) string {
		return fmt.Sprintf(`{"run_id":%q,"status":%q,"previous_status":%q,"at":%q}`, run, to, from, at)
	}
	msg := func(role string, n int) string {
		return fmt.Sprintf(`{"id":%q,"run_id":%q,"role":%q,"content":%q,"created_at":%q}`, uuid.New(), run, role, strings.Repeat("w", n), at)
	}
	answer := strings.Repeat("a", 1200)
	var evs []events.Event
	add := func(typ events.Type, data string) {
		evs = append(evs, events.Event{Type: typ, RunID: run, Data: json.RawMessage(data)})
	}
	add(events.RunStatus, status("pending", ""))
	add(events.RunMessage, msg("user", 300))
	add(events.RunStatus, status("running", "pending"))
	add(events.AgentToolCall, fmt.Sprintf(`{"tool_call_id":"call_1","name":"search","input":{"q":%q}}`, strings.Repeat("q", 80)))
	add(events.AgentToolResult, fmt.Sprintf(`{"tool_call_id":"call_1","output":%q}`, strings.Repeat("r", 300)))
	for range tokens {
		add(events.AgentToken, `{"text":" word"}`)
	}
	add(events.AgentFinal, fmt.Sprintf(`{"content":%q}`, answer))
	add(events.RunMessage, msg("assistant", 1200))
	add(events.RunStatus, status("completed", "running"))
	for _, e := range evs {
		if _, err := p.Publish(ctx, user, run, true, e); err != nil {
			t.Fatal(err)
		}
	}
}

// The default retention holds a busy user's history in Redis under 50 KB
// (docs/realtime.md has the arithmetic): runs of a few hundred tokens fill
// both histories to their caps.
func TestDefaultRetentionMemoryPerUser(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	prefix := "jarvis:test:rt:mem:" + uuid.NewString()[:8] + ":"
	rdb := newRedisClient(t)
	b := NewRedisBroker(rdb, prefix, cfg.Retention(), logging.New(&logtest.Buffer{}, slog.LevelDebug))
	user, ctx := uuid.New(), context.Background()
	keys := func() []string {
		ks, err := rdb.Keys(ctx, prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	t.Cleanup(func() { rdb.Del(context.Background(), keys()...) })
	p := NewPublisher(cfg, b)
	for range 10 { // ten runs in ten minutes: the closed ones' states all still there
		activeUserRun(t, p, user, 300)
	}
	total := int64(0)
	for _, k := range keys() {
		n, err := rdb.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", k[len(prefix):], n)
		total += n
	}
	t.Logf("total %d bytes for a user with %d long-lived and %d short-lived events kept", total, cfg.HistorySize, cfg.ShortHistorySize)
	if total > 50<<10 {
		t.Fatalf("a busy user takes %d bytes of Redis with the default retention, over 50 KB", total)
	}
}
