package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

// engine is one Broker implementation under the shared test suite. node
// returns the broker of one more instance of a cluster: every node of one
// engine value shares the same history and fan-out (the same Redis and key
// prefix, or the same in-process broker). lose makes the engine lose its
// data, as a Redis restart without persistence does.
type engine struct {
	name string
	node func(t *testing.T) Broker
	lose func(t *testing.T)
}

// engines returns both engines, each with its own namespace, history size
// size. Redis keys are cleaned up when t ends.
func engines(t *testing.T, size int) []engine {
	t.Helper()
	return retainingEngines(t, Retention{Size: size, TTL: time.Hour})
}

// retainingEngines is engines with a retention of their own.
func retainingEngines(t *testing.T, ret Retention) []engine {
	t.Helper()
	return []engine{memoryEngine(t, ret), redisEngine(t, ret)}
}

func memoryEngine(t *testing.T, ret Retention) engine {
	b := NewMemoryBroker(ret)
	t.Cleanup(b.Close)
	e := engine{name: "memory", node: func(*testing.T) Broker { return b }}
	e.lose = func(*testing.T) {
		b.mu.Lock()
		for id, s := range b.streams {
			s.mu.Lock()
			s.dropped = true
			s.mu.Unlock()
			delete(b.streams, id)
		}
		b.mu.Unlock()
	}
	return e
}

func redisURL() string {
	if u := os.Getenv("JARVIS_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func newRedisClient(t *testing.T) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatalf("JARVIS_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s is required for these tests: %v", redisURL(), err)
	}
	return c
}

func redisEngine(t *testing.T, ret Retention) engine {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "jarvis:test:rt:" + hex.EncodeToString(b[:]) + ":"
	admin := newRedisClient(t)
	deleteAll := func(t *testing.T) {
		ctx := context.Background()
		iter := admin.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := admin.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("clean up redis key: %v", err)
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("clean up redis: %v", err)
		}
	}
	t.Cleanup(func() { deleteAll(t) })
	log := logging.New(&logtest.Buffer{}, slog.LevelDebug)
	return engine{
		name: "redis",
		node: func(t *testing.T) Broker {
			return NewRedisBroker(newRedisClient(t), prefix, ret, log)
		},
		lose: deleteAll,
	}
}
