package telemetry

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jarvis-core/jarvis/internal/db"
)

// pgxTracer makes a client span of each statement run inside a traced
// request. A statement is described by its text (placeholders, never the
// values bound to them: those are users' data, tokens' hashes, passwords'
// hashes) and, on failure, by its SQLSTATE only (a Postgres error message
// can quote a row's values). Statements outside a recording span (pool
// health checks, background jobs without a trace) cost one context lookup.
type pgxTracer struct {
	tracer     trace.Tracer
	statements *memo[*statement]
	batches    *memo[*statement] // by the statements' texts joined with "; "
}

// statement is what every span of one SQL text shares: its name and its
// start options (kind and attributes), derived once.
type statement struct {
	name string
	opts []trace.SpanStartOption // client kind, db.system.name, db.query.text
}

func newStatement(sql string) *statement {
	return &statement{name: statementName(sql), opts: []trace.SpanStartOption{clientKind,
		trace.WithAttributes(pgSystem, semconv.DBQueryText(sql))}}
}

// maxStatements bounds the cache: the code's statements are a few hundred
// texts (placeholders, never values); past the cap (texts built from data,
// which would be a bug) statements are still described, just not kept.
const maxStatements = 4096

// newStatementCache maps SQL texts to their statements, so a statement run
// again does not parse its text for a name or allocate its attributes.
func newStatementCache() *memo[*statement] { return newMemo(maxStatements, newStatement) }

var (
	_ pgx.QueryTracer = pgxTracer{}
	_ pgx.BatchTracer = pgxTracer{}

	pgSystem = semconv.DBSystemNamePostgreSQL
	// Allocated once: options for every statement span.
	clientKind = trace.WithSpanKind(trace.SpanKindClient)
	commitOpts = []trace.SpanStartOption{clientKind, trace.WithAttributes(pgSystem)}
)

// statementName is the span's name: the statement's first keyword, and the
// table it works on when easy to tell ("SELECT secrets"). Low cardinality,
// as span names must be; the full text is an attribute.
func statementName(sql string) string {
	sql = strings.TrimSpace(sql)
	verb, rest, _ := strings.Cut(sql, " ")
	verb = strings.ToUpper(verb)
	var target string
	switch verb {
	case "SELECT", "DELETE":
		if _, after, ok := strings.Cut(rest, " FROM "); ok {
			target = firstWord(after)
		} else if fn, _, ok := strings.Cut(firstWord(rest), "("); ok && verb == "SELECT" {
			target = fn // a function call: "SELECT jarvis_identify"
		}
	case "INSERT":
		if _, after, ok := strings.Cut(rest, "INTO "); ok {
			target = firstWord(after)
		}
	case "UPDATE":
		target = firstWord(rest)
	}
	if target != "" && !strings.ContainsAny(target, "($") {
		return verb + " " + strings.ReplaceAll(target, `"`, "") // "s"."t" → s.t
	}
	if len(verb) > 16 {
		verb = verb[:16]
	}
	return verb
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	return w
}

func endStatement(span trace.Span, err error) {
	if err != nil {
		var pg *pgconn.PgError
		if errors.As(err, &pg) {
			span.SetAttributes(semconv.DBResponseStatusCode(pg.Code))
			span.SetStatus(codes.Error, "SQLSTATE "+pg.Code)
		} else if !errors.Is(err, context.Canceled) {
			span.SetStatus(codes.Error, "statement failed")
		}
	}
	span.End()
}

// TraceQueryStart starts the statement's span under a recording parent.
func (p pgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	st := p.statements.get(data.SQL)
	ctx, _ = p.tracer.Start(ctx, st.name, st.opts...) // starts now: no timestamp option
	return context.WithValue(ctx, statementKey{}, true)
}

// statementKey marks a context whose span is a statement's, so the end
// hook never ends its parent's span.
type statementKey struct{}

// TraceQueryEnd ends it.
func (p pgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if ctx.Value(statementKey{}) == nil {
		return
	}
	endStatement(trace.SpanFromContext(ctx), data.Err)
}

// A batch (BEGIN, the identity, the first statement and, in a ReadOne,
// COMMIT: one pipeline, one round trip) is one span, as OpenTelemetry's
// database conventions describe a batch: the statements' texts joined by
// "; " in db.query.text, db.operation.name BATCH and
// db.operation.batch.size. Its name lists the statements' own names
// ("BEGIN; SELECT jarvis_identify; SELECT user_secrets; COMMIT"). The
// statements of a pipeline share one round trip, so a span of each would
// time only the reading of its results, at the price of a span each.
type batchState struct {
	span trace.Span
	err  error // the first statement's error, if any
}

type batchKey struct{}

// TraceBatchStart starts the batch's span under a recording parent.
func (p pgxTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() || data.Batch == nil || len(data.Batch.QueuedQueries) == 0 {
		return ctx
	}
	st := p.batch(data.Batch.QueuedQueries)
	b := &batchState{}
	ctx, b.span = p.tracer.Start(ctx, st.name, st.opts...)
	return context.WithValue(ctx, batchKey{}, b)
}

// batch describes a batch's statements, once per sequence of texts.
func (p pgxTracer) batch(qs []*pgx.QueuedQuery) *statement {
	if len(qs) == 1 {
		return p.statements.get(qs[0].SQL)
	}
	var key strings.Builder
	for i, q := range qs {
		if i > 0 {
			key.WriteString("; ")
		}
		key.WriteString(q.SQL)
	}
	return p.batches.getWith(key.String(), func(text string) *statement {
		names := make([]string, len(qs))
		for i, q := range qs {
			names[i] = statementName(q.SQL)
		}
		return &statement{name: strings.Join(names, "; "), opts: []trace.SpanStartOption{clientKind,
			trace.WithAttributes(pgSystem, semconv.DBQueryText(text), semconv.DBOperationName("BATCH"),
				semconv.DBOperationBatchSize(len(qs)))}}
	})
}

// TraceBatchQuery notes the first statement that failed.
func (p pgxTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if b, ok := ctx.Value(batchKey{}).(*batchState); ok && b.err == nil && data.Err != nil {
		b.err = data.Err
	}
}

// TraceBatchEnd ends the batch's span, failed by the first statement
// that failed (or by the batch's own error).
func (p pgxTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	b, ok := ctx.Value(batchKey{}).(*batchState)
	if !ok || b.span == nil {
		return // not traced, or ended already (pgx ends a batch that failed to send twice)
	}
	err := b.err
	if err == nil {
		err = data.Err
	}
	endStatement(b.span, err)
	b.span = nil
}

// pgxTracerFor is the pool's tracer, or nil (no tracing: pgx then calls nothing).
func pgxTracerFor(t *Telemetry) pgx.QueryTracer {
	if !t.tracing {
		return nil
	}
	return pgxTracer{tracer: t.tracer, statements: newStatementCache(), batches: newStatementCache()}
}

// unitObserver is the unit of work's span ("unit of work", with a
// "commit" child) and its duration by outcome.
type unitObserver struct {
	t        *Telemetry
	duration metric.Float64Histogram
	// One-element slices, passed to Record as they are (no per-call copy).
	committed []metric.RecordOption
	rolled    []metric.RecordOption
}

func newUnitObserver(t *Telemetry) (*unitObserver, error) {
	h, err := t.meter.Float64Histogram("jarvis.db.unit.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of units of work (one transaction each), by outcome."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
	if err != nil {
		return nil, err
	}
	return &unitObserver{t: t, duration: h,
		committed: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "committed")))},
		rolled:    []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "rolled_back")))},
	}, nil
}

// unitSpan is one unit of work in progress.
type unitSpan struct {
	o      *unitObserver
	start  time.Time
	span   trace.Span
	commit trace.Span
}

var _ db.Observer = (*unitObserver)(nil)

// StartUnit implements db.Observer.
func (o *unitObserver) StartUnit(ctx context.Context) (context.Context, db.UnitSpan) {
	u := &unitSpan{o: o, start: time.Now()}
	if o.t.tracing && trace.SpanFromContext(ctx).IsRecording() {
		ctx, u.span = o.t.tracer.Start(ctx, "unit of work")
	}
	return ctx, u
}

// Committing implements db.UnitSpan.
func (u *unitSpan) Committing(ctx context.Context) {
	if u.span != nil {
		_, u.commit = u.o.t.tracer.Start(trace.ContextWithSpan(ctx, u.span), "COMMIT", commitOpts...)
	}
}

// End implements db.UnitSpan.
func (u *unitSpan) End(err error) {
	if u.commit != nil {
		if err != nil {
			u.commit.SetStatus(codes.Error, "commit failed")
		}
		u.commit.End()
	}
	if u.span != nil {
		if err != nil {
			// The error's kind, not its text (which may quote a value).
			u.span.SetAttributes(attribute.String("outcome", "rolled_back"))
			u.span.SetStatus(codes.Error, "rolled back")
		}
		u.span.End()
	}
	if u.o.t.metrics {
		opt := u.o.committed
		if err != nil {
			opt = u.o.rolled
		}
		u.o.duration.Record(context.Background(), time.Since(u.start).Seconds(), opt...)
	}
}

// observePool exports pgxpool's statistics (read at scrape time).
func observePool(t *Telemetry, pool *pgxpool.Pool) error {
	m := t.meter
	used := metric.WithAttributeSet(attribute.NewSet(attribute.String("state", "used")))
	idle := metric.WithAttributeSet(attribute.NewSet(attribute.String("state", "idle")))
	// Not db.client.connection.count: Prometheus reserves _count for
	// histograms and summaries (promtool refuses it).
	count, err := m.Int64ObservableUpDownCounter("jarvis.db.pool.connections",
		metric.WithDescription("Connections of the Postgres pool, by state (used: acquired by a unit of work)."))
	if err != nil {
		return err
	}
	maxConns, err := m.Int64ObservableUpDownCounter("jarvis.db.pool.max_connections",
		metric.WithDescription("The Postgres pool's size limit."))
	if err != nil {
		return err
	}
	acquires, err := m.Int64ObservableCounter("jarvis.db.pool.acquires",
		metric.WithDescription("Connections acquired from the Postgres pool."))
	if err != nil {
		return err
	}
	waited, err := m.Int64ObservableCounter("jarvis.db.pool.acquires_waited",
		metric.WithDescription("Acquisitions that had to wait for a connection (the pool was empty)."))
	if err != nil {
		return err
	}
	wait, err := m.Float64ObservableCounter("jarvis.db.pool.acquire_wait", metric.WithUnit("s"),
		metric.WithDescription("Total time spent acquiring connections from the Postgres pool."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := pool.Stat()
		o.ObserveInt64(count, int64(s.AcquiredConns()), used)
		o.ObserveInt64(count, int64(s.IdleConns()), idle)
		o.ObserveInt64(maxConns, int64(s.MaxConns()))
		o.ObserveInt64(acquires, s.AcquireCount())
		o.ObserveInt64(waited, s.EmptyAcquireCount())
		o.ObserveFloat64(wait, s.AcquireDuration().Seconds())
		return nil
	}, count, maxConns, acquires, waited, wait)
	return err
}
