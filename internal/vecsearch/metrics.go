package vecsearch

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Nearest returns up to r.K of the user's rows closest to r.Vector, nearest
// first, within r.MaxDistance, and the path that answered.
func Nearest(ctx context.Context, q Querier, t Table, r Request) (Result, error) {
	start := time.Now()
	res, err := nearest(ctx, q, t, r)
	if h := duration.Load(); h != nil && err == nil {
		(*h).Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(
			attribute.String("strategy", string(res.Path)), attribute.String("table", string(t))))
	}
	return res, err
}

// duration is set once by Measure. This package is functions over a
// caller's transaction, with no value of its own to hold an instrument, and
// a process has one meter provider.
var duration atomic.Pointer[metric.Float64Histogram]

// searchBuckets span an exact scan of a few rows to a slow HNSW walk, in seconds.
var searchBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// Measure records every Nearest's duration on mp, by strategy (exact,
// hnsw) and table (memories, kg_entities).
func Measure(mp metric.MeterProvider) error {
	h, err := mp.Meter("github.com/jarvis-core/jarvis").Float64Histogram("jarvis.vecsearch.duration", metric.WithUnit("s"),
		metric.WithDescription("Vector searches (Nearest), by the strategy that answered (exact, hnsw) and table."),
		metric.WithExplicitBucketBoundaries(searchBuckets...))
	if err != nil {
		return fmt.Errorf("vector search metrics: %w", err)
	}
	duration.Store(&h)
	return nil
}
