package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// RefreshToken is one link of a session's rotation chain. Only a hash of the
// opaque token is stored; replaced_by points at its successor once rotated.
type RefreshToken struct{ ent.Schema }

func (RefreshToken) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "refresh_tokens"}}
}

func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("session_id", uuid.UUID{}).Immutable(),
		field.Bytes("token_hash").Sensitive().Immutable().NotEmpty(),
		field.Time("expires_at").Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
		// Set when the token is rotated: a repeat within the grace window gets
		// the same successor (derived, never stored in plain text) back.
		field.Time("rotated_at").Optional().Nillable(),
		field.UUID("replaced_by", uuid.UUID{}).Optional().Nillable(),
	}
}

func (RefreshToken) Annotations() []schema.Annotation {
	// Refresh finds the token by its hash before the user is known.
	return []schema.Annotation{Lookup{Column: "token_hash", Setting: "app.lookup_token_hash", Hex: true}}
}

func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("session", Session.Type).Ref("refresh_tokens").Field("session_id").
			Unique().Required().Immutable(),
	}
}

func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "session_id"),
		// Unique per user: on Citus a unique index must include the
		// distribution column; a token names its user (internal/auth).
		index.Fields("user_id", "token_hash").Unique(),
	}
}
