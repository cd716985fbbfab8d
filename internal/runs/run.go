package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/toolcall"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// transitions is the run state machine: from a status, the statuses a run
// may move to. A status that is not a key is final: the run is finished
// and no longer changes.
var transitions = map[agentrun.Status][]agentrun.Status{
	agentrun.StatusPending: {agentrun.StatusRunning, agentrun.StatusFailed, agentrun.StatusCancelled},
	agentrun.StatusRunning: {agentrun.StatusCompleted, agentrun.StatusFailed, agentrun.StatusCancelled},
}

// activeStatuses are the statuses that count against Config.MaxActive and
// that accept new messages, tool calls and LLM calls.
var activeStatuses = []agentrun.Status{agentrun.StatusPending, agentrun.StatusRunning}

// CanMove reports whether the state machine allows from → to.
func CanMove(from, to agentrun.Status) bool { return slices.Contains(transitions[from], to) }

// Finished reports whether a run in status s is final (immutable).
func Finished(s agentrun.Status) bool { _, open := transitions[s]; return !open }

// MaxErrorBytes caps the error text of a failed run or tool call.
const MaxErrorBytes = 16 << 10

var errRunNotFound = fault.NotFoundf("run not found")

// notFound turns ent's not-found into the fault the client sees.
func notFound(err error, nf *fault.Error) error {
	if ent.IsNotFound(err) {
		return nf.Wrap(err)
	}
	return err
}

// statusEvent is the data of a run.status event.
type statusEvent struct {
	RunID          uuid.UUID       `json:"run_id"`
	Status         agentrun.Status `json:"status"`
	PreviousStatus agentrun.Status `json:"previous_status,omitempty"`
	Error          string          `json:"error,omitempty"`
	At             time.Time       `json:"at"`
}

// Limits of what a run carries (RunInput); the spec states the same.
const (
	MaxRunTextChars     = 255      // name and thread_id, in characters
	MaxRunTags          = 32       // tags per run
	MaxRunTagChars      = 64       // one tag, in characters
	MaxRunMetadataBytes = 16 << 10 // metadata as JSON
	MaxRunPayloadBytes  = 1 << 20  // input and output as JSON
)

// RunInput is what a run is about, all of it optional: the agent's name, its
// input (any JSON value), free metadata and tags, the run that started it
// (a sub-agent's parent, a run of the same user) and its thread.
type RunInput struct {
	Name        string
	Input       json.RawMessage
	Metadata    map[string]any
	Tags        []string
	ParentRunID uuid.UUID // uuid.Nil: a root run
	ThreadID    string
}

// checkText holds an optional label (name, thread id, tag) to max
// characters of text.
func checkText(field, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return fault.InvalidField(field, "must be text")
	case strings.TrimSpace(v) == "":
		return fault.InvalidField(field, "must not be blank")
	case utf8.RuneCountInString(v) > max:
		return fault.InvalidField(field, fmt.Sprintf("must be at most %d characters", max))
	}
	return nil
}

// checkPayload holds a JSON value the client sent to max bytes.
func checkPayload(field string, v json.RawMessage, max int) error {
	switch {
	case len(v) > max:
		return fault.InvalidField(field, fmt.Sprintf("must be at most %d bytes as JSON", max))
	case !json.Valid(v):
		return fault.InvalidField(field, "must be JSON")
	}
	return nil
}

func (in RunInput) validate() error {
	var errs []error
	if in.Name != "" {
		errs = append(errs, checkText("name", in.Name, MaxRunTextChars))
	}
	if in.ThreadID != "" {
		errs = append(errs, checkText("thread_id", in.ThreadID, MaxRunTextChars))
	}
	if len(in.Input) > 0 {
		errs = append(errs, checkPayload("input", in.Input, MaxRunPayloadBytes))
	}
	if b, err := json.Marshal(in.Metadata); err != nil {
		errs = append(errs, fault.InvalidField("metadata", "must be a JSON object"))
	} else if len(b) > MaxRunMetadataBytes {
		errs = append(errs, fault.InvalidField("metadata", fmt.Sprintf("must be at most %d bytes as JSON", MaxRunMetadataBytes)))
	}
	if len(in.Tags) > MaxRunTags {
		errs = append(errs, fault.InvalidField("tags", fmt.Sprintf("must be at most %d", MaxRunTags)))
	}
	seen := map[string]bool{}
	for _, t := range in.Tags {
		if err := checkText("tags", t, MaxRunTagChars); err != nil {
			errs = append(errs, err)
			break
		}
		if seen[t] {
			errs = append(errs, fault.InvalidField("tags", fmt.Sprintf("holds %q twice", t)))
			break
		}
		seen[t] = true
	}
	return errors.Join(errs...)
}

// RunFilter keeps the runs of a list that match every field set.
type RunFilter struct {
	Status      agentrun.Status
	Name        string
	Tag         string
	ThreadID    string
	ParentRunID uuid.UUID
}

func (f RunFilter) validate() error {
	var errs []error
	if f.Status != "" {
		if err := agentrun.StatusValidator(f.Status); err != nil {
			errs = append(errs, fault.InvalidField("status", "must be one of pending, running, completed, failed, cancelled"))
		}
	}
	if f.Name != "" {
		errs = append(errs, checkText("name", f.Name, MaxRunTextChars))
	}
	if f.Tag != "" {
		errs = append(errs, checkText("tag", f.Tag, MaxRunTagChars))
	}
	if f.ThreadID != "" {
		errs = append(errs, checkText("thread_id", f.ThreadID, MaxRunTextChars))
	}
	return errors.Join(errs...)
}

// Create starts a pending run for the viewer. It is refused when the
// month's spend reached a hard budget (BudgetExceeded) or when the user has
// Config.MaxActive runs pending or running (RateLimited): the count and the
// insert happen under a per-user transaction lock, so parallel creates
// cannot overshoot. At the budget's soft threshold the run carries a warning.
func (s *Service) Create(ctx context.Context, in RunInput) (*ent.AgentRun, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	out := &outbox{user: uid}
	run, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.AgentRun, error) {
		// Creates of one user take turns until commit; the count below then
		// sees every run committed before (READ COMMITTED takes a snapshot
		// per statement).
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "runs.active:"+uid.String()); err != nil {
			return nil, fmt.Errorf("lock active runs: %w", err)
		}
		b, err := s.budgetState(ctx, tx, uid)
		if err != nil {
			return nil, err
		}
		if err := b.refusal(); err != nil {
			return nil, err
		}
		n, err := tx.AgentRun.Query().Where(agentrun.StatusIn(activeStatuses...)).Count(ctx)
		if err != nil {
			return nil, fmt.Errorf("count active runs: %w", err)
		}
		if n >= s.cfg.MaxActive {
			return nil, fault.RateLimitedf(s.cfg.RetryAfter,
				"at most %d runs may be pending or running at once: finish or cancel one first", s.cfg.MaxActive)
		}
		c := tx.AgentRun.Create().SetUserID(uid).SetName(in.Name).SetThreadID(in.ThreadID)
		if len(in.Input) > 0 {
			c.SetInput(in.Input)
		}
		if in.Metadata != nil {
			c.SetMetadata(in.Metadata)
		}
		if in.Tags != nil {
			c.SetTags(in.Tags)
		}
		if in.ParentRunID != uuid.Nil {
			// Read through the viewer's privacy: another user's run is no
			// run at all, as for any id.
			ok, err := tx.AgentRun.Query().Where(agentrun.ID(in.ParentRunID)).Exist(ctx)
			if err != nil {
				return nil, fmt.Errorf("find parent run: %w", err)
			}
			if !ok {
				return nil, fault.InvalidField("parent_run_id", "names no run of this account")
			}
			c.SetParentRunID(in.ParentRunID)
		}
		warning := b.warning()
		if warning != "" {
			c.SetWarning(warning)
		}
		run, err := c.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("create run: %w", err)
		}
		out.add(events.RunStatus, run.ID, statusEvent{RunID: run.ID, Status: run.Status, At: run.CreatedAt})
		if warning != "" {
			out.add(events.BudgetWarning, uuid.Nil, b.warningEvent(run.ID, warning))
		}
		return run, nil
	})
	if err != nil {
		s.auditRefusal(ctx, err, "run")
		return nil, err
	}
	s.publish(ctx, out)
	return run, nil
}

// Get returns one of the viewer's runs.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.AgentRun, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.AgentRun, error) {
		run, err := tx.AgentRun.Get(ctx, id)
		return run, notFound(err, errRunNotFound)
	})
}

// List returns up to p.Fetch() of the viewer's runs, newest first, older
// than p.Before, that match every field of f that is set.
func (s *Service) List(ctx context.Context, p db.Page, f RunFilter) ([]*ent.AgentRun, error) {
	if err := checkPage(p); err != nil {
		return nil, err
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.AgentRun, error) {
		q := tx.AgentRun.Query().Order(ent.Desc(agentrun.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(agentrun.IDLT(p.Before))
		}
		if f.Status != "" {
			q = q.Where(agentrun.StatusEQ(f.Status))
		}
		if f.Name != "" {
			q = q.Where(agentrun.Name(f.Name))
		}
		if f.ThreadID != "" {
			q = q.Where(agentrun.ThreadID(f.ThreadID))
		}
		if f.ParentRunID != uuid.Nil {
			q = q.Where(agentrun.ParentRunID(f.ParentRunID))
		}
		if f.Tag != "" {
			q = q.Where(func(sel *sql.Selector) { sel.Where(sqljson.ValueContains(agentrun.FieldTags, f.Tag)) })
		}
		return q.All(ctx)
	})
}

// Start moves a pending run to running and stamps started_at.
func (s *Service) Start(ctx context.Context, id uuid.UUID) (*ent.AgentRun, error) {
	return s.move(ctx, id, agentrun.StatusRunning, "")
}

// Complete moves a running run to completed, keeping its final output
// (any JSON value; none when empty).
func (s *Service) Complete(ctx context.Context, id uuid.UUID, output json.RawMessage) (*ent.AgentRun, error) {
	if len(output) > 0 {
		if err := checkPayload("output", output, MaxRunPayloadBytes); err != nil {
			return nil, err
		}
	}
	return s.moveWith(ctx, id, agentrun.StatusCompleted, "", output)
}

// Fail moves a pending or running run to failed, recording why.
func (s *Service) Fail(ctx context.Context, id uuid.UUID, reason string) (*ent.AgentRun, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return nil, fault.InvalidField("error", "must say why the run failed")
	case len(reason) > MaxErrorBytes:
		return nil, fault.InvalidField("error", fmt.Sprintf("must be at most %d bytes", MaxErrorBytes))
	case !utf8.ValidString(reason):
		return nil, fault.InvalidField("error", "must be text")
	}
	return s.move(ctx, id, agentrun.StatusFailed, reason)
}

// Cancel moves a pending or running run to cancelled.
func (s *Service) Cancel(ctx context.Context, id uuid.UUID) (*ent.AgentRun, error) {
	return s.move(ctx, id, agentrun.StatusCancelled, "")
}

// move applies one transition. The run's row is locked first (FOR UPDATE),
// so of two concurrent transitions the second waits, then reads the status
// the first committed and is judged against it: both cannot win.
func (s *Service) move(ctx context.Context, id uuid.UUID, to agentrun.Status, reason string) (*ent.AgentRun, error) {
	return s.moveWith(ctx, id, to, reason, nil)
}

// moveWith is move that also stores the run's final output.
func (s *Service) moveWith(ctx context.Context, id uuid.UUID, to agentrun.Status, reason string, output json.RawMessage) (*ent.AgentRun, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	out := &outbox{user: uid}
	run, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.AgentRun, error) {
		cur, err := tx.AgentRun.Query().Where(agentrun.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return nil, notFound(err, errRunNotFound)
		}
		if !CanMove(cur.Status, to) {
			return nil, fault.Conflictf("cannot move run from %s to %s", cur.Status, to)
		}
		now := s.now()
		// Update().Where(id), not UpdateOne, whose re-read by id alone goes
		// to every shard on Citus; the viewer's filter names the user.
		upd := tx.AgentRun.Update().Where(agentrun.ID(cur.ID)).SetStatus(to)
		if to == agentrun.StatusRunning {
			upd.SetStartedAt(now)
		}
		if Finished(to) {
			upd.SetCompletedAt(now)
		}
		if reason != "" {
			upd.SetError(reason)
		}
		if len(output) > 0 {
			upd.SetOutput(output)
		}
		if err := upd.Exec(ctx); err != nil {
			return nil, fmt.Errorf("move run to %s: %w", to, err)
		}
		run, err := tx.AgentRun.Query().Where(agentrun.ID(cur.ID)).Only(ctx)
		if err != nil {
			return nil, fmt.Errorf("read run: %w", err)
		}
		if Finished(to) {
			if err := s.closePendingToolCalls(ctx, tx, run, now, out); err != nil {
				return nil, err
			}
		}
		out.add(events.RunStatus, run.ID, statusEvent{RunID: run.ID, Status: to, PreviousStatus: cur.Status, Error: reason, At: now})
		return run, nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, out)
	return run, nil
}

// closePendingToolCalls ends the tool calls still pending when their run
// finishes: a finished run accepts no completion, so they would stay
// pending forever. Each becomes an error naming why, with its duration up
// to now, and gets its agent.tool_result event like any completion.
func (s *Service) closePendingToolCalls(ctx context.Context, tx *ent.Tx, run *ent.AgentRun, now time.Time, out *outbox) error {
	pending, err := tx.ToolCall.Query().
		Where(toolcall.RunID(run.ID), toolcall.StatusEQ(toolcall.StatusPending)).
		Order(ent.Asc(toolcall.FieldID)).ForUpdate().All(ctx)
	if err != nil {
		return fmt.Errorf("find pending tool calls: %w", err)
	}
	reason := fmt.Sprintf("run %s before the tool call completed", run.Status)
	for _, tc := range pending {
		ms := int64(max(now.Sub(tc.CreatedAt), 0) / time.Millisecond)
		done, err := tx.ToolCall.UpdateOne(tc).SetStatus(toolcall.StatusError).SetError(reason).
			SetDurationMs(ms).SetCompletedAt(now).Save(ctx)
		if err != nil {
			return fmt.Errorf("close tool call %s: %w", tc.ID, err)
		}
		out.add(events.AgentToolResult, run.ID, toolCallEvent{ID: done.ID, RunID: run.ID, ToolID: done.ToolID,
			Status: done.Status, Error: done.Error, DurationMS: done.DurationMs})
	}
	return nil
}

// lockActiveRun takes a shared lock on the viewer's run id and checks that
// it still accepts changes. A transition (which locks the row exclusively)
// then waits for this transaction, and this one for a transition already
// under way, so nothing is ever added to a finished run.
func lockActiveRun(ctx context.Context, tx *ent.Tx, id uuid.UUID) (*ent.AgentRun, error) {
	run, err := tx.AgentRun.Query().Where(agentrun.ID(id)).ForShare().Only(ctx)
	if err != nil {
		return nil, notFound(err, errRunNotFound)
	}
	if Finished(run.Status) {
		return nil, fault.Conflictf("run is %s: a finished run cannot change", run.Status)
	}
	return run, nil
}
