package httpapi

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/auth"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/secrets"
	"github.com/jarvis-core/jarvis/openapi"
)

// API implements the generated openapi.Handler on the services.
type API struct {
	auth    *auth.Service
	secrets *secrets.Service
	log     *slog.Logger
}

var _ openapi.Handler = (*API)(nil)

// NewAPI returns the handler of the /v1 operations.
func NewAPI(a *auth.Service, s *secrets.Service, log *slog.Logger) *API {
	return &API{auth: a, secrets: s, log: log}
}

// NewError implements openapi.Handler: every operation's error body.
func (a *API) NewError(ctx context.Context, err error) *openapi.ErrorStatusCode {
	return errorStatus(ctx, a.log, err)
}

type claimsKey struct{}

// HandleBearerAuth implements openapi.SecurityHandler: a valid access token
// puts the user's viewer (ent privacy and RLS) and a logger naming the user
// in the context. The session itself is checked by the operation's unit of
// work, in its one transaction (db.WithSession): every private operation
// has one.
func (a *API) HandleBearerAuth(ctx context.Context, _ openapi.OperationName, t openapi.BearerAuth) (context.Context, error) {
	ctx, c, err := a.auth.Verify(ctx, t.Token)
	if err != nil {
		return ctx, err
	}
	return a.signedIn(ctx, c), nil
}

// signedIn puts the caller in ctx.
func (a *API) signedIn(ctx context.Context, c token.Claims) context.Context {
	ctx = viewer.NewContext(ctx, viewer.User(c.UserID))
	ctx = logging.NewContext(ctx, logging.FromContext(ctx, a.log).With(slog.String("user_id", c.UserID.String())))
	return context.WithValue(ctx, claimsKey{}, c)
}

// caller is the authenticated caller; the security handler ran for every
// operation that reaches a private method.
func caller(ctx context.Context) (token.Claims, error) {
	c, ok := ctx.Value(claimsKey{}).(token.Claims)
	if !ok {
		return token.Claims{}, errUnauthorized
	}
	return c, nil
}

type metaKey struct{}

// clientMeta records who is calling (user agent, peer address) for sessions.
// X-Forwarded-For is not trusted: without a configured proxy it is the
// client's own claim.
func clientMeta(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		m := auth.Meta{UserAgent: r.UserAgent(), IP: ip}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), metaKey{}, m)))
	})
}

func meta(ctx context.Context) auth.Meta {
	m, _ := ctx.Value(metaKey{}).(auth.Meta)
	return m
}

func tokenResponse(t auth.Tokens) *openapi.TokenResponse {
	return &openapi.TokenResponse{
		AccessToken:  t.AccessToken,
		RefreshToken: t.RefreshToken,
		TokenType:    openapi.TokenResponseTokenTypeBearer,
		ExpiresIn:    int(time.Until(t.AccessExpiresAt).Round(time.Second).Seconds()),
		UserID:       t.UserID,
		SessionID:    t.SessionID,
	}
}

// Register implements openapi.Handler.
func (a *API) Register(ctx context.Context, req *openapi.RegisterRequest) (*openapi.TokenResponse, error) {
	t, err := a.auth.Register(ctx, req.Email, req.Password, req.DisplayName.Or(""), meta(ctx))
	if err != nil {
		return nil, err
	}
	return tokenResponse(t), nil
}

// Login implements openapi.Handler.
func (a *API) Login(ctx context.Context, req *openapi.LoginRequest) (*openapi.TokenResponse, error) {
	t, err := a.auth.Login(ctx, req.Email, req.Password, meta(ctx))
	if err != nil {
		return nil, err
	}
	return tokenResponse(t), nil
}

// Refresh implements openapi.Handler.
func (a *API) Refresh(ctx context.Context, req *openapi.RefreshRequest) (*openapi.TokenResponse, error) {
	t, err := a.auth.Refresh(ctx, req.RefreshToken, meta(ctx))
	if err != nil {
		return nil, err
	}
	return tokenResponse(t), nil
}

// Logout implements openapi.Handler.
func (a *API) Logout(ctx context.Context, req *openapi.LogoutRequest) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	return a.auth.Logout(ctx, c.UserID, c.SessionID, req.All.Or(false))
}

// GetMe implements openapi.Handler.
func (a *API) GetMe(ctx context.Context) (*openapi.User, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := a.auth.Me(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	out := &openapi.User{ID: u.ID, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Email: u.Email,
		Status: openapi.UserStatus(u.Status)}
	if u.DisplayName != "" {
		out.DisplayName = openapi.NewOptString(u.DisplayName)
	}
	if u.LastLoginAt != nil {
		out.LastLoginAt = openapi.NewOptDateTime(*u.LastLoginAt)
	}
	return out, nil
}

// ListSessions implements openapi.Handler.
func (a *API) ListSessions(ctx context.Context, p openapi.ListSessionsParams) (*openapi.SessionPage, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := page(p.Limit, p.Cursor, func(before uuid.UUID, n int) ([]*ent.Session, error) {
		return a.auth.Sessions(ctx, c.UserID, before, n)
	}, func(s *ent.Session) uuid.UUID { return s.ID })
	if err != nil {
		return nil, err
	}
	out := &openapi.SessionPage{Items: make([]openapi.Session, len(items)), NextCursor: next}
	for i, s := range items {
		out.Items[i] = openapi.Session{ID: s.ID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
			UserAgent: optString(s.UserAgent), IP: optString(s.IP), LastUsedAt: optTime(s.LastUsedAt), RevokedAt: optTime(s.RevokedAt)}
	}
	return out, nil
}

// RevokeSession implements openapi.Handler.
func (a *API) RevokeSession(ctx context.Context, p openapi.RevokeSessionParams) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	return a.auth.RevokeSession(ctx, c.UserID, p.ID)
}

func secret(s *ent.UserSecret) *openapi.Secret {
	return &openapi.Secret{ID: s.ID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		Provider: openapi.SecretProvider(s.Provider), Name: s.Name, KeyVersion: s.KeyVersion,
		Last4: optString(s.Last4), LastUsedAt: optTime(s.LastUsedAt)}
}

// ListSecrets implements openapi.Handler.
func (a *API) ListSecrets(ctx context.Context, p openapi.ListSecretsParams) (*openapi.SecretPage, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := page(p.Limit, p.Cursor, func(before uuid.UUID, n int) ([]*ent.UserSecret, error) {
		return a.secrets.List(ctx, c.UserID, before, n)
	}, func(s *ent.UserSecret) uuid.UUID { return s.ID })
	if err != nil {
		return nil, err
	}
	out := &openapi.SecretPage{Items: make([]openapi.Secret, len(items)), NextCursor: next}
	for i, s := range items {
		out.Items[i] = *secret(s)
	}
	return out, nil
}

// CreateSecret implements openapi.Handler.
func (a *API) CreateSecret(ctx context.Context, req *openapi.SecretCreate) (*openapi.Secret, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	s, err := a.secrets.Create(ctx, c.UserID, string(req.Provider), req.Name, req.Value)
	if err != nil {
		return nil, err
	}
	return secret(s), nil
}

// UpdateSecret implements openapi.Handler.
func (a *API) UpdateSecret(ctx context.Context, req *openapi.SecretUpdate, p openapi.UpdateSecretParams) (*openapi.Secret, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var name, value *string
	if v, ok := req.Name.Get(); ok {
		name = &v
	}
	if v, ok := req.Value.Get(); ok {
		value = &v
	}
	if name == nil && value == nil {
		return nil, &apiError{http.StatusBadRequest, "VALIDATION_ERROR", "give a name, a value or both",
			[]openapi.ErrorDetail{fieldDetail("body", "no field to change")}}
	}
	s, err := a.secrets.Update(ctx, c.UserID, p.ID, name, value)
	if err != nil {
		return nil, err
	}
	return secret(s), nil
}

// DeleteSecret implements openapi.Handler.
func (a *API) DeleteSecret(ctx context.Context, p openapi.DeleteSecretParams) error {
	c, err := caller(ctx)
	if err != nil {
		return err
	}
	return a.secrets.Delete(ctx, c.UserID, p.ID)
}

func optString(s string) openapi.OptString {
	if s == "" {
		return openapi.OptString{}
	}
	return openapi.NewOptString(s)
}

func optTime(t *time.Time) openapi.OptDateTime {
	if t == nil {
		return openapi.OptDateTime{}
	}
	return openapi.NewOptDateTime(*t)
}

// page is keyset pagination on id, newest first, written once for every
// owner-scoped list: it asks fetch for one row more than the page to learn
// whether another page follows, and the cursor is the last id shown.
func page[T any](limit openapi.OptInt, cursor openapi.OptString, fetch func(before uuid.UUID, n int) ([]T, error), id func(T) uuid.UUID) ([]T, openapi.OptString, error) {
	n := limit.Or(20)
	var before uuid.UUID
	if c, ok := cursor.Get(); ok && c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err == nil {
			before, err = uuid.FromBytes(b)
		}
		if err != nil {
			return nil, openapi.OptString{}, &apiError{http.StatusBadRequest, "VALIDATION_ERROR", "invalid cursor",
				[]openapi.ErrorDetail{fieldDetail("cursor", "not a cursor this API returned")}}
		}
	}
	items, err := fetch(before, n+1)
	if err != nil {
		return nil, openapi.OptString{}, err
	}
	if len(items) <= n {
		return items, openapi.OptString{}, nil
	}
	items = items[:n]
	last := id(items[n-1])
	return items, openapi.NewOptString(base64.RawURLEncoding.EncodeToString(last[:])), nil
}
