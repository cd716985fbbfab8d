package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jarvis-core/jarvis/ent"
	entmigrate "github.com/jarvis-core/jarvis/ent/migrate"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// parentKey is a foreign key from one owned table to another.
type parentKey struct{ table, column, parent string }

// parentKeys lists, from the model, every foreign key between two owned
// tables other than the owner key itself.
func parentKeys() []parentKey {
	var out []parentKey
	for _, t := range entmigrate.Tables {
		owner, ok := ent.OwnedTables[t.Name]
		if !ok {
			continue
		}
		for _, fk := range t.ForeignKeys {
			if _, ok := ent.OwnedTables[fk.RefTable.Name]; !ok || fk.Columns[0].Name == owner {
				continue
			}
			out = append(out, parentKey{t.Name, fk.Columns[0].Name, fk.RefTable.Name})
		}
	}
	return out
}

// TestParentOfAnotherUserRefusedByDatabase speaks raw SQL as the service role
// with alice's identity, below ent and its hooks: foreign keys ignore
// row-level security, so only the composite same-owner keys stop alice's row
// from pointing at bob's parent. Every parent key of the model is tried, by
// insert (a message on bob's run, a relation to bob's entity) and by update.
func TestParentOfAnotherUserRefusedByDatabase(t *testing.T) {
	t.Parallel()
	keys := parentKeys()
	if len(keys) < 5 {
		t.Fatalf("the model has %d parent keys between owned tables; expected at least runs' children, relations and refresh tokens", len(keys))
	}
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	bob := dbtest.Seed(t, d.OwnerClient(t), "bob@example.com")
	app := connect(t, d.AppURL)
	ctx := context.Background()

	refused := func(t *testing.T, err error) {
		t.Helper()
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "23503" {
			t.Fatalf("want a foreign key violation (23503), got %v", err)
		}
	}
	for _, k := range keys {
		t.Run(k.table+"."+k.column, func(t *testing.T) {
			asUser(t, app, alice.User.ID, func(tx pgx.Tx) {
				q := fmt.Sprintf("UPDATE %q SET %q = $1 WHERE id = $2", k.table, k.column)
				_, err := tx.Exec(ctx, q, bob.IDs()[k.parent], alice.IDs()[k.table])
				refused(t, err)
			})
			asUser(t, app, alice.User.ID, func(tx pgx.Tx) {
				// The same update to alice's own parent passes: the key
				// refuses only the other user's.
				q := fmt.Sprintf("UPDATE %q SET %q = $1 WHERE id = $2", k.table, k.column)
				if _, err := tx.Exec(ctx, q, alice.IDs()[k.parent], alice.IDs()[k.table]); err != nil {
					t.Fatalf("own parent: %v", err)
				}
			})
		})
	}
	t.Run("insert message on another user's run", func(t *testing.T) {
		asUser(t, app, alice.User.ID, func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, `INSERT INTO messages (id, created_at, updated_at, user_id, run_id, role, content)
				VALUES (gen_random_uuid(), now(), now(), $1, $2, 'user', 'hi')`, alice.User.ID, bob.Run.ID)
			refused(t, err)
		})
	})
	t.Run("insert relation to another user's entity", func(t *testing.T) {
		asUser(t, app, alice.User.ID, func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, `INSERT INTO kg_relations (id, created_at, updated_at, user_id, source_id, target_id, type, properties)
				VALUES (gen_random_uuid(), now(), now(), $1, $2, $3, 'knows', '{}')`, alice.User.ID, alice.EntityA.ID, bob.EntityA.ID)
			refused(t, err)
		})
	})
}
