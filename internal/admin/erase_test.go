package admin_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/ent/migrate"
	"github.com/jarvis-core/jarvis/internal/admin"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// Every table of the model that can hold a user's data (a user_id column,
// or a foreign key to users) must be an owned table, which is what erasure
// walks: a table added later without it fails here.
func TestEveryTableHoldingUserDataIsOwned(t *testing.T) {
	t.Parallel()
	for _, tbl := range migrate.Tables {
		holds := false
		for _, c := range tbl.Columns {
			if c.Name == "user_id" {
				holds = true
			}
		}
		for _, fk := range tbl.ForeignKeys {
			if fk.RefTable != nil && fk.RefTable.Name == "users" {
				holds = true
			}
		}
		if _, owned := ent.OwnedTables[tbl.Name]; holds && !owned {
			t.Errorf("%s holds user data but is not an owned table (OwnerMixin / schema.Owned): erasure and export would miss it", tbl.Name)
		}
	}
}

func countAll(t *testing.T, conn *sql.DB, uid uuid.UUID) map[string]int {
	t.Helper()
	out := map[string]int{}
	for table, col := range ent.OwnedTables {
		var n int
		if err := conn.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q WHERE %q = $1`, table, col), uid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func TestEraseRemovesEveryRowOfOneUserOnly(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	conn, err := sql.Open("pgx", d.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	aliceBefore, bobBefore := countAll(t, conn, alice.User.ID), countAll(t, conn, bob.User.ID)
	for table, n := range aliceBefore {
		if n == 0 {
			t.Fatalf("the fixture holds no %s row for alice: the test would prove nothing", table)
		}
	}
	ops := admin.Ops{Client: owner}
	op := admin.Operator{Name: "carol", Reason: "GDPR request 12"}
	if _, err := ops.Erase(context.Background(), admin.Operator{Name: "carol"}, "alice@example.com"); err == nil {
		t.Fatal("erase without a reason ran")
	}
	counts, err := ops.Erase(context.Background(), op, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range aliceBefore {
		if counts[table] != n {
			t.Errorf("reported %d erased rows of %s, had %d", counts[table], table, n)
		}
	}
	aliceAfter, bobAfter := countAll(t, conn, alice.User.ID), countAll(t, conn, bob.User.ID)
	for table, n := range aliceAfter {
		want := 0
		if table == auditevent.Table {
			want = 1 // the tombstone
		}
		if n != want {
			t.Errorf("%s: %d of alice's rows after erasure, want %d", table, n, want)
		}
		if bobAfter[table] != bobBefore[table] {
			t.Errorf("%s: bob had %d rows, has %d after alice's erasure", table, bobBefore[table], bobAfter[table])
		}
	}
	sys := viewer.NewContext(context.Background(), viewer.Admin())
	tomb := owner.AuditEvent.Query().Where(auditevent.UserID(alice.User.ID)).OnlyX(sys)
	if tomb.Type != audit.AccountErased || tomb.Actor != "operator:carol" || tomb.Reason != "GDPR request 12" ||
		tomb.IP != "" || tomb.UserAgent != "" {
		t.Fatalf("tombstone = %+v", tomb)
	}
	if _, err := ops.Erase(context.Background(), op, "alice@example.com"); err == nil {
		t.Fatal("erased an account twice")
	}
}
