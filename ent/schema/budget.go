package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/shopspring/decimal"
)

// Budget is a user's monthly spend limit (calendar month, UTC), against the
// cost of the user's LLM calls. A hard budget refuses new runs and new LLM
// calls once the month's spend reached limit_usd (BUDGET_EXCEEDED); a soft
// one only warns. Reaching soft_limit_usd puts a warning on the run.
type Budget struct{ ent.Schema }

func (Budget) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "budgets"}}
}

func (Budget) Fields() []ent.Field {
	return []ent.Field{
		// Deprecated: budgets are monthly. The column stays, nullable and
		// unused, for one release so that no deployed instance loses a column
		// it still reads (the drop is a destructive change the migration lint
		// blocks); drop it in the next schema change of budgets.
		field.Enum("period").Values("day", "week", "month", "total").Optional(),
		field.Other("limit_usd", decimal.Decimal{}).
			SchemaType(map[string]string{dialect.Postgres: "numeric(20,10)"}).
			Annotations(decimalSchema()),
		field.Other("soft_limit_usd", decimal.NullDecimal{}).
			SchemaType(map[string]string{dialect.Postgres: "numeric(20,10)"}).
			Optional().
			Annotations(decimalSchema()),
		field.Bool("hard").Default(true),
	}
}

func (Budget) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id").Unique()}
}
