package connections

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Config is the connections module's configuration.
type Config struct {
	// Providers configures OAuth providers: a JSON array of ProviderConfig.
	// A built-in name (github, google, slack, notion) needs only its client
	// credentials; any other name is a generic OAuth 2.0 provider and gives
	// its endpoints.
	Providers Providers `env:"CONNECTIONS_PROVIDERS"`
	// RedirectURLs are the only redirect_uri values the authorization flow
	// accepts (comma separated): the app's pages that receive the code.
	RedirectURLs []string `env:"CONNECTIONS_REDIRECT_URLS"`
	// RefreshSkew: an access token expiring within it is refreshed first.
	RefreshSkew time.Duration `env:"CONNECTIONS_REFRESH_SKEW" envDefault:"60s"`
	// StateTTL is how long an authorization flow's state stays usable.
	StateTTL time.Duration `env:"CONNECTIONS_STATE_TTL" envDefault:"10m"`
	// ProviderTimeout bounds one call to a provider.
	ProviderTimeout time.Duration `env:"CONNECTIONS_PROVIDER_TIMEOUT" envDefault:"10s"`
	// RefreshAttempts is how many times a refresh is tried when the provider
	// times out or answers 5xx, with backoff between, before answering 503.
	RefreshAttempts int `env:"CONNECTIONS_REFRESH_ATTEMPTS" envDefault:"3"`
	// RetryAfter is what a 503 tells the caller to wait.
	RetryAfter time.Duration `env:"CONNECTIONS_RETRY_AFTER" envDefault:"10s"`
}

// DefaultConfig is the configuration with every default and no provider credentials.
func DefaultConfig() Config {
	return Config{RefreshSkew: time.Minute, StateTTL: 10 * time.Minute, ProviderTimeout: 10 * time.Second,
		RefreshAttempts: 3, RetryAfter: 10 * time.Second}
}

// ProviderConfig is one provider's entry in CONNECTIONS_PROVIDERS.
type ProviderConfig struct {
	Name         string   `json:"name"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	AuthURL      string   `json:"auth_url,omitempty"`
	TokenURL     string   `json:"token_url,omitempty"`
	RevokeURL    string   `json:"revoke_url,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	// RotatesRefreshTokens is informational (the service always stores the
	// refresh token a refresh returns); built-ins set it.
	RotatesRefreshTokens *bool `json:"rotates_refresh_tokens,omitempty"`
	// AuthStyle is how the client authenticates at the token endpoint:
	// "header" (HTTP Basic, RFC 6749's preference) or "params".
	AuthStyle string `json:"auth_style,omitempty"`
}

// Providers is CONNECTIONS_PROVIDERS, parsed. A struct, not a slice, so
// that the environment parser hands it the whole JSON text (it splits
// slices at commas).
type Providers struct{ List []ProviderConfig }

var providerName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// UnmarshalText reads the JSON array; its errors never hold a value.
func (p *Providers) UnmarshalText(b []byte) error {
	if strings.TrimSpace(string(b)) == "" {
		*p = Providers{}
		return nil
	}
	var out []ProviderConfig
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return config.Reason("must be a JSON array of providers ({\"name\",\"client_id\",\"client_secret\",...})")
	}
	*p = Providers{List: out}
	return nil
}

// Validate names every bad value, never echoing one.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, reason string) { errs = append(errs, config.Invalid(name, reason)) }
	seen := map[string]bool{}
	for i, p := range c.Providers.List {
		at := fmt.Sprintf("provider %d", i+1)
		if !providerName.MatchString(p.Name) {
			bad("CONNECTIONS_PROVIDERS", at+": name must be lower case letters, digits, - or _ (at most 64)")
			continue
		}
		if seen[p.Name] {
			bad("CONNECTIONS_PROVIDERS", at+": "+p.Name+" appears twice")
		}
		seen[p.Name] = true
		if p.ClientID == "" || p.ClientSecret == "" {
			bad("CONNECTIONS_PROVIDERS", at+" ("+p.Name+"): client_id and client_secret are required")
		}
		_, builtin := builtins[p.Name]
		for _, u := range []struct{ field, v string }{{"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"revoke_url", p.RevokeURL}} {
			if u.v == "" {
				if !builtin && u.field != "revoke_url" {
					bad("CONNECTIONS_PROVIDERS", at+" ("+p.Name+"): "+u.field+" is required for a provider that is not built in")
				}
				continue
			}
			if err := checkHTTPURL(u.v); err != nil {
				bad("CONNECTIONS_PROVIDERS", at+" ("+p.Name+"): "+u.field+" "+err.Error())
			}
		}
		if p.AuthStyle != "" && p.AuthStyle != "header" && p.AuthStyle != "params" {
			bad("CONNECTIONS_PROVIDERS", at+" ("+p.Name+"): auth_style must be header or params")
		}
	}
	for i, u := range c.RedirectURLs {
		if err := checkHTTPURL(u); err != nil {
			bad("CONNECTIONS_REDIRECT_URLS", fmt.Sprintf("entry %d %s", i+1, err))
		}
	}
	if c.RefreshSkew < 0 || c.RefreshSkew > time.Hour {
		bad("CONNECTIONS_REFRESH_SKEW", "must be between 0s and 1h")
	}
	if c.StateTTL < 30*time.Second || c.StateTTL > time.Hour {
		bad("CONNECTIONS_STATE_TTL", "must be between 30s and 1h")
	}
	if c.ProviderTimeout < 100*time.Millisecond || c.ProviderTimeout > time.Minute {
		bad("CONNECTIONS_PROVIDER_TIMEOUT", "must be between 100ms and 1m")
	}
	if c.RefreshAttempts < 1 || c.RefreshAttempts > 10 {
		bad("CONNECTIONS_REFRESH_ATTEMPTS", "must be between 1 and 10")
	}
	if c.RetryAfter < time.Second {
		bad("CONNECTIONS_RETRY_AFTER", "must be at least 1s")
	}
	return errors.Join(errs...)
}

// checkHTTPURL accepts an absolute http(s) URL with a host and no fragment.
func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return errors.New("must be an absolute http(s) URL without a fragment")
	}
	return nil
}
