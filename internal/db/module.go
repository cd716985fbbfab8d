package db

import (
	"context"

	"github.com/jackc/pgx/v5"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Config is how the service reaches Postgres.
type Config struct {
	// URL is the service role's: a member of jarvis_app, without BYPASSRLS.
	URL string `env:"DATABASE_URL,notEmpty"`
}

// Validate checks the scheme.
func (c Config) Validate() error {
	return config.CheckURL("DATABASE_URL", c.URL, "postgres", "postgresql")
}

// Module provides *DB connected to DATABASE_URL, closed at stop.
var Module = fx.Module("db",
	config.Provide[Config](),
	fx.Provide(func(p params) (*DB, error) {
		lc, cfg := p.Lifecycle, p.Config
		d, wait, err := Dial(cfg.URL, WithTracer(p.Tracer))
		if err != nil {
			return nil, err
		}
		// The start fails, before the server listens, when Postgres cannot
		// be reached; meanwhile the connection is made while the rest of
		// the app is built.
		lc.Append(fx.Hook{OnStart: wait, OnStop: func(context.Context) error { d.Close(); return nil }})
		return d, nil
	}),
)

type params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	// Tracer is telemetry's statement tracer, when something provides one.
	Tracer pgx.QueryTracer `optional:"true"`
}
