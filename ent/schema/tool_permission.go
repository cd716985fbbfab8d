package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ToolPermission allows or denies one tool for one user.
type ToolPermission struct{ ent.Schema }

func (ToolPermission) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "tool_permissions"}}
}

func (ToolPermission) Fields() []ent.Field {
	return []ent.Field{
		field.String("tool_id").MaxLen(255).NotEmpty(),
		field.Enum("effect").Values("allow", "deny"),
	}
}

func (ToolPermission) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "tool_id").Unique()}
}
