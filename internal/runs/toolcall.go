package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/toolcall"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// MaxToolPayloadBytes caps a tool call's input and its output, as JSON.
const MaxToolPayloadBytes = 1 << 20

var errToolCallNotFound = fault.NotFoundf("tool call not found")

var errLLMCallNotFound = fault.NotFoundf("LLM call not found")

// ToolOutcome is how a tool call ended: success with its output (any JSON
// value), or error with the error.
type ToolOutcome struct {
	Status toolcall.Status // success or error
	Output json.RawMessage
	Error  string
}

func (o ToolOutcome) validate() error {
	switch o.Status {
	case toolcall.StatusSuccess:
		var errs []error
		switch {
		case len(o.Output) == 0:
			errs = append(errs, fault.InvalidField("output", "a successful tool call needs its output"))
		case len(o.Output) > MaxToolPayloadBytes:
			errs = append(errs, fault.InvalidField("output", fmt.Sprintf("must be at most %d bytes", MaxToolPayloadBytes)))
		case !json.Valid(o.Output):
			errs = append(errs, fault.InvalidField("output", "must be JSON"))
		}
		if o.Error != "" {
			errs = append(errs, fault.InvalidField("error", "a successful tool call has no error"))
		}
		return errors.Join(errs...)
	case toolcall.StatusError:
		var errs []error
		switch {
		case strings.TrimSpace(o.Error) == "":
			errs = append(errs, fault.InvalidField("error", "a failed tool call needs its error"))
		case len(o.Error) > MaxErrorBytes:
			errs = append(errs, fault.InvalidField("error", fmt.Sprintf("must be at most %d bytes", MaxErrorBytes)))
		case !utf8.ValidString(o.Error):
			errs = append(errs, fault.InvalidField("error", "must be text"))
		}
		if len(o.Output) > 0 {
			errs = append(errs, fault.InvalidField("output", "a failed tool call has no output"))
		}
		return errors.Join(errs...)
	default:
		return fault.InvalidField("status", "must be success or error")
	}
}

// toolIDPattern is what a canonical tool id may be: lower-case ASCII letters,
// digits and a few separators ("github.create_issue", "mcp:fs/read").
var toolIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._:/@-]{0,254}$`)

// canonicalToolID is the one form of a tool id that permissions are stored
// and checked in: Unicode-normalized (NFKC: full-width letters become
// ASCII), trimmed and lower-cased, then held to toolIDPattern. A deny rule
// for "shell.exec" so also stops "Shell.Exec", " shell.exec" and
// "ｓhell.exec", and ids with invisible or look-alike characters are refused
// rather than let past an exact-match check.
func canonicalToolID(id string) (string, error) {
	if !utf8.ValidString(id) {
		return "", fault.InvalidField("tool_id", "must be text")
	}
	c := strings.ToLower(strings.TrimSpace(norm.NFKC.String(id)))
	switch {
	case c == "":
		return "", fault.InvalidField("tool_id", "must not be empty")
	case len(c) > 255:
		return "", fault.InvalidField("tool_id", "must be at most 255 characters")
	case !toolIDPattern.MatchString(c):
		return "", fault.InvalidField("tool_id", "may hold only letters a-z, digits and . _ : / @ - (case is ignored)")
	}
	return c, nil
}

// toolCallEvent is the data of agent.tool_call and agent.tool_result events.
type toolCallEvent struct {
	ID         uuid.UUID       `json:"id"`
	RunID      uuid.UUID       `json:"run_id"`
	ToolID     string          `json:"tool_id"`
	Status     toolcall.Status `json:"status"`
	Input      map[string]any  `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	DurationMS *int64          `json:"duration_ms,omitempty"`
}

// StartToolCall records a pending call of tool toolID on the viewer's
// active run. A tool the user denies (or, unlisted, the default policy
// denies) is Forbidden and nothing is written.
func (s *Service) StartToolCall(ctx context.Context, runID uuid.UUID, toolID string, input map[string]any) (*ent.ToolCall, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	toolID, err = canonicalToolID(toolID)
	if err != nil {
		return nil, err
	}
	if input == nil {
		input = map[string]any{}
	}
	if b, err := json.Marshal(input); err != nil {
		return nil, fault.InvalidField("input", "must be a JSON object")
	} else if len(b) > MaxToolPayloadBytes {
		return nil, fault.InvalidField("input", fmt.Sprintf("must be at most %d bytes", MaxToolPayloadBytes))
	}
	out := &outbox{user: uid}
	tc, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.ToolCall, error) {
		if _, err := lockActiveRun(ctx, tx, runID); err != nil {
			return nil, err
		}
		policy, err := s.toolPolicy(ctx, tx, toolID)
		if err != nil {
			return nil, err
		}
		if policy == Deny {
			return nil, fault.Forbiddenf("tool %q is denied for this account", toolID)
		}
		now := s.now()
		tc, err := tx.ToolCall.Create().SetUserID(uid).SetRunID(runID).SetToolID(toolID).SetInput(input).
			SetCreatedAt(now).SetUpdatedAt(now).Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("start tool call: %w", err)
		}
		out.add(events.AgentToolCall, runID, toolCallEvent{ID: tc.ID, RunID: runID, ToolID: tc.ToolID, Status: tc.Status, Input: tc.Input})
		return tc, nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, out)
	return tc, nil
}

// CompleteToolCall ends a pending tool call of an active run with its
// outcome; duration_ms is measured here, from start to now. A call already
// ended is Conflict.
func (s *Service) CompleteToolCall(ctx context.Context, id uuid.UUID, o ToolOutcome) (*ent.ToolCall, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	out := &outbox{user: uid}
	tc, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.ToolCall, error) {
		cur, err := tx.ToolCall.Get(ctx, id)
		if err != nil {
			return nil, notFound(err, errToolCallNotFound)
		}
		if _, err := lockActiveRun(ctx, tx, cur.RunID); err != nil {
			return nil, err
		}
		now := s.now()
		ms := max(now.Sub(cur.CreatedAt), 0) / time.Millisecond
		upd := tx.ToolCall.Update().Where(toolcall.ID(id), toolcall.StatusEQ(toolcall.StatusPending)).
			SetStatus(o.Status).SetDurationMs(int64(ms)).SetCompletedAt(now)
		if o.Status == toolcall.StatusSuccess {
			upd.SetOutput(o.Output)
		} else {
			upd.SetError(o.Error)
		}
		n, err := upd.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("complete tool call: %w", err)
		}
		if n == 0 {
			// The conditional update lost to a concurrent completion, or the
			// call had ended before.
			ended, err := tx.ToolCall.Get(ctx, id)
			if err != nil {
				return nil, notFound(err, errToolCallNotFound)
			}
			return nil, fault.Conflictf("tool call already ended with %s", ended.Status)
		}
		tc, err := tx.ToolCall.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read tool call: %w", err)
		}
		out.add(events.AgentToolResult, tc.RunID, toolCallEvent{ID: tc.ID, RunID: tc.RunID, ToolID: tc.ToolID,
			Status: tc.Status, Output: tc.Output, Error: tc.Error, DurationMS: tc.DurationMs})
		return tc, nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, out)
	return tc, nil
}

// GetToolCall returns one of the viewer's tool calls.
func (s *Service) GetToolCall(ctx context.Context, id uuid.UUID) (*ent.ToolCall, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.ToolCall, error) {
		tc, err := tx.ToolCall.Get(ctx, id)
		return tc, notFound(err, errToolCallNotFound)
	})
}

// ListToolCalls returns up to p.Fetch() of a run's tool calls, newest first.
func (s *Service) ListToolCalls(ctx context.Context, runID uuid.UUID, p db.Page) ([]*ent.ToolCall, error) {
	if err := checkPage(p); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.ToolCall, error) {
		if err := runExists(ctx, tx, runID); err != nil {
			return nil, err
		}
		q := tx.ToolCall.Query().Where(toolcall.RunID(runID)).Order(ent.Desc(toolcall.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(toolcall.IDLT(p.Before))
		}
		return q.All(ctx)
	})
}
