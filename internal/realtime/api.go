package realtime

import (
	"context"
	"encoding/json"
	"maps"
	"slices"

	"github.com/go-faster/jx"

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
	pub, err := h.svc.EmitRunEvent(ctx, p.ID, events.Type(req.Type), encodeData(req.Data))
	if err != nil {
		return nil, err
	}
	e := emitted(pub, req.Data)
	return &e, nil
}

// EmitRunEvents implements openapi.RealtimeHandler.
func (h *APIHandler) EmitRunEvents(ctx context.Context, req *openapi.RunEventBatch, p openapi.EmitRunEventsParams) (*openapi.RealtimeEventBatch, error) {
	evs := make([]events.Event, len(req.Events))
	for i, e := range req.Events {
		evs[i] = events.Event{Type: events.Type(e.Type), Data: encodeData(e.Data)}
	}
	pubs, err := h.svc.EmitRunEvents(ctx, p.ID, evs)
	if err != nil {
		return nil, err
	}
	out := &openapi.RealtimeEventBatch{Events: make([]openapi.RealtimeEvent, len(pubs))}
	for i, pub := range pubs {
		out.Events[i] = emitted(pub, req.Events[i].Data)
	}
	return out, nil
}

// emitted is the answer for a published event. Its data is echoed as the
// request held it (the same object, before compaction), not decoded again
// from what was published: a worker streaming tokens pays for its data's
// JSON once.
func emitted(pub Publication, data openapi.RunEventCreateData) openapi.RealtimeEvent {
	return openapi.RealtimeEvent{Type: openapi.RealtimeEventType(pub.Type), RunID: openapi.NewOptUUID(pub.RunID),
		Seq: int64(pub.Seq), Ts: pub.Time, Data: openapi.RealtimeEventData(data)}
}

// encodeData is the JSON object of an event's data as the API decoded it,
// its names in order (as encoding/json writes a map, but without its
// reflection: this is every emitted event's path). The values are the
// request's own JSON; the Publisher compacts the whole.
func encodeData(m openapi.RunEventCreateData) json.RawMessage {
	if m == nil {
		return json.RawMessage("null") // refused as data, as encoding/json's nil map was
	}
	size := 2
	for k, v := range m {
		size += len(k) + len(v) + 4
	}
	var w jx.Encoder
	w.SetBytes(make([]byte, 0, size))
	w.ObjStart()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		w.FieldStart(k)
		w.Raw(m[k])
	}
	w.ObjEnd()
	return w.Bytes()
}
