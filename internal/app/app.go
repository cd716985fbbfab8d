// Package app wires the service's modules with fx: it lists them, nothing more.
package app

import (
	"log/slog"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/auth"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/connections"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/embed"
	"github.com/jarvis-core/jarvis/internal/guard"
	"github.com/jarvis-core/jarvis/internal/httpapi"
	"github.com/jarvis-core/jarvis/internal/kg"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/memory"
	"github.com/jarvis-core/jarvis/internal/pii"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/redisconn"
	"github.com/jarvis-core/jarvis/internal/runs"
	"github.com/jarvis-core/jarvis/internal/secrets"
	"github.com/jarvis-core/jarvis/internal/telemetry"
	"github.com/jarvis-core/jarvis/internal/userdata"
)

// Config is what concerns the whole app rather than one module.
type Config struct {
	// Env is the deployment kind, given to modules as config.Env.
	Env config.Env `env:"APP_ENV" envDefault:"development"`
	// ShutdownTimeout bounds start-up and shutdown (the server's drain,
	// then every connection closing, in reverse start order).
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
}

// New builds the service from the configuration in src and a logger. A bad
// configuration makes the app's Err (and Start) an error naming every bad
// variable of every module (errors.As finds the *config.Error). Extra
// options let tests replace or add providers.
func New(src config.Source, log *slog.Logger, extra ...fx.Option) *fx.App {
	// Needed before fx builds anything; when it is bad, config.Module reports
	// it with every other problem and the defaults here are never used.
	cfg, err := config.Load[Config](src)
	if err != nil {
		cfg = Config{ShutdownTimeout: 15 * time.Second}
	}
	opts := []fx.Option{
		fx.Supply(src, log),
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug) // wiring details only when debugging
			return l
		}),
		fx.StartTimeout(cfg.ShutdownTimeout),
		fx.StopTimeout(cfg.ShutdownTimeout),
		config.Module,
		config.Provide[Config](),
		fx.Provide(func(c Config) config.Env { return c.Env }),
		logging.Module,
		telemetry.Module,
		db.Module,
		redisconn.Module,
		audit.Module,
		secrets.Module,
		auth.Module,
		embed.Module,
		pii.Module,
		memory.Module,
		kg.Module,
		realtime.Module,
		runs.Module,
		connections.Module,
		userdata.Module,
		guard.Module,
		httpapi.Module,
	}
	return fx.New(append(opts, extra...)...)
}
