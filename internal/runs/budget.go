package runs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/budget"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// maxMoney is the largest amount numeric(20,10) holds, with room to add.
var maxMoney = decimal.RequireFromString("1000000000")

// BudgetInput is the budget a user sets: a monthly limit in USD, an
// optional soft limit (a warning threshold, at most the limit) and whether
// the limit is a hard stop.
type BudgetInput struct {
	LimitUSD     decimal.Decimal
	SoftLimitUSD *decimal.Decimal
	Hard         bool
}

// BudgetStatus is the viewer's budget with the current month's spend.
type BudgetStatus struct {
	Budget *ent.Budget
	// SpentUSD is the cost of the user's priced LLM calls since PeriodStart.
	SpentUSD               decimal.Decimal
	PeriodStart, PeriodEnd time.Time
}

func (in BudgetInput) validate() error {
	switch {
	case in.LimitUSD.IsNegative():
		return fault.InvalidField("limit_usd", "must not be negative")
	case in.LimitUSD.GreaterThanOrEqual(maxMoney):
		return fault.InvalidField("limit_usd", "must be less than "+maxMoney.String())
	case !in.LimitUSD.Equal(in.LimitUSD.Round(10)):
		return fault.InvalidField("limit_usd", "must have at most 10 decimals")
	}
	if s := in.SoftLimitUSD; s != nil {
		switch {
		case !s.IsPositive():
			return fault.InvalidField("soft_limit_usd", "must be positive")
		case s.GreaterThan(in.LimitUSD):
			return fault.InvalidField("soft_limit_usd", "must not exceed limit_usd")
		case !s.Equal(s.Round(10)):
			return fault.InvalidField("soft_limit_usd", "must have at most 10 decimals")
		}
	}
	return nil
}

// monthOf is the budget period holding t: the calendar month in UTC.
func monthOf(t time.Time) (start, end time.Time) {
	t = t.UTC()
	start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

// GetBudget returns the viewer's budget and this month's spend; NotFound
// when the user has set none.
func (s *Service) GetBudget(ctx context.Context) (*BudgetStatus, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*BudgetStatus, error) {
		st, err := s.budgetState(ctx, tx, uid)
		if err != nil {
			return nil, err
		}
		if st.budget == nil {
			return nil, fault.NotFoundf("no budget set")
		}
		return st.status(), nil
	})
}

// PutBudget sets the viewer's budget, replacing any.
func (s *Service) PutBudget(ctx context.Context, in BudgetInput) (*BudgetStatus, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	soft := decimal.NullDecimal{}
	if in.SoftLimitUSD != nil {
		soft = decimal.NewNullDecimal(*in.SoftLimitUSD)
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*BudgetStatus, error) {
		err := tx.Budget.Create().SetUserID(uid).SetLimitUsd(in.LimitUSD).SetSoftLimitUsd(soft).SetHard(in.Hard).
			OnConflictColumns(budget.FieldUserID).
			UpdateLimitUsd().UpdateSoftLimitUsd().UpdateHard().UpdateUpdatedAt().
			Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("store budget: %w", err)
		}
		if err := audit.Record(ctx, tx, audit.Event{Type: audit.BudgetChanged, Data: map[string]any{
			"limit_usd": in.LimitUSD.String(), "soft_limit_usd": soft.Decimal.String(), "hard": in.Hard}}); err != nil {
			return nil, err
		}
		st, err := s.budgetState(ctx, tx, uid)
		if err != nil {
			return nil, err
		}
		return st.status(), nil
	})
}

// DeleteBudget removes the viewer's budget: spending is then unlimited.
func (s *Service) DeleteBudget(ctx context.Context) error {
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		n, err := tx.Budget.Delete().Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete budget: %w", err)
		}
		if n == 0 {
			return fault.NotFoundf("no budget set")
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.BudgetChanged, Data: map[string]any{"removed": true}})
	})
}

// budgetState is a user's budget (nil: none) and the spend of its current
// period, read in the caller's transaction.
type budgetState struct {
	budget     *ent.Budget
	spent      decimal.Decimal
	start, end time.Time
}

func (s *Service) budgetState(ctx context.Context, tx *ent.Tx, uid uuid.UUID) (budgetState, error) {
	st := budgetState{}
	st.start, st.end = monthOf(s.now())
	// The budget's row lock serializes the checks of one user's concurrent
	// calls and runs (only for users who have a budget): each then sees the
	// spend of those before it, so in-flight calls cannot all pass a hard
	// stop. Read committed: the spend below is read after the lock.
	b, err := tx.Budget.Query().ForUpdate().Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return st, nil
	case err != nil:
		return st, fmt.Errorf("read budget: %w", err)
	}
	st.budget = b
	st.spent, err = spendBetween(ctx, tx, uid, st.start, st.end)
	return st, err
}

// spendBetween sums the cost of the user's calls in [from, to), in SQL.
func spendBetween(ctx context.Context, tx *ent.Tx, uid uuid.UUID, from, to time.Time) (decimal.Decimal, error) {
	rows, err := tx.QueryContext(ctx, `SELECT COALESCE(SUM(total_cost), 0) FROM llm_calls
		WHERE user_id = $1 AND created_at >= $2 AND created_at < $3`, uid, from, to)
	if err != nil {
		return decimal.Zero, fmt.Errorf("sum spend: %w", err)
	}
	defer rows.Close()
	var spent decimal.Decimal
	if rows.Next() {
		if err := rows.Scan(&spent); err != nil {
			return decimal.Zero, fmt.Errorf("sum spend: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return decimal.Zero, fmt.Errorf("sum spend: %w", err)
	}
	return spent, nil
}

func (st budgetState) status() *BudgetStatus {
	return &BudgetStatus{Budget: st.budget, SpentUSD: st.spent, PeriodStart: st.start, PeriodEnd: st.end}
}

// refusal is BudgetExceeded when the period's spend reached a hard limit.
func (st budgetState) refusal() error {
	b := st.budget
	if b == nil || !b.Hard || st.spent.LessThan(b.LimitUsd) {
		return nil
	}
	return fault.New(fault.BudgetExceeded, "monthly budget of %s reached: %s spent since %s",
		usd(b.LimitUsd), usd(st.spent), st.start.Format(time.DateOnly))
}

// hard reports whether the user has a budget that stops spending.
func (st budgetState) hard() bool { return st.budget != nil && st.budget.Hard }

// warning is the text a run carries when the period's spend reached the
// soft limit (or went over a limit that is not a hard stop); empty if not.
func (st budgetState) warning() string {
	b := st.budget
	switch {
	case b == nil:
		return ""
	case b.SoftLimitUsd.Valid && st.spent.GreaterThanOrEqual(b.SoftLimitUsd.Decimal):
		return fmt.Sprintf("monthly spend %s reached the warning threshold of %s (budget %s)",
			usd(st.spent), usd(b.SoftLimitUsd.Decimal), usd(b.LimitUsd))
	case !b.Hard && st.spent.GreaterThanOrEqual(b.LimitUsd):
		return fmt.Sprintf("monthly spend %s is over the budget of %s", usd(st.spent), usd(b.LimitUsd))
	}
	return ""
}

// budgetWarningEvent is the data of a budget.warning event.
type budgetWarningEvent struct {
	RunID        uuid.UUID        `json:"run_id"`
	Message      string           `json:"message"`
	SpentUSD     decimal.Decimal  `json:"spent_usd"`
	LimitUSD     decimal.Decimal  `json:"limit_usd"`
	SoftLimitUSD *decimal.Decimal `json:"soft_limit_usd,omitempty"`
	PeriodStart  time.Time        `json:"period_start"`
}

func (st budgetState) warningEvent(runID uuid.UUID, msg string) budgetWarningEvent {
	e := budgetWarningEvent{RunID: runID, Message: msg, SpentUSD: st.spent, LimitUSD: st.budget.LimitUsd, PeriodStart: st.start}
	if st.budget.SoftLimitUsd.Valid {
		soft := st.budget.SoftLimitUsd.Decimal
		e.SoftLimitUSD = &soft
	}
	return e
}

// usd formats an amount for people: cents, or every digit below a cent.
func usd(d decimal.Decimal) string {
	// Cents at least, every digit there is: a refusal saying "$0.02 spent"
	// when $0.015 was spent is wrong about the money.
	if d.Equal(d.Round(2)) {
		return "$" + d.StringFixed(2)
	}
	return "$" + d.String()
}

// budgetWarningOnce sets the run's warning unless it already carries one,
// and says whether it did (so the event goes out once per run).
func budgetWarningOnce(ctx context.Context, tx *ent.Tx, uid, runID uuid.UUID, msg string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE agent_runs SET warning = $3 WHERE id = $1 AND user_id = $2 AND warning IS NULL`, runID, uid, msg)
	if err != nil {
		return false, fmt.Errorf("set run warning: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("set run warning: %w", err)
	}
	return n == 1, nil
}

// auditRefusal records a hard budget's refusal in a transaction of its
// own: the refused work rolled back, the refusal itself is the event.
func (s *Service) auditRefusal(ctx context.Context, err error, what string) {
	if f, ok := fault.As(err); !ok || f.Kind != fault.BudgetExceeded {
		return
	}
	s.metrics.budgetRefused(ctx, what)
	rerr := s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		return audit.Record(ctx, tx, audit.Event{Type: audit.BudgetRefused, Data: map[string]any{"refused": what}})
	})
	if rerr != nil {
		s.log.ErrorContext(ctx, "audit: record budget refusal", slog.Any("error", rerr))
	}
}
