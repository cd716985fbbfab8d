package db_test

import (
	"context"
	"testing"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// TestEveryOwnedTableIsDistributed: on Citus (go tool task test:citus), the
// migrations leave every per-user table of the model distributed by its
// owner column and co-located with users, and every reference table a
// reference table; a table added to the model later is covered without
// anyone listing it. On plain Postgres there is nothing to distribute:
// `jarvis migrate check` holds the directory to the same list there.
func TestEveryOwnedTableIsDistributed(t *testing.T) {
	if !dbtest.Citus() {
		t.Skip("plain Postgres: run with go tool task test:citus")
	}
	t.Parallel()
	d := dbtest.New(t)
	conn := connect(t, d.OwnerURL)
	ctx := context.Background()
	type dist struct {
		method, column string
		colocation     int
	}
	got := map[string]dist{}
	rows, err := conn.Query(ctx, `SELECT logicalrelid::regclass::text, partmethod::text,
		coalesce(column_to_column_name(logicalrelid, partkey), ''), colocationid FROM pg_dist_partition`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var x dist
		if err := rows.Scan(&name, &x.method, &x.column, &x.colocation); err != nil {
			t.Fatal(err)
		}
		got[name] = x
	}
	rows.Close()
	users, ok := got["users"]
	if !ok || users.method != "h" || users.column != "id" {
		t.Fatalf("users: %+v, want hash-distributed by id", users)
	}
	for _, table := range pgmigrate.DistributionOrder(pgmigrate.ModelTables) {
		g, ok := got[table]
		switch {
		case ent.ReferenceTables[table]:
			if !ok || g.method != "n" {
				t.Errorf("%s: %+v, want a reference table", table, g)
			}
		case !ok:
			t.Errorf("%s is a per-user table but is not distributed", table)
		case g.method != "h" || g.column != ent.OwnedTables[table] || g.colocation != users.colocation:
			t.Errorf("%s: %+v, want hash-distributed by %s, co-located with users (%d)", table, g, ent.OwnedTables[table], users.colocation)
		}
	}
	for table := range ent.OwnedTables {
		if _, ok := got[table]; !ok {
			t.Errorf("owned table %s is not distributed", table)
		}
	}
}
