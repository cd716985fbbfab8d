// Package ratelimit owns request rate limits: GCRA (the generic cell rate
// algorithm, a leaky bucket kept as one timestamp per key) in Redis through
// go-redis/redis_rate, one round trip per check, so every instance shares the
// budget; and the same algorithm in process, used when Redis is not
// configured or does not answer. The HTTP middleware (HTTP) applies the
// service's limits: per client IP, per signed-in user, and stricter ones on
// login, registration and refresh per IP and per account.
//
// What it does not own: who the client is behind proxies (internal/clientip),
// how errors are written (the HTTP layer, through an ErrorWriter), and the
// bound on concurrent password hashing (internal/auth/password).
package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Limit allows Rate events per Period with bursts of up to Burst.
// A Rate ≤ 0 means no limit.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PerMinute is n per minute, all of which may come at once.
func PerMinute(n int) Limit { return Limit{Rate: n, Period: time.Minute, Burst: n} }

// Off reports whether the limit lets everything through.
func (l Limit) Off() bool { return l.Rate <= 0 || l.Period <= 0 }

func (l Limit) burst() int {
	if l.Burst <= 0 {
		return l.Rate
	}
	return l.Burst
}

// Result is the answer for one key.
type Result struct {
	Allowed bool
	Limit   Limit
	// Remaining is how many more events would be allowed right now.
	Remaining int
	// RetryAfter is when a refused caller may try again (0 when allowed).
	RetryAfter time.Duration
	// ResetAfter is when the key is back to its full burst.
	ResetAfter time.Duration
}

// SetHeaders writes the IETF draft RateLimit fields (draft-ietf-httpapi-
// ratelimit-headers: RateLimit-Limit, -Remaining, -Reset in seconds, and
// -Policy) and, for a refusal, Retry-After in whole seconds, rounded up so a
// client that waits exactly that long is let in.
func (r Result) SetHeaders(h http.Header) {
	if r.Limit.Off() {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(r.Limit.burst()))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(r.Remaining, 0)))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(r.ResetAfter)))
	h.Set("RateLimit-Policy", strconv.Itoa(r.Limit.Rate)+";w="+strconv.Itoa(ceilSeconds(r.Limit.Period)))
	if !r.Allowed {
		h.Set("Retry-After", strconv.Itoa(max(ceilSeconds(r.RetryAfter), 1)))
	}
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// tighter reports whether a is closer to refusal than b: the result whose
// headers a client should see when several limits apply.
func tighter(a, b Result) bool {
	if b.Limit.Off() {
		return true
	}
	if a.Limit.Off() {
		return false
	}
	if a.Remaining != b.Remaining {
		return a.Remaining < b.Remaining
	}
	return a.ResetAfter > b.ResetAfter
}
