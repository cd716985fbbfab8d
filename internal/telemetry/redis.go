package telemetry

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
)

// redisHook makes a client span of each Redis command or pipeline run
// inside a recording span. Unlike redisotel's tracing it starts no root
// spans (the realtime subscriber's and the stream readers' background
// commands would fill a trace store) and never records a command's
// arguments: they are events' payloads and rate-limit keys.
type redisHook struct{ tracer trace.Tracer }

var redisSystem = semconv.DBSystemNameRedis

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmd)
		}
		ctx, span := h.tracer.Start(ctx, cmd.FullName(), clientKind,
			trace.WithAttributes(redisSystem, semconv.DBOperationName(cmd.FullName())))
		err := next(ctx, cmd)
		endRedis(span, err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanFromContext(ctx).IsRecording() {
			return next(ctx, cmds)
		}
		ctx, span := h.tracer.Start(ctx, "pipeline", clientKind,
			trace.WithAttributes(redisSystem, attribute.Int("db.operation.batch.size", len(cmds))))
		err := next(ctx, cmds)
		endRedis(span, err)
		return err
	}
}

func endRedis(span trace.Span, err error) {
	if err != nil && !errors.Is(err, redis.Nil) {
		span.SetStatus(codes.Error, "redis command failed")
	}
	span.End()
}

// instrumentRedis adds the span hook, go-redis' own pool and command
// metrics, and jarvis.redis.up (read at most once a second at scrape
// time): 0 means the service runs on its in-process fallbacks.
func instrumentRedis(t *Telemetry, client *redis.Client) error {
	if t.tracing {
		client.AddHook(redisHook{tracer: t.tracer})
	}
	if !t.metrics {
		return nil
	}
	if err := redisotel.InstrumentMetrics(client, redisotel.WithMeterProvider(t.MeterProvider),
		redisotel.WithSemConvCompliantMetrics(true)); err != nil {
		return err
	}
	up, err := t.meter.Int64ObservableGauge("jarvis.redis.up",
		metric.WithDescription("1 when Redis answers a PING; 0 when it does not and realtime and rate limits run on their in-process fallbacks."))
	if err != nil {
		return err
	}
	var last atomic.Int64 // unix nanoseconds of the last ping
	var state atomic.Int64
	_, err = t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		if now := time.Now().UnixNano(); now-last.Load() > int64(time.Second) {
			last.Store(now)
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := client.Ping(pctx).Err()
			cancel()
			var v int64
			if err == nil {
				v = 1
			}
			state.Store(v)
		}
		o.ObserveInt64(up, state.Load())
		return nil
	}, up)
	return err
}
