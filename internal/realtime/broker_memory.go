package realtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// MemoryBroker is the Broker of a single node: history and fan-out in
// process. Several listeners (hubs) may share one, which is how tests run
// two instances on it; a restarted process starts with new epochs, so its
// clients' resumes say recovered: false, as they must.
type MemoryBroker struct {
	ret Retention
	now func() time.Time

	mu      sync.Mutex // guards streams; taken before a stream's lock, never after
	streams map[uuid.UUID]*memStream

	lmu       sync.RWMutex // guards listeners; taken after a stream's lock
	listeners map[*memListener]struct{}

	stop     chan struct{}
	stopOnce sync.Once
}

// runState is a run's state in a MemoryBroker's stream, which forgets it
// as RedisBroker's keys expire.
type runState struct {
	open bool
	at   time.Time // the last event (open) or the close
}

// keep is how long the state lasts after it was recorded, as RedisBroker's
// key does.
func (st runState) keep(ttl time.Duration) time.Duration {
	if st.open {
		return min(openRunTTL, ttl)
	}
	return min(closedRunTTL, ttl)
}

type memStream struct {
	mu      sync.Mutex
	epoch   string
	seq     uint64
	ring    []Publication          // long-lived kinds, oldest first, at most ret.Size
	short   []Publication          // short-lived kinds, oldest first, at most ret.ShortSize
	shortAt time.Time              // the last short-lived event: short expires ret.ShortTTL after it
	runs    map[uuid.UUID]runState // PublishRun's run states
	touched time.Time
	dropped bool // swept: whoever holds it must look the stream up again
}

// NewMemoryBroker keeps each user's events as ret says and drops streams
// idle for ret.TTL.
func NewMemoryBroker(ret Retention) *MemoryBroker {
	b := &MemoryBroker{
		ret:       ret,
		now:       time.Now,
		streams:   map[uuid.UUID]*memStream{},
		listeners: map[*memListener]struct{}{},
		stop:      make(chan struct{}),
	}
	go b.sweep()
	return b
}

// Close stops the idle-stream sweeper.
func (b *MemoryBroker) Close() { b.stopOnce.Do(func() { close(b.stop) }) }

// sweep drops idle streams so that memory follows active users, not every
// user ever seen; a dropped stream comes back with a new epoch.
func (b *MemoryBroker) sweep() {
	t := time.NewTicker(max(b.ret.TTL/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			cutoff := b.now().Add(-b.ret.TTL)
			b.mu.Lock()
			for id, s := range b.streams {
				s.mu.Lock()
				if s.touched.Before(cutoff) {
					s.dropped = true
					delete(b.streams, id)
				}
				s.forgetRunsLocked(b.ret.TTL, b.now())
				s.mu.Unlock()
			}
			b.mu.Unlock()
		}
	}
}

// Forget implements Broker.
func (b *MemoryBroker) Forget(_ context.Context, user uuid.UUID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.streams[user]; ok {
		s.mu.Lock()
		s.dropped = true
		s.ring = nil
		s.mu.Unlock()
		delete(b.streams, user)
	}
	return nil
}

// stream returns user's stream, locked.
func (b *MemoryBroker) stream(user uuid.UUID) *memStream {
	for {
		b.mu.Lock()
		s, ok := b.streams[user]
		if !ok {
			s = &memStream{epoch: newEpoch(), touched: b.now(), runs: map[uuid.UUID]runState{}}
			b.streams[user] = s
		}
		b.mu.Unlock()
		s.mu.Lock()
		if !s.dropped {
			return s
		}
		s.mu.Unlock()
	}
}

// Trim drops all but the newest keep events of user's history, as the cap
// does; tests use it to make a resume incomplete.
func (b *MemoryBroker) Trim(user uuid.UUID, keep int) {
	s := b.stream(user)
	defer s.mu.Unlock()
	all := slices.SortedFunc(slices.Values(append(slices.Clone(s.ring), s.short...)), func(x, y Publication) int { return cmp.Compare(x.Seq, y.Seq) })
	if len(all) > keep {
		cut := all[len(all)-keep].Seq
		s.ring = slices.DeleteFunc(s.ring, func(p Publication) bool { return p.Seq < cut })
		s.short = slices.DeleteFunc(s.short, func(p Publication) bool { return p.Seq < cut })
	}
}

// Publish implements Broker. Delivery happens under the stream's lock, so
// listeners see one user's events in seq order.
func (b *MemoryBroker) Publish(_ context.Context, user uuid.UUID, e Envelope) (Position, error) {
	s := b.stream(user)
	defer s.mu.Unlock()
	return b.publishLocked(user, s, e), nil
}

// PublishRun implements Broker, with the run states in the stream.
func (b *MemoryBroker) PublishRun(_ context.Context, user uuid.UUID, op RunOp, es ...Envelope) (Position, error) {
	if _, ok := runOps[op]; !ok || !sameRun(es) {
		return Position{}, fmt.Errorf("publish run events: bad op %d, or not events of one run", op)
	}
	e := es[0]
	s := b.stream(user)
	defer s.mu.Unlock()
	now := b.now()
	st, known := s.runs[e.RunID]
	if known && now.Sub(st.at) >= st.keep(b.ret.TTL) {
		delete(s.runs, e.RunID) // expired, as the Redis key would be
		known = false
	}
	switch op {
	case RunMarkClosed:
		st, known = runState{open: false}, true
	case RunMarkOpen, RunLearnOpen:
		if !known {
			st, known = runState{open: true}, true
		}
	}
	if op == RunIfOpen || op == RunLearnOpen {
		if !known {
			return Position{}, ErrRunUnknown
		}
		if !st.open {
			return Position{}, ErrRunClosed
		}
	}
	if op != RunIfOpen && (op == RunMarkClosed || st.open) { // recorded now; a guard only reads
		st.at = now
		s.runs[e.RunID] = st
	}
	var pos Position
	for _, e := range es {
		pos = b.publishLocked(user, s, e)
	}
	return pos, nil
}

// forgetRunsLocked drops the run states RedisBroker's keys would have let
// expire by now.
func (s *memStream) forgetRunsLocked(ttl time.Duration, now time.Time) {
	for id, st := range s.runs {
		if now.Sub(st.at) >= st.keep(ttl) {
			delete(s.runs, id)
		}
	}
}

func (b *MemoryBroker) publishLocked(user uuid.UUID, s *memStream, e Envelope) Position {
	s.seq++
	now := b.now()
	s.touched = now
	p := Publication{Seq: s.seq, Envelope: e}
	if b.ret.short(e.Type) {
		s.expireShortLocked(b.ret.ShortTTL, now)
		s.short = appendCapped(s.short, p, b.ret.ShortSize)
		s.shortAt = now
	} else {
		s.ring = appendCapped(s.ring, p, b.ret.Size)
	}
	b.lmu.RLock()
	var targets []*memListener
	for l := range b.listeners {
		if l.subscribed(user) {
			targets = append(targets, l)
		}
	}
	b.lmu.RUnlock()
	for _, l := range targets {
		l.h.Deliver(user, s.epoch, p)
	}
	return Position{Seq: s.seq, Epoch: s.epoch}
}

// appendCapped appends p, dropping the oldest beyond size.
func appendCapped(ring []Publication, p Publication, size int) []Publication {
	if len(ring) >= size && len(ring) > 0 {
		copy(ring, ring[1:])
		ring[len(ring)-1] = p
		return ring
	}
	return append(ring, p)
}

// expireShortLocked drops the short-lived history once ttl has passed
// since its last event, as the Redis key's expiry does.
func (s *memStream) expireShortLocked(ttl time.Duration, now time.Time) {
	if len(s.short) > 0 && now.Sub(s.shortAt) >= ttl {
		s.short = nil
	}
}

// Position implements Broker.
func (b *MemoryBroker) Position(_ context.Context, user uuid.UUID) (Position, error) {
	s := b.stream(user)
	defer s.mu.Unlock()
	return Position{Seq: s.seq, Epoch: s.epoch}, nil
}

// History implements Broker.
func (b *MemoryBroker) History(_ context.Context, user uuid.UUID, since uint64) ([]Publication, Position, error) {
	s := b.stream(user)
	defer s.mu.Unlock()
	s.expireShortLocked(b.ret.ShortTTL, b.now())
	var out []Publication
	for _, ring := range [][]Publication{s.ring, s.short} {
		for _, p := range ring {
			if p.Seq > since {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(x, y Publication) int { return cmp.Compare(x.Seq, y.Seq) })
	return out, Position{Seq: s.seq, Epoch: s.epoch}, nil
}

// Present implements Broker.
func (b *MemoryBroker) Present(_ context.Context, user uuid.UUID) (bool, error) {
	b.lmu.RLock()
	defer b.lmu.RUnlock()
	for l := range b.listeners {
		if l.subscribed(user) {
			return true, nil
		}
	}
	return false, nil
}

// Listen implements Broker.
func (b *MemoryBroker) Listen(_ context.Context, h Handler) (Listener, error) {
	l := &memListener{b: b, h: h, users: map[uuid.UUID]struct{}{}}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	b.listeners[l] = struct{}{}
	return l, nil
}

type memListener struct {
	b  *MemoryBroker
	h  Handler
	mu sync.Mutex
	// users is guarded by mu, which is taken after b.lmu, never before.
	users  map[uuid.UUID]struct{}
	closed bool
}

func (l *memListener) subscribed(user uuid.UUID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.users[user]
	return ok
}

func (l *memListener) Subscribe(_ context.Context, user uuid.UUID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("realtime: listener closed")
	}
	l.users[user] = struct{}{}
	return nil
}

func (l *memListener) Unsubscribe(_ context.Context, user uuid.UUID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.users, user)
	return nil
}

func (l *memListener) Close() error {
	l.b.lmu.Lock()
	delete(l.b.listeners, l)
	l.b.lmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.users = map[uuid.UUID]struct{}{}
	return nil
}
