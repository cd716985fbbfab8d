package audit

import (
	"context"

	"github.com/jarvis-core/jarvis/ent/apiview"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/openapi"
)

// Handler serves the Audit operation group.
type Handler struct{ svc *Service }

// NewHandler returns the audit module's operation-group handler.
func NewHandler(s *Service) *Handler { return &Handler{svc: s} }

var _ openapi.AuditHandler = (*Handler)(nil)

// ListAuditEvents implements openapi.AuditHandler.
func (h *Handler) ListAuditEvents(ctx context.Context, p openapi.ListAuditEventsParams) (*openapi.AuditEventPage, error) {
	page, err := db.NewPage(p.Limit.Or(20), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	f := Filter{Since: p.Since.Or(zeroTime), Until: p.Until.Or(zeroTime)}
	if t, ok := p.Type.Get(); ok {
		f.Type = Type(t)
	}
	rows, err := h.svc.List(ctx, page, f)
	if err != nil {
		return nil, err
	}
	items, next := apiview.AuditEventItems(rows, page)
	return &openapi.AuditEventPage{Items: items, NextCursor: next}, nil
}

// GetAuditEvent implements openapi.AuditHandler.
func (h *Handler) GetAuditEvent(ctx context.Context, p openapi.GetAuditEventParams) (*openapi.AuditEvent, error) {
	e, err := h.svc.Get(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return apiview.AuditEvent(e), nil
}
