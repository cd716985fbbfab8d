package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

// ForgetUser leaves nothing of the user in the memory broker (the Redis
// broker's keys are checked by internal/userdata's erasure test), and
// another user's stream as it was.
func TestForgetUserDropsTheStream(t *testing.T) {
	t.Parallel()
	b := NewMemoryBroker(Retention{Size: 10, TTL: time.Hour})
	t.Cleanup(b.Close)
	p := NewPublisher(Config{MaxEventBytes: 1 << 10}, b)
	ctx := context.Background()
	alice, bob := uuid.New(), uuid.New()
	for _, u := range []uuid.UUID{alice, bob} {
		if err := p.EmitToUser(ctx, u, events.Event{Type: events.BudgetWarning, Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := b.Position(ctx, alice)
	if err := p.ForgetUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	pubs, pos, err := b.History(ctx, alice, 0)
	if err != nil || len(pubs) != 0 || pos.Seq != 0 || pos.Epoch == before.Epoch {
		t.Fatalf("after ForgetUser: %d publications at %+v (was %+v), %v", len(pubs), pos, before, err)
	}
	if pubs, _, _ := b.History(ctx, bob, 0); len(pubs) != 1 {
		t.Fatalf("bob's history: %d publications, want 1", len(pubs))
	}
}

// Forget on Redis deletes every key of the user, the per-run states (one
// key per run, found by pattern) included, and none of another user's.
func TestRedisForgetDeletesRunStates(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	prefix := "jarvis:test:rt:forget:" + uuid.NewString()[:8] + ":"
	rdb := newRedisClient(t)
	b := NewRedisBroker(rdb, prefix, cfg.Retention(), logging.New(&logtest.Buffer{}, slog.LevelDebug))
	ctx := context.Background()
	keys := func(u string) []string {
		ks, err := rdb.Keys(ctx, prefix+"*"+u+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	t.Cleanup(func() {
		if ks := keys(""); len(ks) > 0 {
			rdb.Del(context.Background(), ks...)
		}
	})
	p := NewPublisher(cfg, b)
	alice, bob := uuid.New(), uuid.New()
	activeUserRun(t, p, alice, 5)
	activeUserRun(t, p, alice, 5)
	activeUserRun(t, p, bob, 5)
	runKeys := 0
	for _, k := range keys(alice.String()) {
		if strings.Contains(k, ".r:") {
			runKeys++
		}
	}
	if runKeys != 2 {
		t.Fatalf("alice has %d run-state keys before Forget, want 2: the test would prove nothing", runKeys)
	}
	bobBefore := len(keys(bob.String()))
	if err := b.Forget(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if ks := keys(alice.String()); len(ks) != 0 {
		t.Fatalf("alice's keys survive Forget: %v", ks)
	}
	if n := len(keys(bob.String())); n != bobBefore || n == 0 {
		t.Fatalf("bob's keys: %d, want %d", n, bobBefore)
	}
}
