package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// batcher is the span processor in front of the OTLP exporter. It does
// what the SDK's batch span processor does (queue ended spans, export them
// in batches from one goroutine, drop past the queue's size), with one
// difference that matters on a busy service: an ended span is appended to
// a buffer under a mutex, and the exporting goroutine is woken once per
// full batch or schedule delay. The SDK's processor hands every span to its
// goroutine over a channel: a goroutine wake-up and a scheduler round trip
// per span, several per traced request.
//
// It honours the OTEL_BSP_* variables as the SDK's does (Config) and, unlike
// it, reports what it drops and what fails to export in the service's log,
// at most once a minute.
type batcher struct {
	exp       sdktrace.SpanExporter
	log       *slog.Logger
	batchSize int
	queueSize int
	delay     time.Duration
	timeout   time.Duration

	mu       sync.Mutex
	buf      []sdktrace.ReadOnlySpan
	woken    bool   // a full batch has signalled wake since the last take
	stopped  bool   // Shutdown began: spans ended from now on are not kept
	dropped  uint64 // spans not kept because the queue was full, since the last report
	failures uint64 // exports failed since the last report
	lastErr  error
	reported time.Time

	// exporting (one slot) serialises exports (an exporter is not
	// required to take concurrent calls); its holder owns spare, the
	// buffer the next take swaps in. A channel, so that a caller waiting
	// for it can give up when its context ends.
	exporting chan struct{}
	spare     []sdktrace.ReadOnlySpan

	wake      chan struct{} // capacity 1: one pending wake-up is enough
	stop      chan struct{}
	done      chan struct{} // run has returned
	runCtx    context.Context
	cancelRun context.CancelFunc // cuts short run's export in flight at shutdown

	shutOnce sync.Once
	shutDone chan struct{}
	shutErr  error
}

var _ sdktrace.SpanProcessor = (*batcher)(nil)

// reportEvery bounds the log lines about dropped spans and failed exports.
const reportEvery = time.Minute

func newBatcher(exp sdktrace.SpanExporter, cfg BatchConfig, log *slog.Logger) *batcher {
	b := &batcher{
		exp: exp, log: log,
		batchSize: cfg.MaxExportBatchSize, queueSize: cfg.MaxQueueSize,
		delay: cfg.ScheduleDelay, timeout: cfg.ExportTimeout,
		buf:       make([]sdktrace.ReadOnlySpan, 0, cfg.MaxQueueSize),
		spare:     make([]sdktrace.ReadOnlySpan, 0, cfg.MaxQueueSize),
		exporting: make(chan struct{}, 1),
		wake:      make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		shutDone: make(chan struct{}),
	}
	b.runCtx, b.cancelRun = context.WithCancel(context.Background())
	go b.run()
	return b
}

// OnStart implements sdktrace.SpanProcessor: nothing happens at a span's start.
func (b *batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues a sampled span. A span recorded but not sampled (a
// RecordOnly sampler decision) is not exported, as with the SDK's processor.
func (b *batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	if len(b.buf) >= b.queueSize {
		b.dropped++
		b.mu.Unlock()
		return
	}
	b.buf = append(b.buf, s)
	wake := len(b.buf) >= b.batchSize && !b.woken
	if wake {
		b.woken = true
	}
	b.mu.Unlock()
	if wake {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// run exports on a full batch or when the schedule delay has passed.
func (b *batcher) run() {
	defer close(b.done)
	t := time.NewTimer(b.delay)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-b.wake:
			// Full batches only: what arrived past the last full one waits
			// for the next, so that every call carries a full batch.
			b.export(b.runCtx, fullBatches) //nolint:errcheck // reported by export
		case <-t.C:
			b.export(b.runCtx, everything) //nolint:errcheck // reported by export
		}
		t.Reset(b.delay) // the delay counts from the last export (Go ≥ 1.23 timers need no drain)
	}
}

// What an export takes from the queue.
const (
	everything  = false // the timer, a flush, shutdown
	fullBatches = true  // a wake-up: the whole batches queued, no remainder
)

// export takes queued spans and exports them in batches of at most
// batchSize, each under the export timeout. Spans that arrive meanwhile
// wait for the next call.
func (b *batcher) export(ctx context.Context, whole bool) error {
	// A caller whose context ends while another export runs gives up and
	// takes nothing: the spans stay queued.
	select {
	case b.exporting <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.exporting }()
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	spans := b.buf
	b.buf, b.spare = b.spare[:0], nil
	if whole {
		n := len(spans) / b.batchSize * b.batchSize
		b.buf = append(b.buf, spans[n:]...)
		spans = spans[:n]
	}
	b.woken = false // what is left is less than a batch
	b.mu.Unlock()

	var errs []error
	for rest := spans; len(rest) > 0; {
		n := min(len(rest), b.batchSize)
		ectx, cancel := context.WithTimeout(ctx, b.timeout)
		if err := b.exp.ExportSpans(ectx, rest[:n]); err != nil {
			errs = append(errs, err)
		}
		cancel()
		rest = rest[n:]
	}
	clear(spans[:cap(spans)]) // the spans are the exporter's no more: let them be collected
	b.spare = spans[:0]
	err := errors.Join(errs...)
	b.report(len(errs), err)
	return err
}

// report logs dropped spans and failed exports, at most once per
// reportEvery. The error is the exporter's (an endpoint and a status, never
// a header's value).
func (b *batcher) report(failed int, err error) {
	b.mu.Lock()
	b.failures += uint64(failed)
	if err != nil {
		b.lastErr = err
	}
	if (b.dropped == 0 && b.failures == 0) || time.Since(b.reported) < reportEvery {
		b.mu.Unlock()
		return
	}
	dropped, failures, last := b.dropped, b.failures, b.lastErr
	b.dropped, b.failures, b.lastErr, b.reported = 0, 0, nil, time.Now()
	b.mu.Unlock()
	attrs := []any{slog.Uint64("spans_dropped", dropped), slog.Uint64("exports_failed", failures)}
	if last != nil {
		attrs = append(attrs, slog.String("error", last.Error()))
	}
	b.log.Warn("trace export: spans lost (queue full or exports failing)", attrs...)
}

// ForceFlush exports everything queued now.
func (b *batcher) ForceFlush(ctx context.Context) error {
	return b.export(ctx, everything)
}

// Shutdown stops taking spans, exports what is queued within ctx's
// deadline and shuts the exporter down. What could not be exported in time
// is logged as dropped. Every call waits for the one shutdown and returns
// its error (or its own context's, if that ends first).
func (b *batcher) Shutdown(ctx context.Context) error {
	b.shutOnce.Do(func() {
		b.mu.Lock()
		b.stopped = true
		b.mu.Unlock()
		close(b.stop)
		go func() {
			defer close(b.shutDone)
			// An export of run's still in flight when the deadline passes
			// is cut short.
			stopCut := context.AfterFunc(ctx, b.cancelRun)
			<-b.done
			stopCut()
			b.cancelRun()
			err := b.export(ctx, everything)
			b.mu.Lock()
			b.dropped += uint64(len(b.buf)) // not exported before the deadline
			clear(b.buf)
			b.buf = b.buf[:0]
			b.reported = time.Time{} // the last report, whatever the time since the one before
			b.mu.Unlock()
			b.report(0, nil)
			b.shutErr = errors.Join(err, b.exp.Shutdown(ctx))
		}()
	})
	select {
	case <-b.shutDone:
		return b.shutErr
	case <-ctx.Done():
		return ctx.Err()
	}
}
