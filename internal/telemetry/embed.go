package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// embedTransport is the embeddings client's transport: a client span per
// provider call (under the request's span; none outside one) with the
// trace context sent along. Nil when tracing is off: the client keeps
// Go's default transport and pays nothing.
func embedTransport(t *Telemetry) http.RoundTripper {
	if !t.tracing {
		return nil
	}
	return otelhttp.NewTransport(http.DefaultTransport,
		otelhttp.WithTracerProvider(t.TracerProvider),
		otelhttp.WithPropagators(t.Propagator),
		// The provider's metrics are the embed package's concern.
		otelhttp.WithMeterProvider(noopMeter),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "embeddings " + r.Method }),
		otelhttp.WithFilter(hasRecordingSpan),
	)
}

var noopMeter = metricnoop.NewMeterProvider()

func hasRecordingSpan(r *http.Request) bool { return trace.SpanFromContext(r.Context()).IsRecording() }
