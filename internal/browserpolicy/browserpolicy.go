// Package browserpolicy sets what browsers and caches may do with the API's
// responses: the security headers every response carries (no sniffing, no
// framing, no referrer, a CSP that allows nothing since the API serves no
// documents, HSTS in production), no caching of anything under /v1/auth/
// (token responses), and CORS for the configured origins only.
package browserpolicy

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jarvis-core/jarvis/internal/api"
)

// Config says which browser origins may call the API.
type Config struct {
	// AllowedOrigins are exact origins ("https://app.example.com") whose
	// pages may call the API; none by default. "*" is refused: tokens travel
	// in headers the page chooses to send, but a wildcard would still let
	// any site drive a signed-in user's browser against the API.
	AllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS" envSeparator:","`
	// HSTS adds Strict-Transport-Security (production, behind TLS).
	HSTS bool
}

// What a preflight allows, and what scripts may read of a response.
var (
	allowedMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	allowedHeaders = []string{"Authorization", "Content-Type", "X-Correlation-ID"}
	exposedHeaders = []string{"X-Correlation-ID", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"}
)

// preflightMaxAge is how long a browser may cache a preflight answer.
const preflightMaxAge = 600

// Policy applies Config.
type Policy struct {
	origins map[string]bool
	hsts    bool
}

// New checks the origins: each must be scheme://host[:port], nothing more.
func New(cfg Config) (*Policy, error) {
	p := &Policy{origins: map[string]bool{}, hsts: cfg.HSTS}
	for _, o := range cfg.AllowedOrigins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("CORS_ALLOWED_ORIGINS: %q is not an origin like https://app.example.com", o)
		}
		p.origins[strings.ToLower(o)] = true
	}
	return p, nil
}

// Middleware is p for the HTTP layer's chain: first, so that every
// response, refusals included, carries the headers.
func (p *Policy) Middleware() api.Middleware {
	return api.Middleware{Name: "browserpolicy", Order: 100, Wrap: p.Wrap}
}

// Wrap sets the headers before the handler runs (a handler may still add to
// them), and answers CORS preflights of allowed origins itself.
func (p *Policy) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if p.hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/auth/"):
			// RFC 6749 §5.1: token responses are never stored.
			h.Set("Cache-Control", "no-store")
			h.Set("Pragma", "no-cache")
		case strings.HasPrefix(r.URL.Path, "/v1/"):
			// Every other answer of the API is one user's data (or an error
			// about it): no shared cache or disk cache may keep it. A handler
			// that knows better can set its own.
			h.Set("Cache-Control", "no-store")
		}
		if len(p.origins) > 0 {
			// Whether CORS headers appear depends on Origin: caches must key on it.
			h.Add("Vary", "Origin")
		}
		origin := r.Header.Get("Origin")
		if origin == "" || !p.origins[strings.ToLower(origin)] {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !slices.Contains(allowedMethods, r.Header.Get("Access-Control-Request-Method")) {
				// No allow headers: the browser refuses the request itself.
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Allow-Methods", strings.Join(allowedMethods, ", "))
			h.Set("Access-Control-Allow-Headers", strings.Join(allowedHeaders, ", "))
			h.Set("Access-Control-Max-Age", strconv.Itoa(preflightMaxAge))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", strings.Join(exposedHeaders, ", "))
		next.ServeHTTP(w, r)
	})
}
