package kg

import (
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
)

// Module provides the knowledge-graph *Service (it needs *db.DB and an
// embed.Embedder) and its operation-group handler.
var Module = fx.Module("kg",
	fx.Provide(NewService),
	api.Handler(NewHandler),
)
