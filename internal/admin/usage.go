package admin

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// Spend is one line of `usage top`: a user's LLM calls of the month, on
// one model when grouped by model. Amounts are exact decimals, as the API
// gives them.
type Spend struct {
	UserID        uuid.UUID       `json:"user_id"`
	Email         string          `json:"email"`
	Provider      string          `json:"provider,omitempty"`
	Model         string          `json:"model,omitempty"`
	Calls         int64           `json:"calls"`
	UnpricedCalls int64           `json:"unpriced_calls"`
	TotalTokens   int64           `json:"total_tokens"`
	CostUSD       decimal.Decimal `json:"cost_usd"`
	// UserCostUSD is the user's whole month (grouped by model only), which
	// orders the users.
	UserCostUSD *decimal.Decimal `json:"user_cost_usd,omitempty"`
}

// The groupings of `usage top`.
const (
	SpendByUser  = "user"
	SpendByModel = "model"
)

// MaxTop caps `usage top --limit`.
const MaxTop = 1000

// spendSums are a group's sums; the tokens are those of runs.Usage.
const spendSums = `count(*), count(*) FILTER (WHERE c.total_cost IS NULL),
	COALESCE(sum(c.input_tokens + c.cached_input_tokens + c.output_tokens + c.reasoning_tokens), 0)::bigint,
	COALESCE(sum(c.total_cost), 0)`

// topUsers are the month's top spenders; the join with users is on the
// distribution column (co-located on Citus), the sums run on each shard.
const topUsers = `SELECT c.user_id, u.email, ` + spendSums + `
	FROM llm_calls c JOIN users u ON u.id = c.user_id
	WHERE c.created_at >= $1 AND c.created_at < $2
	GROUP BY c.user_id, u.email
	ORDER BY 6 DESC, c.user_id
	LIMIT $3`

// topUsersByModel splits the same top spenders by provider and model.
const topUsersByModel = `WITH top AS (
	SELECT c.user_id, COALESCE(sum(c.total_cost), 0) AS cost FROM llm_calls c
	WHERE c.created_at >= $1 AND c.created_at < $2
	GROUP BY c.user_id ORDER BY 2 DESC, c.user_id LIMIT $3)
SELECT c.user_id, u.email, c.provider, c.model, ` + spendSums + `, top.cost
	FROM llm_calls c JOIN top ON top.user_id = c.user_id JOIN users u ON u.id = c.user_id
	WHERE c.created_at >= $1 AND c.created_at < $2
	GROUP BY c.user_id, u.email, c.provider, c.model, top.cost
	ORDER BY top.cost DESC, c.user_id, 8 DESC, c.provider, c.model`

// TopSpenders lists the users whose LLM calls cost most in the calendar
// month (UTC) starting at month, at most limit users; by SpendByModel,
// each of them split by provider and model. It reads every user's calls: a
// fan-out over every shard on Citus.
func (a Ops) TopSpenders(ctx context.Context, op Operator, month time.Time, by string, limit int) ([]Spend, error) {
	if limit < 1 || limit > MaxTop {
		return nil, fmt.Errorf("--limit must be between 1 and %d", MaxTop)
	}
	query := map[string]string{SpendByUser: topUsers, SpendByModel: topUsersByModel}[by]
	if query == "" {
		return nil, fmt.Errorf("--by %q: want %s or %s", by, SpendByUser, SpendByModel)
	}
	ctx = op.Context(ctx, "operator reports every user's spend")
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	rows, err := a.Client.QueryContext(ctx, query, from, from.AddDate(0, 1, 0), limit)
	if err != nil {
		return nil, fmt.Errorf("top spenders: %w", err)
	}
	defer rows.Close()
	var out []Spend
	for rows.Next() {
		var s Spend
		dest := []any{&s.UserID, &s.Email}
		var userCost decimal.Decimal
		if by == SpendByModel {
			dest = append(dest, &s.Provider, &s.Model)
		}
		dest = append(dest, &s.Calls, &s.UnpricedCalls, &s.TotalTokens, &s.CostUSD)
		if by == SpendByModel {
			dest = append(dest, &userCost)
			s.UserCostUSD = &userCost
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("top spenders: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("top spenders: %w", err)
	}
	return out, nil
}

// Unpriced is a model recorded in LLM calls without a price: its calls
// cost nothing, since the price table lacked it when they were made.
type Unpriced struct {
	Provider  string    `json:"provider"`
	Model     string    `json:"model"`
	Calls     int64     `json:"calls"`
	Users     int64     `json:"users"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// PricedNow: the table has a price for it today (added since, or in
	// force from a later date); the calls above keep their missing cost.
	PricedNow bool `json:"priced_now"`
}

// UnpricedModels lists the models of calls without a cost, most calls
// first, with prices the lookup table of today (nil: the embedded one). It
// reads every user's calls: a fan-out over every shard on Citus.
func (a Ops) UnpricedModels(ctx context.Context, op Operator, prices *pricing.Table) ([]Unpriced, error) {
	if prices == nil {
		var err error
		if prices, err = pricing.Default(); err != nil {
			return nil, err
		}
	}
	ctx = op.Context(ctx, "operator lists the models without a price")
	rows, err := a.Client.QueryContext(ctx, `SELECT provider, model, count(*), count(DISTINCT user_id), min(created_at), max(created_at)
		FROM llm_calls WHERE total_cost IS NULL
		GROUP BY provider, model ORDER BY 3 DESC, provider, model`)
	if err != nil {
		return nil, fmt.Errorf("unpriced models: %w", err)
	}
	defer rows.Close()
	var out []Unpriced
	now := a.now()
	for rows.Next() {
		var u Unpriced
		var first, last sql.NullTime
		if err := rows.Scan(&u.Provider, &u.Model, &u.Calls, &u.Users, &first, &last); err != nil {
			return nil, fmt.Errorf("unpriced models: %w", err)
		}
		u.FirstSeen, u.LastSeen = first.Time.UTC(), last.Time.UTC()
		_, u.PricedNow = prices.Lookup(u.Provider, u.Model, now)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unpriced models: %w", err)
	}
	return out, nil
}
