// Package telemetry owns the OpenTelemetry SDK set-up and the Prometheus
// listener: it builds the tracer and meter providers from the standard
// OTEL_* variables and METRICS_ADDR (no-ops when they are unset), serves
// /metrics on its own listener, and attaches the instrumentation the
// service's layers offer seams for: the HTTP edge (one server span and the
// request metrics per request), the unit of work, pgx statements, the pgx
// pool, Redis commands, the log lines' trace ids, the realtime broker
// (publish and deliver spans linked through the event envelope, delivery
// latency) and hub, the password hashing gate and vector search latency.
//
// It does not decide what a module measures about its own domain: a module
// takes a metric.MeterProvider or trace.TracerProvider from fx and records
// what it owns.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of what this package records.
const ScopeName = "github.com/jarvis-core/jarvis"

// Telemetry is the service's providers. Tracer and Meter are no-ops when
// their signal is off, so instrumented code needs no switch of its own; the
// Tracing and Metrics flags let hot paths skip work a no-op would discard.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator

	tracer   trace.Tracer
	meter    metric.Meter
	tracing  bool
	metrics  bool
	registry *prometheus.Registry
	sdkTP    *sdktrace.TracerProvider
	sdkMP    *sdkmetric.MeterProvider
}

// Tracing reports whether spans are recorded and exported.
func (t *Telemetry) Tracing() bool { return t.tracing }

// Metrics reports whether metrics are collected (METRICS_ADDR set).
func (t *Telemetry) Metrics() bool { return t.metrics }

// Registry is the Prometheus registry /metrics serves (nil when metrics are off).
func (t *Telemetry) Registry() *prometheus.Registry { return t.registry }

// Options are for tests and benchmarks: a span processor or exporter of
// their own instead of (or beside) OTLP.
type Options struct {
	// SpanProcessors are added to the tracer provider, and turn tracing on
	// even without an OTLP endpoint (an in-memory exporter in tests).
	SpanProcessors []sdktrace.SpanProcessor
	// Log receives what the span exporter loses (slog.Default when nil).
	Log *slog.Logger
}

// New builds the providers. Nothing is started: the OTLP exporters connect
// lazily and the metrics listener is Serve's.
func New(ctx context.Context, cfg Config, opts Options) (*Telemetry, error) {
	t := &Telemetry{
		TracerProvider: tracenoop.NewTracerProvider(),
		MeterProvider:  metricnoop.NewMeterProvider(),
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	res, err := newResource(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Tracing() || (len(opts.SpanProcessors) > 0 && !cfg.SDKDisabled) {
		sampler, err := newSampler(cfg)
		if err != nil {
			return nil, err
		}
		tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
		if cfg.Tracing() {
			exp, err := newExporter(ctx, cfg)
			if err != nil {
				return nil, err
			}
			log := opts.Log
			if log == nil {
				log = slog.Default()
			}
			tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(newBatcher(exp, cfg.batch(), log)))
		}
		for _, sp := range opts.SpanProcessors {
			tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
		}
		t.sdkTP = sdktrace.NewTracerProvider(tpOpts...)
		t.TracerProvider = t.sdkTP
		t.tracing = true
	}
	if cfg.MetricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
		if err != nil {
			return nil, fmt.Errorf("prometheus exporter: %w", err)
		}
		t.sdkMP = sdkmetric.NewMeterProvider(
			sdkmetric.WithReader(exp),
			sdkmetric.WithResource(res),
			// Exemplars would cost a trace lookup and a reservoir per
			// measurement; Prometheus' text format does not carry them.
			sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter),
		)
		t.MeterProvider = t.sdkMP
		t.registry = reg
		t.metrics = true
	}
	t.tracer = t.TracerProvider.Tracer(ScopeName)
	t.meter = t.MeterProvider.Meter(ScopeName)
	return t, nil
}

// Flush exports the spans ended so far (tests, and before a crash report).
func (t *Telemetry) Flush(ctx context.Context) error {
	if t.sdkTP == nil {
		return nil
	}
	return t.sdkTP.ForceFlush(ctx)
}

// Shutdown flushes the spans still queued and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.sdkTP != nil {
		if err := t.sdkTP.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush traces: %w", err))
		}
	}
	if t.sdkMP != nil {
		if err := t.sdkMP.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop metrics: %w", err))
		}
	}
	return errors.Join(errs...)
}

func newResource(cfg Config) (*resource.Resource, error) {
	extra, err := parseResourceAttributes(cfg.ResourceAttributes)
	if err != nil {
		return nil, err
	}
	attrs := make([]attribute.KeyValue, 0, len(extra)+1)
	for k, v := range extra {
		attrs = append(attrs, attribute.String(k, v))
	}
	// OTEL_SERVICE_NAME wins over a service.name in the attributes (the
	// specification's precedence).
	attrs = append(attrs, semconv.ServiceName(cfg.ServiceName))
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...), nil
}

func newSampler(cfg Config) (sdktrace.Sampler, error) {
	ratio, err := cfg.ratio()
	if err != nil {
		return nil, err
	}
	switch cfg.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	default:
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	}
}

func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	u := cfg.tracesURL()
	if cfg.Protocol == "grpc" {
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u))
		if err != nil {
			return nil, fmt.Errorf("otlp grpc exporter: %w", err)
		}
		return exp, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u))
	if err != nil {
		return nil, fmt.Errorf("otlp http exporter: %w", err)
	}
	return exp, nil
}

// MetricsServer serves /metrics on METRICS_ADDR.
type MetricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// Addr is where /metrics listens ("" when metrics are off).
func (s *MetricsServer) Addr() string {
	if s == nil || s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// startMetrics listens on cfg's address and serves the registry.
func startMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) (*MetricsServer, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// A scrape that fails half way says so instead of serving a partial page.
		ErrorHandling: promhttp.HTTPErrorOnError,
	}))
	s := &MetricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", slog.Any("error", err))
		}
	}()
	log.Info("metrics listening", slog.String("addr", ln.Addr().String()))
	return s, nil
}

func (s *MetricsServer) stop(ctx context.Context) error {
	if s == nil || s.srv == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("metrics shutdown: %w", err)
	}
	return nil
}
