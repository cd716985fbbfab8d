package realtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
)

// MemoryBroker is the Broker of a single node: history and fan-out in
// process. Several listeners (hubs) may share one, which is how tests run
// two instances on it; a restarted process starts with new epochs, so its
// clients' resumes say recovered: false, as they must.
type MemoryBroker struct {
	size int           // events kept per user
	ttl  time.Duration // an idle stream is dropped after this
	now  func() time.Time

	mu      sync.Mutex // guards streams; taken before a stream's lock, never after
	streams map[uuid.UUID]*memStream

	lmu       sync.RWMutex // guards listeners; taken after a stream's lock
	listeners map[*memListener]struct{}

	stop     chan struct{}
	stopOnce sync.Once
}

type memStream struct {
	mu      sync.Mutex
	epoch   string
	seq     uint64
	ring    []Publication // oldest first, at most size
	touched time.Time
	dropped bool // swept: whoever holds it must look the stream up again
}

// NewMemoryBroker keeps size events per user and drops streams idle for ttl.
func NewMemoryBroker(size int, ttl time.Duration) *MemoryBroker {
	b := &MemoryBroker{
		size:      size,
		ttl:       ttl,
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
	t := time.NewTicker(max(b.ttl/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			cutoff := b.now().Add(-b.ttl)
			b.mu.Lock()
			for id, s := range b.streams {
				s.mu.Lock()
				if s.touched.Before(cutoff) {
					s.dropped = true
					delete(b.streams, id)
				}
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
			s = &memStream{epoch: newEpoch(), touched: b.now()}
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
	if len(s.ring) > keep {
		s.ring = append([]Publication(nil), s.ring[len(s.ring)-keep:]...)
	}
}

// Publish implements Broker. Delivery happens under the stream's lock, so
// listeners see one user's events in seq order.
func (b *MemoryBroker) Publish(_ context.Context, user uuid.UUID, e Envelope) (Position, error) {
	s := b.stream(user)
	defer s.mu.Unlock()
	s.seq++
	s.touched = b.now()
	p := Publication{Seq: s.seq, Envelope: e}
	if len(s.ring) == b.size {
		copy(s.ring, s.ring[1:])
		s.ring[len(s.ring)-1] = p
	} else {
		s.ring = append(s.ring, p)
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
	return Position{Seq: s.seq, Epoch: s.epoch}, nil
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
	var out []Publication
	for _, p := range s.ring {
		if p.Seq > since {
			out = append(out, p)
		}
	}
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
