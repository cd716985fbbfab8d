package telemetry

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

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
type redisHook struct {
	t        *Telemetry
	duration metric.Float64Histogram
	commands *memo[*redisCommand] // by command name
}

func newRedisHook(t *Telemetry) *redisHook {
	return &redisHook{t: t, commands: newMemo(maxRedisCommands, newRedisCommand)}
}

// redisCommand is what a command's measurements and spans reuse: its
// duration's attribute set (a one-element slice, passed to Record as is)
// and its span's start options.
type redisCommand struct {
	record []metric.RecordOption
	span   []trace.SpanStartOption
}

// maxRedisCommands bounds the per-command cache (go-redis has ~250 commands).
const maxRedisCommands = 512

func newRedisCommand(name string) *redisCommand {
	return &redisCommand{
		record: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(semconv.DBOperationName(name)))},
		span:   []trace.SpanStartOption{clientKind, trace.WithAttributes(redisSystem, semconv.DBOperationName(name))},
	}
}

// command is name's cached options, built on first use.
func (h *redisHook) command(name string) *redisCommand { return h.commands.get(name) }

var (
	redisSystem = semconv.DBSystemNameRedis
	// pipelineCommand labels pipelines' durations (their spans carry the batch size).
	pipelineCommand = newRedisCommand("pipeline")
)

func (h *redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// record notes a command's duration, labelled by its name (the code's
// commands: a bounded set).
func (h *redisHook) record(c *redisCommand, start time.Time) {
	if !h.t.metrics {
		return
	}
	h.duration.Record(context.Background(), time.Since(start).Seconds(), c.record...)
}

func (h *redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		traced := h.t.tracing && trace.SpanFromContext(ctx).IsRecording()
		if !traced && !h.t.metrics {
			return next(ctx, cmd)
		}
		name := cmd.FullName()
		c := h.command(name)
		if !traced {
			err := next(ctx, cmd)
			h.record(c, start)
			return err
		}
		ctx, span := h.t.tracer.Start(ctx, name, c.span...)
		err := next(ctx, cmd)
		endRedis(span, err)
		h.record(c, start)
		return err
	}
}

func (h *redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		if !h.t.tracing || !trace.SpanFromContext(ctx).IsRecording() {
			err := next(ctx, cmds)
			h.record(pipelineCommand, start)
			return err
		}
		ctx, span := h.t.tracer.Start(ctx, "pipeline", clientKind,
			trace.WithAttributes(redisSystem, attribute.Int("db.operation.batch.size", len(cmds))))
		err := next(ctx, cmds)
		endRedis(span, err)
		h.record(pipelineCommand, start)
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
	h := newRedisHook(t)
	var err error
	h.duration, err = t.meter.Float64Histogram("jarvis.redis.command.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of Redis commands (and pipelines), by command."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
	if err != nil {
		return err
	}
	client.AddHook(h)
	if !t.metrics {
		return nil
	}
	m := t.meter
	up, err := m.Int64ObservableGauge("jarvis.redis.up",
		metric.WithDescription("1 when Redis answers a PING; 0 when it does not and realtime and rate limits run on their in-process fallbacks."))
	if err != nil {
		return err
	}
	conns, err := m.Int64ObservableUpDownCounter("jarvis.redis.pool.connections",
		metric.WithDescription("Connections of the Redis pool, by state."))
	if err != nil {
		return err
	}
	timeouts, err := m.Int64ObservableCounter("jarvis.redis.pool.timeouts",
		metric.WithDescription("Times a command waited for a Redis connection past the pool timeout."))
	if err != nil {
		return err
	}
	idle := metric.WithAttributeSet(attribute.NewSet(attribute.String("state", "idle")))
	used := metric.WithAttributeSet(attribute.NewSet(attribute.String("state", "used")))
	var last atomic.Int64 // unix nanoseconds of the last ping
	var state atomic.Int64
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
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
		ps := client.PoolStats()
		o.ObserveInt64(conns, int64(ps.IdleConns), idle)
		o.ObserveInt64(conns, int64(ps.TotalConns)-int64(ps.IdleConns), used)
		o.ObserveInt64(timeouts, int64(ps.Timeouts))
		return nil
	}, up, conns, timeouts)
	return err
}
