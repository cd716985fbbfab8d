package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// Publisher is events.Publisher on a Broker: what other modules (runs) and
// the agent-worker API emit goes through it.
type Publisher struct {
	broker   Broker
	maxBytes int
	now      func() time.Time
}

var _ events.Publisher = (*Publisher)(nil)

// NewPublisher emits through broker, refusing event data over maxBytes.
func NewPublisher(cfg Config, broker Broker) *Publisher {
	return &Publisher{broker: broker, maxBytes: cfg.MaxEventBytes, now: time.Now}
}

// knownTypes are the event types a socket may receive (design.md).
var knownTypes = map[events.Type]bool{
	events.AgentToken: true, events.AgentToolCall: true, events.AgentToolResult: true,
	events.AgentFinal: true, events.AgentError: true, events.RunStatus: true,
	events.RunMessage: true, events.BudgetWarning: true, events.ConnectionNeedsReauth: true,
}

// EmitToUser implements events.Publisher: every socket of the user gets e.
func (p *Publisher) EmitToUser(ctx context.Context, userID uuid.UUID, e events.Event) error {
	return p.emit(ctx, userID, e.RunID, false, e)
}

// EmitToRun implements events.Publisher: the user's sockets subscribed to
// runID get e.
func (p *Publisher) EmitToRun(ctx context.Context, userID, runID uuid.UUID, e events.Event) error {
	if runID == uuid.Nil {
		return fault.InvalidField("run_id", "required")
	}
	return p.emit(ctx, userID, runID, true, e)
}

func (p *Publisher) emit(ctx context.Context, userID, runID uuid.UUID, toRun bool, e events.Event) error {
	_, err := p.Publish(ctx, userID, runID, toRun, e)
	return err
}

// Publish validates and publishes one event, returning it as numbered.
func (p *Publisher) Publish(ctx context.Context, userID, runID uuid.UUID, toRun bool, e events.Event) (Publication, error) {
	if userID == uuid.Nil {
		return Publication{}, fault.InvalidField("user_id", "required")
	}
	if !knownTypes[e.Type] {
		return Publication{}, fault.InvalidField("type", fmt.Sprintf("unknown event type %q", e.Type))
	}
	data, err := p.normalize(e.Data)
	if err != nil {
		return Publication{}, err
	}
	env := Envelope{Type: e.Type, RunID: runID, ToRun: toRun, Time: p.now(), Data: data}
	var pos Position
	if op := statusOp(e.Type, runID, data); op != 0 {
		// A run's own status changes keep its state in the broker current,
		// which is what lets workers' events skip the database (Service).
		pos, err = p.broker.PublishRun(ctx, userID, op, env)
	} else {
		pos, err = p.broker.Publish(ctx, userID, env)
	}
	if err != nil {
		return Publication{}, fault.New(fault.Unavailable, "realtime delivery is unavailable; try again").Wrap(err)
	}
	return Publication{Seq: pos.Seq, Envelope: env}, nil
}

// statusOp is how a run.status event changes the run's state in the
// broker: closed for good once finished, open otherwise; 0 for any other
// event.
func statusOp(t events.Type, runID uuid.UUID, data json.RawMessage) RunOp {
	if t != events.RunStatus || runID == uuid.Nil {
		return 0
	}
	var d struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(data, &d) != nil || d.Status == "" {
		return 0
	}
	if finished[d.Status] {
		return RunMarkClosed
	}
	return RunMarkOpen
}

// finished are the terminal run statuses (agentrun's completed, failed,
// cancelled): a run never leaves them.
var finished = map[string]bool{"completed": true, "failed": true, "cancelled": true}

// publishGuarded publishes a worker's events of run runID, in order, only
// while the broker holds the run open in the user's stream (see
// Service.EmitRunEvent). ErrRunUnknown and ErrRunClosed come back
// unwrapped.
func (p *Publisher) publishGuarded(ctx context.Context, userID, runID uuid.UUID, op RunOp, evs ...events.Event) ([]Publication, error) {
	now := p.now()
	envs := make([]Envelope, len(evs))
	for i, e := range evs {
		data, err := p.normalize(e.Data)
		if err != nil {
			return nil, err
		}
		envs[i] = Envelope{Type: e.Type, RunID: runID, ToRun: true, Time: now, Data: data}
	}
	pos, err := p.broker.PublishRun(ctx, userID, op, envs...)
	switch {
	case errors.Is(err, ErrRunUnknown), errors.Is(err, ErrRunClosed):
		return nil, err
	case err != nil:
		return nil, fault.New(fault.Unavailable, "realtime delivery is unavailable; try again").Wrap(err)
	}
	out := make([]Publication, len(envs))
	for i, env := range envs {
		out[i] = Publication{Seq: pos.Seq - uint64(len(envs)-1-i), Envelope: env}
	}
	return out, nil
}

// normalize checks that data is one JSON object within the size cap, and
// compacts it (the wire message embeds it as is).
func (p *Publisher) normalize(data json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return json.RawMessage(`{}`), nil
	}
	if len(data) > p.maxBytes {
		return nil, fault.New(fault.TooLarge, "event data is over %d bytes", p.maxBytes)
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(data)))
	if err := json.Compact(buf, data); err != nil {
		return nil, fault.InvalidField("data", "must be a JSON object")
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, fault.InvalidField("data", "must be a JSON object")
	}
	return buf.Bytes(), nil
}

// closeUser is the control publication that closes every socket of its
// user on every instance (it travels the fan-out as events do, so it
// reaches the instances holding the sockets); sockets never receive it.
// Its data is {"reason": ...}, the close reason the sockets are given.
const closeUser events.Type = "_control.close_user"

// Why a user's sockets are closed, as their close reason says it (code 4001:
// the client signs in again, it does not resume).
const (
	ReasonErased   = "account erased: sign in again"
	ReasonDisabled = "account disabled"
	ReasonRevoked  = "sessions revoked: sign in again"
)

// CloseUser closes every socket of the user, on every instance, now rather
// than at each socket's next session check: after an operator disables the
// account or revokes its sessions. The user's stream stays (a new session
// resumes nothing of it: resume is per socket).
func (p *Publisher) CloseUser(ctx context.Context, userID uuid.UUID, reason string) error {
	data, err := json.Marshal(struct {
		Reason string `json:"reason"`
	}{reason})
	if err != nil {
		return fmt.Errorf("close the user's sockets: %w", err)
	}
	env := Envelope{Type: closeUser, Time: p.now(), Data: data}
	if _, err := p.broker.Publish(ctx, userID, env); err != nil {
		return fmt.Errorf("close the user's sockets: %w", err)
	}
	return nil
}

// ForgetUser ends a user's realtime presence after their account was
// erased: every socket of the user, on any instance, is closed, then the
// user's stream and position are deleted from the broker (Redis), so
// nothing of the user stays there.
func (p *Publisher) ForgetUser(ctx context.Context, userID uuid.UUID) error {
	var errs []error
	if err := p.CloseUser(ctx, userID, ReasonErased); err != nil {
		errs = append(errs, err)
	}
	if err := p.broker.Forget(ctx, userID); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// IsUserConnected reports whether the user has a socket open on any instance.
func (p *Publisher) IsUserConnected(ctx context.Context, userID uuid.UUID) (bool, error) {
	ok, err := p.broker.Present(ctx, userID)
	if err != nil {
		return false, fault.New(fault.Unavailable, "realtime presence is unavailable; try again").Wrap(err)
	}
	return ok, nil
}
