package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// KGEntity is a node of a user's knowledge graph; (type, name) is unique per user.
type KGEntity struct{ ent.Schema }

func (KGEntity) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "kg_entities"}}
}

func (KGEntity) Fields() []ent.Field {
	return []ent.Field{
		field.String("type").MaxLen(100).NotEmpty(),
		field.String("name").MaxLen(500).NotEmpty(),
		jsonObject("properties"),
		hiddenEmbedding(true),
		// The model that computed embedding (NULL while there is none):
		// similarity search never compares vectors of different models.
		field.String("embedding_model").MaxLen(128).NotEmpty().Optional().Nillable(),
		redactions(),
	}
}

func (KGEntity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("outgoing", KGRelation.Type).Annotations(cascade()),
		edge.To("incoming", KGRelation.Type).Annotations(cascade()),
	}
}

// Annotations expose the operations the API serves; writes, upsert, search
// and traversal are the knowledge-graph module's own (openapi/spec/kg.go).
func (KGEntity) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{
		View: "Entity", Plural: "Entities", Path: "/v1/kg/entities", Group: "KnowledgeGraph",
		Ops: []annotation.Op{annotation.OpList, annotation.OpRead, annotation.OpDelete},
		Docs: map[annotation.Op]string{
			annotation.OpList: "List knowledge-graph entities, newest first",
			annotation.OpRead: "Read a knowledge-graph entity",
		},
	})
}

func (KGEntity) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "type", "name").Unique(),
		hnswCosine("embedding"),
	}
}
