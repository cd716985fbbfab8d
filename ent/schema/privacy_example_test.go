package schema_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/ent/usersecret"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// TestPrivacyByExample is the privacy model in one read, as a module's
// service meets it. (It is a test, not a runnable Example, because it needs
// its own Postgres database. Read it with
// `go test -run PrivacyByExample -v ./ent/schema`.)
//
// Alice and Bob each have one secret. A service acts for the viewer in the
// context, in a unit of work (db.Run / db.Query) on the service's connection,
// where two layers apply: ent privacy (the policy in ent/schema: BaseMixin,
// OwnerMixin's owner filter, a final deny) and, under it, Postgres row-level
// security bound to the same user for the transaction.
func TestPrivacyByExample(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t) // the owner role: no row-level security, for seeding
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	svc := d.App(t) // the service role, as in production
	ctx := context.Background()
	asAlice := viewer.NewContext(ctx, viewer.User(alice.User.ID))

	secretsOf := func(ctx context.Context) ([]uuid.UUID, error) {
		return db.Query(ctx, svc, func(ctx context.Context, tx *ent.Tx) ([]uuid.UUID, error) {
			return tx.UserSecret.Query().IDs(ctx)
		})
	}

	// 1. Nobody in the context: nothing runs.
	if _, err := secretsOf(ctx); !errors.Is(err, db.ErrNoViewer) {
		t.Fatalf("without a viewer: %v, want db.ErrNoViewer", err)
	}
	t.Log("no viewer: refused before any query")

	// 2. Alice's viewer: the same unfiltered query returns her rows only.
	ids, err := secretsOf(asAlice)
	if err != nil || len(ids) != 1 || ids[0] != alice.Secret.ID {
		t.Fatalf("alice lists %v, %v; want only her secret %s", ids, err, alice.Secret.ID)
	}
	t.Log("alice lists secrets: only hers, with no WHERE user_id in the service's code")

	// 3. Bob's row by its id is not found, never forbidden: its existence
	// is none of Alice's business. Updates and deletes alike.
	_, err = db.Query(asAlice, svc, func(ctx context.Context, tx *ent.Tx) (*ent.UserSecret, error) {
		return tx.UserSecret.Get(ctx, bob.Secret.ID)
	})
	if !fault.Is(err, fault.NotFound) {
		t.Fatalf("alice reads bob's secret: %v, want NotFound", err)
	}
	err = svc.Run(asAlice, func(ctx context.Context, tx *ent.Tx) error {
		return tx.UserSecret.UpdateOneID(bob.Secret.ID).SetName("mine now").Exec(ctx)
	})
	if !fault.Is(err, fault.NotFound) {
		t.Fatalf("alice renames bob's secret: %v, want NotFound", err)
	}
	t.Log("alice reads or renames bob's secret: NotFound")

	// 4. Pointing at another user's parent is refused too (the integrity
	// hooks, and the same-owner foreign keys under them): a message on
	// Bob's run is NotFound, like the run itself.
	err = svc.Run(asAlice, func(ctx context.Context, tx *ent.Tx) error {
		return tx.Message.Create().SetUserID(alice.User.ID).SetRunID(bob.Run.ID).
			SetRole("user").SetContent("hi").Exec(ctx)
	})
	if !fault.Is(err, fault.NotFound) {
		t.Fatalf("alice writes on bob's run: %v, want NotFound", err)
	}
	t.Log("alice adds a message to bob's run: NotFound")

	// 5. Going past ent privacy takes rule.Bypass with a reason (one grep
	// finds them all), and even then row-level security holds on the
	// service's connection: a transaction bound to Alice still sees only
	// her rows. Seeing every user's rows takes the owner role, which only
	// operators' commands use (jarvis admin).
	ids, err = db.Query(asAlice, svc, func(ctx context.Context, tx *ent.Tx) ([]uuid.UUID, error) {
		return tx.UserSecret.Query().IDs(rule.Bypass(ctx, "example: show that RLS still applies"))
	})
	if err != nil || len(ids) != 1 || ids[0] != alice.Secret.ID {
		t.Fatalf("alice with a privacy bypass lists %v, %v; want row-level security to keep her to her secret", ids, err)
	}
	all := owner.UserSecret.Query().Where(usersecret.IDIn(alice.Secret.ID, bob.Secret.ID)).
		CountX(viewer.NewContext(ctx, viewer.Admin()))
	if all != 2 {
		t.Fatalf("the admin viewer on the owner role counts %d secrets, want 2", all)
	}
	t.Log("a privacy bypass on the service's connection still sees only alice's rows; the owner role with the admin viewer sees both")
}
