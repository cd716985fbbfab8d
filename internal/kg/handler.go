package kg

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/go-faster/jx"

	"github.com/jarvis-core/jarvis/ent/apiview"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/openapi"
)

// Handler serves the KnowledgeGraph operation group.
type Handler struct{ svc *Service }

// NewHandler returns the knowledge-graph module's operation-group handler.
func NewHandler(s *Service) *Handler { return &Handler{svc: s} }

var _ openapi.KnowledgeGraphHandler = (*Handler)(nil)

func decodeObject(field string, m map[string]jx.Raw) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, raw := range m {
		// Numbers stay literals (json.Number): a float64 would round
		// integers past 2^53, card numbers among them, before redaction.
		var v any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return nil, fault.InvalidField(field, "must be a JSON object")
		}
		out[k] = v
	}
	return out, nil
}

func vectorOf(values []float32, model openapi.OptString) *Vector {
	if values == nil {
		if model.Set {
			return &Vector{Model: model.Value} // refused by checkVector: a model of no vector
		}
		return nil
	}
	return &Vector{Values: values, Model: model.Or("")}
}

func entityInput(req *openapi.EntityCreate) (EntityInput, error) {
	in := EntityInput{Type: req.Type, Name: req.Name, Embedding: vectorOf(req.Embedding, req.EmbeddingModel)}
	if p, ok := req.Properties.Get(); ok {
		var err error
		if in.Properties, err = decodeObject("properties", p); err != nil {
			return EntityInput{}, err
		}
	}
	return in, nil
}

// ListEntities implements openapi.KnowledgeGraphHandler.
func (h *Handler) ListEntities(ctx context.Context, p openapi.ListEntitiesParams) (*openapi.EntityPage, error) {
	page, err := db.NewPage(p.Limit.Or(20), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.ListEntities(ctx, "", page)
	if err != nil {
		return nil, err
	}
	return apiview.EntityPage(rows, page), nil
}

// GetEntity implements openapi.KnowledgeGraphHandler.
func (h *Handler) GetEntity(ctx context.Context, p openapi.GetEntityParams) (*openapi.Entity, error) {
	e, err := h.svc.GetEntity(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return apiview.Entity(e), nil
}

// CreateEntity implements openapi.KnowledgeGraphHandler.
func (h *Handler) CreateEntity(ctx context.Context, req *openapi.EntityCreate) (*openapi.Entity, error) {
	in, err := entityInput(req)
	if err != nil {
		return nil, err
	}
	e, err := h.svc.CreateEntity(ctx, in)
	if err != nil {
		return nil, err
	}
	return apiview.Entity(e), nil
}

// UpsertEntity implements openapi.KnowledgeGraphHandler.
func (h *Handler) UpsertEntity(ctx context.Context, req *openapi.EntityCreate) (*openapi.EntityUpsert, error) {
	in, err := entityInput(req)
	if err != nil {
		return nil, err
	}
	e, created, err := h.svc.UpsertEntity(ctx, in)
	if err != nil {
		return nil, err
	}
	return &openapi.EntityUpsert{Entity: *apiview.Entity(e), Created: created}, nil
}

// UpdateEntity implements openapi.KnowledgeGraphHandler.
func (h *Handler) UpdateEntity(ctx context.Context, req *openapi.EntityUpdate, p openapi.UpdateEntityParams) (*openapi.Entity, error) {
	var in EntityUpdate
	if v, ok := req.Type.Get(); ok {
		in.Type = &v
	}
	if v, ok := req.Name.Get(); ok {
		in.Name = &v
	}
	if v, ok := req.Properties.Get(); ok {
		props, err := decodeObject("properties", v)
		if err != nil {
			return nil, err
		}
		in.Properties = &props
	}
	in.Embedding = vectorOf(req.Embedding, req.EmbeddingModel)
	e, err := h.svc.UpdateEntity(ctx, p.ID, in)
	if err != nil {
		return nil, err
	}
	return apiview.Entity(e), nil
}

// DeleteEntity implements openapi.KnowledgeGraphHandler.
func (h *Handler) DeleteEntity(ctx context.Context, p openapi.DeleteEntityParams) error {
	return h.svc.DeleteEntity(ctx, p.ID)
}

// SearchEntities implements openapi.KnowledgeGraphHandler.
func (h *Handler) SearchEntities(ctx context.Context, req *openapi.EntitySearch) (*openapi.EntitySearchResult, error) {
	in := EntitySearch{Query: req.Query.Or(""), Type: req.Type.Or(""), Limit: req.Limit.Or(DefaultLimit)}
	if req.Vector != nil {
		in.Vector = &Vector{Values: req.Vector, Model: req.Model.Or(h.svc.emb.Model())}
	}
	if t, ok := req.Threshold.Get(); ok {
		in.Threshold = &t
	}
	res, err := h.svc.SearchEntities(ctx, in)
	if err != nil {
		return nil, err
	}
	out := &openapi.EntitySearchResult{Items: make([]openapi.EntityHit, len(res.Hits)), OtherModels: res.OtherModels}
	for i, hit := range res.Hits {
		out.Items[i] = openapi.EntityHit{Entity: *apiview.Entity(hit.Entity), Similarity: hit.Similarity}
	}
	return out, nil
}

// ListNeighbors implements openapi.KnowledgeGraphHandler.
func (h *Handler) ListNeighbors(ctx context.Context, p openapi.ListNeighborsParams) (*openapi.NeighborList, error) {
	res, err := h.svc.Neighbors(ctx, p.ID, NeighborQuery{
		Depth:     p.Depth.Or(1),
		Types:     p.Types,
		Direction: Direction(p.Direction.Or(openapi.ListNeighborsDirectionBoth)),
		Limit:     p.Limit.Or(DefaultNeighborsMax),
	})
	if err != nil {
		return nil, err
	}
	out := &openapi.NeighborList{Items: make([]openapi.Neighbor, len(res.Items)), Truncated: res.Truncated}
	for i, n := range res.Items {
		out.Items[i] = openapi.Neighbor{Entity: *apiview.Entity(n.Entity), Distance: n.Distance, Path: n.Path, Relations: n.Relations}
	}
	return out, nil
}

// CreateRelation implements openapi.KnowledgeGraphHandler.
func (h *Handler) CreateRelation(ctx context.Context, req *openapi.RelationCreate) (*openapi.Relation, error) {
	in := RelationInput{SourceID: req.SourceID, TargetID: req.TargetID, Type: req.Type}
	if v, ok := req.Properties.Get(); ok {
		var err error
		if in.Properties, err = decodeObject("properties", v); err != nil {
			return nil, err
		}
	}
	r, err := h.svc.CreateRelation(ctx, in)
	if err != nil {
		return nil, err
	}
	return apiview.Relation(r), nil
}

// GetRelation implements openapi.KnowledgeGraphHandler.
func (h *Handler) GetRelation(ctx context.Context, p openapi.GetRelationParams) (*openapi.Relation, error) {
	r, err := h.svc.GetRelation(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return apiview.Relation(r), nil
}

// DeleteRelation implements openapi.KnowledgeGraphHandler.
func (h *Handler) DeleteRelation(ctx context.Context, p openapi.DeleteRelationParams) error {
	return h.svc.DeleteRelation(ctx, p.ID)
}

// ListEntityRelations implements openapi.KnowledgeGraphHandler.
func (h *Handler) ListEntityRelations(ctx context.Context, p openapi.ListEntityRelationsParams) (*openapi.RelationPage, error) {
	page, err := db.NewPage(p.Limit.Or(20), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.ListRelations(ctx, p.ID, RelationFilter{
		Direction: Direction(p.Direction.Or(openapi.ListEntityRelationsDirectionBoth)),
		Types:     p.Types,
	}, page)
	if err != nil {
		return nil, err
	}
	items, next := apiview.RelationItems(rows, page)
	return &openapi.RelationPage{Items: items, NextCursor: next}, nil
}
