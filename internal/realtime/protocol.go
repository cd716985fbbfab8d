package realtime

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// Close codes of GET /v1/ws beyond RFC 6455's. A client reacts to the code,
// not the reason text.
const (
	// CloseUnauthorized: no token, a bad one, a revoked session or a
	// disabled user. Sign in again before reconnecting.
	CloseUnauthorized websocket.StatusCode = 4001
	// CloseTokenExpired: the access token expired (at the handshake, or
	// while open without an "auth" message renewing it). Refresh, then
	// reconnect and resume.
	CloseTokenExpired websocket.StatusCode = 4002
	// CloseSlowConsumer: the client did not read fast enough and its send
	// queue overflowed. Reconnect and resume.
	CloseSlowConsumer websocket.StatusCode = 4008
	// CloseResync: the user's stream was lost or recreated while the socket
	// was open (new epoch). Reconnect and resume: it will say recovered: false.
	CloseResync websocket.StatusCode = 4009
	// CloseTooManySockets: the user already has REALTIME_MAX_SOCKETS_PER_USER
	// sockets open on this instance. Close one before opening another; do
	// not retry in a loop.
	CloseTooManySockets websocket.StatusCode = 4029
)

// Subprotocol is the protocol name this server speaks; a browser passes its
// token as a second offered subprotocol, BearerPrefix + token, which the
// server reads and never echoes.
const (
	Subprotocol  = "jarvis.v1"
	BearerPrefix = "bearer."
)

// Message types, server → client, besides the event types of
// internal/events.
const (
	typeConnected    = "connected"
	typeSubscribed   = "subscribed"
	typeUnsubscribed = "unsubscribed"
	typeResumed      = "resumed"
	typePong         = "pong"
	typeAuthed       = "authed"
	typeError        = "error"
)

// Message types, client → server.
const (
	typeSubscribe   = "subscribe"
	typeUnsubscribe = "unsubscribe"
	typeResume      = "resume"
	typePing        = "ping"
	typeAuth        = "auth"
)

// clientMessage is every client → server message; which fields matter
// depends on Type. ID, when given, is echoed in the reply.
type clientMessage struct {
	Type  string          `json:"type"`
	ID    json.RawMessage `json:"id,omitempty"`
	RunID string          `json:"run_id,omitempty"`
	Epoch string          `json:"epoch,omitempty"`
	Seq   *uint64         `json:"seq,omitempty"`
	Token string          `json:"token,omitempty"`
}

// validMessageID reports whether a client message's id is what the
// contract allows (absent, a string of 1 to 64 characters, or an
// integer), so what is echoed is a short id and never an arbitrary value.
func validMessageID(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		n := utf8.RuneCountInString(s)
		return n >= 1 && n <= 64
	}
	var i int64
	return json.Unmarshal(raw, &i) == nil
}

// reply is every server → client message that is not an event.
type reply struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id,omitempty"`
	RunID     *uuid.UUID      `json:"run_id,omitempty"`
	Epoch     string          `json:"epoch,omitempty"`
	Seq       *uint64         `json:"seq,omitempty"`
	Recovered *bool           `json:"recovered,omitempty"`
	Missed    *int            `json:"missed,omitempty"`
	ExpiresAt *time.Time      `json:"expires_at,omitempty"`
	Code      string          `json:"code,omitempty"`
	Message   string          `json:"message,omitempty"`
}

func (r reply) encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic("realtime: encode reply: " + err.Error()) // only plain fields: cannot fail
	}
	return b
}

// encodeEvent writes the event message of p:
// {"type":"agent.token","run_id":"…","seq":42,"ts":"…","data":{…}}.
// It is built by hand once per publication and instance, and shared by
// every socket it goes to: the type is one of events' constants and data a
// validated JSON object, so nothing needs escaping.
func encodeEvent(p Publication) []byte {
	b := make([]byte, 0, 96+len(p.Data))
	b = append(b, `{"type":"`...)
	b = append(b, p.Type...)
	b = append(b, '"')
	if p.RunID != uuid.Nil {
		b = append(b, `,"run_id":"`...)
		b = append(b, p.RunID.String()...)
		b = append(b, '"')
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, p.Seq, 10)
	b = append(b, `,"ts":"`...)
	b = p.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = append(b, p.Data...)
	return append(b, '}')
}
