package auth

import (
	"context"
	"time"

	"github.com/jarvis-core/jarvis/ent/apiview"
	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/openapi"
)

// Handler serves the Auth operation group: accounts, tokens, sessions.
type Handler struct{ svc *Service }

// NewHandler returns the auth module's operation-group handler.
func NewHandler(s *Service) *Handler { return &Handler{svc: s} }

var _ openapi.AuthHandler = (*Handler)(nil)

func meta(ctx context.Context) Meta {
	c := api.ClientFrom(ctx)
	return Meta{UserAgent: c.UserAgent, IP: c.IP}
}

func tokenResponse(t Tokens) *openapi.TokenResponse {
	return &openapi.TokenResponse{
		AccessToken:  t.AccessToken,
		RefreshToken: t.RefreshToken,
		TokenType:    openapi.TokenResponseTokenTypeBearer,
		ExpiresIn:    int(time.Until(t.AccessExpiresAt).Round(time.Second).Seconds()),
		UserID:       t.UserID,
		SessionID:    t.SessionID,
	}
}

// Register implements openapi.AuthHandler.
func (h *Handler) Register(ctx context.Context, req *openapi.RegisterRequest) (*openapi.TokenResponse, error) {
	t, err := h.svc.Register(ctx, req.Email, req.Password, req.DisplayName.Or(""), meta(ctx))
	if err != nil {
		return nil, err
	}
	return tokenResponse(t), nil
}

// Login implements openapi.AuthHandler.
func (h *Handler) Login(ctx context.Context, req *openapi.LoginRequest) (*openapi.TokenResponse, error) {
	t, err := h.svc.Login(ctx, req.Email, req.Password, meta(ctx))
	if err != nil {
		return nil, err
	}
	return tokenResponse(t), nil
}

// Refresh implements openapi.AuthHandler.
func (h *Handler) Refresh(ctx context.Context, req *openapi.RefreshRequest) (*openapi.TokenResponse, error) {
	t, err := h.svc.Refresh(ctx, req.RefreshToken, meta(ctx))
	if err != nil {
		return nil, err
	}
	return tokenResponse(t), nil
}

// Logout implements openapi.AuthHandler; the body is optional.
func (h *Handler) Logout(ctx context.Context, req openapi.OptLogoutRequest) error {
	all := false
	if r, ok := req.Get(); ok {
		all = r.All.Or(false)
	}
	return h.svc.Logout(ctx, all)
}

// GetMe implements openapi.AuthHandler.
func (h *Handler) GetMe(ctx context.Context) (*openapi.User, error) {
	u, err := h.svc.Me(ctx)
	if err != nil {
		return nil, err
	}
	return apiview.User(u), nil
}

// ListSessions implements openapi.AuthHandler.
func (h *Handler) ListSessions(ctx context.Context, p openapi.ListSessionsParams) (*openapi.SessionPage, error) {
	page, err := db.NewPage(p.Limit.Or(20), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.Sessions(ctx, page)
	if err != nil {
		return nil, err
	}
	return apiview.SessionPage(rows, page), nil
}

// DeleteSession implements openapi.AuthHandler: it revokes the session.
func (h *Handler) DeleteSession(ctx context.Context, p openapi.DeleteSessionParams) error {
	return h.svc.RevokeSession(ctx, p.ID)
}
