package embed

import (
	"time"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

// Module provides the Embedder chosen by the EMBEDDINGS_* configuration.
// Without an API key the OpenAI provider uses each user's stored `openai`
// secret.
var Module = fx.Module("embed", fx.Provide(
	func(cfg config.Config, s *secrets.Service) (Embedder, error) {
		return New(FromConfig(cfg), UserSecretKeys(s.DecryptedValue, secrets.ErrNotFound, secrets.ErrAmbiguous))
	},
))

// FromConfig is the embedder configuration of the service's: the
// EMBEDDINGS_* variables, OPENAI_API_KEY as the key when EMBEDDINGS_API_KEY
// is unset, and this package's defaults for what config does not read.
func FromConfig(cfg config.Config) Config {
	c := Config{
		Provider: cfg.EmbeddingsProvider, URL: cfg.EmbeddingsURL, Model: cfg.EmbeddingsModel,
		APIKey: cfg.EmbeddingsAPIKey, Timeout: 30 * time.Second, MaxRetries: 3, BatchSize: 96,
	}
	if c.URL == "" {
		c.URL = "https://api.openai.com/v1"
	}
	if c.APIKey == "" {
		c.APIKey = cfg.OpenAIAPIKey
	}
	return c
}
