// Package auth owns who a request acts for: accounts and sessions with
// rotating refresh tokens (Service), password hashing (auth/password),
// access tokens (auth/token) and the viewer in the context (auth/viewer).
package auth

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
)

// Module provides *password.Hasher, *token.Issuer, the account *Service,
// and the Auth operations' handler to the HTTP layer.
var Module = fx.Module("auth", api.Handler(NewHandler), fx.Provide(
	func() (*password.Hasher, error) { return password.New(password.Default) },
	func(cfg config.Config) (*token.Issuer, error) {
		return token.NewIssuer(cfg.JWTSecret, cfg.JWTIssuer, cfg.JWTAudience, cfg.JWTAccessExpiry)
	},
	func(d *db.DB, h *password.Hasher, iss *token.Issuer, cfg config.Config, log *slog.Logger) *Service {
		return NewService(d, h, iss, cfg.JWTSecret, cfg.JWTRefreshExpiry, log)
	},
))
