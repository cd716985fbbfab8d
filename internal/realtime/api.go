package realtime

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/openapi"
)

// APIHandler is the module's operation group (openapi.RealtimeHandler).
type APIHandler struct{ svc *Service }

// NewAPIHandler serves the Realtime operations with svc.
func NewAPIHandler(svc *Service) *APIHandler { return &APIHandler{svc: svc} }

var _ openapi.RealtimeHandler = (*APIHandler)(nil)

// EmitRunEvent implements openapi.RealtimeHandler.
func (h *APIHandler) EmitRunEvent(ctx context.Context, req *openapi.RunEventCreate, p openapi.EmitRunEventParams) (*openapi.RealtimeEvent, error) {
	data, err := json.Marshal(req.Data)
	if err != nil {
		return nil, fmt.Errorf("encode event data: %w", err)
	}
	pub, err := h.svc.EmitRunEvent(ctx, p.ID, events.Type(req.Type), data)
	if err != nil {
		return nil, err
	}
	return toAPI(pub)
}

// EmitRunEvents implements openapi.RealtimeHandler.
func (h *APIHandler) EmitRunEvents(ctx context.Context, req *openapi.RunEventBatch, p openapi.EmitRunEventsParams) (*openapi.RealtimeEventBatch, error) {
	evs := make([]events.Event, len(req.Events))
	for i, e := range req.Events {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("encode event data: %w", err)
		}
		evs[i] = events.Event{Type: events.Type(e.Type), Data: data}
	}
	pubs, err := h.svc.EmitRunEvents(ctx, p.ID, evs)
	if err != nil {
		return nil, err
	}
	out := &openapi.RealtimeEventBatch{Events: make([]openapi.RealtimeEvent, len(pubs))}
	for i, pub := range pubs {
		e, err := toAPI(pub)
		if err != nil {
			return nil, err
		}
		out.Events[i] = *e
	}
	return out, nil
}

func toAPI(pub Publication) (*openapi.RealtimeEvent, error) {
	out := openapi.RealtimeEventData{}
	if err := json.Unmarshal(pub.Data, &out); err != nil {
		return nil, fmt.Errorf("decode event data: %w", err)
	}
	return &openapi.RealtimeEvent{
		Type: openapi.RealtimeEventType(pub.Type), RunID: openapi.NewOptUUID(pub.RunID),
		Seq: int64(pub.Seq), Ts: pub.Time, Data: out,
	}, nil
}
