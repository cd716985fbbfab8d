package httpapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/auth"
	"github.com/jarvis-core/jarvis/openapi"
)

// Security is ogen's security handler: a valid access token puts the
// session's viewer (ent privacy and RLS) and a logger naming the user in the
// context. The session itself is checked by the operation's unit of work,
// in its one transaction (db.Run); every private operation has one.
type Security struct {
	auth *auth.Service
	log  *slog.Logger
}

// NewSecurity returns the bearer security handler.
func NewSecurity(a *auth.Service, log *slog.Logger) *Security { return &Security{auth: a, log: log} }

var _ openapi.SecurityHandler = (*Security)(nil)

// HandleBearerAuth implements openapi.SecurityHandler.
func (s *Security) HandleBearerAuth(ctx context.Context, _ openapi.OperationName, t openapi.BearerAuth) (context.Context, error) {
	return s.auth.Verify(ctx, t.Token)
}

// bearerToken returns the token of an "Authorization: Bearer" header, and
// whether the header was there at all.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

// RequireAuth guards handlers outside the generated API: the session is
// checked at once, since such a handler may run no unit of work, and the
// viewer and a logger naming the user go in the context as for the /v1
// operations.
func (s *Security) RequireAuth(next http.Handler) http.Handler {
	return s.authenticate(next, false)
}

// OptionalAuth is RequireAuth for handlers that also serve anonymous
// callers: without an Authorization header the request goes on with no
// viewer; a header that does not authenticate is still refused, so a broken
// client finds out.
func (s *Security) OptionalAuth(next http.Handler) http.Handler {
	return s.authenticate(next, true)
}

func (s *Security) authenticate(next http.Handler, optional bool) http.Handler {
	return challenge(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, present := bearerToken(r)
		if !present && optional {
			next.ServeHTTP(w, r)
			return
		}
		ctx, err := s.auth.Authenticate(r.Context(), tok)
		if err != nil {
			// A refusal is 401; anything else (the database is down) is
			// answered as what it is, so clients do not sign out over it.
			WriteError(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// clientMeta records who is calling (peer address, user agent) for the
// modules (sessions record them). X-Forwarded-For is not trusted here: a
// middleware that knows the trusted proxies replaces the address.
func clientMeta(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		ctx := api.WithClient(r.Context(), api.Client{IP: ip, UserAgent: r.UserAgent()})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
