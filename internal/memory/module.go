package memory

import "go.uber.org/fx"

// Module provides the memory *Service (it needs *db.DB and an embed.Embedder).
var Module = fx.Module("memory", fx.Provide(NewService))
