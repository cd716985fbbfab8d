package db_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/schema"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

func ownedTables() []string {
	tables := make([]string, 0, len(ent.OwnedTables))
	for table := range ent.OwnedTables {
		tables = append(tables, table)
	}
	sort.Strings(tables)
	return tables
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestRowLevelSecurityAsServiceRole speaks raw SQL as the service's role, below
// ent, and shows for every owned table that another user's rows can be
// neither read, changed, deleted nor created.
func TestRowLevelSecurityAsServiceRole(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	bob := dbtest.Seed(t, d.OwnerClient(t), "bob@example.com")
	ctx := context.Background()
	app := connect(t, d.AppURL)
	owner := connect(t, d.OwnerURL)
	if dbtest.Citus() {
		// This test looks at every shard on purpose (no other user's row
		// anywhere); the service role otherwise refuses multi-shard queries.
		if _, err := app.Exec(ctx, "SET citus.multi_task_query_log_level = 'off'"); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("no identity sees nothing", func(t *testing.T) {
		for _, table := range ownedTables() {
			var n int
			if err := app.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %q", table)).Scan(&n); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
			if n != 0 {
				t.Errorf("%s: %d rows visible without app.current_user_id", table, n)
			}
		}
	})

	for _, table := range ownedTables() {
		t.Run(table, func(t *testing.T) {
			col := ent.OwnedTables[table]
			aliceRow, bobRow := alice.IDs()[table], bob.IDs()[table]
			asUser(t, app, alice.User.ID, func(tx pgx.Tx) {
				var total, foreign int
				q := fmt.Sprintf("SELECT count(*), count(*) FILTER (WHERE %q <> $1) FROM %q", col, table)
				if err := tx.QueryRow(ctx, q, alice.User.ID).Scan(&total, &foreign); err != nil {
					t.Fatal(err)
				}
				if total == 0 || foreign != 0 {
					t.Fatalf("alice sees %d rows, %d of them not hers", total, foreign)
				}
				if schema.AppendOnlyTables[table] {
					// No UPDATE or DELETE at all for the service role
					// (internal/audit tests it further).
					return
				}
				tag, err := tx.Exec(ctx, fmt.Sprintf("UPDATE %q SET updated_at = now() WHERE id = $1", table), bobRow)
				if err != nil || tag.RowsAffected() != 0 {
					t.Fatalf("update of bob's row: %d rows, %v", tag.RowsAffected(), err)
				}
				tag, err = tx.Exec(ctx, fmt.Sprintf("DELETE FROM %q WHERE id = $1", table), bobRow)
				if err != nil || tag.RowsAffected() != 0 {
					t.Fatalf("delete of bob's row: %d rows, %v", tag.RowsAffected(), err)
				}
			})
			if schema.AppendOnlyTables[table] {
				for _, stmt := range []string{"UPDATE %q SET updated_at = now() WHERE id = $1", "DELETE FROM %q WHERE id = $1"} {
					asUser(t, app, alice.User.ID, func(tx pgx.Tx) {
						_, err := tx.Exec(ctx, fmt.Sprintf(stmt, table), bobRow)
						wantRLSViolation(t, "update or delete in an append-only table", err)
					})
				}
			}
			// A new row naming bob as owner (a copy of alice's with a new id).
			asUser(t, app, alice.User.ID, func(tx pgx.Tx) {

				_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %[1]q
					SELECT (jsonb_populate_record(NULL::%[1]q,
						to_jsonb(a) || jsonb_build_object('id', gen_random_uuid()) || jsonb_build_object(%[2]s, $1::uuid))).*
					FROM %[1]q a WHERE a.id = $2`, table, quoteLiteral(col)), bob.User.ID, aliceRow)
				wantRLSViolation(t, "insert of a row owned by bob", err)
			})
			// Handing alice's row over to bob.
			asUser(t, app, alice.User.ID, func(tx pgx.Tx) {
				_, err := tx.Exec(ctx, fmt.Sprintf("UPDATE %q SET %q = $1 WHERE id = $2", table, col), bob.User.ID, aliceRow)
				wantRLSViolation(t, "moving alice's row to bob", err)
			})
			// Bob's row is untouched.
			var n int
			if err := owner.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %q WHERE id = $1", table), bobRow).Scan(&n); err != nil || n != 1 {
				t.Fatalf("bob's row after alice's attempts: %d, %v", n, err)
			}
		})
	}
}

func wantRLSViolation(t *testing.T, what string, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "0A000" && dbtest.Citus() {
		// Citus refuses it before RLS is asked: moving a row to another
		// distribution value, or INSERT ... SELECT under RLS (COPY).
		return
	}
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("%s: err = %v, want insufficient_privilege from the RLS policy", what, err)
	}
}

func quoteLiteral(s string) string { return "'" + s + "'" }

func asUser(t *testing.T, conn *pgx.Conn, id uuid.UUID, fn func(pgx.Tx)) {
	t.Helper()
	withSetting(t, conn, "app.current_user_id", id.String(), fn)
}

// withSetting runs fn in a transaction, rolled back after, where the
// transaction-local setting holds value.
func withSetting(t *testing.T, conn *pgx.Conn, setting, value string, fn func(pgx.Tx)) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // each block is read-and-discard
	// jarvis_set_local, as the service does: on Citus it reaches the shards.
	if _, err := tx.Exec(ctx, "SELECT jarvis_set_local($1, $2)", setting, value); err != nil {
		t.Fatal(err)
	}
	fn(tx)
}

// TestEveryUserTableIsProtected catches a table that carries user_id but was
// left out of the model's Owned annotation (and so out of RLS).
func TestEveryUserTableIsProtected(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := connect(t, d.OwnerURL)
	rows, err := owner.Query(context.Background(), `
		SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
		       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var (
			table                 string
			enabled, forced, user bool
		)
		if err := rows.Scan(&table, &enabled, &forced, &user); err != nil {
			t.Fatal(err)
		}
		_, owned := ent.OwnedTables[table]
		if user && !owned {
			t.Errorf("%s has user_id but is not marked Owned in ent/schema", table)
		}
		if owned {
			seen++
			if !enabled || !forced {
				t.Errorf("%s: row-level security enabled=%v forced=%v, want both", table, enabled, forced)
			}
		}
	}
	if seen != len(ent.OwnedTables) {
		t.Errorf("found %d of the %d owned tables", seen, len(ent.OwnedTables))
	}
}

// TestServiceRoleCannotBypassRLS checks the role the migrations create.
func TestServiceRoleCannotBypassRLS(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	app := connect(t, d.AppURL)
	var super, bypass, memberOfApp bool
	err := app.QueryRow(context.Background(), `
		SELECT r.rolsuper, r.rolbypassrls, pg_has_role(current_user, 'jarvis_app', 'member')
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&super, &bypass, &memberOfApp)
	if err != nil {
		t.Fatal(err)
	}
	if super || bypass || !memberOfApp {
		t.Fatalf("service role: superuser=%v bypassrls=%v member of jarvis_app=%v", super, bypass, memberOfApp)
	}
	err = app.QueryRow(context.Background(), `SELECT rolsuper OR rolbypassrls OR rolcanlogin FROM pg_roles WHERE rolname = 'jarvis_app'`).Scan(&super)
	if err != nil || super {
		t.Fatalf("jarvis_app may log in or bypass RLS (%v)", err)
	}
}

// TestLookupPolicyIsReadOnlyAndExact covers the narrow path used before
// identity is known: with app.lookup_email set, exactly that user's row is
// readable, nothing is writable; the same for refresh tokens by hash.
func TestLookupPolicyIsReadOnlyAndExact(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	bob := dbtest.Seed(t, d.OwnerClient(t), "bob@example.com")
	ctx := context.Background()
	app := connect(t, d.AppURL)

	lookup := func(setting, value string, fn func(pgx.Tx)) { withSetting(t, app, setting, value, fn) }
	lookup("app.lookup_email", "bob@example.com", func(tx pgx.Tx) {
		var ids []uuid.UUID
		rows, err := tx.Query(ctx, "SELECT id FROM users")
		if err != nil {
			t.Fatal(err)
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil || len(ids) != 1 || ids[0] != bob.User.ID {
			t.Fatalf("users visible by bob's email = %v, %v; want bob only", ids, err)
		}
		tag, err := tx.Exec(ctx, "UPDATE users SET display_name = 'x' WHERE id = $1", bob.User.ID)
		if err != nil || tag.RowsAffected() != 0 {
			t.Fatalf("update through the lookup: %d rows, %v", tag.RowsAffected(), err)
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM agent_runs").Scan(&n); err != nil || n != 0 {
			t.Fatalf("the email lookup showed %d runs", n)
		}
	})
	hash := fmt.Sprintf("%x", alice.RefreshToken.TokenHash)
	lookup("app.lookup_token_hash", hash, func(tx pgx.Tx) {
		var id, user uuid.UUID
		if err := tx.QueryRow(ctx, "SELECT id, user_id FROM refresh_tokens").Scan(&id, &user); err != nil {
			t.Fatal(err)
		}
		if id != alice.RefreshToken.ID || user != alice.User.ID {
			t.Fatalf("token by hash = %s of %s", id, user)
		}
		tag, err := tx.Exec(ctx, "UPDATE refresh_tokens SET revoked_at = now()")
		if err != nil || tag.RowsAffected() != 0 {
			t.Fatalf("update through the token lookup: %d rows, %v", tag.RowsAffected(), err)
		}
	})
	lookup("app.lookup_email", "nobody@example.com", func(tx pgx.Tx) {
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != 0 {
			t.Fatalf("an unknown email showed %d users", n)
		}
	})
}
