package telemetry

import (
	"context"
	"net/http"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/jarvis-core/jarvis/openapi"
)

// ogenOptions give ogen's server a tracer that leaves the request's span
// (the edge's, named after ogen's own route) current, and no meter: one
// server span per request rather than two nested ones, and the request
// metrics recorded once, with bounded labels, by the edge. A no-op tracer
// would not do: it replaces the context's span with a non-recording copy,
// and the unit of work and statements under it would never be recorded.
func ogenOptions() []openapi.ServerOption {
	return []openapi.ServerOption{
		openapi.WithTracerProvider(passthroughProvider{}),
		openapi.WithMeterProvider(noopMeter),
	}
}

type passthroughProvider struct{ embedded.TracerProvider }

func (passthroughProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return passthroughTracer{}
}

type passthroughTracer struct{ embedded.Tracer }

// discarded is what ogen ends and annotates: a non-recording span.
var discarded = trace.SpanFromContext(context.Background())

func (passthroughTracer) Start(ctx context.Context, _ string, _ ...trace.SpanStartOption) (context.Context, trace.Span) {
	return ctx, discarded
}

var noopMeter = metricnoop.NewMeterProvider()

func hasRecordingSpan(r *http.Request) bool { return trace.SpanFromContext(r.Context()).IsRecording() }
