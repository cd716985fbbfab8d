package password

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/fault"
)

func TestGateBoundsConcurrencyAndQueue(t *testing.T) {
	g := newGate(Bound{Concurrency: 2, Queue: 1, MaxWait: 150 * time.Millisecond, Tarpit: -1})
	for range 2 {
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The third waits in the queue; while it does, a fourth finds the
	// queue full and is refused at once.
	third := make(chan error, 1)
	go func() { third <- g.acquire(ctx) }()
	for len(g.waiting) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := g.acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("fourth: %v, want ErrBusy", err)
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Fatal("a full queue made the caller wait")
	}
	// A slot frees up: the waiting caller gets it.
	g.release()
	if err := <-third; err != nil {
		t.Fatalf("third after a release: %v", err)
	}
	// Nothing frees up: a waiter is refused after MaxWait.
	start = time.Now()
	if err := g.acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("waiter: %v, want ErrBusy", err)
	}
	if w := time.Since(start); w < 140*time.Millisecond || w > time.Second {
		t.Fatalf("refused after %s, want ≈ 150ms", w)
	}
	// A caller that goes away leaves the queue.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.acquire(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	if len(g.waiting) != 0 {
		t.Fatal("queue not emptied")
	}
}

func TestErrBusyIsUnavailableWithRetryAfter(t *testing.T) {
	e, ok := fault.As(ErrBusy)
	if !ok || e.Kind != fault.Unavailable || e.RetryAfter <= 0 {
		t.Fatalf("ErrBusy = %#v", ErrBusy)
	}
}

// Many verifications at once: the excess is refused with ErrBusy (never a
// mismatch), the rest verify, and no slot or queue place leaks.
func TestHasherRefusesTheExcess(t *testing.T) {
	h, err := NewBounded(Default, Bound{Concurrency: 2, Queue: 2, MaxWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := h.Hash(ctx, "correct horse battery staple")
	var busy, ok atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			_, err := h.Verify(ctx, "correct horse battery staple", enc)
			switch {
			case errors.Is(err, ErrBusy):
				busy.Add(1)
			case err == nil:
				ok.Add(1)
			default:
				t.Errorf("verify: %v", err)
			}
		})
	}
	wg.Wait()
	if busy.Load() == 0 || ok.Load() < 2 {
		t.Fatalf("ok=%d busy=%d: want some of each with 40 callers on 2 slots + 2 waiting", ok.Load(), busy.Load())
	}
	if len(h.gate.slots) != 0 || len(h.gate.waiting) != 0 {
		t.Fatal("slots or queue leaked")
	}
	// The metrics' view: every refusal counted, nothing left in use.
	if g := h.Gate(); g.Refused != busy.Load() || g.InUse != 0 || g.Queued != 0 || g.Limit != 2 {
		t.Fatalf("gate stats %+v, want %d refused, none in use or queued, limit 2", g, busy.Load())
	}
}

// The dummy verification for unknown emails is refused exactly like a real
// one when the bound is full: an unknown email never looks different.
func TestDummyGoesThroughTheBound(t *testing.T) {
	h, err := NewBounded(fast, Bound{Concurrency: 1, Queue: 1, MaxWait: 10 * time.Millisecond, Tarpit: -1})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := h.Hash(ctx, "correct horse battery staple")
	h.gate.slots <- struct{}{} // someone is hashing
	if err := h.VerifyDummy(ctx, "whatever it is"); !errors.Is(err, ErrBusy) {
		t.Fatalf("dummy under a full bound: %v, want ErrBusy", err)
	}
	if _, err := h.Verify(ctx, "correct horse battery staple", enc); !errors.Is(err, ErrBusy) {
		t.Fatalf("real under a full bound: %v, want ErrBusy", err)
	}
	if _, err := h.Hash(ctx, "correct horse battery staple"); !errors.Is(err, ErrBusy) {
		t.Fatalf("hash under a full bound: %v, want ErrBusy", err)
	}
	h.release()
}

func (h *Hasher) release() { h.gate.release() }

// A reservation covers the work done under its context, once; others still
// queue behind it, and release is idempotent.
func TestReserve(t *testing.T) {
	h, err := NewBounded(fast, Bound{Concurrency: 1, Queue: 1, MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := h.Hash(ctx, "correct horse battery staple")
	held, release, err := h.Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Verify(held, "correct horse battery staple", enc); err != nil {
		t.Fatalf("verify under the reservation: %v", err)
	}
	if _, err := h.Hash(held, "correct horse battery staple"); err != nil {
		t.Fatalf("rehash under the reservation: %v", err)
	}
	if _, err := h.Verify(ctx, "correct horse battery staple", enc); !errors.Is(err, ErrBusy) {
		t.Fatalf("another caller while reserved: %v, want ErrBusy", err)
	}
	if _, _, err := h.Reserve(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("second reservation: %v, want ErrBusy", err)
	}
	release()
	release()
	if len(h.gate.slots) != 0 {
		t.Fatal("slot still held after release")
	}
	if _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// Beyond the queue, refusals are held for MaxWait while there is room to
// hold them, then come at once.
func TestRefusalsAreHeldBack(t *testing.T) {
	g := newGate(Bound{Concurrency: 1, Queue: 1, MaxWait: 100 * time.Millisecond, Tarpit: 1})
	if err := g.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	queued := make(chan error, 1)
	go func() { queued <- g.acquire(ctx) }()
	for len(g.waiting) == 0 {
		time.Sleep(time.Millisecond)
	}
	held := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		if err := g.acquire(ctx); !errors.Is(err, ErrBusy) {
			t.Errorf("held caller: %v", err)
		}
		held <- time.Since(start)
	}()
	for len(g.held) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := g.acquire(ctx); !errors.Is(err, ErrBusy) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("with the tarpit full: %v after %s, want ErrBusy at once", err, time.Since(start))
	}
	if d := <-held; d < 90*time.Millisecond {
		t.Fatalf("held refusal came after %s, want ≈ 100ms", d)
	}
	if err := <-queued; !errors.Is(err, ErrBusy) {
		t.Fatalf("queued caller: %v", err)
	}
	g.release()
	if len(g.held) != 0 || len(g.waiting) != 0 || len(g.slots) != 0 {
		t.Fatal("gate not empty")
	}
}
