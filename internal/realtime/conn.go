package realtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// conn is one socket of a user on this instance. The HTTP handler's
// goroutine reads it; a writer goroutine exists only while its queue has
// messages, so an idle socket costs one goroutine.
type conn struct {
	hub  *Hub
	ws   *websocket.Conn
	user uuid.UUID
	log  *slog.Logger

	mu         sync.Mutex
	queue      [][]byte // unsent messages, oldest first
	queueBytes int
	writing    bool // a writer goroutine is draining queue
	draining   bool // shutting down: no new messages, the queue is still sent
	closed     bool
	drained    chan struct{} // closed when the queue is empty after draining started

	runs     map[uuid.UUID]struct{} // run subscriptions
	startSeq uint64                 // the stream position when the socket opened
	lastSeq  uint64                 // highest event seq queued on this socket
	// From registration until "resume" (or ResumeGrace) the socket holds
	// every event of its user, subscribed or not: the client subscribes
	// after "connected", and an event of a run it subscribes to a moment
	// later must not be dropped before then, nor overtake the missed ones.
	holding   bool
	held      []heldEvent
	heldBytes int
	grace     *time.Timer // ends holding for a socket that does not resume
	resumed   bool

	token     string    // the access token, re-checked against its session
	expiresAt time.Time // of token
	expiry    *time.Timer
	tick      *time.Timer // pings and session re-checks
	checkedAt time.Time   // last session check
}

type heldEvent struct {
	p   Publication
	msg []byte
}

func (c *conn) subscribedTo(run uuid.UUID) bool {
	_, ok := c.runs[run]
	return ok
}

// deliver queues an event published after the socket started, or holds it
// while the socket starts or resumes. Events already queued are skipped, and
// so are events of runs the socket did not subscribe to: when queued, since
// held events are filtered by the subscriptions as of their release.
func (c *conn) deliver(p Publication, msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.draining || p.Seq <= c.lastSeq {
		return
	}
	if c.holding {
		// Bounded as the send queue is: a client that never resumes within
		// the grace while its user's events pour in cannot grow this.
		if len(c.held) >= c.hub.cfg.SendQueueMessages || c.heldBytes+len(msg) > c.hub.cfg.SendQueueBytes {
			c.closeLocked(CloseSlowConsumer, "slow consumer: send queue full")
			return
		}
		c.held = append(c.held, heldEvent{p, msg})
		c.heldBytes += len(msg)
		return
	}
	if p.ToRun && !c.subscribedTo(p.RunID) {
		return
	}
	c.lastSeq = p.Seq
	c.enqueueEventLocked(msg)
}

// endGrace releases a socket that did not resume within ResumeGrace. A
// resume under way releases the socket itself, after its missed events.
func (c *conn) endGrace() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.resumed || !c.holding {
		return
	}
	c.releaseLocked()
}

// send queues a reply.
func (c *conn) send(r reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.draining {
		return
	}
	c.enqueueLocked(r.encode())
}

// releaseLocked ends holding: held events newer than what is queued follow,
// filtered by the subscriptions the socket has now.
func (c *conn) releaseLocked() {
	for _, h := range c.held {
		if c.closed {
			break
		}
		if h.p.Seq <= c.lastSeq || (h.p.ToRun && !c.subscribedTo(h.p.RunID)) {
			continue
		}
		c.lastSeq = h.p.Seq
		c.enqueueEventLocked(h.msg)
	}
	c.held, c.heldBytes = nil, 0
	c.holding = false
	if c.grace != nil {
		c.grace.Stop()
		c.grace = nil
	}
}

func (c *conn) enqueueLocked(msg []byte) {
	if c.closed {
		return
	}
	if len(c.queue) >= c.hub.cfg.SendQueueMessages || c.queueBytes+len(msg) > c.hub.cfg.SendQueueBytes {
		c.closeLocked(CloseSlowConsumer, "slow consumer: send queue full")
		return
	}
	c.queue = append(c.queue, msg)
	c.queueBytes += len(msg)
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop sends the queue in order and exits when it is empty.
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.closed || len(c.queue) == 0 {
			c.writing = false
			c.queue = nil // let the backing array go while idle
			if c.draining && c.drained != nil {
				close(c.drained)
				c.drained = nil
			}
			c.mu.Unlock()
			return
		}
		msg := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.queueBytes -= len(msg)
		c.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), c.hub.cfg.WriteTimeout)
		err := c.ws.Write(ctx, websocket.MessageText, msg)
		cancel()
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// close ends the socket with code and reason (sent to the client, who
// reacts to the code). It does not block: the close handshake runs in its
// own goroutine, since close is called from delivery and timers.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason)
}

func (c *conn) closeLocked(code websocket.StatusCode, reason string) {
	if c.closed {
		return
	}
	c.markClosedLocked()
	level := slog.LevelInfo
	if code == CloseSlowConsumer {
		level = slog.LevelWarn
		c.hub.slowClosed.Add(1)
	}
	c.hub.countClose(code)
	c.log.Log(context.Background(), level, "realtime: closing socket", slog.Int("code", int(code)), slog.String("reason", reason))
	go func() {
		_ = c.ws.Close(code, reason) // the peer may be gone: nothing left to do either way
	}()
}

// fail drops a socket whose connection broke (read or write error, no
// pong): there is no one to send a close frame to.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.markClosedLocked()
	c.mu.Unlock()
	if s := websocket.CloseStatus(err); s == -1 && !errors.Is(err, context.Canceled) {
		c.log.Debug("realtime: socket dropped", slog.Any("error", err))
	}
	_ = c.ws.CloseNow()
}

func (c *conn) markClosedLocked() {
	c.closed = true
	c.queue, c.held = nil, nil
	c.queueBytes, c.heldBytes = 0, 0
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.grace != nil {
		c.grace.Stop()
	}
	if c.tick != nil {
		c.tick.Stop()
	}
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// drainAndClose stops queuing new messages, waits (up to ctx) for the queue
// to be written, then closes with 1001.
func (c *conn) drainAndClose(ctx context.Context) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.draining = true
	var wait chan struct{}
	if c.writing {
		wait = make(chan struct{})
		c.drained = wait
	}
	c.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.markClosedLocked()
	c.mu.Unlock()
	_ = c.ws.Close(websocket.StatusGoingAway, "server shutting down")
}

// onTick pings the peer and, when due, checks the session again.
func (c *conn) onTick() {
	ctx, cancel := context.WithTimeout(context.Background(), c.hub.cfg.PongTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		c.fail(err)
		return
	}
	c.mu.Lock()
	due := time.Since(c.checkedAt) >= c.hub.cfg.SessionRecheck
	tok := c.token
	c.mu.Unlock()
	if due {
		ctx, cancel := context.WithTimeout(context.Background(), c.hub.cfg.PongTimeout)
		_, err := c.hub.authenticate(ctx, tok, c.user)
		cancel()
		switch {
		case err == nil:
			c.mu.Lock()
			c.checkedAt = time.Now()
			c.mu.Unlock()
		case isAuthRefusal(err):
			c.close(closeCodeFor(err), closeReasonFor(err))
			return
		default:
			// The database is unreachable: keep the socket (its token is
			// still valid) and try again at the next tick.
			c.log.Warn("realtime: session re-check failed", slog.Any("error", err))
		}
	}
	c.mu.Lock()
	if !c.closed {
		c.tick.Reset(c.hub.cfg.PingInterval)
	}
	c.mu.Unlock()
}

// setToken arms the expiry timer for a (new) token.
func (c *conn) setTokenLocked(tok string, exp time.Time) {
	c.token, c.expiresAt, c.checkedAt = tok, exp, time.Now()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.expiry = time.AfterFunc(time.Until(exp), func() {
		c.close(CloseTokenExpired, "access token expired")
	})
}
