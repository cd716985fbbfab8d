package realtime

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/redisconn"
)

// Module provides the Broker (Redis when configured, else in process), the
// Hub with its GET /v1/ws route, and the Publisher as events.Publisher, so
// that emitters (runs) reach sockets without wiring of their own.
var Module = fx.Module("realtime",
	config.Provide[Config](),
	fx.Provide(
		NewBroker,
		NewAuthenticator,
		newHub,
		NewPublisher,
		func(p *Publisher) events.Publisher { return p },
		NewService,
	),
	api.Routes(func(h *Hub) api.Route { return api.Route{Pattern: "GET /v1/ws", Handler: h} }),
	api.Handler(NewAPIHandler),
)

// NewBroker picks the engine: Redis when the service has it, memory (single
// node) otherwise.
func NewBroker(lc fx.Lifecycle, cfg Config, rc *redisconn.Conn, log *slog.Logger) Broker {
	if rc.Enabled() {
		return NewRedisBroker(rc.Client, cfg.RedisPrefix, cfg.Retention(), log)
	}
	b := NewMemoryBroker(cfg.Retention())
	lc.Append(fx.StopHook(b.Close))
	return b
}

func newHub(lc fx.Lifecycle, cfg Config, b Broker, a Authenticator, log *slog.Logger) *Hub {
	h := NewHub(cfg, b, a, log)
	lc.Append(fx.Hook{
		OnStart: h.Start,
		OnStop:  func(ctx context.Context) error { return h.Shutdown(ctx) },
	})
	return h
}
