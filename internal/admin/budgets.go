package admin

import (
	"context"
	"fmt"

	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/runs"
)

// The budget commands go through the runs module's service acting as the
// user (a viewer without a session: a job for the user), so an operator's
// budget is validated, stored and audited exactly as PUT /v1/budget's; the
// budget_changed event names the operator and the reason (audit.WithReason).

// forUser resolves ref and returns the context the runs service acts in.
func (a Ops) forUser(ctx context.Context, op Operator, ref string) (context.Context, error) {
	if a.Runs == nil {
		return nil, fmt.Errorf("admin: the budget commands need the runs service")
	}
	u, err := a.lookup(op.Context(ctx, "operator looks an account up"), a.Client, ref)
	if err != nil {
		return nil, err
	}
	return viewer.NewContext(op.actingFor(ctx), viewer.User(u.ID)), nil
}

// ShowBudget is an account's budget with this month's spend (GET
// /v1/budget); NotFound when it has none.
func (a Ops) ShowBudget(ctx context.Context, op Operator, ref string) (*runs.BudgetStatus, error) {
	uctx, err := a.forUser(ctx, op, ref)
	if err != nil {
		return nil, err
	}
	return a.Runs.GetBudget(uctx)
}

// SetBudget sets an account's budget (PUT /v1/budget), recording
// budget_changed with the operator and reason in the same transaction.
func (a Ops) SetBudget(ctx context.Context, op Operator, ref string, in runs.BudgetInput) (*runs.BudgetStatus, error) {
	if err := op.Validate(); err != nil {
		return nil, err
	}
	uctx, err := a.forUser(ctx, op, ref)
	if err != nil {
		return nil, err
	}
	return a.Runs.PutBudget(uctx, in)
}

// ClearBudget removes an account's budget (DELETE /v1/budget): its
// spending is then unlimited.
func (a Ops) ClearBudget(ctx context.Context, op Operator, ref string) error {
	if err := op.Validate(); err != nil {
		return err
	}
	uctx, err := a.forUser(ctx, op, ref)
	if err != nil {
		return err
	}
	return a.Runs.DeleteBudget(uctx)
}
