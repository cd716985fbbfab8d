// Package auth owns who a request acts for: password hashing
// (auth/password), access tokens (auth/token) and the viewer in the context
// (auth/viewer). Module provides the first two from the configuration.
package auth

import (
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/config"
)

// Module provides *password.Hasher and *token.Issuer.
var Module = fx.Module("auth", fx.Provide(
	func() (*password.Hasher, error) { return password.New(password.Default) },
	func(cfg config.Config) (*token.Issuer, error) {
		return token.NewIssuer(cfg.JWTSecret, cfg.JWTIssuer, cfg.JWTAudience, cfg.JWTAccessExpiry)
	},
))
