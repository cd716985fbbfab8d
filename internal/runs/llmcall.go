package runs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/llmcall"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// LLMCallInput is one model call to record: who served it and its tokens
// by usage type (disjoint: see pricing.Usage).
type LLMCallInput struct {
	Provider string
	Model    string
	Usage    pricing.Usage
}

// maxTokensPerCall bounds each usage type of one call: far above any
// context window, low enough that a run's sums never near int64.
const maxTokensPerCall = 1 << 40

func (in *LLMCallInput) normalize() error {
	// Stored as normalized, so the price lookup, the totals and the usage
	// report by model all see one name for one model.
	in.Provider = pricing.Normalize(in.Provider)
	in.Model = pricing.Normalize(in.Model)
	var errs []error
	switch {
	case in.Provider == "":
		errs = append(errs, fault.InvalidField("provider", "must not be empty"))
	case len(in.Provider) > 64:
		errs = append(errs, fault.InvalidField("provider", "must be at most 64 characters"))
	}
	switch {
	case in.Model == "":
		errs = append(errs, fault.InvalidField("model", "must not be empty"))
	case len(in.Model) > 128:
		errs = append(errs, fault.InvalidField("model", "must be at most 128 characters"))
	}
	for _, t := range []struct {
		name string
		n    int64
	}{
		{"input_tokens", in.Usage.Input}, {"cached_input_tokens", in.Usage.CachedInput},
		{"output_tokens", in.Usage.Output}, {"reasoning_tokens", in.Usage.Reasoning},
	} {
		if t.n < 0 || t.n > maxTokensPerCall {
			errs = append(errs, fault.InvalidField(t.name, fmt.Sprintf("must be between 0 and %d", int64(maxTokensPerCall))))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// RecordLLMCall records one model call of the viewer's run, costed from the
// price in force now, and adds its tokens and cost to the run's totals in
// the same transaction (one atomic UPDATE), so the totals always equal the
// sum of the run's calls. A model missing from the price table is recorded
// with its tokens and NULL costs, counted in the run's unpriced_calls, and
// logged. Refused with BudgetExceeded when the month's spend reached a hard
// budget, and Conflict on a finished run.
func (s *Service) RecordLLMCall(ctx context.Context, runID uuid.UUID, in LLMCallInput) (*ent.LLMCall, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.normalize(); err != nil {
		return nil, err
	}
	now := s.now()
	price, priced := s.prices.Lookup(in.Provider, in.Model, now)
	var cost pricing.Cost
	if priced {
		cost = price.Cost(in.Usage)
	}
	out := &outbox{user: uid}
	call, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.LLMCall, error) {
		b, err := s.budgetState(ctx, tx, uid)
		if err != nil {
			return nil, err
		}
		if err := b.refusal(); err != nil {
			return nil, err
		}
		if !priced && b.hard() && !s.cfg.AllowUnpricedModels {
			// A call without a price never adds to spend: under a hard
			// budget it would pass every check unseen.
			return nil, fault.New(fault.BudgetExceeded,
				"model %q of provider %q has no price, and a hard budget refuses calls it cannot cost: use a priced model name, "+
					"or ask the operator to allow unpriced models", in.Model, in.Provider).WithCode("UNPRICED_MODEL")
		}
		c := tx.LLMCall.Create().SetUserID(uid).SetRunID(runID).SetCreatedAt(now).SetUpdatedAt(now).
			SetProvider(in.Provider).SetModel(in.Model).
			SetInputTokens(in.Usage.Input).SetCachedInputTokens(in.Usage.CachedInput).
			SetOutputTokens(in.Usage.Output).SetReasoningTokens(in.Usage.Reasoning)
		if priced {
			c.SetInputCost(decimal.NewNullDecimal(cost.Input)).
				SetCachedInputCost(decimal.NewNullDecimal(cost.CachedInput)).
				SetOutputCost(decimal.NewNullDecimal(cost.Output)).
				SetReasoningCost(decimal.NewNullDecimal(cost.Reasoning)).
				SetTotalCost(decimal.NewNullDecimal(cost.Total)).
				SetPriceVersion(price.Version())
		}
		call, err := c.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("record llm call: %w", err)
		}
		// The totals come after the insert: the run's row lock, which
		// serializes the calls of one run, is then held for this statement
		// and the commit only.
		if err := addToRunTotals(ctx, tx, uid, runID, in.Usage, cost.Total, !priced); err != nil {
			return nil, err
		}
		if priced && b.budget != nil {
			b.spent = b.spent.Add(cost.Total)
			if msg := b.warning(); msg != "" {
				set, err := budgetWarningOnce(ctx, tx, uid, runID, msg)
				if err != nil {
					return nil, err
				}
				if set {
					out.add(events.BudgetWarning, uuid.Nil, b.warningEvent(runID, msg))
				}
			}
		}
		return call, nil
	})
	if err != nil {
		s.auditRefusal(ctx, err, "llm_call")
		return nil, err
	}
	if !priced {
		s.log.WarnContext(ctx, "llm call of a model without a price: recorded with its tokens and no cost",
			slog.String("provider", in.Provider), slog.String("model", in.Model),
			slog.String("run_id", runID.String()), slog.String("llm_call_id", call.ID.String()))
	}
	s.metrics.llmCall(ctx, in.Provider, in.Model, priced, in.Usage, cost.Total.InexactFloat64())
	s.publish(ctx, out)
	return call, nil
}

// addToRunTotals adds a call to its run's totals in one statement, which
// also checks that the run is the viewer's and still active and holds the
// run's row lock until commit (a transition waits for it).
func addToRunTotals(ctx context.Context, tx *ent.Tx, uid, runID uuid.UUID, u pricing.Usage, cost decimal.Decimal, unpriced bool) error {
	var unpricedN int64
	if unpriced {
		unpricedN = 1
	}
	res, err := tx.ExecContext(ctx, `UPDATE agent_runs SET
			input_tokens = input_tokens + $3,
			cached_input_tokens = cached_input_tokens + $4,
			output_tokens = output_tokens + $5,
			reasoning_tokens = reasoning_tokens + $6,
			total_tokens = total_tokens + $7,
			total_cost = total_cost + $8,
			unpriced_calls = unpriced_calls + $9
		WHERE id = $1 AND user_id = $2 AND status IN ('pending', 'running')`,
		runID, uid, u.Input, u.CachedInput, u.Output, u.Reasoning, u.Total(), cost, unpricedN)
	if err != nil {
		return fmt.Errorf("add to run totals: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("add to run totals: %w", err)
	}
	if n == 1 {
		return nil
	}
	// Not updated: tell a missing run from a finished one.
	run, err := tx.AgentRun.Get(ctx, runID)
	if err != nil {
		return notFound(err, errRunNotFound)
	}
	return fault.Conflictf("run is %s: a finished run cannot change", run.Status)
}

// GetLLMCall returns one of the viewer's LLM calls.
func (s *Service) GetLLMCall(ctx context.Context, id uuid.UUID) (*ent.LLMCall, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.LLMCall, error) {
		c, err := tx.LLMCall.Get(ctx, id)
		return c, notFound(err, errLLMCallNotFound)
	})
}

// ListLLMCalls returns up to p.Fetch() of a run's LLM calls, newest first.
func (s *Service) ListLLMCalls(ctx context.Context, runID uuid.UUID, p db.Page) ([]*ent.LLMCall, error) {
	if err := checkPage(p); err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.LLMCall, error) {
		if err := runExists(ctx, tx, runID); err != nil {
			return nil, err
		}
		q := tx.LLMCall.Query().Where(llmcall.RunID(runID)).Order(ent.Desc(llmcall.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(llmcall.IDLT(p.Before))
		}
		return q.All(ctx)
	})
}
