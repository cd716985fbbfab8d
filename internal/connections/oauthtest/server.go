// Package oauthtest is a real OAuth 2.0 authorization server for tests and
// benchmarks of internal/connections: the authorization-code grant with PKCE
// (S256), single-use codes, refresh tokens that are single-use and rotated on
// every refresh (as GitHub Apps, Slack and Notion do), RFC 7009 revocation,
// and counters of what it was asked. It can be made to fail (down: 503) or
// to answer slowly. It serves HTTP on a loopback port, like any provider.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Client credentials the server accepts.
const (
	ClientID     = "jarvis-test-client"
	ClientSecret = "jarvis-test-client-secret"
)

// Server is the provider. Its zero value is not usable: call New.
type Server struct {
	URL string // base URL; endpoints under it: /authorize, /token, /revoke
	srv *httptest.Server

	// AccessTTL is the lifetime of the access tokens it issues (expires_in).
	AccessTTL atomic.Int64 // nanoseconds

	down  atomic.Bool
	delay atomic.Int64 // nanoseconds added to every token call

	refreshes   atomic.Int64 // refresh_token grants answered with new tokens
	tokenCalls  atomic.Int64 // every call of the token endpoint
	rejected    atomic.Int64 // refresh_token grants refused with invalid_grant
	revocations atomic.Int64

	mu      sync.Mutex
	codes   map[string]pending // code -> what it was issued for
	refresh map[string]*grant  // live refresh tokens
	used    map[string]bool    // refresh tokens rotated out
	access  map[string]*grant  // live access tokens
	revoked map[string]bool    // revoked tokens (either kind)
	issued  []string           // every token value issued, for leak scans
}

type pending struct {
	challenge, redirect, account string
	scopes                       string
}

type grant struct {
	account string
	scope   string
}

// New starts a provider; it stops at cleanup (the caller's Close).
func New() *Server {
	s := &Server{
		codes: map[string]pending{}, refresh: map[string]*grant{}, used: map[string]bool{},
		access: map[string]*grant{}, revoked: map[string]bool{},
	}
	s.AccessTTL.Store(int64(time.Hour))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /revoke", s.revoke)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetDown makes the token and revocation endpoints answer 503 (true) or work (false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetDelay makes every token call wait d first (a slow provider).
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Refreshes is how many refresh grants issued new tokens.
func (s *Server) Refreshes() int64 { return s.refreshes.Load() }

// TokenCalls is how many calls the token endpoint received.
func (s *Server) TokenCalls() int64 { return s.tokenCalls.Load() }

// Rejected is how many refresh grants were refused as invalid_grant.
func (s *Server) Rejected() int64 { return s.rejected.Load() }

// Revocations is how many revocation requests named a known token.
func (s *Server) Revocations() int64 { return s.revocations.Load() }

// Issued is every token value the server issued (for scanning logs).
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Revoked says whether tok was revoked.
func (s *Server) Revoked(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked[tok]
}

// ValidAccess says whether tok is a live access token.
func (s *Server) ValidAccess(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.access[tok]
	return ok && !s.revoked[tok]
}

// Grant issues an access and a refresh token for account without a flow,
// as if obtained elsewhere (what an import brings).
func (s *Server) Grant(account string) (access, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(&grant{account: account})
}

// Authorize plays the user's browser at the authorization URL: it follows
// authURL and returns the code and state the provider redirects back with.
func (s *Server) Authorize(authURL string) (code, state string, err error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", "", err
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", "", &url.Error{Op: "authorize", URL: authURL, Err: errString(e)}
	}
	return q.Get("code"), q.Get("state"), nil
}

type errString string

func (e errString) Error() string { return string(e) }

func random(prefix string) string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (s *Server) issueLocked(g *grant) (access, refresh string) {
	access, refresh = random("test_at_"), random("test_rt_")
	s.access[access] = g
	s.refresh[refresh] = g
	s.issued = append(s.issued, access, refresh)
	return access, refresh
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	switch {
	case q.Get("client_id") != ClientID:
		back.Set("error", "unauthorized_client")
	case q.Get("response_type") != "code":
		back.Set("error", "unsupported_response_type")
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		back.Set("error", "invalid_request")
	default:
		code := random("test_code_")
		s.mu.Lock()
		s.codes[code] = pending{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"),
			account: q.Get("login_hint"), scopes: q.Get("scope")}
		s.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (s *Server) clientOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == ClientID && secret == ClientSecret
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.tokenCalls.Add(1)
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if s.down.Load() {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if !s.clientOK(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var g *grant
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		p, ok := s.codes[code]
		delete(s.codes, code) // single-use, whatever happens next
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case !ok:
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != p.challenge:
			oauthError(w, http.StatusBadRequest, "invalid_grant") // PKCE: wrong verifier
			return
		case r.PostForm.Get("redirect_uri") != p.redirect:
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		g = &grant{account: p.account, scope: p.scopes}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		cur, ok := s.refresh[rt]
		if !ok || s.used[rt] || s.revoked[rt] {
			s.rejected.Add(1)
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		// Single-use: the old refresh token dies with this answer.
		delete(s.refresh, rt)
		s.used[rt] = true
		s.refreshes.Add(1)
		g = cur
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	access, refresh := s.issueLocked(g)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]any{
		"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
		"expires_in": int64(time.Duration(s.AccessTTL.Load()) / time.Second),
	}
	if g.scope != "" {
		body["scope"] = g.scope
	}
	if g.account != "" {
		body["workspace_name"] = g.account // as Notion names the account
	}
	_ = json.NewEncoder(w).Encode(body)
}

// revoke is RFC 7009: 200 whether or not the token was known.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	if !s.clientOK(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	tok := r.PostForm.Get("token")
	s.mu.Lock()
	_, isAccess := s.access[tok]
	_, isRefresh := s.refresh[tok]
	if isAccess || isRefresh {
		s.revoked[tok] = true
		s.revocations.Add(1)
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Revoke revokes tok as the user would at the provider's settings page.
func (s *Server) Revoke(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[tok] = true
}
