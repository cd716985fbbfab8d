package secrets

import (
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Module provides the *Box built from SECRETS_MASTER_KEY, SECRETS_KEY_VERSION
// and SECRETS_OLD_KEYS, and the *Service on top of it.
var Module = fx.Module("secrets", fx.Provide(
	BoxFromConfig,
	NewService,
))

// BoxFromConfig builds the box from the configuration.
func BoxFromConfig(cfg config.Config) (*Box, error) {
	return NewBox(cfg.SecretsKeyVersion, cfg.SecretsMasterKey, cfg.SecretsOldKeys)
}
