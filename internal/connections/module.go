package connections

import (
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/config"
)

// Module provides the connections *Service, configured from the environment
// (CONNECTIONS_*), sealing with the secrets module's box, and the
// Connections operations' handler to the HTTP layer. Its
// connection.needs_reauth events go to the events.Publisher the realtime
// module provides; without one they are dropped.
var Module = fx.Module("connections",
	config.Provide[Config](),
	fx.Provide(fx.Annotate(NewService, fx.ParamTags(``, ``, ``, `optional:"true"`, ``))),
	api.Handler(NewHandler),
)
