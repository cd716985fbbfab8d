package memory

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

// Handler serves the Memories operation group.
type Handler struct{ svc *Service }

// NewHandler returns the memory module's operation-group handler.
func NewHandler(s *Service) *Handler { return &Handler{svc: s} }

var _ openapi.MemoriesHandler = (*Handler)(nil)

// decodeObject turns an API object (raw JSON values) into the map ent stores.
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

// vectorOf is the client's vector and its model, or nil when it sent none.
func vectorOf(values []float32, model openapi.OptString) *Vector {
	if values == nil {
		if model.Set {
			// A model without a vector names nothing: checkVector says so.
			return &Vector{Model: model.Value}
		}
		return nil
	}
	return &Vector{Values: values, Model: model.Or("")}
}

// ListMemories implements openapi.MemoriesHandler.
func (h *Handler) ListMemories(ctx context.Context, p openapi.ListMemoriesParams) (*openapi.MemoryPage, error) {
	page, err := db.NewPage(p.Limit.Or(20), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.List(ctx, page)
	if err != nil {
		return nil, err
	}
	return apiview.MemoryPage(rows, page), nil
}

// GetMemory implements openapi.MemoriesHandler.
func (h *Handler) GetMemory(ctx context.Context, p openapi.GetMemoryParams) (*openapi.Memory, error) {
	m, err := h.svc.Get(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return apiview.Memory(m), nil
}

// CreateMemory implements openapi.MemoriesHandler.
func (h *Handler) CreateMemory(ctx context.Context, req *openapi.MemoryCreate) (*openapi.Memory, error) {
	in := CreateInput{Content: req.Content, Embedding: vectorOf(req.Embedding, req.EmbeddingModel)}
	if md, ok := req.Metadata.Get(); ok {
		var err error
		if in.Metadata, err = decodeObject("metadata", md); err != nil {
			return nil, err
		}
	}
	m, err := h.svc.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return apiview.Memory(m), nil
}

// UpdateMemory implements openapi.MemoriesHandler.
func (h *Handler) UpdateMemory(ctx context.Context, req *openapi.MemoryUpdate, p openapi.UpdateMemoryParams) (*openapi.Memory, error) {
	var in UpdateInput
	if c, ok := req.Content.Get(); ok {
		in.Content = &c
	}
	if md, ok := req.Metadata.Get(); ok {
		m, err := decodeObject("metadata", md)
		if err != nil {
			return nil, err
		}
		in.Metadata = &m
	}
	in.Embedding = vectorOf(req.Embedding, req.EmbeddingModel)
	m, err := h.svc.Update(ctx, p.ID, in)
	if err != nil {
		return nil, err
	}
	return apiview.Memory(m), nil
}

// DeleteMemory implements openapi.MemoriesHandler.
func (h *Handler) DeleteMemory(ctx context.Context, p openapi.DeleteMemoryParams) error {
	return h.svc.Delete(ctx, p.ID)
}

// SearchMemories implements openapi.MemoriesHandler.
func (h *Handler) SearchMemories(ctx context.Context, req *openapi.MemorySearch) (*openapi.MemorySearchResult, error) {
	in := SearchInput{
		Query: req.Query.Or(""),
		Mode:  string(req.Mode.Or(openapi.MemorySearchModeVector)),
		Limit: req.Limit.Or(DefaultLimit),
	}
	if req.Vector != nil {
		in.Vector = &Vector{Values: req.Vector, Model: req.Model.Or(h.svc.emb.Model())}
	}
	if t, ok := req.Threshold.Get(); ok {
		in.Threshold = &t
	}
	if md, ok := req.Metadata.Get(); ok {
		var err error
		if in.Metadata, err = decodeObject("metadata", md); err != nil {
			return nil, err
		}
	}
	res, err := h.svc.Search(ctx, in)
	if err != nil {
		return nil, err
	}
	out := &openapi.MemorySearchResult{Items: make([]openapi.MemoryHit, len(res.Hits)), OtherModels: res.OtherModels}
	for i, hit := range res.Hits {
		out.Items[i] = openapi.MemoryHit{Memory: *apiview.Memory(hit.Memory), Similarity: hit.Similarity, Score: hit.Score}
	}
	return out, nil
}
