package spec

import (
	"encoding/json"
	"net/http"

	"github.com/ogen-go/ogen"
)

// The knowledge-graph module's operations beyond list/read/delete of
// entities and read/delete of relations.
func init() {
	vector := func() *ogen.Schema {
		n := uint64(1536)
		return ogen.Float().AsArray().SetMinItems(&n).SetMaxItems(&n)
	}
	entityBody := func(required bool) *ogen.Schema {
		s := ogen.NewSchema().SetType("object")
		typ, name := Str(1, 100).ToProperty("type"), Str(1, 500).ToProperty("name")
		if required {
			s.AddRequiredProperties(typ, name)
		} else {
			s.AddOptionalProperties(typ, name)
		}
		embedding := "Your own embedding (1536 numbers); embedding_model is then required"
		model := "The model of embedding"
		if !required {
			embedding += ". Required with a new type or name when the entity's vector came from a model other than the service's"
			model += "; alone, naming the service's model, it has the service re-embed the entity with it"
		}
		return s.AddOptionalProperties(
			freeObject("Properties (personal data in keys, strings and numbers is redacted like names)").ToProperty("properties"),
			vector().SetDescription(embedding).ToProperty("embedding"),
			Str(1, 128).SetDescription(model).ToProperty("embedding_model"),
		)
	}
	direction := func() *ogen.Parameter {
		return ogen.NewParameter().SetName("direction").SetIn("query").
			SetDescription("Follow relations out of the entity, into it, or both").
			SetSchema(Enum("out", "in", "both").SetDefault(json.RawMessage(`"both"`)))
	}
	types := func() *ogen.Parameter {
		n := uint64(20)
		explode := false
		return ogen.NewParameter().SetName("types").SetIn("query").
			SetDescription("Relation types to follow, comma separated (any when absent)").
			SetExplode(explode).SetSchema(Str(1, 100).AsArray().SetMaxItems(&n))
	}
	Register(Module{
		Group: "KnowledgeGraph",
		Operations: []Operation{
			{Method: http.MethodPost, Path: "/v1/kg/entities", ID: "createEntity",
				Summary: "Create an entity; its (type, name) must be new (upsert merges instead)",
				Body:    "EntityCreate", Status: http.StatusCreated, Result: "Entity", Errors: []int{http.StatusConflict}},
			{Method: http.MethodPost, Path: "/v1/kg/entities/upsert", ID: "upsertEntity",
				Summary:     "Create the entity of (type, name), or merge into it",
				Description: "An existing entity takes the new properties' keys (JSON object merge) and the new embedding; without an embedding, an entity whose vector came from a model other than the service's keeps it (its type and name, hence its text, are unchanged). created says which happened. Concurrent upserts of one name make one entity.",
				Body:        "EntityCreate", Result: "EntityUpsert"},
			{Method: http.MethodPatch, Path: "/v1/kg/entities/{id}", ID: "updateEntity",
				Summary:     "Change an entity (a new type or name is re-embedded)",
				Description: "A new type or name is embedded by the service when the entity's vector is the service's model's; an entity embedded with another model needs the new vector in embedding (400 without it), so an edit never changes its model silently.", Params: []*ogen.Parameter{IDParam("entity")},
				Body: "EntityUpdate", Result: "Entity", Errors: []int{http.StatusNotFound, http.StatusConflict}},
			{Method: http.MethodPost, Path: "/v1/kg/entities/search", ID: "searchEntities",
				Summary: "Find entities by meaning, best first", Body: "EntitySearch", Result: "EntitySearchResult"},
			{Method: http.MethodGet, Path: "/v1/kg/entities/{id}/neighbors", ID: "listNeighbors",
				Summary:     "Entities reachable from an entity, nearest first, with one shortest path each",
				Description: "One recursive query walks relations up to depth hops (at most 5), never revisiting an entity on a path. truncated says the answer hit limit or the walk's bound on paths.",
				Params: []*ogen.Parameter{IDParam("entity"),
					ogen.NewParameter().SetName("depth").SetIn("query").SetDescription("Hops (1-5)").
						SetSchema(ogen.Int().SetMinimum(ptrInt(1)).SetMaximum(ptrInt(5)).SetDefault(json.RawMessage("1"))),
					types(), direction(),
					ogen.NewParameter().SetName("limit").SetIn("query").SetDescription("Entities at most (1-1000)").
						SetSchema(ogen.Int().SetMinimum(ptrInt(1)).SetMaximum(ptrInt(1000)).SetDefault(json.RawMessage("100"))),
				},
				Result: "NeighborList", Errors: []int{http.StatusNotFound}},
			{Method: http.MethodPost, Path: "/v1/kg/relations", ID: "createRelation",
				Summary: "Relate two of your entities", Body: "RelationCreate", Status: http.StatusCreated, Result: "Relation",
				Errors: []int{http.StatusNotFound, http.StatusConflict}},
			{Method: http.MethodGet, Path: "/v1/kg/entities/{id}/relations", ID: "listEntityRelations",
				Summary: "An entity's relations, newest first",
				Params:  append([]*ogen.Parameter{IDParam("entity"), types(), direction()}, PageParams()...),
				Result:  "RelationPage", Errors: []int{http.StatusNotFound}},
		},
		Schemas: map[string]*ogen.Schema{
			"EntityCreate": entityBody(true),
			"EntityUpdate": entityBody(false),
			"EntityUpsert": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("Entity").ToProperty("entity"),
				ogen.Bool().SetDescription("Whether the entity was new").ToProperty("created"),
			),
			"EntitySearch": ogen.NewSchema().SetType("object").AddOptionalProperties(
				Str(1, 4096).ToProperty("query"),
				vector().SetDescription("Your own query vector, instead of query").ToProperty("vector"),
				Str(1, 128).SetDescription("The model of vector (default: the service's embedding model)").ToProperty("model"),
				Str(1, 100).SetDescription("Only entities of this type").ToProperty("type"),
				similarity().ToProperty("threshold"),
				ogen.Int().SetMinimum(ptrInt(1)).SetMaximum(ptrInt(100)).SetDescription("Default 10").ToProperty("limit"),
			),
			"EntityHit": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("Entity").ToProperty("entity"),
				ogen.Double().SetDescription("Cosine similarity to the query").ToProperty("similarity"),
			),
			"EntitySearchResult": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("EntityHit").AsArray().ToProperty("items"),
				otherModels("entities"),
			),
			"Neighbor": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("Entity").ToProperty("entity"),
				ogen.Int().SetDescription("Hops from the start").ToProperty("distance"),
				ogen.UUID().AsArray().SetDescription("Entity ids from the start to this entity, both included").ToProperty("path"),
				ogen.UUID().AsArray().SetDescription("Relation ids along path").ToProperty("relations"),
			),
			"NeighborList": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("Neighbor").AsArray().ToProperty("items"),
				ogen.Bool().SetDescription("Entities may be missing: limit or the walk's bound was reached").ToProperty("truncated"),
			),
			"RelationCreate": ogen.NewSchema().SetType("object").AddRequiredProperties(
				ogen.UUID().ToProperty("source_id"),
				ogen.UUID().ToProperty("target_id"),
				Str(1, 100).ToProperty("type"),
			).AddOptionalProperties(freeObject("Properties of the relation").ToProperty("properties")),
			"RelationPage": PageOf("Relation"),
		},
	})
}
