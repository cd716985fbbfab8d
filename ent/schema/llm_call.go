package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
	"github.com/jarvis-core/jarvis/openapi/annotation"
	"github.com/shopspring/decimal"
)

// LLMCall is one model call of a run, with tokens and cost by usage type.
// The usage types are disjoint: input excludes the cached input, output
// excludes the reasoning. Costs come from the dated model price table
// (internal/runs/pricing) in force when the call was recorded, and are never
// recomputed; price_version is the effective date of the price used, so old
// rows stay explainable after prices change. A model missing from the table
// has NULL costs: tokens recorded, no price made up.
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
		optionalMoney("input_cost"),
		optionalMoney("cached_input_cost"),
		optionalMoney("output_cost"),
		optionalMoney("reasoning_cost"),
		optionalMoney("total_cost"),
		field.String("price_version").MaxLen(32).Optional(),
	}
}

func (LLMCall) Edges() []ent.Edge {
	return []ent.Edge{runEdge("llm_calls")}
}

func (LLMCall) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "run_id", "id"),
		// Usage reports and the month's spend read a user's calls by time.
		index.Fields("user_id", "created_at"),
	}
}

// optionalMoney is an exact decimal amount in USD that may be unknown (NULL).
func optionalMoney(name string) ent.Field {
	return field.Other(name, decimal.NullDecimal{}).
		SchemaType(map[string]string{dialect.Postgres: "numeric(20,10)"}).
		Optional().
		Annotations(decimalSchema())
}

// Annotations: an LLM call is read by id (GET /v1/llm-calls/{id}); it is
// recorded and listed under its run by the runs module's operations.
func (LLMCall) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{View: "LLMCall", Path: "/v1/llm-calls", Group: "Runs", Ops: []annotation.Op{annotation.OpRead}})
}
