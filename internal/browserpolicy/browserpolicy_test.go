package browserpolicy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, cfg Config, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.Middleware().Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})).ServeHTTP(rec, req)
	return rec
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	for _, path := range []string{"/v1/me", "/healthz", "/nowhere"} {
		h := serve(t, Config{}, httptest.NewRequest("GET", path, nil)).Header()
		for k, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS outside production", path)
		}
		if h.Get("Access-Control-Allow-Origin") != "" || h.Get("Vary") != "" {
			t.Errorf("%s: CORS headers without configured origins", path)
		}
	}
	if h := serve(t, Config{HSTS: true}, httptest.NewRequest("GET", "/v1/me", nil)).Header(); !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") {
		t.Error("no HSTS in production")
	}
}

func TestAuthResponsesAreNotStored(t *testing.T) {
	for _, path := range []string{"/v1/auth/login", "/v1/auth/refresh", "/v1/auth/register", "/v1/auth/logout"} {
		h := serve(t, Config{}, httptest.NewRequest("POST", path, nil)).Header()
		if h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" {
			t.Errorf("%s: Cache-Control %q Pragma %q", path, h.Get("Cache-Control"), h.Get("Pragma"))
		}
	}
}

func TestUsersDataIsNotStored(t *testing.T) {
	for _, path := range []string{"/v1/me", "/v1/secrets", "/v1/memories/search"} {
		if h := serve(t, Config{}, httptest.NewRequest("GET", path, nil)).Header(); h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
		}
	}
}

func TestCORS(t *testing.T) {
	cfg := Config{AllowedOrigins: []string{"https://app.example.com", " http://localhost:5173 "}}
	preflight := func(origin, method string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("OPTIONS", "/v1/secrets", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", method)
		r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		return serve(t, cfg, r)
	}

	rec := preflight("https://app.example.com", "PATCH")
	h := rec.Header()
	if rec.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || h.Get("Access-Control-Max-Age") == "" {
		t.Fatalf("allowed preflight: %d %v", rec.Code, h)
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed: tokens travel in headers, not cookies")
	}
	if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Error("no Vary: Origin")
	}

	rec = preflight("http://localhost:5173", "TRACE")
	if rec.Header().Get("Access-Control-Allow-Methods") != "" {
		t.Error("preflight allowed TRACE")
	}

	// Another origin: its preflight goes to the routes (which refuse an
	// OPTIONS) with no CORS header, so the browser blocks the call.
	rec = preflight("https://evil.example", "GET")
	if rec.Code != http.StatusTeapot || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", rec.Code, rec.Header())
	}
	if !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "Origin") {
		t.Error("no Vary: Origin on a refused origin's response")
	}

	// A simple request from an allowed origin may read the error and rate
	// limit headers.
	r := httptest.NewRequest("GET", "/v1/me", nil)
	r.Header.Set("Origin", "https://APP.example.com")
	h = serve(t, cfg, r).Header()
	if h.Get("Access-Control-Allow-Origin") != "https://APP.example.com" || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("allowed request: %v", h)
	}
}

func TestOriginsAreChecked(t *testing.T) {
	for _, o := range []string{"*", "app.example.com", "https://app.example.com/", "https://app.example.com/path", "ftp://x.example", "https://user@app.example.com"} {
		if _, err := New(Config{AllowedOrigins: []string{o}}); err == nil {
			t.Errorf("origin %q accepted", o)
		}
	}
}
