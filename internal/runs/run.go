package runs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
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

// Create starts a pending run for the viewer. It is refused when the
// month's spend reached a hard budget (BudgetExceeded) or when the user has
// Config.MaxActive runs pending or running (RateLimited): the count and the
// insert happen under a per-user transaction lock, so parallel creates
// cannot overshoot. At the budget's soft threshold the run carries a warning.
func (s *Service) Create(ctx context.Context) (*ent.AgentRun, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
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
		c := tx.AgentRun.Create().SetUserID(uid)
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
// than p.Before; status, when not empty, keeps only runs in that status.
func (s *Service) List(ctx context.Context, p db.Page, status agentrun.Status) ([]*ent.AgentRun, error) {
	if err := checkPage(p); err != nil {
		return nil, err
	}
	if status != "" {
		if err := agentrun.StatusValidator(status); err != nil {
			return nil, fault.InvalidField("status", "must be one of pending, running, completed, failed, cancelled")
		}
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.AgentRun, error) {
		q := tx.AgentRun.Query().Order(ent.Desc(agentrun.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(agentrun.IDLT(p.Before))
		}
		if status != "" {
			q = q.Where(agentrun.StatusEQ(status))
		}
		return q.All(ctx)
	})
}

// Start moves a pending run to running and stamps started_at.
func (s *Service) Start(ctx context.Context, id uuid.UUID) (*ent.AgentRun, error) {
	return s.move(ctx, id, agentrun.StatusRunning, "")
}

// Complete moves a running run to completed.
func (s *Service) Complete(ctx context.Context, id uuid.UUID) (*ent.AgentRun, error) {
	return s.move(ctx, id, agentrun.StatusCompleted, "")
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
		upd := tx.AgentRun.UpdateOne(cur).SetStatus(to)
		if to == agentrun.StatusRunning {
			upd.SetStartedAt(now)
		}
		if Finished(to) {
			upd.SetCompletedAt(now)
		}
		if reason != "" {
			upd.SetError(reason)
		}
		run, err := upd.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("move run to %s: %w", to, err)
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
