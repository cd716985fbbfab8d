package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
)

// Position is a point in a user's stream: the seq of the last event in it
// and the stream's epoch. The epoch changes whenever the stream is created
// anew (first use, expiry after idleness, Redis losing its data), so a seq
// is only meaningful together with the epoch it was handed out in.
type Position struct {
	Seq   uint64 `json:"seq"`
	Epoch string `json:"epoch"`
}

// Envelope is an event as emitted, before the broker numbers it.
type Envelope struct {
	Type  events.Type     `json:"t"`
	RunID uuid.UUID       `json:"r,omitzero"`
	ToRun bool            `json:"o,omitempty"` // only for sockets subscribed to RunID
	Time  time.Time       `json:"ts"`
	Data  json.RawMessage `json:"d"`
	// Trace is the W3C traceparent of the span that published the event
	// (empty when it was not traced), so that a delivery on another
	// instance continues that trace. Never sent to clients.
	Trace string `json:"tp,omitempty"`
}

// Publication is an event in a user's stream.
type Publication struct {
	Seq uint64
	Envelope
}

// Handler receives the publications of the users a Listener subscribed to,
// in seq order per user. It is called from the broker's delivery goroutine
// and must not block for long.
type Handler interface {
	// Deliver hands over one publication of user's stream, with the epoch
	// it was numbered in.
	Deliver(user uuid.UUID, epoch string, p Publication)
}

// Broker fans events out across instances and keeps each user's recent
// history. Implementations: RedisBroker, MemoryBroker.
type Broker interface {
	// Publish numbers e with the user's next seq, appends it to the user's
	// history and hands it to every listener subscribed to the user, all in
	// one atomic step: two instances never hand out the same seq, and
	// listeners see a user's events in seq order.
	Publish(ctx context.Context, user uuid.UUID, e Envelope) (Position, error)
	// Position is the user's stream position (creating the stream's epoch
	// when the stream does not exist yet).
	Position(ctx context.Context, user uuid.UUID) (Position, error)
	// History returns the retained publications with seq > since, oldest
	// first, and the stream's current position. Entries trimmed past their
	// kind's cap or window, or lost, are simply absent: callers check with
	// Contiguous whether the history is complete.
	History(ctx context.Context, user uuid.UUID, since uint64) ([]Publication, Position, error)
	// Listen starts delivering publications to h for the users the returned
	// Listener subscribes to. An instance listens once.
	Listen(ctx context.Context, h Handler) (Listener, error)
	// Present reports whether any listener, on any instance, is subscribed
	// to the user: whether the user has a connection anywhere.
	Present(ctx context.Context, user uuid.UUID) (bool, error)
	// PublishRun is Publish for one or more events of one run (es[i].RunID)
	// that also reads or records the run's state in the user's stream, in
	// the same atomic step (see RunOp): a run recorded closed takes no
	// guarded event after the event that closed it, whichever instance
	// emits it. The events get consecutive seqs, in order; the position
	// returned is the last one's.
	PublishRun(ctx context.Context, user uuid.UUID, op RunOp, es ...Envelope) (Position, error)
	// Forget deletes what the broker keeps of the user (history, position):
	// an erased account leaves nothing behind. A later publication starts
	// a new stream with a new epoch.
	Forget(ctx context.Context, user uuid.UUID) error
}

// sameRun reports whether es are one or more events of one run.
func sameRun(es []Envelope) bool {
	if len(es) == 0 || es[0].RunID == uuid.Nil {
		return false
	}
	for _, e := range es[1:] {
		if e.RunID != es[0].RunID {
			return false
		}
	}
	return true
}

// RunOp is what PublishRun does with the run's state, which the broker
// keeps per user beside the history (as long as the history lives): open,
// closed, or unknown (never recorded, or lost with the stream).
type RunOp uint8

const (
	// RunMarkOpen publishes, and records the run open unless it is closed
	// (a run.status event of an unfinished run).
	RunMarkOpen RunOp = iota + 1
	// RunMarkClosed publishes and records the run closed for good (the
	// run.status event that finishes it).
	RunMarkClosed
	// RunIfOpen publishes only when the run is recorded open; otherwise
	// it fails with ErrRunClosed or ErrRunUnknown and publishes nothing.
	RunIfOpen
	// RunLearnOpen is RunIfOpen after recording an unknown run open: the
	// caller read the run in the database and found it unfinished. A run
	// recorded closed meanwhile stays closed, and the event is refused.
	RunLearnOpen
)

// Errors of PublishRun's guarded operations.
var (
	ErrRunClosed  = errors.New("realtime: run is closed")
	ErrRunUnknown = errors.New("realtime: run state unknown")
)

// Retention is how much of a user's history is kept for resume, by event
// kind: short-lived kinds (token fragments, which nobody resumes a day
// later) in a history of their own, capped at ShortSize and dropped
// ShortTTL after the last one; every other kind capped at Size and dropped
// TTL after the user's last event.
type Retention struct {
	Size       int
	TTL        time.Duration
	ShortTypes map[events.Type]bool
	ShortSize  int
	ShortTTL   time.Duration
}

func (r Retention) short(t events.Type) bool { return r.ShortTypes[t] }

// Contiguous reports whether pubs (oldest first, as History returns them)
// hold every seq from since+1 through upTo: a history that retains each
// kind for its own time has holes, not just a trimmed head, so a resume or
// catch-up checks every seq it needs.
func Contiguous(pubs []Publication, since, upTo uint64) bool {
	next := since + 1
	for _, p := range pubs {
		if p.Seq > upTo {
			break
		}
		if p.Seq != next {
			return false
		}
		next++
	}
	return next > upTo
}

// Listener is one instance's subscription set on a Broker.
type Listener interface {
	// Subscribe returns once publications of user published from now on
	// will be delivered.
	Subscribe(ctx context.Context, user uuid.UUID) error
	Unsubscribe(ctx context.Context, user uuid.UUID) error
	// Close stops delivery and releases the listener's resources.
	Close() error
}

// newEpoch is a fresh random epoch: two creations of one stream never share it.
func newEpoch() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("realtime: read random: %v", err)) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}
