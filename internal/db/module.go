package db

import (
	"context"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Module provides *DB connected to DATABASE_URL, closed at stop.
var Module = fx.Module("db", fx.Provide(func(lc fx.Lifecycle, cfg config.Config) (*DB, error) {
	d, err := Open(context.Background(), cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(d.Close))
	return d, nil
}))
