package connections

import (
	"context"
	"time"

	"github.com/jarvis-core/jarvis/ent/apiview"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/openapi"
)

// Handler serves the Connections operation group.
type Handler struct{ svc *Service }

// NewHandler returns the connections module's operation-group handler.
func NewHandler(s *Service) *Handler { return &Handler{svc: s} }

var _ openapi.ConnectionsHandler = (*Handler)(nil)

// ListConnections implements openapi.ConnectionsHandler.
func (h *Handler) ListConnections(ctx context.Context, p openapi.ListConnectionsParams) (*openapi.ConnectionPage, error) {
	page, err := db.NewPage(p.Limit.Or(20), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.List(ctx, page)
	if err != nil {
		return nil, err
	}
	return apiview.ConnectionPage(rows, page), nil
}

// GetConnection implements openapi.ConnectionsHandler.
func (h *Handler) GetConnection(ctx context.Context, p openapi.GetConnectionParams) (*openapi.Connection, error) {
	c, err := h.svc.Get(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return apiview.Connection(c), nil
}

// DeleteConnection implements openapi.ConnectionsHandler.
func (h *Handler) DeleteConnection(ctx context.Context, p openapi.DeleteConnectionParams) error {
	return h.svc.Delete(ctx, p.ID)
}

// ListConnectionProviders implements openapi.ConnectionsHandler.
func (h *Handler) ListConnectionProviders(context.Context) (*openapi.ConnectionProviderList, error) {
	out := &openapi.ConnectionProviderList{Items: []openapi.ConnectionProvider{}}
	for _, p := range h.svc.Providers() {
		scopes := append([]string{}, p.OAuth.Scopes...)
		out.Items = append(out.Items, openapi.ConnectionProvider{Name: p.Name, Configured: p.Configured,
			Revocable: p.RevokeURL != "", RotatesRefreshTokens: p.Rotates, DefaultScopes: scopes})
	}
	return out, nil
}

// StartConnection implements openapi.ConnectionsHandler.
func (h *Handler) StartConnection(ctx context.Context, req *openapi.ConnectionStart) (*openapi.ConnectionAuthorization, error) {
	a, err := h.svc.Start(ctx, req.Provider, req.RedirectURI, req.Scopes)
	if err != nil {
		return nil, err
	}
	return &openapi.ConnectionAuthorization{AuthorizationURL: a.URL, State: a.State, ExpiresAt: a.ExpiresAt}, nil
}

// CompleteConnection implements openapi.ConnectionsHandler.
func (h *Handler) CompleteConnection(ctx context.Context, req *openapi.ConnectionCallback) (*openapi.Connection, error) {
	c, err := h.svc.Complete(ctx, req.State, req.Code, req.RedirectURI, req.Account.Or(""))
	if err != nil {
		return nil, err
	}
	return apiview.Connection(c), nil
}

// ImportConnection implements openapi.ConnectionsHandler.
func (h *Handler) ImportConnection(ctx context.Context, req *openapi.ConnectionImport) (*openapi.Connection, error) {
	t := Tokens{Access: req.AccessToken, Refresh: req.RefreshToken.Or(""), Scopes: req.Scopes}
	if v, ok := req.ExpiresAt.Get(); ok {
		t.Expiry = v
	}
	c, err := h.svc.Import(ctx, req.Provider, req.Account, t)
	if err != nil {
		return nil, err
	}
	return apiview.Connection(c), nil
}

// GetConnectionToken implements openapi.ConnectionsHandler.
func (h *Handler) GetConnectionToken(ctx context.Context, p openapi.GetConnectionTokenParams) (*openapi.ConnectionToken, error) {
	t, err := h.svc.Token(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	out := &openapi.ConnectionToken{AccessToken: t.Value, TokenType: t.Type}
	if t.Expiry != nil {
		out.ExpiresAt = openapi.NewOptDateTime(t.Expiry.UTC().Truncate(time.Second))
	}
	return out, nil
}
