package audit

import (
	"time"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/config"
)

var zeroTime time.Time

// Config is the audit log's retention: `jarvis admin audit prune` deletes
// events older than it.
type Config struct {
	Retention time.Duration `env:"AUDIT_RETENTION" envDefault:"8760h"`
}

// Validate refuses a retention under a day: a typo must not empty the log.
func (c Config) Validate() error {
	if c.Retention < 24*time.Hour {
		return config.Invalid("AUDIT_RETENTION", "must be at least 24h")
	}
	return nil
}

// Module provides the audit log's reader and the Audit operations' handler.
var Module = fx.Module("audit",
	config.Provide[Config](),
	fx.Provide(NewService),
	api.Handler(NewHandler),
)
