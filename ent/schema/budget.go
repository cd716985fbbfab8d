package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/shopspring/decimal"
)

// Budget is a user's spend limit over a period. A hard budget refuses new runs
// once reached (BUDGET_EXCEEDED); a soft one only warns.
type Budget struct{ ent.Schema }

func (Budget) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "budgets"}}
}

func (Budget) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("period").Values("day", "week", "month", "total"),
		field.Other("limit_usd", decimal.Decimal{}).
			SchemaType(map[string]string{dialect.Postgres: "numeric(20,10)"}).
			Annotations(decimalSchema()),
		field.Bool("hard").Default(true),
	}
}

func (Budget) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "period").Unique()}
}
