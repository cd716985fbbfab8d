package runs

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// metrics are what the runs module measures about its own domain: the
// model calls workers report, their tokens and cost, and budget refusals.
// Model labels are bounded by the price table: a name it does not know is
// "other", so a worker cannot grow the series with made-up names.
type metrics struct {
	calls    metric.Int64Counter
	tokens   metric.Int64Counter
	cost     metric.Float64Counter
	refusals metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/jarvis-core/jarvis")
	var (
		out  metrics
		errs [4]error
	)
	out.calls, errs[0] = m.Int64Counter("jarvis.llm.calls",
		metric.WithDescription("LLM calls recorded, by provider and model (other: not in the price table)."))
	out.tokens, errs[1] = m.Int64Counter("jarvis.llm.tokens", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens of recorded LLM calls, by usage type (input, cached_input, output, reasoning), provider and model."))
	out.cost, errs[2] = m.Float64Counter("jarvis.llm.cost.usd", metric.WithUnit("{USD}"),
		metric.WithDescription("Cost of recorded LLM calls in USD, by provider and model (unpriced calls add nothing)."))
	out.refusals, errs[3] = m.Int64Counter("jarvis.runs.budget_refusals",
		metric.WithDescription("Work refused by a hard monthly budget (402), by what was refused: run or llm_call."))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("runs metrics: %w", err)
		}
	}
	return &out, nil
}

// Instrument records the service's metrics on mp (a no-op provider until
// called: tests and deployments without metrics pay nothing), the
// active-runs gauge (activeruns.go) included.
func (s *Service) Instrument(mp metric.MeterProvider) error {
	m, err := newMetrics(mp)
	if err != nil {
		return err
	}
	if err := instrumentActiveRuns(mp, s.activeRuns()); err != nil {
		return err
	}
	s.metrics = m
	return nil
}

func noopMetrics() *metrics {
	m, err := newMetrics(noop.NewMeterProvider())
	if err != nil {
		panic("runs: no-op metrics: " + err.Error()) // the no-op provider does not fail
	}
	return m
}

// Bounded label values.
const (
	genAIProvider  = "gen_ai.provider.name"
	genAIModel     = "gen_ai.request.model"
	genAITokenType = "gen_ai.token.type"
	otherModel     = "other"
)

// llmCall records one call. priced says the table knows the model; only
// then are the provider's and the model's names labels.
func (m *metrics) llmCall(ctx context.Context, provider, model string, priced bool, u pricing.Usage, cost float64) {
	if !priced {
		provider, model = otherModel, otherModel
	} else {
		provider, model = pricing.Normalize(provider), pricing.Normalize(model)
	}
	p, mo := attribute.String(genAIProvider, provider), attribute.String(genAIModel, model)
	m.calls.Add(ctx, 1, metric.WithAttributes(p, mo))
	for _, t := range []struct {
		typ string
		n   int64
	}{{"input", u.Input}, {"cached_input", u.CachedInput}, {"output", u.Output}, {"reasoning", u.Reasoning}} {
		if t.n > 0 {
			m.tokens.Add(ctx, t.n, metric.WithAttributes(attribute.String(genAITokenType, t.typ), p, mo))
		}
	}
	if priced {
		m.cost.Add(ctx, cost, metric.WithAttributes(p, mo))
	}
}

// budgetRefused counts a refusal; what is "run" or "llm_call".
func (m *metrics) budgetRefused(ctx context.Context, what string) {
	m.refusals.Add(ctx, 1, metric.WithAttributes(attribute.String("refused", what)))
}
