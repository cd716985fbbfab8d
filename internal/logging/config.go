package logging

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Config is how much the service logs. The zero Config logs at info.
type Config struct {
	Level Level `env:"LOG_LEVEL" envDefault:"info"`
}

// Level is debug, info, warn or error.
type Level slog.Level

// Level implements slog.Leveler.
func (l Level) Level() slog.Level { return slog.Level(l) }

// UnmarshalText reads a level's name.
func (l *Level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "debug":
		*l = Level(slog.LevelDebug)
	case "info":
		*l = Level(slog.LevelInfo)
	case "warn":
		*l = Level(slog.LevelWarn)
	case "error":
		*l = Level(slog.LevelError)
	default:
		return config.Reason("must be one of debug, info, warn, error")
	}
	return nil
}

// Module checks LOG_LEVEL with every other variable. The logger itself is
// built before the app (the app logs its own wiring with it), from the same
// Config.
var Module = fx.Module("logging", config.Provide[Config]())
