package admin_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/admin"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/userdata"
)

// The operator's erasure ends the user's realtime stream in (real) Redis as
// the user's own does, and leaves another user's alone.
func TestEraseWithForgetsTheUsersRedisStream(t *testing.T) {
	t.Parallel()
	url := os.Getenv("JARVIS_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	prefix := "jarvis:test:adminerase:" + hex.EncodeToString(rb[:]) + ":"
	ctx := context.Background()
	keys := func(pattern string) []string {
		t.Helper()
		k, err := rdb.Keys(ctx, prefix+pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Cleanup(func() {
		for _, k := range keys("*") {
			rdb.Del(ctx, k)
		}
		_ = rdb.Close()
	})
	cfg := realtime.Config{HistorySize: 100, HistoryTTL: time.Hour, MaxEventBytes: 1 << 16, RedisPrefix: prefix}
	pub := realtime.NewPublisher(cfg, realtime.NewRedisBroker(rdb, prefix, cfg.Retention(), slog.Default()))

	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	for _, u := range []*dbtest.Fixture{alice, bob} {
		if err := pub.EmitToUser(ctx, u.User.ID, events.Event{Type: events.BudgetWarning, Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(keys("*"+alice.User.ID.String()+"*")) == 0 {
		t.Fatal("alice has no keys in Redis: the test would prove nothing")
	}
	bobKeys := keys("*" + bob.User.ID.String() + "*")

	ops := admin.Ops{Client: owner}
	_, out, err := ops.EraseWith(ctx, admin.Operator{Name: "carol", Reason: "GDPR request 13"}, "alice@example.com",
		userdata.Aftermath{Realtime: pub})
	if err != nil {
		t.Fatal(err)
	}
	if !out.RealtimeForgotten {
		t.Fatal("outcome says the realtime stream was not ended")
	}
	if k := keys("*" + alice.User.ID.String() + "*"); len(k) != 0 {
		t.Fatalf("alice's keys survive: %v", k)
	}
	if k := keys("*" + bob.User.ID.String() + "*"); len(k) != len(bobKeys) {
		t.Fatalf("bob's keys changed: %v -> %v", bobKeys, k)
	}
}
