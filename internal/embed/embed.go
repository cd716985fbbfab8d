// Package embed turns text into vectors for similarity search. Embedder is
// the port; Local (feature hashing, offline, deterministic) is the default
// and OpenAI speaks the OpenAI embeddings API (OpenAI itself, or Ollama,
// vLLM, text-embeddings-inference). The vectors' width is the schema's
// (schema.EmbeddingDims): a provider answering another width is an error,
// never a silently padded vector.
package embed

import (
	"context"
	"fmt"
	"time"

	"github.com/jarvis-core/jarvis/ent/schema"
)

// Dims is the width of every stored embedding.
const Dims = schema.EmbeddingDims

// Embedder embeds texts in one call (providers batch as they need).
type Embedder interface {
	// Embed returns one vector of Dimensions() per text, in order.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dimensions is the width of the vectors.
	Dimensions() int
	// Model names the model; it is stored with every vector, and vectors of
	// different models are never compared.
	Model() string
}

// Providers.
const (
	ProviderLocal  = "local"
	ProviderOpenAI = "openai"
)

// Config chooses and configures the provider.
type Config struct {
	Provider string `env:"EMBEDDINGS_PROVIDER" envDefault:"local"` // local | openai
	// URL is the API base, up to and including /v1.
	URL   string `env:"EMBEDDINGS_URL" envDefault:"https://api.openai.com/v1"`
	Model string `env:"EMBEDDINGS_MODEL" envDefault:"text-embedding-3-small"`
	// APIKey is the service's key; when empty, each user's stored `openai`
	// secret is used (a user without one gets a clear error).
	APIKey string `env:"EMBEDDINGS_API_KEY"`
	// RequestDimensions, when set, is sent as `dimensions` (the
	// text-embedding-3 models shorten their vectors to it); local servers
	// may not accept the parameter, so it is off by default.
	RequestDimensions int           `env:"EMBEDDINGS_REQUEST_DIMENSIONS" envDefault:"0"`
	Timeout           time.Duration `env:"EMBEDDINGS_TIMEOUT" envDefault:"30s"` // per HTTP attempt
	MaxRetries        int           `env:"EMBEDDINGS_MAX_RETRIES" envDefault:"3"`
	BatchSize         int           `env:"EMBEDDINGS_BATCH_SIZE" envDefault:"96"`
}

// New returns the configured provider. keys supplies a user's stored key
// when cfg has none (OpenAI provider only; may be nil with an APIKey).
func New(cfg Config, keys KeySource) (Embedder, error) {
	switch cfg.Provider {
	case "", ProviderLocal:
		return Local{}, nil
	case ProviderOpenAI:
		return NewOpenAI(cfg, keys)
	default:
		return nil, fmt.Errorf("EMBEDDINGS_PROVIDER %q: want %s or %s", cfg.Provider, ProviderLocal, ProviderOpenAI)
	}
}
