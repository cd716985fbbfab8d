package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// Session is one sign-in (a browser, a CLI): the family of its rotating
// refresh tokens. Revoking it ends every token of the family.
type Session struct{ ent.Schema }

func (Session) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "sessions"}}
}

func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_agent").MaxLen(512).Optional(),
		field.String("ip").MaxLen(64).Optional(),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("refresh_tokens", RefreshToken.Type).Annotations(cascade()),
	}
}

func (Session) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "revoked_at")}
}

// Annotations expose the operations the API serves; openapi/spec shapes them.
func (Session) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{
		View: "Session", Path: "/v1/sessions", Group: "Auth",
		Ops:  []annotation.Op{annotation.OpList, annotation.OpDelete},
		Docs: map[annotation.Op]string{annotation.OpList: "List live sessions, newest first", annotation.OpDelete: "Revoke a session and its refresh tokens"},
	})
}
