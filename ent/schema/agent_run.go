package schema

import (
	"encoding/json"

	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/ogen-go/ogen"

	"github.com/jarvis-core/jarvis/openapi/annotation"
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
		// What the run is about, given by the client at creation: the agent's
		// name, its input (any JSON value), free metadata and tags, the run
		// that started it (sub-agents form a tree of runs of one user) and
		// the conversation it belongs to. output is the final answer, given
		// when the run completes.
		field.String("name").MaxLen(255).Optional().Immutable(),
		field.JSON("input", json.RawMessage{}).Optional().Immutable().Annotations(annotation.Schema(&ogen.Schema{})),
		field.JSON("output", json.RawMessage{}).Optional().Annotations(annotation.Schema(&ogen.Schema{})),
		// The database defaults fill the rows that exist when the columns
		// are added.
		field.JSON("metadata", map[string]any{}).Default(map[string]any{}).
			Annotations(entsql.DefaultExpr("'{}'::jsonb"),
				annotation.Schema(&ogen.Schema{Type: "object", AdditionalProperties: &ogen.AdditionalProperties{Bool: &anyProps}})),
		field.Strings("tags").Default([]string{}).Immutable().Annotations(entsql.DefaultExpr("'[]'::jsonb")),
		field.UUID("parent_run_id", uuid.UUID{}).Optional().Nillable().Immutable(),
		field.String("thread_id").MaxLen(255).Optional().Immutable(),
	}
}

func (AgentRun) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("messages", Message.Type).Annotations(cascade()),
		edge.To("tool_calls", ToolCall.Type).Annotations(cascade()),
		edge.To("llm_calls", LLMCall.Type).Annotations(cascade()),
		// A sub-agent's run points at the run that started it; the database
		// keeps both of one user (the same-owner key). Runs are deleted
		// only with their user, so the key cascades: Citus refuses ON
		// DELETE SET NULL on a key that holds the distribution column.
		edge.To("children", AgentRun.Type).Annotations(cascade()).From("parent").Field("parent_run_id").Unique().Immutable(),
	}
}

func (AgentRun) Indexes() []ent.Index {
	// Serves the active-run count (status in pending, running) and the list
	// filtered by status, newest first.
	// The list's other filters (thread, parent, name) each have theirs,
	// keyset order included.
	return []ent.Index{
		index.Fields("user_id", "status", "id"),
		index.Fields("user_id", "thread_id", "id"),
		index.Fields("user_id", "parent_run_id", "id"),
		index.Fields("user_id", "name", "id"),
		// Unfinished runs of every user, for the active-runs gauge
		// (jarvis_active_runs): the count reads this small index, not the
		// table. The predicate is written as Postgres prints it back (the
		// fixed point: `status IN (...)` prints as `ANY ((ARRAY[...])::text[])`,
		// which prints back in this form), so `jarvis migrate diff` sees no
		// change once it exists.
		index.Fields("status").Annotations(entsql.IndexWhere(
			"((status)::text = ANY (ARRAY[('pending'::character varying)::text, ('running'::character varying)::text]))")),
	}
}

// Annotations: a run is read through the CRUD view; creating, listing (with
// a status filter) and moving it are the runs module's own operations.
func (AgentRun) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{View: "Run", Path: "/v1/runs", Group: "Runs", Ops: []annotation.Op{annotation.OpRead}})
}
