package runs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The active-runs gauge: the unfinished runs of every user, by status. The
// service role sees only the acting user's rows, so the counts come from
// jarvis_active_runs() (a SECURITY DEFINER function that returns two counts
// and nothing else, from a partial index of unfinished runs). A scrape reads
// the counts cached for activeRunsTTL, so a scrape storm (several Prometheus
// servers, a dashboard refreshing) costs Postgres one query per period, and
// on Citus one fan-out to every shard per period.
const (
	// activeRunsTTL is how long counts (or a failure) are reused.
	activeRunsTTL = 15 * time.Second
	// activeRunsTimeout bounds the query: a slow database must not hold
	// the scrape (the other metrics) for long.
	activeRunsTimeout = 2 * time.Second
)

// activeRunsQuery reads the counts of every user's runs as the service role.
const activeRunsQuery = `SELECT pending, running FROM jarvis_active_runs()`

// activeRuns caches the counts of unfinished runs for the gauge.
type activeRuns struct {
	// read returns the counts (pending, running) from the database.
	read func(ctx context.Context) (pending, running int64, err error)
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	tried   time.Time // when the counts were last read, successfully or not
	have    bool      // the counts below were read once at least
	pending int64
	running int64
	warned  bool // the current failure streak has been logged
}

// counts returns the counts to report: read anew when the last attempt is
// older than activeRunsTTL, else the cached ones. On a failure it keeps the
// last counts (ok false only while none was ever read) and logs the first
// failure of a streak at warn. A failed attempt is cached too, so a database
// that is down is asked once per period, not once per scrape. Concurrent
// scrapes wait for the one read in flight (at most activeRunsTimeout).
func (a *activeRuns) counts(ctx context.Context) (pending, running int64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.tried.IsZero() || now.Sub(a.tried) >= activeRunsTTL || now.Before(a.tried) {
		a.tried = now
		// Not the scrape's cancellation: one impatient scraper would leave
		// every other one the stale counts for a whole period.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), activeRunsTimeout)
		p, r, err := a.read(rctx)
		cancel()
		switch {
		case err != nil && !a.warned:
			a.warned = true
			a.log.WarnContext(ctx, "active runs not counted: the gauge keeps its last value",
				slog.Any("error", err))
		case err == nil:
			a.pending, a.running, a.have, a.warned = p, r, true, false
		}
	}
	return a.pending, a.running, a.have
}

// Status attribute values of the gauge, one series each.
var (
	activePending = metric.WithAttributeSet(attribute.NewSet(attribute.String("status", "pending")))
	activeRunning = metric.WithAttributeSet(attribute.NewSet(attribute.String("status", "running")))
)

// instrumentActiveRuns registers the gauge jarvis.runs.active on mp, read
// through a.
func instrumentActiveRuns(mp metric.MeterProvider, a *activeRuns) error {
	m := mp.Meter("github.com/jarvis-core/jarvis")
	g, err := m.Int64ObservableGauge("jarvis.runs.active", metric.WithUnit("{run}"),
		metric.WithDescription("Unfinished runs of every user, by status (pending, running); read from Postgres at most every 15 s."))
	if err != nil {
		return fmt.Errorf("runs metrics: %w", err)
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		p, r, ok := a.counts(ctx)
		if !ok {
			return nil // never counted: no series rather than a made-up 0
		}
		o.ObserveInt64(g, p, activePending)
		o.ObserveInt64(g, r, activeRunning)
		return nil
	}, g)
	if err != nil {
		return fmt.Errorf("runs metrics: %w", err)
	}
	return nil
}

// activeRuns is the gauge's source over the service's database: one
// statement outside any unit of work (it needs no identity; the function
// counts every user's runs and returns nothing else).
func (s *Service) activeRuns() *activeRuns {
	return &activeRuns{
		read: func(ctx context.Context) (int64, int64, error) {
			var p, r int64
			if err := s.db.Pool.QueryRow(ctx, activeRunsQuery).Scan(&p, &r); err != nil {
				return 0, 0, fmt.Errorf("count active runs: %w", err)
			}
			return p, r, nil
		},
		now: func() time.Time { return s.now() }, // the service's clock, which tests move
		log: s.log,
	}
}
