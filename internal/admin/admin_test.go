package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/ent/session"
	entuser "github.com/jarvis-core/jarvis/ent/user"
	"github.com/jarvis-core/jarvis/internal/admin"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

func TestUsersCommandsAreAudited(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	sys := viewer.NewContext(context.Background(), viewer.Admin())
	ops := admin.Ops{Client: owner}
	op := admin.Operator{Name: "carol", Reason: "ticket 7"}
	ctx := context.Background()

	acc, err := ops.FindUser(ctx, op, "  ALICE@example.com ")
	if err != nil || acc.ID != alice.User.ID {
		t.Fatalf("find by email: %+v, %v", acc, err)
	}
	for table := range alice.IDs() {
		want := 1
		if table == "kg_entities" {
			want = 2 // the seeded relation's two ends
		}
		if table != "users" && acc.Owns[table] != want {
			t.Errorf("owns %d rows of %s, want the seeded %d", acc.Owns[table], table, want)
		}
	}
	if _, err := ops.FindUser(ctx, op, alice.User.ID.String()); err != nil {
		t.Fatalf("find by id: %v", err)
	}
	if _, err := ops.FindUser(ctx, op, "nobody@example.com"); err == nil {
		t.Fatal("found an account that does not exist")
	}

	if _, err := ops.SetStatus(ctx, admin.Operator{Name: "carol"}, "alice@example.com", true); err == nil ||
		!strings.Contains(err.Error(), "--reason") {
		t.Fatalf("change without a reason: %v", err)
	}
	n, err := ops.SetStatus(ctx, op, "alice@example.com", true)
	if err != nil || n.Sessions != 1 || n.SocketsClosed {
		t.Fatalf("disable: %+v, %v", n, err)
	}
	if u := owner.User.GetX(sys, alice.User.ID); u.Status != entuser.StatusDisabled {
		t.Fatalf("status %s", u.Status)
	}
	if live := owner.Session.Query().Where(session.UserID(alice.User.ID), session.RevokedAtIsNil()).CountX(sys); live != 0 {
		t.Fatalf("%d live sessions after disable", live)
	}
	if _, err := ops.SetStatus(ctx, op, alice.User.ID.String(), false); err != nil {
		t.Fatal(err)
	}
	if n, err := ops.RevokeSessions(ctx, op, "bob@example.com"); err != nil || n.Sessions != 1 {
		t.Fatalf("revoke: %+v, %v", n, err)
	}
	// Bob's account was not disabled, alice's sessions were not bob's.
	if u := owner.User.GetX(sys, bob.User.ID); u.Status != entuser.StatusActive {
		t.Fatal("bob disabled")
	}

	events := owner.AuditEvent.Query().Where(auditevent.ActorEQ("operator:carol")).Order(auditevent.ByID()).AllX(sys)
	var got []string
	for _, e := range events {
		got = append(got, string(e.Type))
		if e.Reason != "ticket 7" {
			t.Errorf("%s: reason %q", e.Type, e.Reason)
		}
	}
	if strings.Join(got, " ") != "account_disabled account_enabled admin_action" {
		t.Fatalf("events = %v", got)
	}
	if events[0].UserID != alice.User.ID || events[2].UserID != bob.User.ID {
		t.Fatal("events name the wrong users")
	}

	// Prune: the seeded events are older than a retention of -1h (the
	// future), the prune records itself afterwards.
	pruned, err := ops.PruneAudit(ctx, op, -time.Hour)
	if err != nil || pruned < 5 {
		t.Fatalf("prune: %d, %v", pruned, err)
	}
	left := owner.AuditEvent.Query().AllX(sys)
	if len(left) != 1 || left[0].Type != audit.AdminAction || left[0].Data["action"] != "audit_prune" {
		t.Fatalf("after prune: %+v", left)
	}
}
