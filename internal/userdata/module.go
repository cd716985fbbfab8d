package userdata

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/connections"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/realtime"
)

// Module provides the user-data *Service (export, self-erasure) and the
// Account operations' handler. An erasure's aftermath uses the connections
// service (grant revocation) and the realtime publisher (sockets, Redis).
var Module = fx.Module("userdata",
	fx.Provide(func(d *db.DB, h *password.Hasher, c *connections.Service, pub *realtime.Publisher, log *slog.Logger) *Service {
		return NewService(d, h, Aftermath{Connections: c, Realtime: pub, Log: log}, log)
	}),
	api.Handler(NewHandler),
)
