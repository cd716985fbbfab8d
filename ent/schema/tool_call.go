package schema

import (
	"encoding/json"
	"entgo.io/ent/schema"
	"github.com/jarvis-core/jarvis/openapi/annotation"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/ogen-go/ogen"
)

// ToolCall is one tool invocation of a run: its input, output and outcome.
type ToolCall struct{ ent.Schema }

func (ToolCall) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "tool_calls"}}
}

func (ToolCall) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("run_id", uuid.UUID{}).Immutable(),
		field.String("tool_id").MaxLen(255).NotEmpty(),
		jsonObject("input"),
		field.JSON("output", json.RawMessage{}).Optional().Annotations(annotation.Schema(&ogen.Schema{})),
		field.Enum("status").Values("pending", "success", "error").Default("pending"),
		field.Text("error").Optional(),
		// duration_ms is measured by the server from start to completion.
		field.Int64("duration_ms").NonNegative().Optional().Nillable(),
		field.Time("completed_at").Optional().Nillable(),
	}
}

func (ToolCall) Edges() []ent.Edge {
	return []ent.Edge{runEdge("tool_calls")}
}

func (ToolCall) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "run_id", "id")}
}

// Annotations: a tool call is read by id; starting and completing it are the
// runs module's operations.
func (ToolCall) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{View: "ToolCall", Path: "/v1/tool-calls", Group: "Runs", Ops: []annotation.Op{annotation.OpRead}})
}
