package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// KGRelation is a typed, directed edge between two entities of the same user.
type KGRelation struct{ ent.Schema }

func (KGRelation) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "kg_relations"}}
}

func (KGRelation) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("source_id", uuid.UUID{}).Immutable(),
		field.UUID("target_id", uuid.UUID{}).Immutable(),
		field.String("type").MaxLen(100).NotEmpty(),
		jsonObject("properties"),
	}
}

func (KGRelation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("source", KGEntity.Type).Ref("outgoing").Field("source_id").Unique().Required().Immutable(),
		edge.From("target", KGEntity.Type).Ref("incoming").Field("target_id").Unique().Required().Immutable(),
	}
}

// Annotations expose the operations the API serves; create and the list of
// an entity's relations are the knowledge-graph module's own.
func (KGRelation) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{
		View: "Relation", Path: "/v1/kg/relations", Group: "KnowledgeGraph",
		Ops:  []annotation.Op{annotation.OpRead, annotation.OpDelete},
		Docs: map[annotation.Op]string{annotation.OpRead: "Read a knowledge-graph relation"},
	})
}

func (KGRelation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "source_id", "target_id", "type").Unique(),
		// Reverse traversal (who points at X) without a scan.
		index.Fields("user_id", "target_id"),
	}
}
