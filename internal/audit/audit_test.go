package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/fault"
)

type env struct {
	d          *dbtest.Database
	app        *db.DB
	owner      *ent.Client
	svc        *audit.Service
	alice, bob uuid.UUID
}

func setup(t *testing.T) env {
	t.Helper()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	a := dbtest.Seed(t, owner, "alice@example.com")
	b := dbtest.Seed(t, owner, "bob@example.com")
	app := d.App(t)
	return env{d: d, app: app, owner: owner, svc: audit.NewService(app), alice: a.User.ID, bob: b.User.ID}
}

// sys reads as an operator on the owner connection.
var sys = viewer.NewContext(context.Background(), viewer.Admin())

func as(id uuid.UUID) context.Context {
	ctx := viewer.NewContext(context.Background(), viewer.User(id))
	return api.WithClient(ctx, api.Client{IP: "203.0.113.7", UserAgent: "test-agent/1"})
}

func record(t *testing.T, e env, user uuid.UUID, typ audit.Type) {
	t.Helper()
	err := e.app.Run(as(user), func(ctx context.Context, tx *ent.Tx) error {
		return audit.Record(ctx, tx, audit.Event{Type: typ, Data: map[string]any{"session_id": uuid.NewString()}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An event is committed with the change it records, or not at all.
func TestRecordIsPartOfTheTransaction(t *testing.T) {
	t.Parallel()
	e := setup(t)
	boom := errors.New("the change failed")
	err := e.app.Run(as(e.alice), func(ctx context.Context, tx *ent.Tx) error {
		if err := audit.Record(ctx, tx, audit.Event{Type: audit.Logout}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	logouts := e.owner.AuditEvent.Query().Where(auditevent.TypeEQ(audit.Logout))
	if n := logouts.Clone().CountX(sys); n != 0 {
		t.Fatalf("%d events after a rolled-back change, want 0", n)
	}
	record(t, e, e.alice, audit.Logout)
	ev := logouts.OnlyX(sys)
	if ev.UserID != e.alice || ev.Type != audit.Logout || ev.Actor != "user" || ev.IP != "203.0.113.7" || ev.UserAgent != "test-agent/1" {
		t.Fatalf("event = %+v", ev)
	}
}

func TestRecordRefusesSecretBearingKeys(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, k := range []string{"password", "refresh_token", "value", "memory_content", "TokenHash"} {
		err := e.app.Run(as(e.alice), func(ctx context.Context, tx *ent.Tx) error {
			return audit.Record(ctx, tx, audit.Event{Type: audit.SecretCreated, Data: map[string]any{k: "x"}})
		})
		if err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	if n := e.owner.AuditEvent.Query().Where(auditevent.TypeEQ(audit.SecretCreated)).CountX(sys); n != 0 {
		t.Fatalf("%d events written", n)
	}
}

// Operators are named as the actor, with their reason.
func TestOperatorActor(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := audit.WithOperator(as(e.bob), "carol")
	err := e.app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		return audit.Record(ctx, tx, audit.Event{Type: audit.AdminAction, Reason: "ticket 42"})
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := e.owner.AuditEvent.Query().Where(auditevent.TypeEQ(audit.AdminAction)).OnlyX(sys)
	if ev.Actor != "operator:carol" || ev.Reason != "ticket 42" || ev.UserID != e.bob {
		t.Fatalf("event = %+v", ev)
	}
}

// As the service role, with raw SQL: insert and read only the identity's
// rows, never update, delete or truncate any.
func TestServiceRoleAppendOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	record(t, e, e.alice, audit.Logout)
	record(t, e, e.bob, audit.Logout)
	conn, err := sql.Open("pgx", e.d.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := context.Background()
	inTx := func(stmt string, args ...any) (int64, error) {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.current_user_id', $1, true)", e.alice.String()); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(stmt, "SELECT") {
			var n int64
			err := tx.QueryRowContext(ctx, stmt, args...).Scan(&n)
			return n, err
		}
		res, err := tx.ExecContext(ctx, stmt, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	insert := `INSERT INTO audit_events (id, created_at, updated_at, user_id, type, actor, data) VALUES ($1, now(), now(), $2, 'logout', 'user', '{}')`
	if _, err := inTx(insert, uuid.New(), e.alice); err != nil {
		t.Fatalf("insert own event: %v", err)
	}
	if _, err := inTx(insert, uuid.New(), e.bob); !isCode(err, "42501") {
		t.Fatalf("insert another user's event: %v, want RLS refusal", err)
	}
	if n, err := inTx(`SELECT count(*) FROM audit_events`); err != nil || n != 2 {
		t.Fatalf("visible events = %d, %v; want alice's 2 (seeded and recorded)", n, err)
	}
	for _, stmt := range []string{
		`UPDATE audit_events SET actor = 'someone else'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
	} {
		if _, err := inTx(stmt); !isCode(err, "42501") {
			t.Errorf("%s: %v, want permission denied", stmt, err)
		}
	}
	if n := e.owner.AuditEvent.Query().CountX(sys); n != 4 {
		t.Fatalf("%d events, want the 2 seeded and 2 recorded", n)
	}
}

func isCode(err error, code string) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == code
}

func TestListPagesAndFilters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for range 3 {
		record(t, e, e.alice, audit.Logout)
	}
	record(t, e, e.alice, audit.SessionRevoked)
	record(t, e, e.bob, audit.Logout)
	ctx := as(e.alice)

	var seen []uuid.UUID
	p := db.Page{Size: 2}
	for {
		rows, err := e.svc.List(ctx, p, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		more := len(rows) > p.Size
		if more {
			rows = rows[:p.Size]
		}
		for _, r := range rows {
			if r.UserID != e.alice {
				t.Fatalf("bob's event listed to alice")
			}
			seen = append(seen, r.ID)
		}
		if !more {
			break
		}
		p.Before = rows[len(rows)-1].ID
	}
	if len(seen) != 5 {
		t.Fatalf("listed %d, want alice's 5 (4 recorded, 1 seeded)", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if strings.Compare(seen[i].String(), seen[i-1].String()) >= 0 {
			t.Fatal("not newest first")
		}
	}
	rows, err := e.svc.List(ctx, db.Page{Size: 10}, audit.Filter{Type: audit.SessionRevoked})
	if err != nil || len(rows) != 1 {
		t.Fatalf("type filter: %d, %v", len(rows), err)
	}
	rows, err = e.svc.List(ctx, db.Page{Size: 10}, audit.Filter{Since: time.Now().Add(time.Hour)})
	if err != nil || len(rows) != 0 {
		t.Fatalf("since filter: %d, %v", len(rows), err)
	}
	rows, err = e.svc.List(ctx, db.Page{Size: 10}, audit.Filter{Until: time.Now().Add(time.Hour)})
	if err != nil || len(rows) != 5 {
		t.Fatalf("until filter: %d, %v", len(rows), err)
	}
	_, err = e.svc.List(ctx, db.Page{Size: 10}, audit.Filter{Type: "nope"})
	if f, ok := fault.As(err); !ok || f.Kind != fault.Invalid {
		t.Fatalf("bad type: %v", err)
	}
	now := time.Now()
	_, err = e.svc.List(ctx, db.Page{Size: 10}, audit.Filter{Since: now, Until: now.Add(-time.Second)})
	if f, ok := fault.As(err); !ok || f.Kind != fault.Invalid {
		t.Fatalf("until before since: %v", err)
	}
	// Another user's event is not found, never forbidden.
	bobs := e.owner.AuditEvent.Query().Where(auditevent.UserID(e.bob)).FirstX(sys)
	if _, err := e.svc.Get(ctx, bobs.ID); !isNotFound(err) {
		t.Fatalf("get bob's event as alice: %v", err)
	}
	if _, err := e.svc.Get(ctx, seen[0]); err != nil {
		t.Fatal(err)
	}
}

func isNotFound(err error) bool {
	f, ok := fault.As(err)
	return ok && f.Kind == fault.NotFound
}

func TestPrune(t *testing.T) {
	t.Parallel()
	e := setup(t)
	record(t, e, e.alice, audit.Logout)
	record(t, e, e.bob, audit.Logout)
	ctx := viewer.NewContext(context.Background(), viewer.Admin())
	n, err := audit.Prune(ctx, e.owner, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("prune of nothing old: %d, %v", n, err)
	}
	n, err = audit.Prune(ctx, e.owner, time.Now().Add(time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("prune: %d, %v (want 2 recorded + 2 seeded)", n, err)
	}
}
