package embed

import (
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/secrets"
)

// Module provides the Embedder chosen by Config (which the app provides,
// parsed from the EMBEDDINGS_* variables). Without EMBEDDINGS_API_KEY the
// OpenAI provider uses each user's stored `openai` secret.
var Module = fx.Module("embed", fx.Provide(func(cfg Config, s *secrets.Service) (Embedder, error) {
	return New(cfg, UserSecretKeys(s.DecryptedValue, secrets.ErrNotFound, secrets.ErrAmbiguous))
}))
