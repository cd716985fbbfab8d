package runs

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// GroupBy is how a usage report groups the calls.
type GroupBy string

// The groupings of a usage report.
const (
	ByDay   GroupBy = "day"   // calendar days in UTC
	ByModel GroupBy = "model" // provider and model
)

// MaxUsageSpan caps the period of one usage report.
const MaxUsageSpan = 366 * 24 * time.Hour

// UsageRow is one group of a usage report. Day is set when grouped by day,
// Provider and Model when grouped by model.
type UsageRow struct {
	Day               time.Time
	Provider, Model   string
	Calls             int64
	UnpricedCalls     int64 // calls of models without a price: tokens counted, no cost
	InputTokens       int64
	CachedInputTokens int64
	OutputTokens      int64
	ReasoningTokens   int64
	TotalTokens       int64
	CostUSD           decimal.Decimal // of the priced calls
}

// usageQueries sum in SQL; the group key is the only difference.
var usageQueries = map[GroupBy]string{
	ByDay: `SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, '' AS provider, '' AS model,` + usageSums + `
		GROUP BY 1 ORDER BY 1`,
	ByModel: `SELECT timestamp '0001-01-01' AS day, provider, model,` + usageSums + `
		GROUP BY provider, model ORDER BY provider, model`,
}

const usageSums = `
		count(*),
		count(*) FILTER (WHERE total_cost IS NULL),
		COALESCE(sum(input_tokens), 0)::bigint,
		COALESCE(sum(cached_input_tokens), 0)::bigint,
		COALESCE(sum(output_tokens), 0)::bigint,
		COALESCE(sum(reasoning_tokens), 0)::bigint,
		COALESCE(sum(input_tokens + cached_input_tokens + output_tokens + reasoning_tokens), 0)::bigint,
		COALESCE(sum(total_cost), 0)
	FROM llm_calls
	WHERE user_id = $1 AND created_at >= $2 AND created_at < $3`

// Usage reports the viewer's tokens and cost of LLM calls made in
// [from, to), grouped by UTC day or by model.
func (s *Service) Usage(ctx context.Context, from, to time.Time, groupBy GroupBy) ([]UsageRow, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	query, ok := usageQueries[groupBy]
	if !ok {
		return nil, fault.InvalidField("group_by", "must be day or model")
	}
	switch {
	case from.IsZero():
		return nil, fault.InvalidField("from", "is required")
	case to.IsZero():
		return nil, fault.InvalidField("to", "is required")
	case !from.Before(to):
		return nil, fault.InvalidField("to", "must be after from")
	case to.Sub(from) > MaxUsageSpan:
		return nil, fault.InvalidField("to", "the period must not exceed 366 days")
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]UsageRow, error) {
		rows, err := tx.QueryContext(ctx, query, uid, from, to)
		if err != nil {
			return nil, fmt.Errorf("usage report: %w", err)
		}
		defer rows.Close()
		var out []UsageRow
		for rows.Next() {
			var r UsageRow
			if err := rows.Scan(&r.Day, &r.Provider, &r.Model, &r.Calls, &r.UnpricedCalls, &r.InputTokens,
				&r.CachedInputTokens, &r.OutputTokens, &r.ReasoningTokens, &r.TotalTokens, &r.CostUSD); err != nil {
				return nil, fmt.Errorf("usage report: %w", err)
			}
			if groupBy == ByDay {
				r.Day = time.Date(r.Day.Year(), r.Day.Month(), r.Day.Day(), 0, 0, 0, 0, time.UTC)
			} else {
				r.Day = time.Time{}
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("usage report: %w", err)
		}
		return out, nil
	})
}
