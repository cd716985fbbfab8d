package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/ogen-go/ogen"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/internal/textsearch"
	"github.com/jarvis-core/jarvis/openapi/annotation"
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
		hiddenEmbedding(false),
		field.String("embedding_model").MaxLen(128).NotEmpty(),
		jsonObject("metadata"),
		redactions(),
		// search_vector is the full-text form of content for hybrid search.
		// to_tsvector needs the database's text search configuration, so Go
		// cannot compute it: the service sets it to the content as a
		// textsearch.Vector, whose parameter the statement wraps in
		// to_tsvector, so the INSERT (or UPDATE) that stores the content
		// computes it (one row version per write). ent has no generated
		// columns; a column the model knows keeps `migrate diff` from
		// planning to drop it.
		field.Other("search_vector", textsearch.Vector("")).
			SchemaType(map[string]string{dialect.Postgres: "tsvector"}).
			Optional().Nillable().
			Annotations(annotation.Skip()),
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

// Annotations expose the operations the API serves; writes and search are
// the memory module's own (openapi/spec/memory.go): the service redacts and
// embeds, so their bodies are not the entity's fields.
func (Memory) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{
		View: "Memory", Plural: "Memories", Path: "/v1/memories", Group: "Memories",
		Ops: []annotation.Op{annotation.OpList, annotation.OpRead, annotation.OpDelete},
		Docs: map[annotation.Op]string{
			annotation.OpList: "List memories, newest first",
			annotation.OpRead: "Read a memory",
		},
	})
}

// hiddenEmbedding is the embedding column (as embedding() defines it) kept
// out of the API's views: 1536 numbers per row would make every list and
// search answer tens of kilobytes per item, and clients search by text or
// send their own vectors; the model name is shown.
func hiddenEmbedding(optional bool) ent.Field {
	f := field.Other("embedding", pgvector.Vector{}).
		SchemaType(map[string]string{dialect.Postgres: "vector(1536)"}).
		Annotations(annotation.Skip())
	if optional {
		f = f.Optional().Nillable()
	}
	return f
}

// redactions is how many PII matches of each kind (email, phone, ...) the
// redactor replaced in the row's text before it was stored or embedded:
// {"email": 1}. It is the row's own metadata, kept apart from the caller's
// metadata so a client can neither overwrite nor forge it. (A JSON object
// of any values in Go, as the API's generated views take objects.)
func redactions() ent.Field {
	return field.JSON("redactions", map[string]any{}).Default(map[string]any{}).
		// A database default too, so adding the column to filled tables works.
		Annotations(entsql.Default("{}"), annotation.ReadOnly(), annotation.Schema(&ogen.Schema{
			Type:                 "object",
			Description:          "How many matches of each kind of personal data were redacted: {\"email\": 1}",
			AdditionalProperties: &ogen.AdditionalProperties{Bool: &anyProps},
		}))
}
