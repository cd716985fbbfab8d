package realtime

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/events"
)

// Config tunes the realtime module. Every field has a production default;
// tests build it literally (see DefaultConfig).
type Config struct {
	// HistorySize is how many recent events of the long-lived kinds (all
	// but ShortHistoryTypes) each user's stream keeps for resume; older
	// ones are trimmed and a resume from before them says recovered: false.
	HistorySize int `env:"REALTIME_HISTORY_SIZE" envDefault:"16"`
	// ShortHistoryTypes are the short-lived event kinds (token fragments):
	// kept apart, at most ShortHistorySize of them, dropped ShortHistoryTTL
	// after the user's last one. A client reconnecting within that window
	// recovers them; later, its resume says recovered: false.
	ShortHistoryTypes []string      `env:"REALTIME_SHORT_HISTORY_TYPES" envDefault:"agent.token" envSeparator:","`
	ShortHistorySize  int           `env:"REALTIME_SHORT_HISTORY_SIZE" envDefault:"100"`
	ShortHistoryTTL   time.Duration `env:"REALTIME_SHORT_HISTORY_TTL" envDefault:"2m"`
	// HistoryTTL drops a user's stream after this long without events (a
	// connected user's stream is kept alive by its connections).
	HistoryTTL time.Duration `env:"REALTIME_HISTORY_TTL" envDefault:"24h"`
	// RedisPrefix namespaces the realtime keys and channels in Redis.
	RedisPrefix string `env:"REALTIME_REDIS_PREFIX" envDefault:"jarvis:rt:"`
	// SendQueueMessages and SendQueueBytes bound each socket's unsent
	// messages; a socket past either is closed as a slow consumer.
	SendQueueMessages int `env:"REALTIME_SEND_QUEUE_MESSAGES" envDefault:"1024"`
	SendQueueBytes    int `env:"REALTIME_SEND_QUEUE_BYTES" envDefault:"1048576"`
	// WriteTimeout bounds one write to a socket.
	WriteTimeout time.Duration `env:"REALTIME_WRITE_TIMEOUT" envDefault:"10s"`
	// PingInterval is how often a WebSocket ping checks the peer; a pong
	// must come back within PongTimeout or the socket is dropped.
	PingInterval time.Duration `env:"REALTIME_PING_INTERVAL" envDefault:"25s"`
	PongTimeout  time.Duration `env:"REALTIME_PONG_TIMEOUT" envDefault:"10s"`
	// SessionRecheck is how often an open socket's session is checked
	// again in the database (revoked sessions, disabled users).
	SessionRecheck time.Duration `env:"REALTIME_SESSION_RECHECK" envDefault:"1m"`
	// ResumeGrace is how long a new socket holds back its events for a
	// "resume" (sent after the client's subscribes): held events are
	// released in order after the missed ones, so nothing emitted between
	// "connected" and the subscribes is lost. A socket that does not resume
	// gets its first events at most this late.
	ResumeGrace time.Duration `env:"REALTIME_RESUME_GRACE" envDefault:"2s"`
	// MaxSocketsPerUser caps one user's open sockets on one instance; the
	// socket past it is closed at once with 4029.
	MaxSocketsPerUser int `env:"REALTIME_MAX_SOCKETS_PER_USER" envDefault:"16"`
	// MaxSubscriptions caps the runs one socket subscribes to.
	MaxSubscriptions int `env:"REALTIME_MAX_SUBSCRIPTIONS" envDefault:"100"`
	// MaxEventBytes caps an event's data (JSON) as emitted.
	MaxEventBytes int `env:"REALTIME_MAX_EVENT_BYTES" envDefault:"65536"`
	// OriginPatterns are the browser origins (host patterns, path.Match
	// syntax) allowed besides the server's own host.
	OriginPatterns []string `env:"REALTIME_ORIGINS" envSeparator:","`
}

// Retention is the history retention the configuration asks for.
func (c Config) Retention() Retention {
	short := map[events.Type]bool{}
	for _, t := range c.ShortHistoryTypes {
		short[events.Type(strings.TrimSpace(t))] = true
	}
	return Retention{Size: c.HistorySize, TTL: c.HistoryTTL, ShortTypes: short, ShortSize: c.ShortHistorySize, ShortTTL: c.ShortHistoryTTL}
}

// DefaultConfig is Config with every default, for tests and benchmarks.
func DefaultConfig() Config {
	c, err := config.Load[Config](config.Map(nil))
	if err != nil {
		panic(fmt.Sprintf("realtime: defaults do not parse: %v", err))
	}
	return c
}

// Validate names every bad value at once, never echoing one.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, ok bool) {
		if !ok {
			errs = append(errs, config.Invalid(name, "must be positive"))
		}
	}
	positive("REALTIME_HISTORY_SIZE", c.HistorySize > 0)
	positive("REALTIME_SHORT_HISTORY_SIZE", c.ShortHistorySize > 0)
	if c.ShortHistoryTTL < time.Millisecond || c.ShortHistoryTTL > c.HistoryTTL {
		errs = append(errs, config.Invalid("REALTIME_SHORT_HISTORY_TTL", "must be at least 1ms and at most REALTIME_HISTORY_TTL"))
	}
	for _, t := range c.ShortHistoryTypes {
		if !knownTypes[events.Type(strings.TrimSpace(t))] {
			errs = append(errs, config.Invalid("REALTIME_SHORT_HISTORY_TYPES", "names an unknown event type"))
			break
		}
	}
	positive("REALTIME_SEND_QUEUE_MESSAGES", c.SendQueueMessages > 0)
	positive("REALTIME_SEND_QUEUE_BYTES", c.SendQueueBytes > 0)
	positive("REALTIME_WRITE_TIMEOUT", c.WriteTimeout > 0)
	positive("REALTIME_PING_INTERVAL", c.PingInterval > 0)
	positive("REALTIME_PONG_TIMEOUT", c.PongTimeout > 0)
	positive("REALTIME_SESSION_RECHECK", c.SessionRecheck > 0)
	positive("REALTIME_MAX_SUBSCRIPTIONS", c.MaxSubscriptions > 0)
	positive("REALTIME_MAX_SOCKETS_PER_USER", c.MaxSocketsPerUser > 0)
	positive("REALTIME_RESUME_GRACE", c.ResumeGrace > 0)
	positive("REALTIME_MAX_EVENT_BYTES", c.MaxEventBytes > 0)
	if c.HistoryTTL < time.Second {
		errs = append(errs, config.Invalid("REALTIME_HISTORY_TTL", "must be at least 1s"))
	}
	if c.RedisPrefix == "" {
		errs = append(errs, config.Invalid("REALTIME_REDIS_PREFIX", "must not be empty"))
	}
	return errors.Join(errs...)
}
