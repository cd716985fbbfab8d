package db_test

import (
	"context"
	"testing"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// BenchmarkRunGetRun is one unit of work of a request: a transaction whose
// identity statement sets app.current_user_id and checks the session, then
// a privacy-filtered read under RLS.
func BenchmarkRunGetRun(b *testing.B) {
	d := dbtest.New(b)
	alice := dbtest.Seed(b, d.OwnerClient(b), "alice@example.com")
	app := d.App(b)
	ctx := viewer.NewContext(context.Background(), viewer.Session(alice.User.ID, alice.Session.ID))
	b.ReportAllocs()
	for b.Loop() {
		err := app.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
			_, err := tx.AgentRun.Get(ctx, alice.Run.ID)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainTxGetRun is the baseline: the same read in a transaction on
// the owner connection, without the identity statement or RLS.
func BenchmarkPlainTxGetRun(b *testing.B) {
	d := dbtest.New(b)
	c := d.OwnerClient(b)
	alice := dbtest.Seed(b, c, "alice@example.com")
	ctx := viewer.NewContext(context.Background(), viewer.User(alice.User.ID))
	b.ReportAllocs()
	for b.Loop() {
		tx, err := c.Tx(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.AgentRun.Get(ctx, alice.Run.ID); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
