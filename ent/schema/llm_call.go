package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// LLMCall is one model call of a run, with tokens and cost by usage type.
// price_version names the dated price table the costs were computed from, so
// old rows stay explainable after prices change.
type LLMCall struct{ ent.Schema }

func (LLMCall) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "llm_calls"}}
}

func (LLMCall) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("run_id", uuid.UUID{}).Immutable(),
		field.String("provider").MaxLen(64).NotEmpty(),
		field.String("model").MaxLen(128).NotEmpty(),
		field.Int64("input_tokens").NonNegative().Default(0),
		field.Int64("cached_input_tokens").NonNegative().Default(0),
		field.Int64("output_tokens").NonNegative().Default(0),
		field.Int64("reasoning_tokens").NonNegative().Default(0),
		money("input_cost"),
		money("cached_input_cost"),
		money("output_cost"),
		money("reasoning_cost"),
		money("total_cost"),
		field.String("price_version").MaxLen(32).Optional(),
	}
}

func (LLMCall) Edges() []ent.Edge {
	return []ent.Edge{runEdge("llm_calls")}
}

func (LLMCall) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "run_id", "id")}
}
