package schema_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/entitytest"
	"github.com/jarvis-core/jarvis/ent/privacy"
	"github.com/jarvis-core/jarvis/ent/schema"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// twoUsers gives a test its own database with alice and bob seeded (one row
// of every entity each), the client on the owner connection, where row-level
// security does not apply (so ent privacy alone decides), and alice's viewer.
func twoUsers(t *testing.T) (c *ent.Client, alice, bob *dbtest.Fixture, asAlice context.Context) {
	t.Helper()
	d := dbtest.New(t)
	c = d.OwnerClient(t)
	alice = dbtest.Seed(t, c, "alice@example.com")
	bob = dbtest.Seed(t, c, "bob@example.com")
	return c, alice, bob, viewer.NewContext(context.Background(), viewer.User(alice.User.ID))
}

// TestPrivacyConfinesEveryEntityToItsOwner runs on the owner connection, where
// row-level security does not apply, so ent privacy alone is what is tested.
func TestPrivacyConfinesEveryEntityToItsOwner(t *testing.T) {
	t.Parallel()
	c, alice, bob, asAlice := twoUsers(t)
	system := viewer.NewContext(context.Background(), viewer.System())

	owned := 0
	for _, e := range entitytest.Entities {
		if e.OwnerColumn == "" {
			continue
		}
		owned++
		t.Run(e.Table, func(t *testing.T) {
			bobID, aliceID := bob.IDs()[e.Table], alice.IDs()[e.Table]
			if bobID == uuid.Nil || aliceID == uuid.Nil {
				t.Fatalf("dbtest.Seed makes no %s row: add one", e.Name)
			}
			owners, err := e.Owners(asAlice, c)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(owners) == 0 {
				t.Fatal("alice sees none of her own rows")
			}
			for _, o := range owners {
				if o != alice.User.ID {
					t.Fatalf("alice sees a row owned by %s", o)
				}
			}
			if err := e.Get(asAlice, c, aliceID); err != nil {
				t.Fatalf("alice reads her own row: %v", err)
			}
			if err := e.Get(asAlice, c, bobID); !ent.IsNotFound(err) {
				t.Fatalf("alice reads bob's row: err = %v, want not found", err)
			}
			if schema.AppendOnlyTables[e.Table] {
				if err := e.Touch(asAlice, c, aliceID); !errors.Is(err, privacy.Deny) {
					t.Fatalf("alice updates her own row of an append-only table: err = %v, want privacy deny", err)
				}
				if err := e.Delete(asAlice, c, aliceID); !errors.Is(err, privacy.Deny) {
					t.Fatalf("alice deletes her own row of an append-only table: err = %v, want privacy deny", err)
				}
				if err := e.Delete(asAlice, c, bobID); !errors.Is(err, privacy.Deny) {
					t.Fatalf("alice deletes bob's row of an append-only table: err = %v, want privacy deny", err)
				}
				return
			}
			if err := e.Touch(asAlice, c, bobID); !ent.IsNotFound(err) {
				t.Fatalf("alice updates bob's row: err = %v, want not found", err)
			}
			if err := e.Delete(asAlice, c, bobID); !ent.IsNotFound(err) {
				t.Fatalf("alice deletes bob's row: err = %v, want not found", err)
			}
			if err := e.Get(system, c, bobID); err != nil {
				t.Fatalf("bob's row after alice's attempts: %v", err)
			}
			if err := e.Touch(asAlice, c, aliceID); err != nil {
				t.Fatalf("alice updates her own row: %v", err)
			}
		})
	}
	if owned != len(ent.OwnedTables) {
		t.Fatalf("covered %d owned entities, the model owns %d tables", owned, len(ent.OwnedTables))
	}
}

func TestPrivacyDeniesWithoutViewer(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	c := d.OwnerClient(t)
	alice := dbtest.Seed(t, c, "alice@example.com")
	ctx := context.Background()
	for _, e := range entitytest.Entities {
		if err := e.Get(ctx, c, alice.IDs()[e.Table]); !errors.Is(err, privacy.Deny) {
			t.Errorf("%s: query without viewer: err = %v, want privacy deny", e.Table, err)
		}
		if err := e.Touch(ctx, c, alice.IDs()[e.Table]); !errors.Is(err, privacy.Deny) {
			t.Errorf("%s: update without viewer: err = %v, want privacy deny", e.Table, err)
		}
	}
	if _, err := c.AgentRun.Create().SetUserID(alice.User.ID).Save(ctx); !errors.Is(err, privacy.Deny) {
		t.Errorf("create without viewer: err = %v, want privacy deny", err)
	}
	// A user viewer with a nil id is no viewer at all.
	bad := viewer.NewContext(ctx, viewer.Viewer{Role: viewer.RoleUser})
	if _, err := c.AgentRun.Query().All(bad); !errors.Is(err, privacy.Deny) {
		t.Errorf("query with a nil user id: err = %v, want privacy deny", err)
	}
}

func TestPrivacyRefusesCreatingForAnotherUser(t *testing.T) {
	t.Parallel()
	c, alice, bob, asAlice := twoUsers(t)

	if _, err := c.AgentRun.Create().SetUserID(bob.User.ID).Save(asAlice); !errors.Is(err, privacy.Deny) {
		t.Errorf("alice creates a run for bob: err = %v, want privacy deny", err)
	}
	if _, err := c.AgentRun.Create().SetUserID(alice.User.ID).Save(asAlice); err != nil {
		t.Errorf("alice creates her own run: %v", err)
	}
	if _, err := c.User.Create().SetEmail("eve@example.com").SetPasswordHash("x").Save(asAlice); !errors.Is(err, privacy.Deny) {
		t.Errorf("a user viewer creates a user: err = %v, want privacy deny", err)
	}
	n, err := c.AgentRun.Query().Count(viewer.NewContext(context.Background(), viewer.Admin()))
	if err != nil || n != 3 {
		t.Errorf("runs seen by admin = %d, %v; want 3 (two seeded, one created by alice)", n, err)
	}
}

func TestPrivacyHoldsThroughEdges(t *testing.T) {
	t.Parallel()
	_, alice, bob, asAlice := twoUsers(t)

	checks := []struct {
		name  string
		count func(context.Context) (int, error)
	}{
		{"run.messages", bob.Run.QueryMessages().Count},
		{"run.tool_calls", bob.Run.QueryToolCalls().Count},
		{"run.llm_calls", bob.Run.QueryLlmCalls().Count},
		{"user.secrets", bob.User.QuerySecrets().Count},
		{"user.memories", bob.User.QueryMemories().Count},
		{"session.refresh_tokens", bob.Session.QueryRefreshTokens().Count},
		{"entity.outgoing", bob.EntityA.QueryOutgoing().Count},
		{"relation.target", bob.Relation.QueryTarget().Count},
		{"message.owner", bob.Message.QueryOwner().Count},
	}
	for _, ch := range checks {
		if n, err := ch.count(asAlice); err != nil || n != 0 {
			t.Errorf("%s of bob's rows as alice = %d, %v; want 0", ch.name, n, err)
		}
	}
	// The same edges from alice's own rows do return her rows.
	if n, err := alice.Run.QueryMessages().Count(asAlice); err != nil || n != 1 {
		t.Errorf("alice's run.messages = %d, %v; want 1", n, err)
	}
}

// TestEveryEntityDeclaresWhoMaySeeIt: an owned entity gets its policy from
// OwnerMixin; any other entity (a price table, a tool catalog) must declare a
// policy of its own, or it would be open to every signed-in user.
func TestEveryEntityDeclaresWhoMaySeeIt(t *testing.T) {
	t.Parallel()
	g, err := entc.LoadGraph(".", &gen.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if _, owned := n.Annotations["Owned"]; owned && n.Name != "User" {
			continue
		}
		own := false
		for _, p := range n.PolicyPositions() {
			if !p.MixedIn {
				own = true
			}
		}
		if !own {
			t.Errorf("%s is not owned by a user and declares no Policy of its own: write one (rule.Policy ends it in a deny)", n.Name)
		}
	}
}

// TestPrivacyBypassesGoThroughOneHelper: production code swaps in no
// privileged viewer and no privacy decision of its own; rule.Bypass, with
// its reason, is the one way past ent privacy, so one grep finds them all.
func TestPrivacyBypassesGoThroughOneHelper(t *testing.T) {
	t.Parallel()
	var files []string
	for _, dir := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") &&
				!strings.Contains(path, "dbtest") && !strings.Contains(path, "apptest") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"viewer.System()", "viewer.Admin()", "DecisionContext("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s uses %s: go through rule.Bypass(ctx, reason)", f, bad)
			}
		}
	}
}
