package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AgentRun is one execution of an agent for a user, with its token and cost totals.
type AgentRun struct{ ent.Schema }

func (AgentRun) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "runs"}}
}

func (AgentRun) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("status").Values("pending", "running", "completed", "failed", "cancelled").Default("pending"),
		field.Int64("input_tokens").NonNegative().Default(0),
		field.Int64("output_tokens").NonNegative().Default(0),
		field.Int64("total_tokens").NonNegative().Default(0),
		money("total_cost"),
		field.Text("error").Optional(),
		field.Time("started_at").Optional().Nillable(),
		field.Time("completed_at").Optional().Nillable(),
	}
}

func (AgentRun) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("messages", Message.Type).Annotations(cascade()),
		edge.To("tool_calls", ToolCall.Type).Annotations(cascade()),
		edge.To("llm_calls", LLMCall.Type).Annotations(cascade()),
	}
}

func (AgentRun) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "status")}
}
