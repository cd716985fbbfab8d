package connections

import (
	"slices"
	"sort"

	"golang.org/x/oauth2"
)

// Provider is an OAuth 2.0 authorization server the service can connect
// users' accounts at.
type Provider struct {
	Name string
	// OAuth holds the endpoints, the client credentials and the default
	// scopes; golang.org/x/oauth2 speaks the protocol with it.
	OAuth oauth2.Config
	// RevokeURL is the RFC 7009 revocation endpoint; empty: none.
	RevokeURL string
	// Rotates says the provider replaces the refresh token on every refresh.
	Rotates bool
	// Configured: the service holds client credentials, so it can run the
	// authorization flow and refresh. Without them, imported tokens are
	// served until they expire.
	Configured bool
	// AuthParams are extra parameters of the authorization URL the provider
	// needs (Google's offline access, Notion's owner).
	AuthParams map[string]string
}

// builtins are the providers the service knows without being told their
// endpoints (their public documentation); configuration adds credentials.
// Only endpoints that speak RFC 7009 are given as revocation endpoints:
// GitHub, Slack and Notion revoke through their own APIs.
var builtins = map[string]Provider{
	"github": {Name: "github", Rotates: true, OAuth: oauth2.Config{
		Endpoint: oauth2.Endpoint{AuthURL: "https://github.com/login/oauth/authorize",
			TokenURL: "https://github.com/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"read:user"}}},
	"google": {Name: "google", RevokeURL: "https://oauth2.googleapis.com/revoke", OAuth: oauth2.Config{
		Endpoint: oauth2.Endpoint{AuthURL: "https://accounts.google.com/o/oauth2/v2/auth",
			TokenURL: "https://oauth2.googleapis.com/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"openid", "email"}},
		// A refresh token comes only with offline access, and again only on consent.
		AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"}},
	"slack": {Name: "slack", Rotates: true, OAuth: oauth2.Config{
		Endpoint: oauth2.Endpoint{AuthURL: "https://slack.com/oauth/v2/authorize",
			TokenURL: "https://slack.com/api/oauth.v2.access", AuthStyle: oauth2.AuthStyleInHeader}}},
	"notion": {Name: "notion", Rotates: true, OAuth: oauth2.Config{
		Endpoint: oauth2.Endpoint{AuthURL: "https://api.notion.com/v1/oauth/authorize",
			TokenURL: "https://api.notion.com/v1/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}},
		AuthParams: map[string]string{"owner": "user"}},
}

// Registry is the providers known to this service, by name.
type Registry struct{ byName map[string]*Provider }

// NewRegistry builds the built-ins overlaid with the configured providers.
// The configuration is assumed valid (Config.Validate).
func NewRegistry(cfg Config) *Registry {
	r := &Registry{byName: map[string]*Provider{}}
	for name, b := range builtins {
		p := b
		p.OAuth.Scopes = slices.Clone(b.OAuth.Scopes)
		r.byName[name] = &p
	}
	for _, c := range cfg.Providers.List {
		p, ok := r.byName[c.Name]
		if !ok {
			p = &Provider{Name: c.Name}
			r.byName[c.Name] = p
		}
		p.Configured = true
		p.OAuth.ClientID, p.OAuth.ClientSecret = c.ClientID, c.ClientSecret
		if c.AuthURL != "" {
			p.OAuth.Endpoint.AuthURL = c.AuthURL
		}
		if c.TokenURL != "" {
			p.OAuth.Endpoint.TokenURL = c.TokenURL
		}
		if c.RevokeURL != "" {
			p.RevokeURL = c.RevokeURL
		}
		if len(c.Scopes) > 0 {
			p.OAuth.Scopes = slices.Clone(c.Scopes)
		}
		if c.RotatesRefreshTokens != nil {
			p.Rotates = *c.RotatesRefreshTokens
		}
		switch c.AuthStyle {
		case "header":
			p.OAuth.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		case "params":
			p.OAuth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		}
	}
	return r
}

// Get returns the provider called name.
func (r *Registry) Get(name string) (*Provider, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// All returns every provider, by name.
func (r *Registry) All() []*Provider {
	out := make([]*Provider, 0, len(r.byName))
	for _, p := range r.byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
