package httpapi

import (
	"net/http"
	"strings"
)

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

// RequireAuth guards handlers outside the generated API (the WebSocket
// upgrade, say): the session is checked at once, since such a handler may
// run no unit of work, and the viewer, the claims and a logger naming the
// user go in the context as for the /v1 operations.
func (a *API) RequireAuth(next http.Handler) http.Handler {
	return a.authenticate(next, false)
}

// OptionalAuth is RequireAuth for handlers that also serve anonymous
// callers: without an Authorization header the request goes on with no
// viewer; a header that does not authenticate is still refused, so a broken
// client finds out.
func (a *API) OptionalAuth(next http.Handler) http.Handler {
	return a.authenticate(next, true)
}

func (a *API) authenticate(next http.Handler, optional bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, present := bearerToken(r)
		if !present && optional {
			next.ServeHTTP(w, r)
			return
		}
		ctx, c, err := a.auth.Authenticate(r.Context(), tok)
		if err != nil {
			e := classify(err)
			if e == nil || e.status != http.StatusUnauthorized {
				e = errUnauthorized
			}
			challenge(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeError(w, r, e) })).ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(a.signedIn(ctx, c)))
	})
}
