package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// as is alice's or bob's unit of work context.
func as(id uuid.UUID) context.Context {
	return viewer.NewContext(context.Background(), viewer.User(id))
}

// TestRunSeesOnlyTheUsersRows goes through the service's own path: ent
// privacy on top, row-level security under it.
func TestRunSeesOnlyTheUsersRows(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	bob := dbtest.Seed(t, d.OwnerClient(t), "bob@example.com")
	app := d.App(t)

	err := app.Run(as(alice.User.ID), func(ctx context.Context, tx *ent.Tx) error {
		runs, err := tx.AgentRun.Query().All(ctx)
		if err != nil {
			return err
		}
		if len(runs) != 1 || runs[0].ID != alice.Run.ID {
			t.Errorf("alice's runs = %v, want only %s", runs, alice.Run.ID)
		}
		if _, err := tx.AgentRun.Get(ctx, bob.Run.ID); !ent.IsNotFound(err) {
			t.Errorf("bob's run as alice: err = %v, want not found", err)
		}
		me, err := tx.User.Get(ctx, alice.User.ID)
		if err != nil || me.Email != "alice@example.com" {
			t.Errorf("alice reads herself: %v, %v", me, err)
		}
		// Creating through the service path works for her own rows.
		_, err = tx.Memory.Create().SetUserID(alice.User.ID).SetContent("new").
			SetEmbedding(dbtest.Embedding(3)).SetEmbeddingModel("test").Save(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunRollsBackOnErrorAndPanic(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	app := d.App(t)
	ctx := as(alice.User.ID)
	boom := errors.New("boom")
	func() {
		defer func() {
			if recover() != "boom" {
				t.Error("the panic did not come through Run")
			}
		}()
		_ = app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
			if err := tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	err := app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		if err := tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the callback's error", err)
	}
	n, err := db.Query(ctx, app, func(ctx context.Context, tx *ent.Tx) (int, error) {
		return tx.AgentRun.Query().Count(ctx)
	})
	if err != nil || n != 1 {
		t.Errorf("runs after rollbacks = %d, %v; want 1 (the seeded one)", n, err)
	}
	for _, ctx := range []context.Context{context.Background(), as(uuid.Nil)} {
		if err := app.Run(ctx, func(context.Context, *ent.Tx) error { return nil }); !fault.Is(err, fault.Unauthorized) {
			t.Fatalf("Run without a valid viewer: %v", err)
		}
	}
}

// TestRunClassifiesErrors: what ent and Postgres say becomes the fault
// vocabulary, so no module translates it and nothing becomes a 500.
func TestRunClassifiesErrors(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	bob := dbtest.Seed(t, d.OwnerClient(t), "bob@example.com")
	app := d.App(t)
	ctx := as(alice.User.ID)
	cases := []struct {
		name string
		kind fault.Kind
		fn   func(ctx context.Context, tx *ent.Tx) error
	}{
		{"another user's row", fault.NotFound, func(ctx context.Context, tx *ent.Tx) error {
			_, err := tx.AgentRun.Get(ctx, bob.Run.ID)
			return err
		}},
		{"child of another user's run (model hook)", fault.NotFound, func(ctx context.Context, tx *ent.Tx) error {
			return tx.Message.Create().SetUserID(alice.User.ID).SetRunID(bob.Run.ID).SetRole("user").SetContent("x").Exec(ctx)
		}},
		{"row for another user (privacy)", fault.NotFound, func(ctx context.Context, tx *ent.Tx) error {
			return tx.AgentRun.Create().SetUserID(bob.User.ID).Exec(ctx)
		}},
		{"unique violation", fault.Conflict, func(ctx context.Context, tx *ent.Tx) error {
			return tx.UserSecret.Create().SetUserID(alice.User.ID).SetProvider("openai").SetName("default").
				SetEncryptedValue([]byte{1}).SetNonce([]byte{2}).SetAuthTag([]byte{3}).SetKeyVersion(1).Exec(ctx)
		}},
		{"ent validation", fault.Invalid, func(ctx context.Context, tx *ent.Tx) error {
			return tx.UserSecret.Create().SetUserID(alice.User.ID).SetProvider("openai").SetName("").
				SetEncryptedValue([]byte{1}).SetNonce([]byte{2}).SetAuthTag([]byte{3}).SetKeyVersion(1).Exec(ctx)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := app.Run(ctx, c.fn); !fault.Is(err, c.kind) {
				t.Fatalf("got %v (kind %v), want %v", err, fault.KindOf(err), c.kind)
			}
		})
	}
}

// TestIdentityDoesNotLeakBetweenPooledConnections uses a pool of one
// connection, so the work after Run runs on the very connection that had
// alice's identity.
func TestIdentityDoesNotLeakBetweenPooledConnections(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	bob := dbtest.Seed(t, d.OwnerClient(t), "bob@example.com")
	app := d.AppWithURL(t, d.AppURL+"&pool_max_conns=1")
	ctx := context.Background()

	var txPID int
	for _, u := range []*ent.User{alice.User, bob.User, alice.User} {
		err := app.Run(as(u.ID), func(ctx context.Context, tx *ent.Tx) error {
			ids, err := tx.User.Query().IDs(ctx)
			if err == nil && (len(ids) != 1 || ids[0] != u.ID) {
				t.Errorf("as %s the users table shows %v", u.Email, ids)
			}
			if err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, "SELECT pg_backend_pid()")
			if err != nil {
				return err
			}
			defer rows.Close()
			rows.Next()
			return rows.Scan(&txPID)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var setting string
	var visible, pid int
	err := app.Pool.QueryRow(ctx, `SELECT coalesce(current_setting('app.current_user_id', true), ''),
		(SELECT count(*) FROM users), pg_backend_pid()`).Scan(&setting, &visible, &pid)
	if err != nil {
		t.Fatal(err)
	}
	if pid != txPID {
		t.Fatalf("the pool used another connection (%d, then %d): the test proves nothing", txPID, pid)
	}
	if setting != "" || visible != 0 {
		t.Fatalf("after the transactions: app.current_user_id = %q and %d users visible, want none", setting, visible)
	}
}

// TestRunChecksTheRequestSession: in a request's session viewer,
// the unit of work refuses a revoked session or a disabled user, inside
// its own transaction, and changes nothing.
func TestRunChecksTheRequestSession(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	app := d.App(t)
	admin := viewer.NewContext(context.Background(), viewer.Admin())
	create := func(ctx context.Context) error {
		return app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
			return tx.AgentRun.Create().SetUserID(alice.User.ID).Exec(ctx)
		})
	}
	live := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID))
	if err := create(live); err != nil {
		t.Fatalf("live session: %v", err)
	}
	foreign := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, bob.Session.ID))
	if err := create(foreign); !errors.Is(err, db.ErrSessionInvalid) {
		t.Fatalf("another user's session id: %v", err)
	}
	owner.Session.UpdateOneID(alice.Session.ID).SetRevokedAt(time.Now()).ExecX(admin)
	if err := create(live); !errors.Is(err, db.ErrSessionInvalid) {
		t.Fatalf("revoked session: %v", err)
	}
	if n := owner.AgentRun.Query().Where(agentrun.UserID(alice.User.ID)).CountX(admin); n != 2 {
		t.Fatalf("alice has %d runs, want the seeded one and the live-session one", n)
	}
}
