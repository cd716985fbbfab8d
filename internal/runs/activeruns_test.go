package runs

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

// gauge instruments e's service on a manual reader and returns a function
// that collects jarvis.runs.active: status → value (nil: no series).
func (e *fixture) gauge(t *testing.T) func() map[string]int64 {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	if err := e.svc.Instrument(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))); err != nil {
		t.Fatal(err)
	}
	return func() map[string]int64 {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		var out map[string]int64
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != "jarvis.runs.active" {
					continue
				}
				g, ok := m.Data.(metricdata.Gauge[int64])
				if !ok {
					t.Fatalf("jarvis.runs.active is a %T, want an int64 gauge", m.Data)
				}
				out = map[string]int64{}
				for _, dp := range g.DataPoints {
					if dp.Attributes.Len() != 1 {
						t.Fatalf("attributes %v, want status only", dp.Attributes.ToSlice())
					}
					s, _ := dp.Attributes.Value("status")
					out[s.AsString()] = dp.Value
				}
			}
		}
		return out
	}
}

func wantCounts(t *testing.T, got map[string]int64, pending, running int64) {
	t.Helper()
	if len(got) != 2 || got["pending"] != pending || got["running"] != running {
		t.Fatalf("jarvis.runs.active = %v, want pending %d, running %d", got, pending, running)
	}
}

// TestActiveRunsGaugeCountsEveryUser: the gauge counts the unfinished runs
// of every user by status (the service role alone would see none: it reads
// without identity), finished runs drop out, and within the cache period a
// scrape reuses the last counts.
func TestActiveRunsGaugeCountsEveryUser(t *testing.T) {
	t.Parallel()
	e := setup(t)
	collect := e.gauge(t)
	wantCounts(t, collect(), 0, 0)

	for range 2 {
		if _, err := e.svc.Create(as(e.alice), RunInput{}); err != nil {
			t.Fatal(err)
		}
	}
	bobs, err := e.svc.Create(as(e.bob), RunInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Start(as(e.bob), bobs.ID); err != nil {
		t.Fatal(err)
	}
	done := e.runIn(t, e.alice, agentrun.StatusRunning)
	e.runIn(t, e.bob, agentrun.StatusFailed)
	e.runIn(t, e.alice, agentrun.StatusCancelled)

	// Cached: the runs above are not counted yet.
	e.clock.advance(activeRunsTTL - time.Second)
	wantCounts(t, collect(), 0, 0)

	e.clock.advance(time.Second)
	wantCounts(t, collect(), 2, 2)

	if _, err := e.svc.Complete(as(e.alice), done.ID, nil); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(activeRunsTTL)
	wantCounts(t, collect(), 2, 1)
}

// TestActiveRunsFunctionReturnsCountsOnly: jarvis_active_runs, called by
// the service role without any identity, counts every user's runs (which
// row-level security hides from the role itself) and returns exactly two
// counts; it is SECURITY DEFINER with a pinned search path, and on Citus it
// leaves the caller's multi-shard setting as it was.
func TestActiveRunsFunctionReturnsCountsOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.runIn(t, e.alice, agentrun.StatusPending)
	e.runIn(t, e.alice, agentrun.StatusRunning)
	e.runIn(t, e.bob, agentrun.StatusRunning)
	e.runIn(t, e.bob, agentrun.StatusCompleted)
	ctx := context.Background()

	tx, err := e.svc.db.Pool.Begin(ctx) // the service role, no identity
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var before string
	if dbtest.Citus() {
		if err := tx.QueryRow(ctx, "SELECT current_setting('citus.multi_task_query_log_level')").Scan(&before); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := tx.Query(ctx, "SELECT * FROM jarvis_active_runs()")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cols, ",") != "pending,running" || len(got) != 1 {
		t.Fatalf("jarvis_active_runs() = columns %v, %d rows; want pending,running and one row", cols, len(got))
	}
	if got[0]["pending"] != int64(1) || got[0]["running"] != int64(2) {
		t.Fatalf("jarvis_active_runs() = %v, want pending 1, running 2", got[0])
	}
	if dbtest.Citus() {
		var after string
		if err := tx.QueryRow(ctx, "SELECT current_setting('citus.multi_task_query_log_level')").Scan(&after); err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Fatalf("citus.multi_task_query_log_level = %q after the call, %q before", after, before)
		}
		// What follows looks at every shard on purpose.
		if _, err := tx.Exec(ctx, "SET LOCAL citus.multi_task_query_log_level = 'off'"); err != nil {
			t.Fatal(err)
		}
	}
	var visible int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM agent_runs").Scan(&visible); err != nil {
		t.Fatal(err)
	}
	if visible != 0 {
		t.Fatalf("the service role sees %d runs without identity, want 0 (row-level security)", visible)
	}
	var definer bool
	var config []string
	if err := tx.QueryRow(ctx, "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = 'jarvis_active_runs()'::regprocedure").Scan(&definer, &config); err != nil {
		t.Fatal(err)
	}
	if !definer || len(config) != 1 || !strings.HasPrefix(config[0], "search_path=") {
		t.Fatalf("jarvis_active_runs: security definer %v, settings %v; want a definer with its search path pinned", definer, config)
	}
}

// TestActiveRunsCountReadsThePartialIndex: the function's count can be
// served by the partial index of unfinished runs (its predicate implies
// the index's), so it does not read the whole table.
func TestActiveRunsCountReadsThePartialIndex(t *testing.T) {
	t.Parallel()
	if dbtest.Citus() {
		t.Skip("the coordinator's plan shows the fan-out, not the shards' index")
	}
	e := setup(t)
	ctx := context.Background()
	// The owner role, which the function runs as (SECURITY DEFINER): the
	// service role's plan would carry its row-level security filter.
	conn, err := pgx.Connect(ctx, e.database.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// An empty table costs nothing either way: take the sequential scan
	// away to see whether the index can serve the query at all.
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN SELECT count(*) FILTER (WHERE r.status = 'pending'), count(*) FILTER (WHERE r.status = 'running')
		FROM public.agent_runs r WHERE r.status IN ('pending', 'running')`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "agentrun_status") {
		t.Fatalf("the count does not use agentrun_status:\n%s", plan)
	}
	// The function's body is the statement above.
	var body string
	if err := tx.QueryRow(ctx, "SELECT prosrc FROM pg_proc WHERE oid = 'jarvis_active_runs()'::regprocedure").Scan(&body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "WHERE r.status IN ('pending', 'running')") {
		t.Fatalf("jarvis_active_runs no longer counts with the index's predicate:\n%s", body)
	}
}

// TestActiveRunsGaugeKeepsLastCountOnError: when the database refuses the
// count, the gauge keeps reporting the last counts, warns once (not once
// per scrape), does not ask again within the cache period, and reads fresh
// counts once the database answers again.
func TestActiveRunsGaugeKeepsLastCountOnError(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.runIn(t, e.alice, agentrun.StatusPending)
	collect := e.gauge(t)
	wantCounts(t, collect(), 1, 0)

	owner := func(stmt string) {
		t.Helper()
		if _, err := e.owner.ExecContext(sys(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	owner(`REVOKE EXECUTE ON FUNCTION jarvis_active_runs() FROM jarvis_app`)
	e.runIn(t, e.bob, agentrun.StatusRunning)
	for range 3 {
		e.clock.advance(activeRunsTTL)
		wantCounts(t, collect(), 1, 0)
	}
	if n := strings.Count(e.logs.String(), "active runs not counted"); n != 1 {
		t.Fatalf("%d warnings for a failing count, want 1:\n%s", n, e.logs.String())
	}
	if !strings.Contains(e.logs.String(), `"level":"WARN"`) || !strings.Contains(e.logs.String(), "permission denied") {
		t.Fatalf("the warning does not say why:\n%s", e.logs.String())
	}

	owner(`GRANT EXECUTE ON FUNCTION jarvis_active_runs() TO jarvis_app`)
	wantCounts(t, collect(), 1, 0) // the failed attempt is cached too
	e.clock.advance(activeRunsTTL)
	wantCounts(t, collect(), 1, 1)
}

// TestActiveRunsNeverCountedReportsNothing: before the first successful
// count the gauge has no series (not a made-up 0).
func TestActiveRunsNeverCountedReportsNothing(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	a := &activeRuns{
		read: func(context.Context) (int64, int64, error) { return 0, 0, errors.New("connection refused") },
		now:  time.Now,
		log:  logging.New(&logs, slog.LevelDebug),
	}
	if _, _, ok := a.counts(context.Background()); ok {
		t.Fatal("counts reported without ever reading them")
	}
}

// TestActiveRunsReadIsBounded: the read gets its own deadline of
// activeRunsTimeout, and is not cut short by a scrape that gives up (other
// scrapes share its result).
func TestActiveRunsReadIsBounded(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	a := &activeRuns{
		read: func(ctx context.Context) (int64, int64, error) {
			d, ok := ctx.Deadline()
			if !ok || time.Until(d) > activeRunsTimeout {
				return 0, 0, errors.New("no deadline within activeRunsTimeout")
			}
			if ctx.Err() != nil {
				return 0, 0, ctx.Err()
			}
			return 3, 4, nil
		},
		now: time.Now,
		log: logging.New(&logs, slog.LevelDebug),
	}
	scrape, cancel := context.WithCancel(context.Background())
	cancel()
	if p, r, ok := a.counts(scrape); !ok || p != 3 || r != 4 {
		t.Fatalf("counts = %d, %d, %v; want 3, 4 (logs: %s)", p, r, ok, logs.String())
	}
}
