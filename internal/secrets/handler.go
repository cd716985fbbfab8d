package secrets

import (
	"context"

	"github.com/jarvis-core/jarvis/ent/apiview"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/openapi"
)

// Handler serves the Secrets operation group.
type Handler struct{ svc *Service }

// NewHandler returns the secrets module's operation-group handler.
func NewHandler(s *Service) *Handler { return &Handler{svc: s} }

var _ openapi.SecretsHandler = (*Handler)(nil)

// ListSecrets implements openapi.SecretsHandler.
func (h *Handler) ListSecrets(ctx context.Context, p openapi.ListSecretsParams) (*openapi.SecretPage, error) {
	page, err := db.NewPage(p.Limit.Or(20), p.Cursor.Or(""))
	if err != nil {
		return nil, err
	}
	rows, err := h.svc.List(ctx, page)
	if err != nil {
		return nil, err
	}
	return apiview.SecretPage(rows, page), nil
}

// GetSecret implements openapi.SecretsHandler.
func (h *Handler) GetSecret(ctx context.Context, p openapi.GetSecretParams) (*openapi.Secret, error) {
	s, err := h.svc.Get(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return apiview.Secret(s), nil
}

// CreateSecret implements openapi.SecretsHandler.
func (h *Handler) CreateSecret(ctx context.Context, req *openapi.SecretCreate) (*openapi.Secret, error) {
	s, err := h.svc.Create(ctx, string(req.Provider), req.Name, req.Value)
	if err != nil {
		return nil, err
	}
	return apiview.Secret(s), nil
}

// UpdateSecret implements openapi.SecretsHandler.
func (h *Handler) UpdateSecret(ctx context.Context, req *openapi.SecretUpdate, p openapi.UpdateSecretParams) (*openapi.Secret, error) {
	var name, value *string
	if v, ok := req.Name.Get(); ok {
		name = &v
	}
	if v, ok := req.Value.Get(); ok {
		value = &v
	}
	s, err := h.svc.Update(ctx, p.ID, name, value)
	if err != nil {
		return nil, err
	}
	return apiview.Secret(s), nil
}

// DeleteSecret implements openapi.SecretsHandler.
func (h *Handler) DeleteSecret(ctx context.Context, p openapi.DeleteSecretParams) error {
	return h.svc.Delete(ctx, p.ID)
}
