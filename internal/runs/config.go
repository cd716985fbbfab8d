package runs

import (
	"errors"
	"time"

	"github.com/jarvis-core/jarvis/internal/config"
)

// ToolPolicy is whether a tool may be used: allow or deny.
type ToolPolicy string

// The tool policies.
const (
	Allow ToolPolicy = "allow"
	Deny  ToolPolicy = "deny"
)

// Config is the runs module's configuration.
type Config struct {
	// MaxActive caps a user's runs that are pending or running.
	MaxActive int `env:"RUNS_MAX_ACTIVE" envDefault:"10"`
	// RetryAfter is what a refusal at MaxActive tells the client to wait.
	RetryAfter time.Duration `env:"RUNS_RETRY_AFTER" envDefault:"30s"`
	// DefaultToolPolicy applies to tools a user has no permission for.
	DefaultToolPolicy ToolPolicy `env:"TOOLS_DEFAULT_POLICY" envDefault:"allow"`
	// AllowUnpricedModels lets LLM calls of models missing from the price
	// table be recorded under a hard budget (with no cost, so they do not
	// add to spend). Off, they are refused (UNPRICED_MODEL).
	AllowUnpricedModels bool `env:"RUNS_ALLOW_UNPRICED_MODELS" envDefault:"false"`
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	return Config{MaxActive: 10, RetryAfter: 30 * time.Second, DefaultToolPolicy: Allow}
}

// Validate names every bad value, never echoing one.
func (c Config) Validate() error {
	var errs []error
	if c.MaxActive < 1 {
		errs = append(errs, config.Invalid("RUNS_MAX_ACTIVE", "must be at least 1"))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, config.Invalid("RUNS_RETRY_AFTER", "must be at least 1s"))
	}
	if c.DefaultToolPolicy != Allow && c.DefaultToolPolicy != Deny {
		errs = append(errs, config.Invalid("TOOLS_DEFAULT_POLICY", "must be allow or deny"))
	}
	return errors.Join(errs...)
}
