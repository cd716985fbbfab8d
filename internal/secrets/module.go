package secrets

import (
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/config"
)

// Module provides the *Box built from SECRETS_MASTER_KEY, SECRETS_KEY_VERSION
// and SECRETS_OLD_KEYS, the *Service on top of it, and the Secrets
// operations' handler to the HTTP layer.
var Module = fx.Module("secrets",
	config.Provide[Config](),
	fx.Provide(BoxFromConfig, NewService),
	api.Handler(NewHandler),
)

// BoxFromConfig builds the box from the configuration.
func BoxFromConfig(cfg Config) (*Box, error) {
	return NewBox(cfg.KeyVersion, cfg.MasterKey, cfg.OldKeys)
}
