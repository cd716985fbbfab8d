package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// discardExporter drops spans after the batcher hands them over, so the
// benchmark prices recording and batching, not a network.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// traced is the production span pipeline (the batcher, default sizes)
// ending in a discarding exporter.
func traced() Options {
	return Options{SpanProcessors: []sdktrace.SpanProcessor{newBatcher(discardExporter{},
		BatchConfig{ScheduleDelay: 5 * time.Second, ExportTimeout: 30 * time.Second, MaxQueueSize: 2048, MaxExportBatchSize: 512},
		slog.New(slog.DiscardHandler))}}
}

// BenchmarkEdge is what the HTTP edge adds to one API request, with
// telemetry off, metrics only, and every request traced (batched to a
// discarding exporter).
func BenchmarkEdge(b *testing.B) {
	for _, c := range []struct {
		name        string
		cfg         Config
		opts        Options
		traceparent string // a caller's trace context, continued
	}{
		{"off", Config{}, Options{}, ""},
		{"metrics", Config{MetricsAddr: "127.0.0.1:0"}, Options{}, ""},
		{"traces", Config{Sampler: "always_on"}, traced(), ""},
		{"traces-continued", Config{Sampler: "always_on"}, traced(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	} {
		b.Run(c.name, func(b *testing.B) {
			t, err := New(context.Background(), c.cfg, c.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer t.Shutdown(context.Background())
			e, err := newEdge(t, nil)
			if err != nil {
				b.Fatal(err)
			}
			h := e.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
			req := httptest.NewRequest("GET", "/v1/secrets/0198e3a4-0000-7000-8000-000000000000", nil)
			if c.traceparent != "" {
				req.Header.Set("traceparent", c.traceparent)
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkStatementSpan is one traced statement's span (pgx's start and
// end hooks) under a recording request span, batched to a discarding exporter.
func BenchmarkStatementSpan(b *testing.B) {
	t, err := New(context.Background(), Config{Sampler: "always_on"},
		traced())
	if err != nil {
		b.Fatal(err)
	}
	defer t.Shutdown(context.Background())
	p := pgxTracerFor(t)
	ctx, span := t.tracer.Start(context.Background(), "request")
	defer span.End()
	data := pgx.TraceQueryStartData{SQL: `SELECT "user_secrets"."id", "user_secrets"."provider" FROM "user_secrets" WHERE "user_secrets"."user_id" = $1 ORDER BY "user_secrets"."id" LIMIT 21`}
	b.ReportAllocs()
	for b.Loop() {
		sctx := p.TraceQueryStart(ctx, nil, data)
		p.TraceQueryEnd(sctx, nil, pgx.TraceQueryEndData{})
	}
}
