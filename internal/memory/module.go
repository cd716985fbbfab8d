package memory

import (
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
)

// Module provides the memory *Service (it needs *db.DB and an
// embed.Embedder) and its operation-group handler.
var Module = fx.Module("memory",
	fx.Provide(NewService),
	api.Handler(NewHandler),
)
