package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// Service is what agent workers call over HTTP: they stream a run's events
// with the run owner's token.
type Service struct {
	db  *db.DB
	pub *Publisher
}

// NewService emits through pub after checking runs in d.
func NewService(d *db.DB, pub *Publisher) *Service { return &Service{db: d, pub: pub} }

// workerTypes are the event types a worker may emit, each with its
// payload's validation; run.status and the others come from the server's
// own modules.
var workerTypes = map[events.Type]func(dec *json.Decoder) error{
	events.AgentToken: func(dec *json.Decoder) error {
		var d struct {
			Text *string `json:"text"`
		}
		if err := dec.Decode(&d); err != nil {
			return err
		}
		return errors.Join(required("text", d.Text), length("text", d.Text, 1, 16384))
	},
	events.AgentToolCall: func(dec *json.Decoder) error {
		var d struct {
			ToolCallID *string         `json:"tool_call_id"`
			Name       *string         `json:"name"`
			Input      json.RawMessage `json:"input"`
		}
		if err := dec.Decode(&d); err != nil {
			return err
		}
		errs := []error{required("tool_call_id", d.ToolCallID), length("tool_call_id", d.ToolCallID, 1, 200),
			required("name", d.Name), length("name", d.Name, 1, 200)}
		if len(d.Input) > 0 && !isObject(d.Input) {
			errs = append(errs, fault.InvalidField("data.input", "must be a JSON object"))
		}
		return errors.Join(errs...)
	},
	events.AgentToolResult: func(dec *json.Decoder) error {
		var d struct {
			ToolCallID *string         `json:"tool_call_id"`
			Output     json.RawMessage `json:"output"`
			IsError    *bool           `json:"is_error"`
		}
		if err := dec.Decode(&d); err != nil {
			return err
		}
		errs := []error{required("tool_call_id", d.ToolCallID), length("tool_call_id", d.ToolCallID, 1, 200)}
		if len(d.Output) == 0 {
			errs = append(errs, fault.InvalidField("data.output", "required"))
		}
		return errors.Join(errs...)
	},
	events.AgentFinal: func(dec *json.Decoder) error {
		var d struct {
			Content *string `json:"content"`
		}
		if err := dec.Decode(&d); err != nil {
			return err
		}
		return errors.Join(required("content", d.Content), length("content", d.Content, 0, 65536))
	},
	events.AgentError: func(dec *json.Decoder) error {
		var d struct {
			Message *string `json:"message"`
			Code    *string `json:"code"`
		}
		if err := dec.Decode(&d); err != nil {
			return err
		}
		return errors.Join(required("message", d.Message), length("message", d.Message, 1, 2000), length("code", d.Code, 1, 100))
	},
}

func required(field string, v *string) error {
	if v == nil {
		return fault.InvalidField("data."+field, "required")
	}
	return nil
}

func length(field string, v *string, lo, hi int) error {
	if v == nil {
		return nil
	}
	if n := utf8.RuneCountInString(*v); n < lo || n > hi {
		return fault.InvalidField("data."+field, fmt.Sprintf("must be %d to %d characters", lo, hi))
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// validateWorkerEvent checks an event a worker sends: a worker type, and
// data with exactly that type's fields.
func validateWorkerEvent(t events.Type, data json.RawMessage) error {
	validate, ok := workerTypes[t]
	if !ok {
		return fault.InvalidField("type", "must be one of agent.token, agent.tool_call, agent.tool_result, agent.final, agent.error")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage(`{}`)
	}
	if !isObject(data) {
		return fault.InvalidField("data", "must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := validate(dec); err != nil {
		if _, ok := fault.As(err); ok {
			return err
		}
		return fault.InvalidField("data", fmt.Sprintf("does not match %s: %v", t, err))
	}
	return nil
}

// EmitRunEvent delivers one event of run runID, which must be the viewer's
// (another user's run is NotFound, like a missing one) and unfinished (a
// finished run is a Conflict), to the viewer's sockets subscribed to it.
//
// The run is read from the database only when the viewer's stream does
// not hold its state (at most once a minute per run, see openRunTTL): the broker keeps each run's state in its owner's stream,
// recorded by the run's own run.status events (open, or closed for good)
// and checked in the same atomic step that publishes, so no worker event
// can follow the event that finished the run, on any instance. A run the
// viewer's stream does not hold is either another user's or not yet known
// (created before, or the stream expired or was lost): the database says
// which, and its state is recorded for the next events.
func (s *Service) EmitRunEvent(ctx context.Context, runID uuid.UUID, t events.Type, data json.RawMessage) (Publication, error) {
	if err := validateWorkerEvent(t, data); err != nil {
		return Publication{}, err
	}
	pubs, err := s.emit(ctx, runID, events.Event{Type: t, RunID: runID, Data: data})
	if err != nil {
		return Publication{}, err
	}
	return pubs[0], nil
}

// EmitRunEvents is EmitRunEvent for several events at once: all are
// published, with consecutive seqs in the order given, or none is (a bad
// event is named events[i]).
func (s *Service) EmitRunEvents(ctx context.Context, runID uuid.UUID, evs []events.Event) ([]Publication, error) {
	if len(evs) == 0 {
		return nil, fault.InvalidField("events", "at least one event")
	}
	for i, e := range evs {
		if err := validateWorkerEvent(e.Type, e.Data); err != nil {
			return nil, inBatch(i, err)
		}
		evs[i].RunID = runID
	}
	return s.emit(ctx, runID, evs...)
}

// inBatch names the batch's i-th event in a validation error's field.
func inBatch(i int, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []error
	for _, e := range errs {
		f, ok := fault.As(e)
		if !ok || f.Kind != fault.Invalid {
			return err
		}
		for _, fl := range f.Fields {
			out = append(out, fault.InvalidField(fmt.Sprintf("events[%d].%s", i, fl.Name), fl.Reason))
		}
	}
	return errors.Join(out...)
}

func (s *Service) emit(ctx context.Context, runID uuid.UUID, evs ...events.Event) ([]Publication, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok || v.Role != viewer.RoleUser {
		return nil, db.ErrNoViewer
	}
	pubs, err := s.pub.publishGuarded(ctx, v.UserID, runID, RunIfOpen, evs...)
	if !errors.Is(err, ErrRunUnknown) {
		return pubs, closedConflict(runID, err)
	}
	run, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.AgentRun, error) {
		return tx.AgentRun.Get(ctx, runID)
	})
	if err != nil {
		return nil, err
	}
	switch run.Status {
	case agentrun.StatusCompleted, agentrun.StatusFailed, agentrun.StatusCancelled:
		// A finished run is immutable, its event stream included.
		return nil, fault.Conflictf("run %s is %s: a finished run takes no more events", runID, run.Status)
	}
	pubs, err = s.pub.publishGuarded(ctx, v.UserID, runID, RunLearnOpen, evs...)
	return pubs, closedConflict(runID, err)
}

// closedConflict is the API's answer to a run the broker holds closed.
func closedConflict(runID uuid.UUID, err error) error {
	if errors.Is(err, ErrRunClosed) {
		return fault.Conflictf("run %s is finished: a finished run takes no more events", runID)
	}
	return err
}
