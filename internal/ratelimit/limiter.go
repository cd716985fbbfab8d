package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limiter checks keys against limits in Redis, or in process when Redis is
// not configured or down. It never fails a request for Redis's sake: the
// first failed check switches to the in-process limiter (logged once), a
// background probe pings Redis until it answers, and the switch back is
// logged once too.
type Limiter struct {
	remote  *redis_rate.Limiter // nil: in process only
	rdb     redis.UniversalClient
	local   *memory
	prefix  string
	timeout time.Duration // per Redis check, so a hung Redis can't hold requests
	probe   time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	degraded bool
	stop     chan struct{}
	probing  sync.WaitGroup
	closed   bool
}

// Options tune a Limiter; the zero value is fine.
type Options struct {
	// Prefix namespaces the Redis keys (tests use a unique one).
	Prefix string
	// Timeout bounds each Redis check (default 250 ms).
	Timeout time.Duration
	// ProbeEvery is how often a degraded limiter pings Redis (default 5 s).
	ProbeEvery time.Duration
	// MaxLocalKeys bounds the in-process table (default 100 000).
	MaxLocalKeys int
}

// New returns a limiter on rdb, or in process when rdb is nil.
func New(rdb redis.UniversalClient, log *slog.Logger, o Options) *Limiter {
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.ProbeEvery <= 0 {
		o.ProbeEvery = 5 * time.Second
	}
	if o.MaxLocalKeys <= 0 {
		o.MaxLocalKeys = 100_000
	}
	if o.Prefix == "" {
		o.Prefix = "jarvis:"
	}
	l := &Limiter{rdb: rdb, local: newMemory(o.MaxLocalKeys), prefix: o.Prefix,
		timeout: o.Timeout, probe: o.ProbeEvery, log: log, stop: make(chan struct{})}
	if rdb != nil {
		l.remote = redis_rate.NewLimiter(rdb)
	} else {
		log.Info("rate limits in process: Redis is not configured, so each instance keeps its own budget")
	}
	return l
}

// Degraded reports whether checks currently run in process for want of Redis.
func (l *Limiter) Degraded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.degraded
}

// Allow counts one event for key under lim.
func (l *Limiter) Allow(ctx context.Context, key string, lim Limit) Result {
	if lim.Off() {
		return Result{Allowed: true, Limit: lim}
	}
	if l.remote == nil || l.Degraded() {
		return l.local.allow(key, lim)
	}
	rctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	res, err := l.remote.Allow(rctx, l.prefix+key, redis_rate.Limit{Rate: lim.Rate, Period: lim.Period, Burst: lim.burst()})
	if err != nil {
		if ctx.Err() == nil {
			// Redis, not the caller, failed (a caller that went away says
			// nothing about Redis).
			l.degrade(err)
		}
		return l.local.allow(key, lim)
	}
	r := Result{Allowed: res.Allowed > 0, Limit: lim, ResetAfter: res.ResetAfter}
	if r.Allowed {
		// The script's own count truncates a float (60s/7 intervals give
		// 5.9999 → 5); from the reset time it is exact, as in process.
		r.Remaining = remaining(lim, res.ResetAfter)
	} else {
		r.RetryAfter = res.RetryAfter
	}
	return r
}

func (l *Limiter) degrade(cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.degraded || l.closed {
		return
	}
	l.degraded = true
	l.log.Warn("rate limits: Redis unavailable, limiting in process until it answers (each instance keeps its own budget)",
		slog.Any("error", cause))
	l.probing.Add(1)
	go l.probeUntilBack()
}

// probeUntilBack pings Redis every probe interval and switches back on the
// first answer.
func (l *Limiter) probeUntilBack() {
	defer l.probing.Done()
	t := time.NewTicker(l.probe)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(l.timeout, time.Second))
		err := l.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			l.mu.Lock()
			l.degraded = false
			l.mu.Unlock()
			l.log.Info("rate limits: Redis answers again, limits are shared across instances")
			return
		}
	}
}

// Close stops the background probe.
func (l *Limiter) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
	l.mu.Unlock()
	l.probing.Wait()
}
