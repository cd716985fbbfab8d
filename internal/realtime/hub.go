package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Identity is who a socket's access token speaks for, and until when.
type Identity struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	ExpiresAt time.Time
}

// Authenticator checks an access token and its session, as every request's
// is checked. Refusals are fault.Unauthorized (code TOKEN_EXPIRED for an
// expired token); other errors mean the check could not run.
type Authenticator interface {
	Authenticate(ctx context.Context, access string) (Identity, error)
}

// Hub holds this instance's sockets, grouped by user, and delivers the
// broker's publications to them. It subscribes to a user's stream while
// the user has at least one socket here.
type Hub struct {
	cfg    Config
	broker Broker
	auth   Authenticator
	log    *slog.Logger

	listener Listener
	subMu    [64]sync.Mutex // serializes (un)subscribing one user, sharded by user

	mu       sync.Mutex
	users    map[uuid.UUID]*userConns
	closing  bool
	sockets  sync.WaitGroup // handler goroutines of open sockets
	catchUps sync.WaitGroup // catch-ups from the history
	stopOnce sync.Once

	slowClosed atomic.Int64 // sockets closed as slow consumers, for tests and metrics
	stats      hubStats     // the other counts metrics read (stats.go)
}

// userConns is one user's sockets here, and where the user's stream is as
// far as this instance knows.
type userConns struct {
	ready   chan struct{} // closed once subscribed and positioned (or failed)
	initErr error

	mu      sync.Mutex
	conns   map[*conn]struct{}
	epoch   string
	lastSeq uint64
	pending []pendingPub // delivered before ready, or during a catch-up
	live    bool         // ready and positioned
	// catching: a catch-up from the history is under way on its own
	// goroutine; publications wait in pending meanwhile, so that the
	// broker's delivery goroutine (one for every user of the instance)
	// never waits on a History round trip. again: a broker reconnect came
	// during it, so another catch-up follows.
	catching bool
	again    bool
}

type pendingPub struct {
	epoch string
	p     Publication
}

// NewHub needs Listen before it serves sockets (Start).
func NewHub(cfg Config, broker Broker, auth Authenticator, log *slog.Logger) *Hub {
	return &Hub{cfg: cfg, broker: broker, auth: auth, log: log, users: map[uuid.UUID]*userConns{}}
}

// Start begins listening to the broker.
func (h *Hub) Start(ctx context.Context) error {
	l, err := h.broker.Listen(ctx, h)
	if err != nil {
		return fmt.Errorf("realtime: listen to broker: %w", err)
	}
	h.listener = l
	return nil
}

// Shutdown refuses new sockets, sends every socket what is queued for it
// (until ctx ends), closes them with 1001, and stops listening.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	var all []*conn
	for _, u := range h.users {
		u.mu.Lock()
		for c := range u.conns {
			all = append(all, c)
		}
		u.mu.Unlock()
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Go(func() { c.drainAndClose(ctx) })
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { h.sockets.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	var err error
	h.stopOnce.Do(func() {
		if h.listener != nil {
			err = h.listener.Close()
		}
		// The listener delivers nothing after Close, so no catch-up starts
		// now but from a running one: Wait is not racing a first Go.
		caughtUp := make(chan struct{})
		go func() { h.catchUps.Wait(); close(caughtUp) }()
		select {
		case <-caughtUp:
		case <-ctx.Done():
		}
	})
	return err
}

// Connected is how many sockets this instance holds.
func (h *Hub) Connected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, u := range h.users {
		u.mu.Lock()
		n += len(u.conns)
		u.mu.Unlock()
	}
	return n
}

// SlowConsumersClosed is how many sockets were closed for not reading.
func (h *Hub) SlowConsumersClosed() int64 { return h.slowClosed.Load() }

func (h *Hub) shard(user uuid.UUID) *sync.Mutex { return &h.subMu[user[15]%64] }

// add registers c and returns the user's stream position at which c starts
// (events after it are delivered to c). c holds events until the caller
// queued its "connected" message and released it.
func (h *Hub) add(ctx context.Context, c *conn) (Position, error) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return Position{}, errShuttingDown
	}
	u, ok := h.users[c.user]
	first := !ok
	if first {
		u = &userConns{ready: make(chan struct{}), conns: map[*conn]struct{}{}}
		h.users[c.user] = u
	}
	u.mu.Lock()
	if len(u.conns) >= h.cfg.MaxSocketsPerUser {
		u.mu.Unlock()
		h.mu.Unlock()
		return Position{}, errTooManySockets
	}
	u.conns[c] = struct{}{}
	u.mu.Unlock()
	h.sockets.Add(1)
	h.mu.Unlock()

	if first {
		u.initErr = h.subscribe(ctx, c.user, u)
		close(u.ready)
	}
	select {
	case <-u.ready:
	case <-ctx.Done():
		h.remove(c)
		return Position{}, ctx.Err()
	}
	if u.initErr != nil {
		h.remove(c)
		return Position{}, u.initErr
	}
	pos, err := h.broker.Position(ctx, c.user)
	if err != nil {
		h.remove(c)
		return Position{}, fmt.Errorf("realtime: stream position: %w", err)
	}
	return pos, nil
}

// subscribe makes this instance listen to user and learn where its stream
// is. Subscribing comes first, so nothing published after the position
// read is missed.
func (h *Hub) subscribe(ctx context.Context, user uuid.UUID, u *userConns) error {
	m := h.shard(user)
	m.Lock()
	defer m.Unlock()
	if err := h.listener.Subscribe(ctx, user); err != nil {
		h.dropUser(user, u)
		return fmt.Errorf("realtime: subscribe: %w", err)
	}
	pos, err := h.broker.Position(ctx, user)
	if err != nil {
		h.dropUser(user, u)
		return fmt.Errorf("realtime: stream position: %w", err)
	}
	u.mu.Lock()
	u.epoch, u.lastSeq, u.live = pos.Epoch, pos.Seq, true
	h.drainLocked(user, u)
	u.mu.Unlock()
	return nil
}

// dropUser forgets u after its subscription failed.
func (h *Hub) dropUser(user uuid.UUID, u *userConns) {
	h.mu.Lock()
	if h.users[user] == u {
		delete(h.users, user)
	}
	h.mu.Unlock()
}

// remove unregisters c; the last socket of a user unsubscribes from its stream.
func (h *Hub) remove(c *conn) {
	h.mu.Lock()
	u, ok := h.users[c.user]
	if !ok {
		h.mu.Unlock()
		h.sockets.Done()
		return
	}
	u.mu.Lock()
	delete(u.conns, c)
	empty := len(u.conns) == 0
	u.mu.Unlock()
	if empty {
		delete(h.users, c.user)
	}
	h.mu.Unlock()
	defer h.sockets.Done()
	if !empty {
		return
	}
	<-u.ready // never unsubscribe before the subscription is done
	if u.initErr != nil {
		return
	}
	m := h.shard(c.user)
	m.Lock()
	defer m.Unlock()
	h.mu.Lock()
	_, again := h.users[c.user] // a new socket came meanwhile and keeps the subscription
	h.mu.Unlock()
	if again || h.listener == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.listener.Unsubscribe(ctx, c.user); err != nil {
		h.log.Warn("realtime: unsubscribe", slog.Any("error", err))
	}
}

// Deliver implements Handler.
func (h *Hub) Deliver(user uuid.UUID, epoch string, p Publication) {
	h.mu.Lock()
	u, ok := h.users[user]
	h.mu.Unlock()
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.live || u.catching {
		u.pending = append(u.pending, pendingPub{epoch, p})
		return
	}
	h.deliverLocked(user, u, epoch, p)
}

// drainLocked delivers the pending publications in order, until none is
// left or one of them starts a catch-up (the rest then wait for it).
func (h *Hub) drainLocked(user uuid.UUID, u *userConns) {
	for len(u.pending) > 0 && !u.catching {
		pp := u.pending[0]
		u.pending[0] = pendingPub{}
		u.pending = u.pending[1:]
		h.deliverLocked(user, u, pp.epoch, pp.p)
	}
	if len(u.pending) == 0 {
		u.pending = nil // let the backing array go
	}
}

// Resync implements Resyncer: after a broker reconnect, catch up from history.
func (h *Hub) Resync(user uuid.UUID) {
	h.mu.Lock()
	u, ok := h.users[user]
	h.mu.Unlock()
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case !u.live:
		// Still subscribing: the position it reads comes after the reconnect.
	case u.catching:
		u.again = true
	default:
		h.log.Info("realtime: resubscribed after a broker reconnect; catching up from history", slog.String("user_id", user.String()))
		h.startCatchUpLocked(user, u)
	}
}

func (h *Hub) deliverLocked(user uuid.UUID, u *userConns, epoch string, p Publication) {
	switch {
	case epoch != u.epoch:
		// The stream was recreated: every position the sockets hold is void.
		h.resyncLocked(u, fmt.Sprintf("stream epoch changed from %s to %s", u.epoch, epoch))
		u.epoch, u.lastSeq = epoch, p.Seq
		return
	case p.Seq <= u.lastSeq:
		return // already delivered (a duplicate, or before the position read)
	case p.Seq > u.lastSeq+1:
		// Publications went missing on the way (a pub/sub reconnect): take
		// them from the history, then this one and what arrives meanwhile.
		u.pending = append([]pendingPub{{epoch, p}}, u.pending...)
		h.startCatchUpLocked(user, u)
		return
	}
	h.fanOutLocked(u, p)
}

// startCatchUpLocked fetches what the history holds after u.lastSeq on a
// goroutine of its own; publications wait in u.pending until it is done.
func (h *Hub) startCatchUpLocked(user uuid.UUID, u *userConns) {
	u.catching = true
	since := u.lastSeq
	h.catchUps.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pubs, pos, err := h.broker.History(ctx, user, since)
		cancel()
		u.mu.Lock()
		defer u.mu.Unlock()
		h.catchUpLocked(u, since, pubs, pos, err)
		if u.again {
			u.again = false
			h.startCatchUpLocked(user, u)
			return
		}
		u.catching = false
		h.drainLocked(user, u)
	})
}

// catchUpLocked delivers what the history held after since (u.lastSeq:
// nothing else is delivered during a catch-up). When the history no longer
// has all of it, the sockets are told to resume.
func (h *Hub) catchUpLocked(u *userConns, since uint64, pubs []Publication, pos Position, err error) {
	if err != nil {
		h.resyncLocked(u, "history unavailable: "+err.Error())
		u.pending = nil // as lost as the history; the sockets resume
		return
	}
	if pos.Epoch != u.epoch || !Contiguous(pubs, since, pos.Seq) {
		h.resyncLocked(u, "events lost before delivery")
		u.epoch, u.lastSeq = pos.Epoch, pos.Seq
		return
	}
	for _, p := range pubs {
		if p.Seq > u.lastSeq {
			h.fanOutLocked(u, p)
		}
	}
}

func (h *Hub) fanOutLocked(u *userConns, p Publication) {
	u.lastSeq = p.Seq
	if p.Type == closeUser {
		// The account is gone, disabled or signed out by an operator: every
		// socket of the user, on every instance, ends now rather than at its
		// next session check.
		reason := closeReason(p.Data)
		for c := range u.conns {
			c.close(CloseUnauthorized, reason)
		}
		return
	}
	msg := encodeEvent(p)
	for c := range u.conns {
		c.deliver(p, msg)
	}
}

// closeReason is a close_user publication's reason; one published by an
// older instance carries none and meant an erasure. A WebSocket close
// reason is at most 123 bytes.
func closeReason(data json.RawMessage) string {
	var d struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(data, &d) != nil || d.Reason == "" {
		return ReasonErased
	}
	if len(d.Reason) > 123 {
		return d.Reason[:123]
	}
	return d.Reason
}

// resyncLocked closes the user's sockets so that they resume (and learn
// that it is incomplete).
func (h *Hub) resyncLocked(u *userConns, why string) {
	h.log.Warn("realtime: closing a user's sockets for resync", slog.String("why", why))
	for c := range u.conns {
		c.close(CloseResync, "stream lost: reconnect and resume")
	}
}

var (
	errShuttingDown   = errors.New("realtime: server shutting down")
	errTooManySockets = errors.New("realtime: too many sockets for one user")
)
