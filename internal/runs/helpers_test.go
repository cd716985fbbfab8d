package runs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// fixture is one test's service on its own database, with two users.
type fixture struct {
	svc        *Service
	database   *dbtest.Database
	owner      *ent.Client // the owner role: fixtures and checks, RLS bypassed
	rec        *events.Recorder
	logs       *logtest.Buffer
	clock      *clock
	alice, bob uuid.UUID
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// settings are what a test may change of the service it gets.
type settings struct {
	cfg      Config
	prices   *pricing.Table
	poolSize int // 0: pgxpool's default
}

type option func(*settings)

func withConfig(f func(*Config)) option { return func(s *settings) { f(&s.cfg) } }

func withPrices(t *pricing.Table) option { return func(s *settings) { s.prices = t } }

func withPoolSize(n int) option { return func(s *settings) { s.poolSize = n } }

func setup(t testing.TB, opts ...option) *fixture {
	t.Helper()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	prices, err := pricing.Default()
	if err != nil {
		t.Fatal(err)
	}
	st := settings{cfg: DefaultConfig(), prices: prices}
	for _, o := range opts {
		o(&st)
	}
	app := d.App
	if st.poolSize > 0 {
		app = func(t testing.TB) *db.DB {
			return d.AppWithURL(t, fmt.Sprintf("%s&pool_max_conns=%d", d.AppURL, st.poolSize))
		}
	}
	e := &fixture{database: d, owner: owner, rec: &events.Recorder{}, logs: &logtest.Buffer{},
		clock: &clock{t: time.Now().UTC().Truncate(time.Microsecond)}}
	e.svc, err = NewService(app(t), st.cfg, st.prices, e.rec, logging.New(e.logs, slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.now = e.clock.now
	e.alice = newUser(t, owner, "alice@example.com")
	e.bob = newUser(t, owner, "bob@example.com")
	return e
}

func newUser(t testing.TB, c *ent.Client, email string) uuid.UUID {
	t.Helper()
	u, err := c.User.Create().SetEmail(email).SetPasswordHash("$argon2id$test").Save(sys())
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// sys is the context of fixtures and checks made with the owner client.
func sys() context.Context { return viewer.NewContext(context.Background(), viewer.System()) }

// as is the context of a request by user id.
func as(id uuid.UUID) context.Context {
	return viewer.NewContext(context.Background(), viewer.User(id))
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// runIn inserts a run of user in status directly, as a fixture.
func (e *fixture) runIn(t testing.TB, user uuid.UUID, status agentrun.Status) *ent.AgentRun {
	t.Helper()
	r, err := e.owner.AgentRun.Create().SetUserID(user).SetStatus(status).Save(sys())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// reload reads a run as the owner.
func (e *fixture) reload(t testing.TB, id uuid.UUID) *ent.AgentRun {
	t.Helper()
	r, err := e.owner.AgentRun.Get(sys(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantFault fails unless err is a fault of kind whose message holds every
// part.
func wantFault(t *testing.T, err error, kind fault.Kind, parts ...string) *fault.Error {
	t.Helper()
	f, ok := fault.As(err)
	if !ok || f.Kind != kind {
		t.Fatalf("error = %v (%T), want a %s fault", err, err, kind)
	}
	for _, p := range parts {
		if !strings.Contains(f.Message, p) {
			t.Fatalf("message %q does not mention %q", f.Message, p)
		}
	}
	return f
}

func pageOf(size int) db.Page { return db.Page{Size: size} }

func pageAfter(size int, before uuid.UUID) db.Page { return db.Page{Size: size, Before: before} }

// count is how many rows table holds, seen by the owner.
func (e *fixture) count(t *testing.T, table string) int {
	t.Helper()
	rows, err := e.owner.QueryContext(sys(), "SELECT count(*) FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
