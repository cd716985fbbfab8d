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
	out := openapi.RealtimeEventData{}
	if err := json.Unmarshal(pub.Data, &out); err != nil {
		return nil, fmt.Errorf("decode event data: %w", err)
	}
	return &openapi.RealtimeEvent{
		Type: openapi.RealtimeEventType(pub.Type), RunID: openapi.NewOptUUID(pub.RunID),
		Seq: int64(pub.Seq), Ts: pub.Time, Data: out,
	}, nil
}
