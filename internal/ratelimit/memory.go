package ratelimit

import (
	"math"
	"sync"
	"time"
)

// memory is GCRA in process, with the arithmetic of redis_rate's Lua script
// so switching between the two changes nothing a client can see but the
// (per-instance rather than shared) budget.
type memory struct {
	mu      sync.Mutex
	tat     map[string]time.Time // theoretical arrival time per key
	maxKeys int
	now     func() time.Time
}

func newMemory(maxKeys int) *memory {
	return &memory{tat: make(map[string]time.Time), maxKeys: maxKeys, now: time.Now}
}

func (m *memory) allow(key string, l Limit) Result {
	if l.Off() {
		return Result{Allowed: true, Limit: l}
	}
	interval := time.Duration(float64(l.Period) / float64(l.Rate))
	burstOffset := time.Duration(float64(interval) * float64(l.burst()))

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	tat, ok := m.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	diff := now.Sub(newTAT.Add(-burstOffset))
	if diff < 0 {
		return Result{Allowed: false, Limit: l, RetryAfter: -diff, ResetAfter: tat.Sub(now)}
	}
	if !ok {
		m.makeRoom(now)
	}
	m.tat[key] = newTAT
	return Result{Allowed: true, Limit: l, Remaining: remaining(l, newTAT.Sub(now)), ResetAfter: newTAT.Sub(now)}
}

// remaining is how many more events fit now for a key that resets to its
// full burst after resetAfter, with a little slack for float rounding.
func remaining(l Limit, resetAfter time.Duration) int {
	interval := float64(l.Period) / float64(l.Rate)
	return max(int(math.Floor(float64(l.burst())-float64(resetAfter)/interval+1e-6)), 0)
}

// makeRoom keeps the table bounded: a key whose arrival time has passed is
// back to its full burst and carries no information, so it goes first; if
// the table is still full (a flood of distinct keys), arbitrary keys go,
// which only ever makes the limiter more lenient, never wrong in the other
// direction.
func (m *memory) makeRoom(now time.Time) {
	if len(m.tat) < m.maxKeys {
		return
	}
	for k, t := range m.tat {
		if !t.After(now) {
			delete(m.tat, k)
		}
	}
	for k := range m.tat {
		if len(m.tat) < m.maxKeys*9/10 {
			break
		}
		delete(m.tat, k)
	}
}
