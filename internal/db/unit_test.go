package db_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/budget"
	"github.com/jarvis-core/jarvis/ent/user"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// TestRunKeepsEntWorkingOnPgx goes through what services use of ent on the
// pgx driver, in one unit of work of a request: typed columns both ways
// (decimal, enum, JSON, pgvector), upsert, FOR UPDATE, raw statements and
// raw queries under the same identity.
func TestRunKeepsEntWorkingOnPgx(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	dbtest.Seed(t, d.OwnerClient(t), "bob@example.com")
	app := d.App(t)
	ctx := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID))

	err := app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		// Upsert on user_id (one budget per user) updates the seeded row.
		id, err := tx.Budget.Create().SetUserID(alice.User.ID).SetPeriod(budget.PeriodWeek).
			SetLimitUsd(decimal.RequireFromString("12.5")).
			SetSoftLimitUsd(decimal.NewNullDecimal(decimal.RequireFromString("10"))).SetHard(false).
			OnConflictColumns(budget.FieldUserID).UpdateNewValues().ID(ctx)
		if err != nil {
			return err
		}
		if id != alice.Budget.ID {
			t.Errorf("upsert made a new row %s, want %s", id, alice.Budget.ID)
		}
		locked, err := tx.Budget.Query().Where(budget.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return err
		}
		if !locked.LimitUsd.Equal(decimal.RequireFromString("12.5")) || !locked.SoftLimitUsd.Valid ||
			!locked.SoftLimitUsd.Decimal.Equal(decimal.NewFromInt(10)) || locked.Period != budget.PeriodWeek || locked.Hard {
			t.Errorf("budget read back as %+v", locked)
		}

		e, err := tx.KGEntity.Create().SetUserID(alice.User.ID).SetType("test-person").SetName("Ada Lovelace").
			SetProperties(map[string]any{"born": float64(1815)}).SetEmbedding(dbtest.Embedding(7)).Save(ctx)
		if err != nil {
			return err
		}
		got, err := tx.KGEntity.Get(ctx, e.ID)
		if err != nil {
			return err
		}
		if got.Properties["born"] != float64(1815) || got.Embedding == nil || got.Embedding.Slice()[7] != 1 {
			t.Errorf("entity read back as %+v", got)
		}

		res, err := tx.ExecContext(ctx, "UPDATE budgets SET hard = true WHERE id = $1", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Errorf("raw update affected %d rows, want 1", n)
		}
		// jarvis_identify names the setting in SQL: it must be the one the
		// RLS policies read.
		rows, err := tx.QueryContext(ctx, "SELECT current_setting($1), count(*) FROM users", pgmigrate.CurrentUserSetting)
		if err != nil {
			return err
		}
		var (
			setting string
			users   int
		)
		for rows.Next() {
			if err := rows.Scan(&setting, &users); err != nil {
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if setting != alice.User.ID.String() || users != 1 {
			t.Errorf("raw query sees identity %q and %d users, want alice and 1", setting, users)
		}
		prows, err := db.QueryRows(ctx, "SELECT id FROM budgets WHERE hard")
		if err != nil {
			return err
		}
		var ids []uuid.UUID
		for prows.Next() {
			var id uuid.UUID
			if err := prows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		prows.Close()
		if err := prows.Err(); err != nil {
			return err
		}
		// Bob's budget is hard too, and not visible.
		if len(ids) != 1 || ids[0] != id {
			t.Errorf("hard budgets seen by alice: %v, want hers", ids)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunRefusesADeadSessionBeforeTheWork: the session check rides in the
// pipeline with the work's first statement, and fails before it: a
// statement that would fail on its own (division by zero) is never run,
// the answer is ErrSessionInvalid whatever fn makes of its error, and a
// unit that runs no statement is checked too.
func TestRunRefusesADeadSessionBeforeTheWork(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	app := d.App(t)
	admin := viewer.NewContext(context.Background(), viewer.Admin())

	alive := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID))
	if err := app.Run(alive, func(context.Context, *ent.Tx) error { return nil }); err != nil {
		t.Fatalf("live session, no statement: %v", err)
	}
	owner.Session.UpdateOneID(alice.Session.ID).SetRevokedAt(time.Now()).ExecX(admin)
	owner.User.UpdateOneID(bob.User.ID).SetStatus(user.StatusDisabled).ExecX(admin)

	for name, ctx := range map[string]context.Context{
		"revoked":       alive,
		"disabled user": viewer.NewContext(context.Background(), viewer.Session(bob.User.ID, bob.Session.ID)),
		"foreign":       viewer.NewContext(context.Background(), viewer.Session(bob.User.ID, alice.Session.ID)),
	} {
		err := app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
			_, err := tx.ExecContext(ctx, "SELECT 1/0")
			return err
		})
		if !errors.Is(err, db.ErrSessionInvalid) {
			t.Errorf("%s: the work ran or failed otherwise: %v", name, err)
		}
		err = app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
			tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx) //nolint:errcheck // fn ignores it on purpose
			return nil
		})
		if !errors.Is(err, db.ErrSessionInvalid) {
			t.Errorf("%s, error ignored by fn: %v", name, err)
		}
		if err := app.Run(ctx, func(context.Context, *ent.Tx) error { return nil }); !errors.Is(err, db.ErrSessionInvalid) {
			t.Errorf("%s, no statement: %v", name, err)
		}
	}
	if n := owner.AgentRun.Query().Where(agentrun.UserID(alice.User.ID)).CountX(admin); n != 1 {
		t.Fatalf("alice has %d runs, want only the seeded one", n)
	}
	// A job acting for the user (no session) is not checked.
	job := viewer.NewContext(context.Background(), viewer.User(alice.User.ID))
	if err := app.Run(job, func(ctx context.Context, tx *ent.Tx) error {
		_, err := tx.AgentRun.Query().Count(ctx)
		return err
	}); err != nil {
		t.Fatalf("job without session: %v", err)
	}
}

// TestRunLeavesTheConnectionClean: on a pool of one connection, a panic, a
// failed statement in the pipeline and a cancelled context each end their
// transaction, and the next unit of work gets a clean connection.
func TestRunLeavesTheConnectionClean(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	app := d.AppWithURL(t, d.AppURL+"&pool_max_conns=1")
	ctx := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID))
	count := func() int {
		t.Helper()
		n, err := db.Query(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) {
			return tx.AgentRun.Query().Count(ctx)
		})
		if err != nil {
			t.Fatalf("count after: %v", err)
		}
		return n
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not come through")
			}
		}()
		_ = app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
			if err := tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if n := count(); n != 1 {
		t.Fatalf("runs after a panic = %d, want the seeded one", n)
	}

	err := app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		_, err := tx.ExecContext(ctx, "SELECT 1/0")
		return err
	})
	if err == nil {
		t.Fatal("division by zero succeeded")
	}
	if n := count(); n != 1 {
		t.Fatalf("runs after a failed first statement = %d", n)
	}

	cctx, cancel := context.WithCancel(ctx)
	err = app.Run(cctx, func(ctx context.Context, tx *ent.Tx) error {
		if err := tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx); err != nil {
			return err
		}
		cancel()
		return tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx)
	})
	if err == nil {
		t.Fatal("work on a cancelled context succeeded")
	}
	if n := count(); n != 1 {
		t.Fatalf("runs after a cancelled unit = %d", n)
	}
}

// TestRunNeedsAViewer: no viewer in the context, no transaction at all.
func TestRunNeedsAViewer(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	app := d.App(t)
	ran := false
	err := app.Run(context.Background(), func(context.Context, *ent.Tx) error { ran = true; return nil })
	if !errors.Is(err, db.ErrNoViewer) || !fault.Is(err, fault.Unauthorized) || ran {
		t.Fatalf("Run without a viewer: err %v, fn ran: %v", err, ran)
	}
}

// TestRunKeepsTheConnectionAfterARefusal: a dead session or a failed
// statement ends the transaction, not the connection (a reconnect per
// refused request would be a cheap way to load the server).
func TestRunKeepsTheConnectionAfterARefusal(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	app := d.AppWithURL(t, d.AppURL+"&pool_max_conns=1")
	ctx := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID))
	pid := func() int {
		t.Helper()
		var pid int
		if err := app.Pool.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	before := pid()
	failing := func(ctx context.Context, tx *ent.Tx) error {
		_, err := tx.ExecContext(ctx, "SELECT 1/0")
		return err
	}
	ignoring := func(ctx context.Context, tx *ent.Tx) error {
		failing(ctx, tx) //nolint:errcheck // fn ignores it on purpose
		return nil
	}
	for _, fn := range []func(context.Context, *ent.Tx) error{failing, ignoring} {
		if err := app.Run(ctx, fn); err == nil {
			t.Fatal("a failed statement committed")
		}
	}
	admin := viewer.NewContext(context.Background(), viewer.Admin())
	owner.Session.UpdateOneID(alice.Session.ID).SetRevokedAt(time.Now()).ExecX(admin)
	nothing := func(context.Context, *ent.Tx) error { return nil }
	for _, fn := range []func(context.Context, *ent.Tx) error{failing, ignoring, nothing} {
		if err := app.Run(ctx, fn); !errors.Is(err, db.ErrSessionInvalid) {
			t.Fatalf("revoked session: %v", err)
		}
	}
	if after := pid(); after != before {
		t.Fatalf("the pool replaced its connection (backend %d, then %d)", before, after)
	}
}

// TestEmptyUnitOfWorkHonoursItsDeadline: a unit of work that runs no
// statement sends its deferred BEGIN and identity at commit; waiting for a
// connection there must still end at the unit's deadline, not hang.
func TestEmptyUnitOfWorkHonoursItsDeadline(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	app := d.AppWithURL(t, d.AppURL+"&pool_max_conns=1")
	held, err := app.Pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	ctx, cancel := context.WithTimeout(viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID)), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = app.Run(ctx, func(context.Context, *ent.Tx) error { return nil })
	if err == nil {
		t.Fatal("the unit of work got a connection that was held")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("the unit of work waited %s past its 200 ms deadline", waited)
	}
}

// TestReadOneIsAUnitOfWorkOfOneStatement: ReadOne (BEGIN READ ONLY, the
// identity, the statement and COMMIT in one pipeline) reads under the
// viewer's identity, refuses a dead session, a write and a second
// statement, and leaves the only connection of its pool clean after each.
func TestReadOneIsAUnitOfWorkOfOneStatement(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	app := d.AppWithURL(t, d.AppURL+"&pool_max_conns=1")
	ctx := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID))
	runs := func(ctx context.Context) ([]*ent.AgentRun, error) {
		return db.ReadOne(ctx, app, func(ctx context.Context, tx *ent.Tx) ([]*ent.AgentRun, error) {
			return tx.AgentRun.Query().All(ctx)
		})
	}
	check := func(step string) {
		t.Helper()
		got, err := runs(ctx)
		if err != nil {
			t.Fatalf("after %s: %v", step, err)
		}
		if len(got) != 1 || got[0].UserID != alice.User.ID {
			t.Fatalf("after %s: alice reads %d runs, want her seeded one", step, len(got))
		}
	}
	check("nothing")

	// One statement that fails: the error, and the connection is usable.
	_, err := db.ReadOne(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) {
		_, err := tx.ExecContext(ctx, "SELECT 1/0")
		return 0, err
	})
	if err == nil {
		t.Fatal("division by zero succeeded")
	}
	check("a failed statement")

	// A write is refused: the transaction is read only.
	_, err = db.ReadOne(ctx, app, func(ctx context.Context, tx *ent.Tx) (*ent.AgentRun, error) {
		return tx.AgentRun.Create().SetUserID(alice.User.ID).Save(ctx)
	})
	if err == nil {
		t.Fatal("a write in ReadOne succeeded")
	}
	check("a refused write")

	// A second statement is refused, not run outside the transaction.
	_, err = db.ReadOne(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) {
		if _, err := tx.AgentRun.Query().Count(ctx); err != nil {
			return 0, err
		}
		return 0, tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx)
	})
	if !errors.Is(err, db.ErrOneStatement) {
		t.Fatalf("second statement: %v, want ErrOneStatement", err)
	}
	check("a second statement")

	// fn's own error after its statement is the answer.
	sentinel := errors.New("fn says no")
	_, err = db.ReadOne(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) {
		if _, err := tx.AgentRun.Query().Count(ctx); err != nil {
			return 0, err
		}
		return 0, sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("fn's error: %v", err)
	}
	check("fn's error")

	// Another user's rows stay invisible, and a dead session reads nothing.
	got, err := runs(viewer.NewContext(context.Background(), viewer.Session(bob.User.ID, bob.Session.ID)))
	if err != nil || len(got) != 1 || got[0].UserID != bob.User.ID {
		t.Fatalf("bob reads %d runs (%v), want his own one", len(got), err)
	}
	owner.Session.UpdateOneID(bob.Session.ID).SetRevokedAt(time.Now()).ExecX(viewer.NewContext(context.Background(), viewer.Admin()))
	if _, err := runs(viewer.NewContext(context.Background(), viewer.Session(bob.User.ID, bob.Session.ID))); !errors.Is(err, db.ErrSessionInvalid) {
		t.Fatalf("revoked session: %v, want ErrSessionInvalid", err)
	}
	check("a refused session")
	if _, err := runs(context.Background()); !errors.Is(err, db.ErrNoViewer) {
		t.Fatalf("no viewer: %v", err)
	}
	// No statement at all still checks the session.
	if _, err := db.ReadOne(viewer.NewContext(context.Background(), viewer.Session(bob.User.ID, bob.Session.ID)), app,
		func(context.Context, *ent.Tx) (int, error) { return 0, nil }); !errors.Is(err, db.ErrSessionInvalid) {
		t.Fatalf("revoked session, no statement: %v", err)
	}
}

// roundTrips counts what pgx sends: a statement on its own or a batch
// (BEGIN, the prelude, queued statements, the statement, COMMIT) is one
// round trip each.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestQueuedStatementsShareRoundTrips: a statement queued by ExecWithNext
// runs just before the unit's next statement, in its pipeline, and
// CommitWithNext's COMMIT just after: a unit of two statements with a
// setting queued before each costs two round trips. A queued statement's
// failure is the unit's; nothing runs after the last statement.
func TestQueuedStatementsShareRoundTrips(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	var rt roundTrips
	app, err := db.Open(context.Background(), d.AppURL+"&pool_max_conns=1", db.WithTracer(&rt))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID))
	setting := func(ctx context.Context, tx *ent.Tx) (string, error) {
		var v string
		// No table: on Citus a query on one would run on a worker, which
		// a placeholder setting does not reach.
		rows, err := tx.QueryContext(ctx, "SELECT current_setting('jarvis.test', true)")
		if err != nil {
			return "", err
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(&v); err != nil {
				return "", err
			}
		}
		return v, rows.Err()
	}
	two := func() ([2]string, error) {
		return db.Query(ctx, app, func(ctx context.Context, tx *ent.Tx) (got [2]string, err error) {
			if err := db.ExecWithNext(ctx, "SELECT set_config('jarvis.test', 'one', true)"); err != nil {
				return got, err
			}
			if got[0], err = setting(ctx, tx); err != nil {
				return got, err
			}
			if err := db.ExecWithNext(ctx, "SELECT set_config('jarvis.test', 'two', true)"); err != nil {
				return got, err
			}
			if err := db.CommitWithNext(ctx); err != nil {
				return got, err
			}
			got[1], err = setting(ctx, tx)
			return got, err
		})
	}
	for i := range 3 { // the first runs prepare the statements
		rt.n.Store(0)
		got, err := two()
		if err != nil {
			t.Fatal(err)
		}
		if got != [2]string{"one", "two"} {
			t.Fatalf("run %d: settings seen %q, want one then two", i, got)
		}
	}
	if n := rt.n.Load(); n != 2 {
		t.Fatalf("a unit of two statements with queued settings took %d round trips, want 2", n)
	}

	// A statement after the last is refused, and the unit still committed
	// what the last statement wrote.
	_, err = db.Query(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) {
		if err := db.CommitWithNext(ctx); err != nil {
			return 0, err
		}
		if err := tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx); err != nil {
			return 0, err
		}
		return tx.AgentRun.Query().Count(ctx)
	})
	if !errors.Is(err, db.ErrOneStatement) {
		t.Fatalf("a statement after the last: %v, want ErrOneStatement", err)
	}
	n, err := db.Query(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) { return tx.AgentRun.Query().Count(ctx) })
	if err != nil || n != 2 {
		t.Fatalf("after a last statement that wrote: %d runs (%v), want 2", n, err)
	}

	// A failure of the last statement that fn ignores is still the unit's
	// (its COMMIT never ran), and nothing may be queued after it.
	var queuedAfter error
	err = app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		if err := tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx); err != nil {
			return err
		}
		if err := db.CommitWithNext(ctx); err != nil {
			return err
		}
		if rows, err := tx.QueryContext(ctx, "SELECT 1/0"); err == nil {
			rows.Close()
		}
		queuedAfter = db.ExecWithNext(ctx, "SELECT 1")
		return nil // ignoring the failure
	})
	if err == nil {
		t.Fatal("a failed last statement, ignored by fn: the unit reported success")
	}
	if !errors.Is(queuedAfter, db.ErrOneStatement) {
		t.Fatalf("ExecWithNext after the last statement: %v, want ErrOneStatement", queuedAfter)
	}
	n, err = db.Query(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) { return tx.AgentRun.Query().Count(ctx) })
	if err != nil || n != 2 {
		t.Fatalf("after a failed last statement: %d runs (%v), want still 2", n, err)
	}

	// A queued statement that fails fails the next statement and the unit,
	// and leaves the connection (the pool's only one) usable.
	pid := func() uint32 {
		c, err := app.Pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		return c.Conn().PgConn().PID()
	}
	before := pid()
	wrote := false
	_, err = db.Query(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) {
		if err := db.ExecWithNext(ctx, "SELECT 1/0"); err != nil {
			return 0, err
		}
		err := tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx)
		wrote = err == nil
		return 0, err
	})
	if err == nil || wrote {
		t.Fatalf("a failing queued statement: unit error %v, statement succeeded %v", err, wrote)
	}
	// With no statement after it, it goes with COMMIT, and fails the unit.
	err = app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		if err := tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx); err != nil {
			return err
		}
		return db.ExecWithNext(ctx, "SELECT 1/0")
	})
	if err == nil {
		t.Fatal("a failing statement queued before COMMIT: the unit succeeded")
	}
	n, err = db.Query(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) { return tx.AgentRun.Query().Count(ctx) })
	if err != nil || n != 2 {
		t.Fatalf("after two failed units: %d runs (%v), want still 2", n, err)
	}
	if after := pid(); after != before {
		t.Fatalf("the failed units cost the pool its connection (backend %d, now %d)", before, after)
	}
	if err := db.ExecWithNext(context.Background(), "SELECT 1"); !errors.Is(err, db.ErrNoUnit) {
		t.Fatalf("outside a unit of work: %v, want ErrNoUnit", err)
	}
}
