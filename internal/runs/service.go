package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// Service is the runs module's domain service.
type Service struct {
	db     *db.DB
	cfg    Config
	prices *pricing.Table
	pub    events.Publisher
	log    *slog.Logger
	// now is the clock: prices and durations are read from it (tests move it).
	now func() time.Time
	// metrics: no-ops until Instrument (metrics.go).
	metrics *metrics
}

// NewService returns the service. pub may be nil: events are then dropped
// (a deployment without the realtime module has nobody to tell).
func NewService(d *db.DB, cfg Config, prices *pricing.Table, pub events.Publisher, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if pub == nil {
		pub = discard{}
	}
	return &Service{db: d, cfg: cfg, prices: prices, pub: pub, log: log, now: time.Now, metrics: noopMetrics()}, nil
}

// discard is the Publisher of a service without realtime delivery.
type discard struct{}

func (discard) EmitToUser(context.Context, uuid.UUID, events.Event) error           { return nil }
func (discard) EmitToRun(context.Context, uuid.UUID, uuid.UUID, events.Event) error { return nil }

// outbox collects the events of a unit of work, published only once it
// committed, so nobody hears of a change that was rolled back.
type outbox struct {
	user   uuid.UUID
	events []events.Event
}

func (o *outbox) add(typ events.Type, runID uuid.UUID, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		// Payloads are this package's own structs: a failure is a bug.
		panic(fmt.Sprintf("runs: marshal %s event: %v", typ, err))
	}
	o.events = append(o.events, events.Event{Type: typ, RunID: runID, Data: slim(b)})
}

// maxEventData is how much of a payload an event carries: well under the
// realtime module's cap, so a large message or tool output still produces
// its event rather than one refused after commit.
const maxEventData = 32 << 10

// slim keeps an event's payload whole when it is small; otherwise it keeps
// the small fields (ids, status, role, durations) and marks it truncated,
// and the client reads the rest over the API.
func slim(b []byte) json.RawMessage {
	if len(b) <= maxEventData {
		return b
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return json.RawMessage(`{"truncated":true}`)
	}
	for k, v := range fields {
		if len(v) > 1<<10 {
			delete(fields, k)
		}
	}
	fields["truncated"] = json.RawMessage("true")
	out, _ := json.Marshal(fields) // a map of raw JSON values re-encodes
	return out
}

// publish hands the committed events to the publisher. A delivery failure
// is logged, not returned: the change itself is committed and the client
// can read it; realtime is best effort on top.
func (s *Service) publish(ctx context.Context, o *outbox) {
	// The change is committed: its events go out even when the client that
	// asked has gone away meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, e := range o.events {
		var err error
		if e.RunID == uuid.Nil {
			err = s.pub.EmitToUser(ctx, o.user, e)
		} else {
			err = s.pub.EmitToRun(ctx, o.user, e.RunID, e)
		}
		if err != nil {
			s.log.WarnContext(ctx, "event not delivered", slog.String("type", string(e.Type)),
				slog.String("run_id", e.RunID.String()), slog.Any("error", err))
		}
	}
}

// checkPage refuses a page request the store cannot serve.
func checkPage(p db.Page) error {
	if p.Size < 1 || p.Size > MaxPageSize {
		return fault.InvalidField("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	return nil
}

// MaxPageSize caps one page of a list.
const MaxPageSize = 100
