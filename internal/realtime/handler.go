package realtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/logging"
)

// readLimit bounds one client message: the largest is "auth" with a token.
const readLimit = 8 << 10

// ServeHTTP is GET /v1/ws. The token comes in "Authorization: Bearer"
// (servers) or, for browsers, which cannot set headers on a WebSocket, as
// the offered subprotocol "bearer.<token>" next to "jarvis.v1": either way
// it stays out of URLs and access logs. A refused handshake still upgrades
// and then closes with 4001 or 4002, because a browser sees nothing of an
// HTTP error answering a WebSocket handshake.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := logging.FromContext(r.Context(), h.log)
	tok := requestToken(r)
	var (
		id      Identity
		authErr error
	)
	if tok == "" {
		authErr = errNoToken
	} else {
		id, authErr = h.authenticate(r.Context(), tok, uuid.Nil)
	}
	ws, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: h.cfg.OriginPatterns,
	})
	if err != nil {
		log.Info("realtime: handshake refused", slog.Any("error", err)) // Accept answered already
		return
	}
	if authErr != nil {
		if !isAuthRefusal(authErr) {
			log.Error("realtime: authenticate", slog.Any("error", authErr))
			_ = ws.Close(websocket.StatusInternalError, "try again later")
			return
		}
		h.countClose(closeCodeFor(authErr))
		_ = ws.Close(closeCodeFor(authErr), closeReasonFor(authErr))
		return
	}
	ws.SetReadLimit(readLimit)
	c := &conn{hub: h, ws: ws, user: id.UserID, log: log.With(slog.String("user_id", id.UserID.String())), runs: map[uuid.UUID]struct{}{}, holding: true}
	c.mu.Lock()
	c.setTokenLocked(tok, id.ExpiresAt)
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	pos, err := h.add(ctx, c)
	cancel()
	if err != nil {
		c.mu.Lock()
		c.markClosedLocked()
		c.mu.Unlock()
		if errors.Is(err, errShuttingDown) {
			_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		if errors.Is(err, errTooManySockets) {
			log.Info("realtime: socket refused", slog.Int("max_sockets_per_user", h.cfg.MaxSocketsPerUser))
			_ = ws.Close(CloseTooManySockets, fmt.Sprintf("too many sockets: at most %d per user", h.cfg.MaxSocketsPerUser))
			return
		}
		log.Error("realtime: register socket", slog.Any("error", err))
		_ = ws.Close(websocket.StatusTryAgainLater, "try again later")
		return
	}
	c.mu.Lock()
	c.startSeq, c.lastSeq = pos.Seq, pos.Seq
	seq, exp := pos.Seq, c.expiresAt
	c.enqueueLocked(reply{Type: typeConnected, Epoch: pos.Epoch, Seq: &seq, ExpiresAt: &exp}.encode())
	// Still holding: the client subscribes and resumes next (see conn.holding).
	c.grace = time.AfterFunc(h.cfg.ResumeGrace, c.endGrace)
	c.tick = time.AfterFunc(h.cfg.PingInterval, c.onTick)
	c.mu.Unlock()

	// The socket is read on a goroutine of its own, and the handler returns:
	// net/http's goroutine, its stack grown by the handshake, and the
	// request go away, which halves what an idle socket costs.
	go func() {
		defer h.remove(c)
		c.readLoop(pos.Epoch)
	}()
}

// smallBuffers hands the WebSocket smaller I/O buffers than net/http's
// 4 KiB each way, which the socket would keep for its whole life: client
// messages are a few hundred bytes, and a write larger than the buffer
// goes to the connection directly. On 10k idle sockets this saves about
// 60 MB of heap, twice that in RSS at the default GOGC.
type smallBuffers struct{ http.ResponseWriter }

const (
	socketReadBuffer  = 512
	socketWriteBuffer = 2048
)

func (s smallBuffers) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("flush handshake: %w", err)
	}
	// A server's read or write timeout must not outlive the handshake: the
	// socket bounds its own writes and detects dead peers with pings.
	if err := conn.SetDeadline(time.Time{}); err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("clear deadlines: %w", err)
	}
	// Bytes the client sent right after its handshake may already sit in
	// net/http's reader: they go first, and are buffered in the new reader
	// at once (websocket.Accept re-reads what is buffered).
	n := brw.Reader.Buffered()
	pending, _ := brw.Reader.Peek(n)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn), max(socketReadBuffer, n))
	if n > 0 {
		if _, err := br.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("carry buffered bytes: %w", err)
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, socketWriteBuffer)), nil
}

// requestToken reads the bearer token from the header or the subprotocols.
func requestToken(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if tok, ok := strings.CutPrefix(strings.TrimSpace(p), BearerPrefix); ok {
				return tok
			}
		}
	}
	return ""
}

var errNoToken = fault.New(fault.Unauthorized, "no access token: send Authorization: Bearer or the bearer.<token> subprotocol")

// authenticate checks tok; when user is set, the token must be that user's.
func (h *Hub) authenticate(ctx context.Context, tok string, user uuid.UUID) (Identity, error) {
	id, err := h.auth.Authenticate(ctx, tok)
	if err != nil {
		return Identity{}, err
	}
	if user != uuid.Nil && id.UserID != user {
		return Identity{}, errOtherUser
	}
	return id, nil
}

var errOtherUser = fault.New(fault.Unauthorized, "the token is another user's")

// isAuthRefusal tells a refused credential from a failure to check it.
func isAuthRefusal(err error) bool {
	return errors.Is(err, errNoToken) || fault.Is(err, fault.Unauthorized)
}

func isExpired(err error) bool {
	f, ok := fault.As(err)
	return ok && f.Code == "TOKEN_EXPIRED"
}

func closeCodeFor(err error) websocket.StatusCode {
	if isExpired(err) {
		return CloseTokenExpired
	}
	return CloseUnauthorized
}

// closeReasonFor says what went wrong without saying which part of a
// credential was wrong.
func closeReasonFor(err error) string {
	switch {
	case isExpired(err):
		return "access token expired"
	case errors.Is(err, errNoToken):
		return "access token required"
	default:
		return "unauthorized"
	}
}

// readLoop handles the client's messages until the socket ends.
func (c *conn) readLoop(epoch string) {
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.fail(err)
			return
		}
		if typ != websocket.MessageText {
			c.send(reply{Type: typeError, Code: "VALIDATION_ERROR", Message: "messages are JSON text"})
			continue
		}
		var m clientMessage
		if err := json.Unmarshal(data, &m); err != nil {
			c.send(reply{Type: typeError, Code: "VALIDATION_ERROR", Message: "message is not a JSON object"})
			continue
		}
		if !validMessageID(m.ID) {
			// Not echoed: it is not an id.
			c.send(reply{Type: typeError, Code: "VALIDATION_ERROR", Message: "id must be a string of 1 to 64 characters or an integer"})
			continue
		}
		c.handle(m, epoch)
	}
}

func (c *conn) handle(m clientMessage, epoch string) {
	invalid := func(msg string) {
		c.send(reply{Type: typeError, ID: m.ID, Code: "VALIDATION_ERROR", Message: msg})
	}
	switch m.Type {
	case typePing:
		c.send(reply{Type: typePong, ID: m.ID})
	case typeSubscribe, typeUnsubscribe:
		run, err := uuid.Parse(m.RunID)
		if err != nil || run == uuid.Nil {
			invalid("run_id must be a run's id (a UUID)")
			return
		}
		c.mu.Lock()
		if m.Type == typeSubscribe {
			if !c.subscribedTo(run) && len(c.runs) >= c.hub.cfg.MaxSubscriptions {
				c.mu.Unlock()
				invalid(fmt.Sprintf("at most %d run subscriptions per socket", c.hub.cfg.MaxSubscriptions))
				return
			}
			c.runs[run] = struct{}{}
		} else {
			delete(c.runs, run)
		}
		c.mu.Unlock()
		t := typeSubscribed
		if m.Type == typeUnsubscribe {
			t = typeUnsubscribed
		}
		c.send(reply{Type: t, ID: m.ID, RunID: &run})
	case typeResume:
		if m.Epoch == "" || m.Seq == nil {
			invalid("resume needs the epoch and seq last seen")
			return
		}
		c.resume(m, epoch)
	case typeAuth:
		c.reauth(m)
	default:
		invalid(fmt.Sprintf("unknown message type %q", m.Type))
	}
}

// resume sends what the socket's user stream got between the client's last
// seen seq and this socket's start, then what the socket held since its
// start, both filtered by the socket's run subscriptions as they are now,
// and says whether that was all of it. A resume after the socket stopped
// holding (ResumeGrace passed) cannot be complete: events after the start
// were queued or dropped by then, so it says recovered: false.
func (c *conn) resume(m clientMessage, epoch string) {
	c.mu.Lock()
	if c.resumed {
		c.mu.Unlock()
		c.send(reply{Type: typeError, ID: m.ID, Code: "VALIDATION_ERROR", Message: "a socket resumes once, right after it connects"})
		return
	}
	late := !c.holding
	c.resumed, c.holding = true, true
	start := c.startSeq
	c.mu.Unlock()

	since := *m.Seq
	var (
		pubs []Publication
		err  error
	)
	recovered := !late && m.Epoch == epoch && since <= start
	if recovered && since < start {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pubs, _, err = c.hub.broker.History(ctx, c.user, since)
		cancel()
		if err != nil {
			c.log.Error("realtime: resume", slog.Any("error", err))
			recovered, pubs = false, nil
		} else if !Contiguous(pubs, since, start) {
			recovered, pubs = false, nil // trimmed past its kind's cap or window, or lost
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	var missed []Publication
	for _, p := range pubs {
		if p.Seq > start {
			break
		}
		if p.Type == closeUser {
			continue // a control publication, never an event for sockets
		}
		if !p.ToRun || c.subscribedTo(p.RunID) {
			missed = append(missed, p)
		}
	}
	n := len(missed)
	c.hub.countResume(recovered)
	c.enqueueLocked(reply{Type: typeResumed, ID: m.ID, Recovered: &recovered, Epoch: epoch, Seq: &start, Missed: &n}.encode())
	for _, p := range missed {
		c.enqueueEventLocked(encodeEvent(p))
	}
	c.releaseLocked()
}

// reauth takes a fresh access token of the same user, so that a socket
// outlives the 15-minute token it opened with.
func (c *conn) reauth(m clientMessage) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	id, err := c.hub.authenticate(ctx, m.Token, c.user)
	cancel()
	switch {
	case err == nil:
	case isExpired(err):
		c.send(reply{Type: typeError, ID: m.ID, Code: "TOKEN_EXPIRED", Message: "access token expired"})
		return
	case isAuthRefusal(err):
		c.close(CloseUnauthorized, "unauthorized")
		return
	default:
		c.log.Error("realtime: re-authenticate", slog.Any("error", err))
		c.send(reply{Type: typeError, ID: m.ID, Code: "INTERNAL", Message: "could not check the token; try again"})
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.setTokenLocked(m.Token, id.ExpiresAt)
	exp := id.ExpiresAt
	c.mu.Unlock()
	c.send(reply{Type: typeAuthed, ID: m.ID, ExpiresAt: &exp})
}
