// Package app wires the service's modules with fx: it lists them, nothing more.
package app

import (
	"log/slog"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/jarvis-core/jarvis/internal/auth"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/httpapi"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/redisconn"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

// New builds the service from a validated configuration and a logger.
// Extra options let tests replace or add providers.
func New(cfg config.Config, log *slog.Logger, extra ...fx.Option) *fx.App {
	opts := []fx.Option{
		fx.Supply(cfg, log),
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug) // wiring details only when debugging
			return l
		}),
		fx.StartTimeout(cfg.ShutdownTimeout),
		fx.StopTimeout(cfg.ShutdownTimeout),
		db.Module,
		redisconn.Module,
		secrets.Module,
		auth.Module,
		realtime.Module,
		httpapi.Module,
	}
	return fx.New(append(opts, extra...)...)
}
