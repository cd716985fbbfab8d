package dbtest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/schema"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
)

// Fixture is one user with one row of every user-owned entity.
type Fixture struct {
	User           *ent.User
	Email          *ent.UserEmail
	Session        *ent.Session
	RefreshToken   *ent.RefreshToken
	Secret         *ent.UserSecret
	Run            *ent.AgentRun
	Message        *ent.Message
	ToolCall       *ent.ToolCall
	LLMCall        *ent.LLMCall
	Budget         *ent.Budget
	ToolPermission *ent.ToolPermission
	Memory         *ent.Memory
	EntityA        *ent.KGEntity
	EntityB        *ent.KGEntity
	Relation       *ent.KGRelation
	Connection     *ent.OAuthConnection
	OAuthState     *ent.OAuthState
	AuditEvent     *ent.AuditEvent
}

// IDs returns the id of the fixture's row in each owned table.
func (f *Fixture) IDs() map[string]uuid.UUID {
	return map[string]uuid.UUID{
		"users": f.User.ID, "sessions": f.Session.ID, "refresh_tokens": f.RefreshToken.ID,
		"user_secrets": f.Secret.ID, "agent_runs": f.Run.ID, "messages": f.Message.ID,
		"tool_calls": f.ToolCall.ID, "llm_calls": f.LLMCall.ID, "budgets": f.Budget.ID,
		"tool_permissions": f.ToolPermission.ID, "memories": f.Memory.ID,
		"kg_entities": f.EntityA.ID, "kg_relations": f.Relation.ID, "user_emails": f.Email.ID,
		"oauth_connections": f.Connection.ID, "oauth_states": f.OAuthState.ID,
		"audit_events": f.AuditEvent.ID,
	}
}

// Embedding returns a unit-length test vector pointing mostly along axis i.
func Embedding(i int) pgvector.Vector {
	v := make([]float32, schema.EmbeddingDims)
	v[i%schema.EmbeddingDims] = 1
	return pgvector.NewVector(v)
}

// Seed creates a user (as the system, which registration acts as) and one
// row of every owned entity for it.
func Seed(t testing.TB, c *ent.Client, email string) *Fixture {
	t.Helper()
	ctx := viewer.NewContext(context.Background(), viewer.System())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed %s: %v", email, err)
		}
	}
	var (
		f   Fixture
		err error
	)
	f.User, err = c.User.Create().SetEmail(email).SetPasswordHash("$argon2id$test").Save(ctx)
	must(err)
	uid := f.User.ID
	f.Email, err = c.UserEmail.Create().SetUserID(uid).SetEmail(email).Save(ctx)
	must(err)
	f.Session, err = c.Session.Create().SetUserID(uid).SetUserAgent("test").Save(ctx)
	must(err)
	f.RefreshToken, err = c.RefreshToken.Create().SetUserID(uid).SetSessionID(f.Session.ID).
		SetTokenHash([]byte("hash-" + email)).SetExpiresAt(time.Now().Add(time.Hour)).Save(ctx)
	must(err)
	f.Secret, err = c.UserSecret.Create().SetUserID(uid).SetProvider("openai").SetName("default").
		SetEncryptedValue([]byte{1}).SetNonce([]byte{2}).SetAuthTag([]byte{3}).SetKeyVersion(1).Save(ctx)
	must(err)
	f.Run, err = c.AgentRun.Create().SetUserID(uid).Save(ctx)
	must(err)
	f.Message, err = c.Message.Create().SetUserID(uid).SetRunID(f.Run.ID).SetRole("user").SetContent("hello").Save(ctx)
	must(err)
	f.ToolCall, err = c.ToolCall.Create().SetUserID(uid).SetRunID(f.Run.ID).SetToolID("search").
		SetInput(map[string]any{"q": "x"}).Save(ctx)
	must(err)
	f.LLMCall, err = c.LLMCall.Create().SetUserID(uid).SetRunID(f.Run.ID).SetProvider("openai").
		SetModel("gpt-4o-mini").SetInputTokens(10).SetTotalCost(decimal.NewNullDecimal(decimal.RequireFromString("0.0000015"))).Save(ctx)
	must(err)
	f.Budget, err = c.Budget.Create().SetUserID(uid).SetLimitUsd(decimal.NewFromInt(20)).Save(ctx)
	must(err)
	f.ToolPermission, err = c.ToolPermission.Create().SetUserID(uid).SetToolID("shell").SetEffect("deny").Save(ctx)
	must(err)
	f.Memory, err = c.Memory.Create().SetUserID(uid).SetContent("likes tea").SetEmbedding(Embedding(0)).
		SetEmbeddingModel("test").Save(ctx)
	must(err)
	f.EntityA, err = c.KGEntity.Create().SetUserID(uid).SetType("person").SetName("Ada").Save(ctx)
	must(err)
	f.EntityB, err = c.KGEntity.Create().SetUserID(uid).SetType("language").SetName("Go").
		SetEmbedding(Embedding(1)).Save(ctx)
	must(err)
	f.Relation, err = c.KGRelation.Create().SetUserID(uid).SetSourceID(f.EntityA.ID).SetTargetID(f.EntityB.ID).
		SetType("likes").Save(ctx)
	must(err)
	f.Connection, err = c.OAuthConnection.Create().SetUserID(uid).SetProvider("github").SetAccount("octocat").
		SetAccessToken([]byte{1}).SetKeyVersion(1).Save(ctx)
	must(err)
	f.OAuthState, err = c.OAuthState.Create().SetUserID(uid).SetProvider("github").SetStateHash([]byte("state-" + email)).
		SetVerifier([]byte{1}).SetKeyVersion(1).SetRedirectURI("https://app.example/cb").
		SetExpiresAt(time.Now().Add(time.Minute)).Save(ctx)
	must(err)
	f.AuditEvent, err = c.AuditEvent.Create().SetUserID(uid).SetType("login_succeeded").SetActor("system").Save(ctx)
	must(err)
	return &f
}
