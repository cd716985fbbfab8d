package schema_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pgvector/pgvector-go"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/agentrun"
	"github.com/jarvis-core/jarvis/ent/entitytest"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/ent/schema"
	"github.com/jarvis-core/jarvis/ent/usersecret"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

func systemCtx() context.Context { return viewer.NewContext(context.Background(), viewer.System()) }

func TestSecretUniquePerUserProviderName(t *testing.T) {
	t.Parallel()
	c, alice, bob, _ := twoUsers(t)
	ctx := systemCtx()
	create := func(u *ent.User, provider usersecret.Provider, name string) error {
		return c.UserSecret.Create().SetUserID(u.ID).SetProvider(provider).SetName(name).
			SetEncryptedValue([]byte{1}).SetNonce([]byte{2}).SetAuthTag([]byte{3}).SetKeyVersion(1).Exec(ctx)
	}
	if err := create(alice.User, "openai", "default"); !ent.IsConstraintError(err) {
		t.Fatalf("duplicate (user, provider, name): err = %v, want constraint error", err)
	}
	if err := create(alice.User, "anthropic", "default"); err != nil {
		t.Fatalf("same name, other provider: %v", err)
	}
	if err := create(bob.User, "anthropic", "default"); err != nil {
		t.Fatalf("same provider and name, other user: %v", err)
	}
	if err := create(alice.User, "gemini", "x"); !ent.IsValidationError(err) {
		t.Fatalf("unknown provider: err = %v, want validation error", err)
	}
	if n := c.UserSecret.Query().Where(usersecret.UserID(alice.User.ID)).CountX(ctx); n != 2 {
		t.Fatalf("alice has %d secrets, want 2 (failed creates must leave nothing)", n)
	}
}

func TestChildRowsMustShareTheirParentsOwner(t *testing.T) {
	t.Parallel()
	c, alice, bob, asAlice := twoUsers(t)

	cases := []struct {
		name   string
		ctx    context.Context
		create func(ctx context.Context) error
	}{
		{"relation to another user's entity, as system", systemCtx(), func(ctx context.Context) error {
			return c.KGRelation.Create().SetUserID(alice.User.ID).SetSourceID(alice.EntityA.ID).
				SetTargetID(bob.EntityB.ID).SetType("knows").Exec(ctx)
		}},
		{"relation from another user's entity, as the user", asAlice, func(ctx context.Context) error {
			return c.KGRelation.Create().SetUserID(alice.User.ID).SetSourceID(bob.EntityA.ID).
				SetTargetID(alice.EntityB.ID).SetType("knows").Exec(ctx)
		}},
		{"message on another user's run", systemCtx(), func(ctx context.Context) error {
			return c.Message.Create().SetUserID(alice.User.ID).SetRunID(bob.Run.ID).SetRole("user").SetContent("x").Exec(ctx)
		}},
		{"tool call on another user's run", asAlice, func(ctx context.Context) error {
			return c.ToolCall.Create().SetUserID(alice.User.ID).SetRunID(bob.Run.ID).SetToolID("t").Exec(ctx)
		}},
		{"llm call on another user's run", systemCtx(), func(ctx context.Context) error {
			return c.LLMCall.Create().SetUserID(alice.User.ID).SetRunID(bob.Run.ID).SetProvider("p").SetModel("m").Exec(ctx)
		}},
		{"refresh token in another user's session", systemCtx(), func(ctx context.Context) error {
			return c.RefreshToken.Create().SetUserID(alice.User.ID).SetSessionID(bob.Session.ID).
				SetTokenHash([]byte("h")).SetExpiresAt(alice.RefreshToken.ExpiresAt).Exec(ctx)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.create(tc.ctx); !errors.Is(err, rule.ErrCrossOwner) {
				t.Fatalf("err = %v, want ErrCrossOwner", err)
			}
		})
	}
	// Within one user it works, and a self-loop names one entity once.
	if err := c.KGRelation.Create().SetUserID(alice.User.ID).SetSourceID(alice.EntityB.ID).
		SetTargetID(alice.EntityB.ID).SetType("self").Exec(asAlice); err != nil {
		t.Fatalf("relation within one user: %v", err)
	}
	if err := c.KGRelation.Create().SetUserID(alice.User.ID).SetSourceID(alice.EntityA.ID).
		SetTargetID(alice.EntityB.ID).SetType("likes").Exec(asAlice); !ent.IsConstraintError(err) {
		t.Fatalf("duplicate relation (user, source, target, type): err = %v, want constraint error", err)
	}
}

func TestEmailIsUniqueCaseInsensitively(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	c := d.OwnerClient(t)
	ctx := systemCtx()
	u, err := c.User.Create().SetEmail("  Ada@Example.COM ").SetPasswordHash("x").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.com" {
		t.Fatalf("stored email = %q, want normalized", u.Email)
	}
	// Global uniqueness lives in user_emails (users are distributed by id
	// on Citus, where a unique index must include it).
	if err := c.UserEmail.Create().SetUserID(u.ID).SetEmail("  Ada@Example.COM ").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := c.User.Create().SetEmail("ADA@example.com").SetPasswordHash("x").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UserEmail.Create().SetUserID(other.ID).SetEmail("ADA@example.com").Exec(ctx); !ent.IsConstraintError(err) {
		t.Fatalf("same email in other case: err = %v, want constraint error", err)
	}
	// The CHECK holds even for writes that skip ent's hooks.
	_, err = c.ExecContext(ctx, `INSERT INTO users (id, created_at, updated_at, email, password_hash, status)
		VALUES (gen_random_uuid(), now(), now(), 'Bob@Example.com', 'x', 'active')`)
	if err == nil {
		t.Fatal("raw insert of a non-normalized email succeeded")
	}
}

func TestKGEntityUniquePerUserTypeName(t *testing.T) {
	t.Parallel()
	c, alice, bob, _ := twoUsers(t)
	ctx := systemCtx()
	if err := c.KGEntity.Create().SetUserID(alice.User.ID).SetType("person").SetName("Ada").Exec(ctx); !ent.IsConstraintError(err) {
		t.Fatalf("duplicate (user, type, name): err = %v, want constraint error", err)
	}
	if err := c.KGEntity.Create().SetUserID(bob.User.ID).SetType("person").SetName("Grace").Exec(ctx); err != nil {
		t.Fatalf("other name: %v", err)
	}
}

func TestIDsAreUUIDv7(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	c := d.OwnerClient(t)
	f := dbtest.Seed(t, c, "alice@example.com")
	for table, id := range f.IDs() {
		if id.Version() != 7 {
			t.Errorf("%s id %s is version %d, want 7", table, id, id.Version())
		}
	}
	if !(f.User.ID.String() < f.Relation.ID.String()) {
		t.Errorf("ids are not time-ordered: user %s, later relation %s", f.User.ID, f.Relation.ID)
	}
}

func TestMoneyIsExact(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	c := d.OwnerClient(t)
	f := dbtest.Seed(t, c, "alice@example.com")
	ctx := systemCtx()
	for _, cost := range []string{"0.1", "0.2"} {
		if err := c.AgentRun.Create().SetUserID(f.User.ID).SetTotalCost(decimal.RequireFromString(cost)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var sums []struct {
		Sum decimal.Decimal `json:"sum"`
	}
	if err := c.AgentRun.Query().Where(agentrun.UserID(f.User.ID)).
		Aggregate(ent.Sum(agentrun.FieldTotalCost)).Scan(ctx, &sums); err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || !sums[0].Sum.Equal(decimal.RequireFromString("0.3")) {
		t.Fatalf("0.1 + 0.2 = %v, want exactly 0.3", sums)
	}
	got := c.LLMCall.GetX(ctx, f.LLMCall.ID).TotalCost
	if !got.Valid || !got.Decimal.Equal(decimal.RequireFromString("0.0000015")) {
		t.Fatalf("llm call cost = %v, want 0.0000015", got)
	}
}

func TestEmbeddingsRoundTripAndRankByCosine(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	c := d.OwnerClient(t)
	f := dbtest.Seed(t, c, "alice@example.com")
	ctx := systemCtx()
	m := c.Memory.GetX(ctx, f.Memory.ID)
	if got := m.Embedding.Slice(); len(got) != 1536 || got[0] != 1 {
		t.Fatalf("embedding round trip: len %d, first %v", len(got), got[0])
	}
	if e := c.KGEntity.GetX(ctx, f.EntityA.ID); e.Embedding != nil {
		t.Fatalf("entity without embedding reads back %v, want nil", e.Embedding)
	}
	if e := c.KGEntity.GetX(ctx, f.EntityB.ID); e.Embedding == nil || e.Embedding.Slice()[1] != 1 {
		t.Fatal("entity embedding did not round trip")
	}
	near, err := c.Memory.Create().SetUserID(f.User.ID).SetContent("near").SetEmbeddingModel("test").
		SetEmbedding(dbtest.Embedding(5)).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.QueryContext(ctx, `SELECT content FROM memories WHERE user_id = $1
		ORDER BY embedding <=> $2 LIMIT 1`, f.User.ID, dbtest.Embedding(5))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var content string
	if !rows.Next() {
		t.Fatal("no nearest memory")
	}
	if err := rows.Scan(&content); err != nil {
		t.Fatal(err)
	}
	if content != near.Content {
		t.Fatalf("nearest memory = %q, want %q", content, near.Content)
	}
	if err := c.Memory.Create().SetUserID(f.User.ID).SetContent("bad").SetEmbeddingModel("test").
		SetEmbedding(pgvector.NewVector([]float32{1, 2, 3})).Exec(ctx); err == nil {
		t.Fatal("a 3-dimensional embedding was stored in a vector(1536) column")
	}
}

func TestDeletingAUserDeletesEverythingItOwns(t *testing.T) {
	t.Parallel()
	c, alice, bob, _ := twoUsers(t)
	ctx := systemCtx()
	if err := c.User.DeleteOneID(bob.User.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range entitytest.Entities {
		if e.OwnerColumn == "" {
			continue
		}
		if schema.AppendOnlyTables[e.Table] {
			// The audit log outlives the account it is about (no foreign key).
			if err := e.Get(ctx, c, bob.IDs()[e.Table]); err != nil {
				t.Errorf("%s: bob's audit row after deleting bob: %v, want kept", e.Table, err)
			}
		} else if err := e.Get(ctx, c, bob.IDs()[e.Table]); !ent.IsNotFound(err) {
			t.Errorf("%s: bob's row after deleting bob: err = %v, want not found", e.Table, err)
		}
		if err := e.Get(ctx, c, alice.IDs()[e.Table]); err != nil {
			t.Errorf("%s: alice's row after deleting bob: %v", e.Table, err)
		}
	}
}
