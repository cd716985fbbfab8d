package telemetry

import (
	"context"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/realtime"
)

// observeHub exports what the realtime hub counts, read at scrape time.
func observeHub(t *Telemetry, h *realtime.Hub) error {
	m := t.meter
	open, err := m.Int64ObservableUpDownCounter("jarvis.realtime.connections",
		metric.WithDescription("WebSocket connections open on this instance."))
	if err != nil {
		return err
	}
	slow, err := m.Int64ObservableCounter("jarvis.realtime.slow_consumer_closes",
		metric.WithDescription("Sockets closed as slow consumers (4008): their send queue was full."))
	if err != nil {
		return err
	}
	authc, err := m.Int64ObservableCounter("jarvis.realtime.auth_closes",
		metric.WithDescription("Sockets closed for authentication (4001 unauthorized, 4002 token expired), at the handshake or later."))
	if err != nil {
		return err
	}
	delivered, err := m.Int64ObservableCounter("jarvis.realtime.events.delivered",
		metric.WithDescription("Event messages queued on sockets of this instance (one per socket an event went to)."))
	if err != nil {
		return err
	}
	resumes, err := m.Int64ObservableCounter("jarvis.realtime.resumes",
		metric.WithDescription("Resume requests, by whether every missed event was resent (recovered)."))
	if err != nil {
		return err
	}
	recovered := metric.WithAttributeSet(attribute.NewSet(attribute.Bool("recovered", true)))
	lost := metric.WithAttributeSet(attribute.NewSet(attribute.Bool("recovered", false)))
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := h.Stats()
		o.ObserveInt64(open, int64(s.Connected))
		o.ObserveInt64(slow, s.SlowConsumerCloses)
		o.ObserveInt64(authc, s.AuthCloses)
		o.ObserveInt64(delivered, s.EventsDelivered)
		o.ObserveInt64(resumes, s.ResumesRecovered, recovered)
		o.ObserveInt64(resumes, s.ResumesNotRecovered, lost)
		return nil
	}, open, slow, authc, delivered, resumes)
	return err
}

// observedBroker traces publications (a producer span whose context the
// envelope carries) and their delivery on every instance (a consumer span,
// child of the publishing one), and measures publish → deliver latency.
type observedBroker struct {
	realtime.Broker
	t       *Telemetry
	latency metric.Float64Histogram // nil when metrics are off
}

// latencyBuckets cover a local hand-over (sub-millisecond) to a Redis
// round trip under load, in seconds.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// observeBroker decorates the realtime broker; without traces or metrics it
// is the broker itself, costing nothing.
func observeBroker(t *Telemetry, b realtime.Broker) (realtime.Broker, error) {
	if !t.tracing && !t.metrics {
		return b, nil
	}
	ob := &observedBroker{Broker: b, t: t}
	if t.metrics {
		h, err := t.meter.Float64Histogram("jarvis.realtime.delivery.latency", metric.WithUnit("s"),
			metric.WithDescription("From an event's publication (its envelope's time) to its hand-over to this instance's sockets."),
			metric.WithExplicitBucketBoundaries(latencyBuckets...))
		if err != nil {
			return nil, err
		}
		ob.latency = h
	}
	return ob, nil
}

const (
	spanPublish = "realtime publish"
	spanDeliver = "realtime deliver"
)

// Publish implements realtime.Broker: under a recording span (a request
// emitting an event), a producer span whose traceparent goes in the envelope.
func (b *observedBroker) Publish(ctx context.Context, user uuid.UUID, e realtime.Envelope) (realtime.Position, error) {
	return b.publish(ctx, e.Type, []realtime.Envelope{e}, func(ctx context.Context, es []realtime.Envelope) (realtime.Position, error) {
		return b.Broker.Publish(ctx, user, es[0])
	})
}

// PublishRun implements realtime.Broker as Publish does, for a run's
// events (the emit API's path): one producer span for the batch.
func (b *observedBroker) PublishRun(ctx context.Context, user uuid.UUID, op realtime.RunOp, es ...realtime.Envelope) (realtime.Position, error) {
	if len(es) == 0 {
		return b.Broker.PublishRun(ctx, user, op, es...)
	}
	return b.publish(ctx, es[0].Type, es, func(ctx context.Context, es []realtime.Envelope) (realtime.Position, error) {
		return b.Broker.PublishRun(ctx, user, op, es...)
	})
}

func (b *observedBroker) publish(ctx context.Context, typ events.Type, es []realtime.Envelope,
	next func(context.Context, []realtime.Envelope) (realtime.Position, error)) (realtime.Position, error) {
	if !b.t.tracing || !trace.SpanFromContext(ctx).IsRecording() {
		return next(ctx, es)
	}
	ctx, span := b.t.tracer.Start(ctx, spanPublish, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.operation.type", "send"),
			attribute.String("jarvis.event.type", string(typ)),
			attribute.Int("messaging.batch.message_count", len(es))))
	defer span.End()
	tp := traceparent(span.SpanContext())
	traced := make([]realtime.Envelope, len(es))
	for i, e := range es {
		e.Trace = tp
		traced[i] = e
	}
	pos, err := next(ctx, traced)
	if err != nil {
		// The error's text can name a key: the status says failed, no more.
		span.SetStatus(codes.Error, "publish failed")
		return pos, err
	}
	span.SetAttributes(attribute.Int64("jarvis.event.seq", int64(pos.Seq)))
	return pos, nil
}

// Listen implements realtime.Broker, observing each delivery.
func (b *observedBroker) Listen(ctx context.Context, h realtime.Handler) (realtime.Listener, error) {
	return b.Broker.Listen(ctx, &observedHandler{Handler: h, b: b})
}

type observedHandler struct {
	realtime.Handler
	b *observedBroker
}

// Deliver implements realtime.Handler.
func (h *observedHandler) Deliver(user uuid.UUID, epoch string, p realtime.Publication) {
	if h.b.latency != nil {
		h.b.latency.Record(context.Background(), max(time.Since(p.Time).Seconds(), 0))
	}
	if h.b.t.tracing && p.Trace != "" {
		parent := traceContext.Extract(context.Background(), propagation.MapCarrier{"traceparent": p.Trace})
		if trace.SpanContextFromContext(parent).IsValid() {
			_, span := h.b.t.tracer.Start(parent, spanDeliver, trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(attribute.String("messaging.operation.type", "process"),
					attribute.String("jarvis.event.type", string(p.Type)),
					attribute.Int64("jarvis.event.seq", int64(p.Seq))))
			defer span.End()
		}
	}
	h.Handler.Deliver(user, epoch, p)
}

// Resync forwards the optional realtime.Resyncer.
func (h *observedHandler) Resync(user uuid.UUID) {
	if r, ok := h.Handler.(realtime.Resyncer); ok {
		r.Resync(user)
	}
}

var traceContext = propagation.TraceContext{}

// traceparent is sc as a W3C traceparent header value.
func traceparent(sc trace.SpanContext) string {
	c := propagation.MapCarrier{}
	traceContext.Inject(trace.ContextWithSpanContext(context.Background(), sc), c)
	return c["traceparent"]
}
