package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/jarvis-core/jarvis/openapi/annotation"
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

// Annotations: permissions are listed and deleted by id through CRUD; setting
// one (an upsert by tool) is the runs module's operation.
func (ToolPermission) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{
		View: "ToolPermission", Path: "/v1/tool-permissions", Group: "Runs",
		Ops:  []annotation.Op{annotation.OpList, annotation.OpDelete},
		Docs: map[annotation.Op]string{annotation.OpDelete: "Remove a tool permission: the default policy applies to the tool again"},
	})
}
