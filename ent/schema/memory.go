package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// Memory is a remembered fact of a user, stored after PII redaction, with its
// embedding for similarity search.
type Memory struct{ ent.Schema }

func (Memory) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "memories"}}
}

func (Memory) Fields() []ent.Field {
	return []ent.Field{
		field.Text("content").NotEmpty(),
		embedding(false),
		field.String("embedding_model").MaxLen(128).NotEmpty(),
		jsonObject("metadata"),
	}
}

func (Memory) Indexes() []ent.Index {
	return []ent.Index{hnswCosine("embedding")}
}
