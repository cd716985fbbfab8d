package embed

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/jarvis-core/jarvis/internal/fault"
)

// measured is an Embedder whose calls are measured: the semantic
// conventions' gen_ai.client.operation.duration (operation "embeddings";
// error.type set on failures, so errors are its count with the label) and
// the provider's retries.
type measured struct {
	Embedder
	duration metric.Float64Histogram
	ok       metric.MeasurementOption
	provider attribute.KeyValue
}

// genAIBuckets are the conventions' advised boundaries for the duration.
var genAIBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}

// Measure returns e measured on mp's meter.
func Measure(e Embedder, provider string, mp metric.MeterProvider) (Embedder, error) {
	m := mp.Meter("github.com/jarvis-core/jarvis")
	d, err := m.Float64Histogram("gen_ai.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Embedding calls (one Embed, all its batches and retries), by provider; error.type on failures."),
		metric.WithExplicitBucketBoundaries(genAIBuckets...))
	if err != nil {
		return nil, fmt.Errorf("embeddings metrics: %w", err)
	}
	p := attribute.String("gen_ai.provider.name", provider)
	op := attribute.String("gen_ai.operation.name", "embeddings")
	if o, ok := e.(*OpenAI); ok {
		retries, err := m.Int64Counter("jarvis.embeddings.retries",
			metric.WithDescription("Embedding provider requests retried (a 429, a 5xx, a transport error), by provider."))
		if err != nil {
			return nil, fmt.Errorf("embeddings metrics: %w", err)
		}
		attrs := metric.WithAttributeSet(attribute.NewSet(p))
		o.onRetry = func(ctx context.Context) { retries.Add(ctx, 1, attrs) }
	}
	return &measured{Embedder: e, duration: d, ok: metric.WithAttributeSet(attribute.NewSet(op, p)), provider: p}, nil
}

// Embed implements Embedder.
func (m *measured) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	start := time.Now()
	out, err := m.Embedder.Embed(ctx, texts)
	secs := time.Since(start).Seconds()
	if err == nil {
		m.duration.Record(ctx, secs, m.ok)
		return out, nil
	}
	m.duration.Record(ctx, secs, metric.WithAttributes(attribute.String("gen_ai.operation.name", "embeddings"), m.provider,
		attribute.String("error.type", errorType(ctx, err))))
	return out, err
}

// errorType is a bounded name for err: the fault kind, or "canceled" when
// the caller gave up, else "_OTHER".
func errorType(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "canceled"
	}
	if f, ok := fault.As(err); ok {
		return strings.ReplaceAll(f.Kind.String(), " ", "_")
	}
	return "_OTHER"
}
