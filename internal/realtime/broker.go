package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	// first, and the stream's current position. Entries trimmed past the
	// cap or lost are simply absent: callers compare the first seq with
	// since+1 to know whether the history is complete.
	History(ctx context.Context, user uuid.UUID, since uint64) ([]Publication, Position, error)
	// Listen starts delivering publications to h for the users the returned
	// Listener subscribes to. An instance listens once.
	Listen(ctx context.Context, h Handler) (Listener, error)
	// Present reports whether any listener, on any instance, is subscribed
	// to the user: whether the user has a connection anywhere.
	Present(ctx context.Context, user uuid.UUID) (bool, error)
	// Forget deletes what the broker keeps of the user (history, position):
	// an erased account leaves nothing behind. A later publication starts
	// a new stream with a new epoch.
	Forget(ctx context.Context, user uuid.UUID) error
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
