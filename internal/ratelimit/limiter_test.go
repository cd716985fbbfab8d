package ratelimit

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

const redisAddr = "127.0.0.1:6379"

// redisLimiter returns a limiter on the local Redis under a key prefix of
// its own, whose keys are deleted when the test ends.
func redisLimiter(t *testing.T, log *slog.Logger) *Limiter {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", redisAddr, err)
	}
	prefix := "jarvis-test:" + rand.Text() + ":"
	l := New(rdb, log, Options{Prefix: prefix})
	t.Cleanup(func() {
		l.Close()
		ctx := context.Background()
		// redis_rate adds its own "rate:" in front of ours.
		keys, _ := rdb.Keys(ctx, "rate:"+prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return l
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Both implementations let exactly the configured number through in a
// burst, then refuse with a Retry-After of about one emission interval.
func TestLimitFiresAtItsNumber(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) *Limiter{
		"redis":      func(t *testing.T) *Limiter { return redisLimiter(t, discard()) },
		"in process": func(t *testing.T) *Limiter { return New(nil, discard(), Options{}) },
	} {
		t.Run(name, func(t *testing.T) {
			l := mk(t)
			lim := PerMinute(7)
			for i := range 7 {
				r := l.Allow(context.Background(), "k", lim)
				if !r.Allowed {
					t.Fatalf("request %d refused under a limit of 7", i+1)
				}
				if r.Remaining != 6-i {
					t.Fatalf("request %d: remaining %d, want %d", i+1, r.Remaining, 6-i)
				}
			}
			r := l.Allow(context.Background(), "k", lim)
			if r.Allowed {
				t.Fatal("8th request allowed under a limit of 7")
			}
			// One emission interval is 60s/7 ≈ 8.6 s.
			if r.RetryAfter < 7*time.Second || r.RetryAfter > 9*time.Second {
				t.Fatalf("RetryAfter = %s, want ≈ 8.6s", r.RetryAfter)
			}
			if r.ResetAfter < 59*time.Second || r.ResetAfter > 61*time.Second {
				t.Fatalf("ResetAfter = %s, want ≈ 60s", r.ResetAfter)
			}
			if !l.Allow(context.Background(), "other", lim).Allowed {
				t.Fatal("another key shares the budget")
			}
		})
	}
}

func TestMemoryRefillsAtTheRate(t *testing.T) {
	m := newMemory(100)
	now := time.Unix(1_000_000, 0)
	m.now = func() time.Time { return now }
	lim := PerMinute(60) // one a second
	for range 60 {
		if !m.allow("k", lim).Allowed {
			t.Fatal("refused within the burst")
		}
	}
	if m.allow("k", lim).Allowed {
		t.Fatal("61st allowed")
	}
	now = now.Add(999 * time.Millisecond)
	if m.allow("k", lim).Allowed {
		t.Fatal("allowed before one interval passed")
	}
	now = now.Add(time.Millisecond)
	if !m.allow("k", lim).Allowed {
		t.Fatal("refused after one interval")
	}
	if m.allow("k", lim).Allowed {
		t.Fatal("one interval bought two requests")
	}
}

func TestMemoryStaysBounded(t *testing.T) {
	m := newMemory(1000)
	for i := range 10_000 {
		m.allow(strings.Repeat("k", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), PerMinute(5))
	}
	if n := len(m.tat); n > 1000 {
		t.Fatalf("table holds %d keys, cap 1000", n)
	}
}

// Redis down: checks go on in process (limits still fire), the switch is
// logged once however many requests fail, and when Redis comes back (here
// a proxy to it starts on the dead port) the limiter goes back to it and
// says so once.
func TestRedisDownFallsBackAndRecovers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	var logs logtest.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	l := New(rdb, log, Options{Prefix: "jarvis-test:" + rand.Text() + ":", ProbeEvery: 50 * time.Millisecond})
	defer l.Close()

	lim := PerMinute(3)
	for i := range 3 {
		if r := l.Allow(context.Background(), "k", lim); !r.Allowed {
			t.Fatalf("request %d refused with Redis down", i+1)
		}
	}
	if l.Allow(context.Background(), "k", lim).Allowed {
		t.Fatal("the fallback did not limit")
	}
	if !l.Degraded() {
		t.Fatal("not degraded with Redis down")
	}
	if n := strings.Count(logs.String(), "Redis unavailable"); n != 1 {
		t.Fatalf("switch logged %d times, want once:\n%s", n, logs.String())
	}

	// Redis comes back on the same address.
	back, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	defer back.Close()
	var wg sync.WaitGroup
	defer func() {
		// The client's pooled connections hold proxy goroutines open.
		l.Close()
		rdb.Close()
		back.Close()
		wg.Wait()
	}()
	go proxy(back, redisAddr, &wg)
	deadline := time.Now().Add(5 * time.Second)
	for l.Degraded() {
		if time.Now().After(deadline) {
			t.Fatalf("still degraded 5s after Redis came back:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "Redis answers again"); n != 1 {
		t.Fatalf("recovery logged %d times, want once:\n%s", n, logs.String())
	}
	// And it counts in Redis now: a fresh key has its full budget there.
	if r := l.Allow(context.Background(), "fresh", lim); !r.Allowed || r.Remaining != 2 {
		t.Fatalf("after recovery: %+v", r)
	}
}

// proxy forwards every connection accepted on ln to target until ln closes.
func proxy(ln net.Listener, target string, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			_, _ = io.Copy(c, u)
		}()
	}
}

// A caller that gives up does not make the limiter think Redis is down.
func TestCanceledCallerDoesNotDegrade(t *testing.T) {
	l := redisLimiter(t, discard())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Allow(ctx, "k", PerMinute(5))
	if l.Degraded() {
		t.Fatal("a canceled request switched the limiter to in process")
	}
}
