package schema

import (
	"entgo.io/contrib/entoas"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/ogen-go/ogen"
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
		redactions(),
		// search_vector is the full-text form of content for hybrid search,
		// written by the memory service in the same transaction as content
		// (to_tsvector needs the database's text search configuration, so
		// Go cannot compute it). ent has no generated columns; a column the
		// model knows keeps `migrate diff` from planning to drop it.
		field.String("search_vector").
			SchemaType(map[string]string{dialect.Postgres: "tsvector"}).
			Optional().Nillable().
			Annotations(entoas.Skip(true)),
	}
}

func (Memory) Indexes() []ent.Index {
	return []ent.Index{
		hnswCosine("embedding"),
		index.Fields("search_vector").Annotations(entsql.IndexType("GIN")),
		// Search refuses mixing embedding models: two range probes on this
		// index tell whether a user has rows of another model, at any size.
		index.Fields("user_id", "embedding_model"),
	}
}

// redactions is how many PII matches of each kind (email, phone, ...) the
// redactor replaced in the row's text before it was stored or embedded. It is
// the row's own metadata, kept apart from the caller's metadata so a client
// can neither overwrite nor forge it.
func redactions() ent.Field {
	return field.JSON("redactions", map[string]int{}).Default(map[string]int{}).
		// A database default too, so adding the column to filled tables works.
		Annotations(entsql.Default("{}"), entoas.ReadOnly(true), entoas.Schema(&ogen.Schema{
			Type:                 "object",
			AdditionalProperties: &ogen.AdditionalProperties{Schema: *ogen.Int()},
		}))
}
