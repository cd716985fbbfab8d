package kg

import "go.uber.org/fx"

// Module provides the knowledge-graph *Service (it needs *db.DB and an embed.Embedder).
var Module = fx.Module("kg", fx.Provide(NewService))
