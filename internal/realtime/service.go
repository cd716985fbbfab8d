package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/go-faster/jx"
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

// workerTypes are the event types a worker may emit, each with its data's
// fields (no others are allowed); run.status and the others come from the
// server's own modules.
var workerTypes = map[events.Type][]dataField{
	events.AgentToken: {
		{name: "text", kind: jx.String, required: true, min: 1, max: 16384},
	},
	events.AgentToolCall: {
		{name: "tool_call_id", kind: jx.String, required: true, min: 1, max: 200},
		{name: "name", kind: jx.String, required: true, min: 1, max: 200},
		{name: "input", kind: jx.Object},
	},
	events.AgentToolResult: {
		{name: "tool_call_id", kind: jx.String, required: true, min: 1, max: 200},
		{name: "output", kind: jx.Invalid, required: true},
		{name: "is_error", kind: jx.Bool},
	},
	events.AgentFinal: {
		{name: "content", kind: jx.String, required: true, min: 0, max: 65536},
	},
	events.AgentError: {
		{name: "message", kind: jx.String, required: true, min: 1, max: 2000},
		{name: "code", kind: jx.String, min: 1, max: 100},
	},
}

// maxDataFields bounds workerTypes' field lists (validateWorkerEvent keeps
// what it read on the stack).
const maxDataFields = 3

// dataField is one field of a worker event's data. kind is jx.String or
// jx.Bool (null counts as absent, as it did for encoding/json's pointers),
// jx.Object (any JSON value given, null included, must be an object), or
// jx.Invalid (any JSON value, null included). min and max count a string's
// characters.
type dataField struct {
	name     string
	kind     jx.Type
	required bool
	min, max int
}

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// validateWorkerEvent checks an event a worker sends: a worker type, and
// data with exactly that type's fields. It reads the data with jx, not
// encoding/json's reflection: every token a worker streams passes here.
func validateWorkerEvent(t events.Type, data json.RawMessage) error {
	fields, ok := workerTypes[t]
	if !ok {
		return fault.InvalidField("type", "must be one of agent.token, agent.tool_call, agent.tool_result, agent.final, agent.error")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage(`{}`)
	}
	if !isObject(data) {
		return fault.InvalidField("data", "must be a JSON object")
	}
	var (
		got [maxDataFields]jx.Raw // nil: absent
		dec jx.Decoder
		bad error // ours, kept apart from jx's wrapping of what the callback returns
	)
	dec.ResetBytes(data)
	err := dec.ObjBytes(func(d *jx.Decoder, key []byte) error {
		for i := range fields {
			if fields[i].name != string(key) {
				continue
			}
			raw, err := d.Raw()
			if err != nil {
				return err
			}
			if k := fields[i].kind; raw.Type() != k && raw.Type() != jx.Null && k != jx.Invalid && k != jx.Object {
				bad = fmt.Errorf("field %q must be a %s", key, k)
				return bad
			}
			got[i] = raw // a repeated name: the last one, as encoding/json
			return nil
		}
		bad = fmt.Errorf("unknown field %q", key)
		return bad
	})
	if bad != nil {
		err = bad
	}
	if err != nil {
		return fault.InvalidField("data", fmt.Sprintf("does not match %s: %v", t, err))
	}
	var errs []error
	for i, f := range fields {
		raw := got[i]
		if raw != nil && raw.Type() == jx.Null && (f.kind == jx.String || f.kind == jx.Bool) {
			raw = nil
		}
		switch {
		case raw == nil:
			if f.required {
				errs = append(errs, fault.InvalidField("data."+f.name, "required"))
			}
		case f.kind == jx.Object && raw.Type() != jx.Object:
			errs = append(errs, fault.InvalidField("data."+f.name, "must be a JSON object"))
		case f.kind == jx.String:
			dec.ResetBytes(raw)
			s, err := dec.Str()
			if err != nil {
				return fault.InvalidField("data", fmt.Sprintf("does not match %s: field %q: %v", t, f.name, err))
			}
			if n := utf8.RuneCountInString(s); n < f.min || n > f.max {
				errs = append(errs, fault.InvalidField("data."+f.name, fmt.Sprintf("must be %d to %d characters", f.min, f.max)))
			}
		}
	}
	return errors.Join(errs...)
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
