package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/jarvis-core/jarvis/internal/logging"
)

// recordingExporter keeps every span name it is given and the size of each
// call, notes calls that overlap, and can hold a call until released.
type recordingExporter struct {
	mu       sync.Mutex
	names    []string
	batches  []int
	inCall   atomic.Int32
	overlaps atomic.Int32
	fail     error
	hold     chan struct{} // when set, each call waits for a receive
	started  chan struct{} // when set, each call sends on it first
	shutdown atomic.Bool
}

func (e *recordingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.inCall.Add(1) > 1 {
		e.overlaps.Add(1)
	}
	defer e.inCall.Add(-1)
	if e.started != nil {
		e.started <- struct{}{}
	}
	if e.hold != nil {
		<-e.hold
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.batches = append(e.batches, len(spans))
	for _, s := range spans {
		e.names = append(e.names, s.Name())
	}
	return e.fail
}

func (e *recordingExporter) Shutdown(context.Context) error { e.shutdown.Store(true); return nil }

func (e *recordingExporter) exported() ([]string, []int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.names...), append([]int(nil), e.batches...)
}

func tracerWith(t *testing.T, b *batcher, s sdktrace.Sampler) trace.Tracer {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b), sdktrace.WithSampler(s))
	return tp.Tracer("test")
}

func endSpans(tr trace.Tracer, name string, n int) {
	for range n {
		_, s := tr.Start(context.Background(), name)
		s.End()
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBatcherExportsEverySpanInBatchesOneCallAtATime(t *testing.T) {
	exp := &recordingExporter{}
	// An hour's delay: only full batches, then the flush, export.
	b := newBatcher(exp, BatchConfig{ScheduleDelay: time.Hour, ExportTimeout: time.Second, MaxQueueSize: 4000, MaxExportBatchSize: 100},
		slog.New(slog.DiscardHandler))
	tr := tracerWith(t, b, sdktrace.AlwaysSample())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { endSpans(tr, "s", 320) })
	}
	wg.Wait()
	// Full batches go out without a flush; the rest waits for one.
	waitFor(t, "the full batches", func() bool { n, _ := exp.exported(); return len(n) >= 1200 })
	time.Sleep(50 * time.Millisecond) // time for a wrong partial export to show
	if names, batches := exp.exported(); len(names) != 1200 || slices.ContainsFunc(batches, func(n int) bool { return n != 100 }) {
		t.Fatalf("before the flush: %d spans in batches %v, want the 12 full batches of 100 only", len(names), batches)
	}
	if err := b.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	names, batches := exp.exported()
	if len(names) != 1280 {
		t.Fatalf("%d spans exported, want 1280", len(names))
	}
	for _, n := range batches {
		if n > 100 || n == 0 {
			t.Fatalf("batch sizes %v: each must be 1..100", batches)
		}
	}
	if o := exp.overlaps.Load(); o != 0 {
		t.Errorf("%d export calls overlapped another", o)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !exp.shutdown.Load() {
		t.Error("Shutdown did not shut the exporter down")
	}
}

func TestBatcherExportsAfterTheScheduleDelay(t *testing.T) {
	exp := &recordingExporter{}
	b := newBatcher(exp, BatchConfig{ScheduleDelay: 20 * time.Millisecond, ExportTimeout: time.Second, MaxQueueSize: 2048, MaxExportBatchSize: 512},
		slog.New(slog.DiscardHandler))
	defer b.Shutdown(context.Background()) //nolint:errcheck
	endSpans(tracerWith(t, b, sdktrace.AlwaysSample()), "lonely", 3)
	waitFor(t, "the delayed export", func() bool { n, _ := exp.exported(); return len(n) == 3 })
}

// recordOnly records spans without sampling them: they must not be exported.
type recordOnly struct{}

func (recordOnly) ShouldSample(sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return sdktrace.SamplingResult{Decision: sdktrace.RecordOnly}
}
func (recordOnly) Description() string { return "record only" }

func TestBatcherShutdownExportsWhatIsQueuedAndNothingAfter(t *testing.T) {
	exp := &recordingExporter{}
	b := newBatcher(exp, BatchConfig{ScheduleDelay: time.Hour, ExportTimeout: time.Second, MaxQueueSize: 2048, MaxExportBatchSize: 512},
		slog.New(slog.DiscardHandler))
	endSpans(tracerWith(t, b, recordOnly{}), "unsampled", 5)
	tr := tracerWith(t, b, sdktrace.AlwaysSample())
	endSpans(tr, "queued", 7)
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	endSpans(tr, "late", 2)
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	names, _ := exp.exported()
	if len(names) != 7 || strings.Join(names, ",") != strings.Repeat("queued,", 6)+"queued" {
		t.Fatalf("exported %v, want the 7 queued spans only", names)
	}
}

// TestBatcherDropsPastTheQueueAndSaysSo: while an export is held, spans
// fill the queue; those past its size are dropped and the log says how many.
func TestBatcherDropsPastTheQueueAndSaysSo(t *testing.T) {
	exp := &recordingExporter{hold: make(chan struct{}), started: make(chan struct{}, 10)}
	var logs bytes.Buffer
	b := newBatcher(exp, BatchConfig{ScheduleDelay: time.Hour, ExportTimeout: time.Minute, MaxQueueSize: 10, MaxExportBatchSize: 10},
		slog.New(slog.NewTextHandler(&logs, nil)))
	tr := tracerWith(t, b, sdktrace.AlwaysSample())
	endSpans(tr, "first", 10) // a full batch: the exporter takes it and is held
	<-exp.started
	endSpans(tr, "second", 13) // 10 fit the queue, 3 do not
	close(exp.hold)
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	names, _ := exp.exported()
	if len(names) != 20 {
		t.Fatalf("%d spans exported, want 20 (10 + the 10 the queue held)", len(names))
	}
	if !strings.Contains(logs.String(), "spans_dropped=3") {
		t.Fatalf("log %q does not report the 3 dropped spans", logs.String())
	}
}

func TestBatcherReportsFailedExportsOncePerInterval(t *testing.T) {
	exp := &recordingExporter{fail: errors.New("collector said 503")}
	var logs bytes.Buffer
	b := newBatcher(exp, BatchConfig{ScheduleDelay: time.Hour, ExportTimeout: time.Second, MaxQueueSize: 100, MaxExportBatchSize: 100},
		slog.New(slog.NewTextHandler(&logs, nil)))
	tr := tracerWith(t, b, sdktrace.AlwaysSample())
	for range 3 {
		endSpans(tr, "s", 2)
		if err := b.ForceFlush(context.Background()); err == nil {
			t.Fatal("ForceFlush hid the exporter's error")
		}
	}
	if n := strings.Count(logs.String(), "trace export"); n != 1 {
		t.Fatalf("%d log lines for 3 failures within a minute, want 1: %q", n, logs.String())
	}
	if !strings.Contains(logs.String(), "exports_failed=1") || !strings.Contains(logs.String(), "collector said 503") {
		t.Fatalf("log %q does not say what failed", logs.String())
	}
	// Shutdown reports what failed since, whatever the interval.
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "exports_failed=2") {
		t.Fatalf("log %q does not report the 2 later failures at shutdown", logs.String())
	}
}

// TestBatcherLogNamesNoCredential: the OTLP exporter's error quotes the
// endpoint's URL, which may carry a password; the service's logger hides it.
func TestBatcherLogNamesNoCredential(t *testing.T) {
	exp := &recordingExporter{fail: errors.New(`failed to send to https://jarvis:hunter2-otlp@collector:4318/v1/traces: 401 Unauthorized`)}
	var logs bytes.Buffer
	b := newBatcher(exp, BatchConfig{ScheduleDelay: time.Hour, ExportTimeout: time.Second, MaxQueueSize: 100, MaxExportBatchSize: 100},
		logging.New(&logs, slog.LevelInfo))
	endSpans(tracerWith(t, b, sdktrace.AlwaysSample()), "s", 1)
	_ = b.ForceFlush(context.Background())
	if !strings.Contains(logs.String(), "401 Unauthorized") || strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("log %q: want the failure without the endpoint's password", logs.String())
	}
	_ = b.Shutdown(context.Background())
}

// TestBatcherShutdownKeepsItsDeadline: a shutdown whose deadline passes
// while an export hangs returns at the deadline; what it could not export
// is logged as dropped, and a later call gets the same outcome.
func TestBatcherShutdownKeepsItsDeadline(t *testing.T) {
	exp := &recordingExporter{hold: make(chan struct{}), started: make(chan struct{}, 10)}
	var logs bytes.Buffer
	b := newBatcher(exp, BatchConfig{ScheduleDelay: time.Hour, ExportTimeout: time.Minute, MaxQueueSize: 100, MaxExportBatchSize: 10},
		slog.New(slog.NewTextHandler(&logs, nil)))
	tr := tracerWith(t, b, sdktrace.AlwaysSample())
	endSpans(tr, "held", 10) // a full batch: its export hangs
	<-exp.started
	endSpans(tr, "queued", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Shutdown returned after %s, not at its 50ms deadline", waited)
	}
	close(exp.hold)
	if err := b.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a later Shutdown: %v, want the first one's outcome", err)
	}
	if !exp.shutdown.Load() {
		t.Error("the exporter was not shut down")
	}
	if !strings.Contains(logs.String(), "spans_dropped=5") {
		t.Fatalf("log %q does not report the 5 spans left unexported", logs.String())
	}
}

// TestBatcherFlushGivesUpWithItsContext: a flush whose context has ended
// takes nothing from the queue; a later flush exports every span.
func TestBatcherFlushGivesUpWithItsContext(t *testing.T) {
	exp := &recordingExporter{}
	b := newBatcher(exp, BatchConfig{ScheduleDelay: time.Hour, ExportTimeout: time.Second, MaxQueueSize: 100, MaxExportBatchSize: 100},
		slog.New(slog.DiscardHandler))
	defer b.Shutdown(context.Background()) //nolint:errcheck
	endSpans(tracerWith(t, b, sdktrace.AlwaysSample()), "s", 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.ForceFlush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ForceFlush with a cancelled context: %v", err)
	}
	if n, _ := exp.exported(); len(n) != 0 {
		t.Fatalf("%d spans exported by a cancelled flush", len(n))
	}
	if err := b.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := exp.exported(); len(n) != 4 {
		t.Fatalf("%d spans exported, want the 4 queued", len(n))
	}
}
