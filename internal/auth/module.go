// Package auth owns who a request acts for: accounts and sessions with
// rotating refresh tokens (Service), password hashing (auth/password),
// access tokens (auth/token) and the viewer in the context (auth/viewer).
package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
)

// Config is how tokens are signed and how long they live.
type Config struct {
	// Secret signs access tokens (HS256) and keys refresh-token hashes:
	// at least 32 bytes.
	Secret        []byte        `env:"JWT_SECRET,notEmpty"`
	AccessExpiry  time.Duration `env:"JWT_ACCESS_EXPIRY" envDefault:"15m"`
	RefreshExpiry time.Duration `env:"JWT_REFRESH_EXPIRY" envDefault:"7d"`
	Issuer        string        `env:"JWT_ISSUER" envDefault:"jarvis-core"`
	Audience      string        `env:"JWT_AUDIENCE" envDefault:"jarvis-api"`
}

// MinSecretLen is the shortest JWT_SECRET accepted (HS256 wants 256 bits).
const MinSecretLen = 32

// Validate checks the secret's length and that a session outlives its access token.
func (c Config) Validate() error {
	var errs []error
	if n := len(c.Secret); n < MinSecretLen {
		errs = append(errs, config.Invalid("JWT_SECRET", fmt.Sprintf("must be at least %d bytes (it has %d)", MinSecretLen, n)))
	}
	if c.RefreshExpiry <= c.AccessExpiry {
		errs = append(errs, config.Invalid("JWT_REFRESH_EXPIRY", "must be longer than JWT_ACCESS_EXPIRY"))
	}
	return errors.Join(errs...)
}

// Module provides *password.Hasher, *token.Issuer, the account *Service,
// and the Auth operations' handler to the HTTP layer.
var Module = fx.Module("auth", config.Provide[Config](), config.Provide[password.Bound](), api.Handler(NewHandler), fx.Provide(
	func(b password.Bound) (*password.Hasher, error) { return password.NewBounded(password.Default, b) },
	func(cfg Config) (*token.Issuer, error) {
		return token.NewIssuer(cfg.Secret, cfg.Issuer, cfg.Audience, cfg.AccessExpiry)
	},
	func(d *db.DB, h *password.Hasher, iss *token.Issuer, cfg Config, log *slog.Logger) *Service {
		return NewService(d, h, iss, cfg.Secret, cfg.RefreshExpiry, log)
	},
))
