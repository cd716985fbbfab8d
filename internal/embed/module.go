package embed

import (
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/metric"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

// Module provides the Embedder chosen by the EMBEDDINGS_* variables. Without
// EMBEDDINGS_API_KEY the OpenAI provider uses each user's stored `openai`
// secret.
var Module = fx.Module("embed",
	config.Provide[Config](),
	fx.Provide(func(p params) (Embedder, error) {
		e, err := New(p.Config, UserSecretKeys(p.Secrets.DecryptedValue, secrets.ErrNotFound, secrets.ErrAmbiguous))
		if err != nil {
			return nil, err
		}
		if o, ok := e.(*OpenAI); ok && p.Transport != nil {
			o.client.Transport = p.Transport
		}
		if p.Meter == nil {
			return e, nil
		}
		provider := p.Config.Provider
		if provider == "" {
			provider = ProviderLocal
		}
		return Measure(e, provider, p.Meter)
	}),
)

type params struct {
	fx.In
	Config  Config
	Secrets *secrets.Service
	// Transport, when provided (telemetry: client spans and trace
	// propagation), carries the provider's HTTP requests.
	Transport http.RoundTripper `name:"embed.transport" optional:"true"`
	// Meter, when provided (telemetry's), measures the calls.
	Meter metric.MeterProvider `optional:"true"`
}

// Validate checks what the tags cannot say; start-up then lists every bad
// variable at once.
func (c Config) Validate() error {
	var errs []error
	if c.Provider != ProviderLocal && c.Provider != ProviderOpenAI {
		errs = append(errs, config.Invalid("EMBEDDINGS_PROVIDER", "must be local or openai"))
	}
	if c.Provider == ProviderOpenAI {
		if c.URL == "" {
			errs = append(errs, config.Invalid("EMBEDDINGS_URL", "required with EMBEDDINGS_PROVIDER=openai"))
		}
		if err := config.CheckURL("EMBEDDINGS_URL", c.URL, "https", "http"); err != nil {
			errs = append(errs, err)
		}
		if c.Model == "" {
			errs = append(errs, config.Invalid("EMBEDDINGS_MODEL", "required with EMBEDDINGS_PROVIDER=openai"))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, config.Invalid("EMBEDDINGS_TIMEOUT", "must be a positive duration"))
	}
	if c.MaxRetries < 0 || c.MaxRetries > 10 {
		errs = append(errs, config.Invalid("EMBEDDINGS_MAX_RETRIES", "must be between 0 and 10"))
	}
	if c.BatchSize < 1 || c.BatchSize > 2048 {
		errs = append(errs, config.Invalid("EMBEDDINGS_BATCH_SIZE", "must be between 1 and 2048"))
	}
	if c.RequestDimensions != 0 && c.RequestDimensions != Dims {
		errs = append(errs, config.Invalid("EMBEDDINGS_REQUEST_DIMENSIONS", "must be 0 (not sent) or 1536, the stored width"))
	}
	return errors.Join(errs...)
}
