package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// OAuthConnection is a user's authorization at a third-party provider
// (GitHub, Google, Slack, Notion or a configured OAuth 2.0 server) for one
// account there. Its tokens are sealed by internal/secrets' box, each bound
// to the user, the connection and which token it is; internal/connections
// refreshes the access token under a row lock, so one refresh happens per
// expiry however many callers and instances ask.
type OAuthConnection struct{ ent.Schema }

func (OAuthConnection) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "oauth_connections"}}
}

func (OAuthConnection) Fields() []ent.Field {
	return []ent.Field{
		// The provider's configured name (github, google, slack, notion or a
		// generic provider's own name).
		field.String("provider").MaxLen(64).NotEmpty().Immutable(),
		// Which account at the provider: a login, an email, a workspace.
		field.String("account").MaxLen(255).NotEmpty().Immutable(),
		field.Strings("scopes").Default([]string{}),
		// nonce | ciphertext | tag under key_version; never shown.
		field.Bytes("access_token").Sensitive().NotEmpty(),
		field.Bytes("refresh_token").Sensitive().Optional().Nillable(),
		// As the provider said (Bearer, almost always).
		field.String("token_type").MaxLen(32).Default("Bearer").Annotations(annotation.Skip()),
		field.Int("key_version").Positive().Annotations(annotation.Skip()),
		// Bumped on every change of the tokens: a refresh that failed
		// compares it to tell "a sibling rotated the token" from "the grant
		// is dead".
		field.Int("token_version").Default(1).Annotations(annotation.Skip()),
		// When the access token expires; absent: it does not (GitHub OAuth apps).
		field.Time("expires_at").Optional().Nillable(),
		field.Enum("status").Values("active", "needs_reauth", "revoked").Default("active").
			Annotations(annotation.ReadOnly()),
		field.Time("last_refreshed_at").Optional().Nillable().Annotations(annotation.ReadOnly()),
	}
}

func (OAuthConnection) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "provider", "account").Unique()}
}

// Annotations expose listing, reading and deleting; connecting, importing and
// getting a token are the connections module's operations.
func (OAuthConnection) Annotations() []schema.Annotation {
	return append(annotation.Expose(annotation.Entity{
		View: "Connection", Path: "/v1/connections", Group: "Connections",
		Ops: []annotation.Op{annotation.OpList, annotation.OpRead, annotation.OpDelete},
		Docs: map[annotation.Op]string{
			annotation.OpList:   "List connections without their tokens, newest first",
			annotation.OpRead:   "Read a connection without its tokens",
			annotation.OpDelete: "Revoke a connection's tokens at the provider (RFC 7009, when it has a revocation endpoint), then forget it",
		},
	}), entsql.Table("oauth_connections"))
}

// OAuthState is a pending authorization-code flow: the hash of the state
// handed to the provider, the sealed PKCE verifier, the redirect it is bound
// to and when it expires. The callback consumes it (deletes it) in the
// transaction that reads it, so a state works once.
type OAuthState struct{ ent.Schema }

func (OAuthState) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "oauth_states"}}
}

func (OAuthState) Fields() []ent.Field {
	return []ent.Field{
		field.String("provider").MaxLen(64).NotEmpty().Immutable(),
		// SHA-256 of the state value: the value itself is only in the URL.
		field.Bytes("state_hash").Sensitive().NotEmpty().Immutable(),
		// The PKCE code verifier, sealed (nonce | ciphertext | tag).
		field.Bytes("verifier").Sensitive().NotEmpty().Immutable(),
		field.Int("key_version").Positive().Immutable(),
		field.String("redirect_uri").MaxLen(2048).NotEmpty().Immutable(),
		field.Strings("scopes").Default([]string{}).Immutable(),
		field.Time("expires_at").Immutable(),
	}
}

func (OAuthState) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "state_hash").Unique()}
}

func (OAuthState) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("oauth_states")}
}
