package password

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jarvis-core/jarvis/internal/fault"
)

// Bound limits how many hashes and verifications run at once. Each argon2id
// call holds Params.MemoryKiB (19 MiB by default) and a core for ~16 ms, so
// without a bound a login flood takes the process's memory and every other
// request's CPU. Callers beyond Concurrency wait in a short queue; beyond
// the queue, or after MaxWait, they are refused with fault.Unavailable and
// a Retry-After, which costs nothing. Refusals beyond the queue are held for
// MaxWait first (up to Tarpit of them at once, then at once): a flood's
// clients otherwise retry in a tight loop, and answering thousands of
// instant refusals a second takes the CPU the bound was there to keep.
type Bound struct {
	// Concurrency is how many hashes run at once; 0: one less than
	// GOMAXPROCS (at least 1), leaving a core to everything else.
	Concurrency int `env:"PASSWORD_HASH_CONCURRENCY" envDefault:"0"`
	// Queue is how many callers may wait for a slot; 0: 4 × Concurrency.
	Queue int `env:"PASSWORD_HASH_QUEUE" envDefault:"0"`
	// MaxWait is the longest a caller waits for a slot.
	MaxWait time.Duration `env:"PASSWORD_HASH_MAX_WAIT" envDefault:"1s"`
	// Tarpit is how many refused callers may be held at once (a parked
	// goroutine and its connection each, a few KiB); 0: 1024, -1: none.
	Tarpit int `env:"PASSWORD_HASH_TARPIT" envDefault:"0"`
}

// DefaultBound is Bound with its defaults.
func DefaultBound() Bound { return Bound{MaxWait: time.Second} }

func (b Bound) resolve() Bound {
	if b.Concurrency <= 0 {
		b.Concurrency = max(runtime.GOMAXPROCS(0)-1, 1)
	}
	if b.Queue <= 0 {
		b.Queue = 4 * b.Concurrency
	}
	if b.MaxWait <= 0 {
		b.MaxWait = time.Second
	}
	switch {
	case b.Tarpit == 0:
		b.Tarpit = 1024
	case b.Tarpit < 0:
		b.Tarpit = 0
	}
	return b
}

// gate is a semaphore with a bounded waiting room.
type gate struct {
	slots   chan struct{}
	waiting chan struct{}
	held    chan struct{} // refusals being held back
	maxWait time.Duration
	refused atomic.Int64 // ErrBusy answers, for metrics
}

func newGate(b Bound) *gate {
	b = b.resolve()
	return &gate{slots: make(chan struct{}, b.Concurrency), waiting: make(chan struct{}, b.Queue),
		held: make(chan struct{}, b.Tarpit), maxWait: b.MaxWait}
}

// ErrBusy is the refusal when the bound is full: 503 with Retry-After.
var ErrBusy = &fault.Error{Kind: fault.Unavailable, Message: "too many sign-ins at once; try again shortly", RetryAfter: time.Second}

// acquire takes a slot, waiting at most maxWait in the queue; release must
// follow a nil error.
func (g *gate) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case g.waiting <- struct{}{}:
	default:
		return g.refuseSlowly(ctx)
	}
	defer func() { <-g.waiting }()
	t := time.NewTimer(g.maxWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
		return g.busy()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// busy counts a refusal.
func (g *gate) busy() error {
	g.refused.Add(1)
	return ErrBusy
}

func (g *gate) release() { <-g.slots }

// refuseSlowly holds a refusal for maxWait when there is room to hold it.
func (g *gate) refuseSlowly(ctx context.Context) error {
	select {
	case g.held <- struct{}{}:
	default:
		return g.busy()
	}
	defer func() { <-g.held }()
	t := time.NewTimer(g.maxWait)
	defer t.Stop()
	select {
	case <-t.C:
		return g.busy()
	case <-ctx.Done():
		return ctx.Err()
	}
}

type heldKey struct{ g *gate }

// Reserve takes a slot ahead of the password work of one request, so that a
// caller refused for want of one has done nothing else yet (a login is
// refused before its account lookup, and a flood of refusals never reaches
// the database). Hash and Verify with the returned context use the slot
// instead of taking another. release gives it back; calling it again, or
// after an error, does nothing.
func (h *Hasher) Reserve(ctx context.Context) (_ context.Context, release func(), _ error) {
	if err := h.gate.acquire(ctx); err != nil {
		return ctx, func() {}, err
	}
	var once sync.Once
	return context.WithValue(ctx, heldKey{h.gate}, true), func() { once.Do(h.gate.release) }, nil
}

// enter takes a slot unless ctx already holds one of this gate; leave undoes
// exactly what enter did.
func (g *gate) enter(ctx context.Context) (leave func(), err error) {
	if held, _ := ctx.Value(heldKey{g}).(bool); held {
		return func() {}, nil
	}
	if err := g.acquire(ctx); err != nil {
		return nil, err
	}
	return g.release, nil
}

// GateStats is the bound's state, for metrics.
type GateStats struct {
	InUse   int   // hashes and verifications running (or slots reserved)
	Queued  int   // callers waiting for a slot
	Limit   int   // Concurrency
	Refused int64 // ErrBusy answers since start
}

// Gate reports the bound's state.
func (h *Hasher) Gate() GateStats {
	g := h.gate
	return GateStats{InUse: len(g.slots), Queued: len(g.waiting), Limit: cap(g.slots), Refused: g.refused.Load()}
}
