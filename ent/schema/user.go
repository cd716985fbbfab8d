package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// User is an account. Its email is stored normalized (trimmed, lower case); a
// CHECK keeps anything else out. Users are distributed by id on Citus, where
// a unique index must include the distribution column, so the e-mail's global
// uniqueness lives in user_emails (UserEmail, a reference table).
type User struct{ ent.Schema }

func (User) Mixin() []ent.Mixin { return []ent.Mixin{BaseMixin{}} }

func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").MaxLen(320).NotEmpty(),
		field.String("password_hash").Sensitive().NotEmpty(),
		field.String("display_name").MaxLen(255).Optional(),
		field.Enum("status").Values("active", "disabled").Default("active"),
		field.Time("last_login_at").Optional().Nillable(),
	}
}

func (User) Edges() []ent.Edge {
	owned := func(name string, t any) ent.Edge {
		return edge.To(name, t).Annotations(cascade())
	}
	return []ent.Edge{
		owned("sessions", Session.Type),
		owned("refresh_tokens", RefreshToken.Type),
		owned("secrets", UserSecret.Type),
		owned("runs", AgentRun.Type),
		owned("messages", Message.Type),
		owned("tool_calls", ToolCall.Type),
		owned("llm_calls", LLMCall.Type),
		owned("budgets", Budget.Type),
		owned("tool_permissions", ToolPermission.Type),
		owned("memories", Memory.Type),
		owned("kg_entities", KGEntity.Type),
		owned("kg_relations", KGRelation.Type),
		owned("emails", UserEmail.Type),
		owned("oauth_connections", OAuthConnection.Type),
		owned("oauth_states", OAuthState.Type),
	}
}

func (User) Indexes() []ent.Index {
	// Admin commands find an account by e-mail; the service resolves it
	// through user_emails.
	return []ent.Index{index.Fields("email")}
}

func (User) Annotations() []schema.Annotation {
	return append(annotation.Expose(annotation.Entity{View: "User"}), // the auth module's GET /v1/me
		// A user row is its own owner: RLS compares its id.
		Owned{Column: "id"},
		// Login looks the account up by email before anyone is signed in.
		Lookup{Column: "email", Setting: "app.lookup_email"},
		entsql.Checks(map[string]string{
			"users_email_normalized": "email = lower(btrim(email))",
		}),
	)
}
