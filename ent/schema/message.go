package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// Message is one turn of a run's conversation. tool_call_id is the provider's
// id of the tool call a tool message answers.
type Message struct{ ent.Schema }

func (Message) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "messages"}}
}

func (Message) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("run_id", uuid.UUID{}).Immutable(),
		field.Enum("role").Values("user", "assistant", "system", "tool"),
		field.Text("content"),
		field.String("tool_call_id").MaxLen(255).Optional(),
	}
}

func (Message) Edges() []ent.Edge {
	return []ent.Edge{runEdge("messages")}
}

func (Message) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "run_id", "id")}
}

// runEdge is the edge from a run's child row to its run.
func runEdge(ref string) ent.Edge {
	return edge.From("run", AgentRun.Type).Ref(ref).Field("run_id").Unique().Required().Immutable()
}

// Annotations: messages are listed and appended under their run by the runs
// module's operations; the entity lends its view.
func (Message) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{View: "Message"})
}
