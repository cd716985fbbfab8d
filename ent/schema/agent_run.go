package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/jarvis-core/jarvis/openapi/spec"
)

// AgentRun is one execution of an agent for a user, with its token and cost
// totals. The totals are kept by internal/runs in the same transaction as
// each LLM call, so they always equal the sum of the run's calls; status,
// started_at and completed_at move only through its state machine.
type AgentRun struct{ ent.Schema }

func (AgentRun) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "runs"}}
}

func (AgentRun) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("status").Values("pending", "running", "completed", "failed", "cancelled").Default("pending"),
		field.Int64("input_tokens").NonNegative().Default(0),
		field.Int64("cached_input_tokens").NonNegative().Default(0),
		field.Int64("output_tokens").NonNegative().Default(0),
		field.Int64("reasoning_tokens").NonNegative().Default(0),
		field.Int64("total_tokens").NonNegative().Default(0),
		// total_cost sums the priced calls; unpriced_calls counts the calls of
		// models missing from the price table, whose cost is unknown (so a
		// total with unpriced calls is a lower bound, and says so).
		money("total_cost"),
		field.Int64("unpriced_calls").NonNegative().Default(0),
		field.Text("error").Optional(),
		// warning is set when the user's monthly spend reached the budget's
		// soft threshold during the run.
		field.Text("warning").Optional(),
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
	// Serves the active-run count (status in pending, running) and the list
	// filtered by status, newest first.
	return []ent.Index{index.Fields("user_id", "status", "id")}
}

// Annotations: a run is read through the CRUD view; creating, listing (with
// a status filter) and moving it are the runs module's own operations.
func (AgentRun) Annotations() []schema.Annotation {
	return spec.Expose(spec.Entity{View: "Run", Path: "/v1/runs", Group: "Runs", Ops: []spec.Op{spec.OpRead}})
}
