package schema_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/privacy"
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

// entityOps reaches one entity through the typed client: enough to prove a
// policy for every entity without a copy of each test.
type entityOps struct {
	table  string
	get    func(ctx context.Context, id uuid.UUID) error
	update func(ctx context.Context, id uuid.UUID) error
	delete func(ctx context.Context, id uuid.UUID) error
	owners func(ctx context.Context) ([]uuid.UUID, error) // user ids of every visible row
}

func allEntities(c *ent.Client) []entityOps {
	return []entityOps{
		{"users",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.User.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.User.UpdateOneID(id).SetDisplayName("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.User.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) { return c.User.Query().IDs(ctx) }},
		{"sessions",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.Session.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error { return c.Session.UpdateOneID(id).SetIP("x").Exec(ctx) },
			func(ctx context.Context, id uuid.UUID) error { return c.Session.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.Session.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"refresh_tokens",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.RefreshToken.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.RefreshToken.UpdateOneID(id).SetReplacedBy(uuid.New()).Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.RefreshToken.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.RefreshToken.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"user_secrets",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.UserSecret.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.UserSecret.UpdateOneID(id).SetName("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.UserSecret.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.UserSecret.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"agent_runs",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.AgentRun.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.AgentRun.UpdateOneID(id).SetError("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.AgentRun.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.AgentRun.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"messages",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.Message.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.Message.UpdateOneID(id).SetContent("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.Message.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.Message.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"tool_calls",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.ToolCall.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.ToolCall.UpdateOneID(id).SetError("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.ToolCall.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.ToolCall.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"llm_calls",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.LLMCall.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.LLMCall.UpdateOneID(id).SetModel("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.LLMCall.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.LLMCall.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"budgets",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.Budget.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.Budget.UpdateOneID(id).SetHard(false).Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.Budget.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.Budget.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"tool_permissions",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.ToolPermission.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.ToolPermission.UpdateOneID(id).SetEffect("allow").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.ToolPermission.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.ToolPermission.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"memories",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.Memory.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.Memory.UpdateOneID(id).SetContent("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.Memory.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.Memory.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"kg_entities",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.KGEntity.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.KGEntity.UpdateOneID(id).SetName("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.KGEntity.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.KGEntity.Query().Select("user_id").Scan(ctx, &ids)
			}},
		{"kg_relations",
			func(ctx context.Context, id uuid.UUID) error { _, err := c.KGRelation.Get(ctx, id); return err },
			func(ctx context.Context, id uuid.UUID) error {
				return c.KGRelation.UpdateOneID(id).SetType("x").Exec(ctx)
			},
			func(ctx context.Context, id uuid.UUID) error { return c.KGRelation.DeleteOneID(id).Exec(ctx) },
			func(ctx context.Context) ([]uuid.UUID, error) {
				var ids []uuid.UUID
				return ids, c.KGRelation.Query().Select("user_id").Scan(ctx, &ids)
			}},
	}
}

// TestPrivacyConfinesEveryEntityToItsOwner runs on the owner connection, where
// row-level security does not apply, so ent privacy alone is what is tested.
func TestPrivacyConfinesEveryEntityToItsOwner(t *testing.T) {
	t.Parallel()
	c, alice, bob, asAlice := twoUsers(t)
	system := viewer.NewContext(context.Background(), viewer.System())

	ops := allEntities(c)
	if len(ops) != len(ent.OwnedTables) {
		t.Fatalf("test covers %d entities, the model owns %d tables", len(ops), len(ent.OwnedTables))
	}
	for _, e := range ops {
		t.Run(e.table, func(t *testing.T) {
			bobID, aliceID := bob.IDs()[e.table], alice.IDs()[e.table]
			owners, err := e.owners(asAlice)
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
			if err := e.get(asAlice, aliceID); err != nil {
				t.Fatalf("alice reads her own row: %v", err)
			}
			if err := e.get(asAlice, bobID); !ent.IsNotFound(err) {
				t.Fatalf("alice reads bob's row: err = %v, want not found", err)
			}
			if err := e.update(asAlice, bobID); !ent.IsNotFound(err) {
				t.Fatalf("alice updates bob's row: err = %v, want not found", err)
			}
			if err := e.delete(asAlice, bobID); !ent.IsNotFound(err) {
				t.Fatalf("alice deletes bob's row: err = %v, want not found", err)
			}
			if err := e.get(system, bobID); err != nil {
				t.Fatalf("bob's row after alice's attempts: %v", err)
			}
			if err := e.update(asAlice, aliceID); err != nil {
				t.Fatalf("alice updates her own row: %v", err)
			}
		})
	}
}

func TestPrivacyDeniesWithoutViewer(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	c := d.OwnerClient(t)
	alice := dbtest.Seed(t, c, "alice@example.com")
	ctx := context.Background()
	for _, e := range allEntities(c) {
		if _, err := e.owners(ctx); !errors.Is(err, privacy.Deny) {
			t.Errorf("%s: query without viewer: err = %v, want privacy deny", e.table, err)
		}
		if err := e.update(ctx, alice.IDs()[e.table]); !errors.Is(err, privacy.Deny) {
			t.Errorf("%s: update without viewer: err = %v, want privacy deny", e.table, err)
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
