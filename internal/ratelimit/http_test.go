package ratelimit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/jarvis-core/jarvis/internal/clientip"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// server runs the middleware in front of a handler that echoes the body it
// received, behind a client-IP resolver that trusts loopback (so tests pick
// their client address with X-Forwarded-For).
func server(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	srv, _ := measuredServer(t, cfg)
	return srv
}

// measuredServer is server with its refusals counted in the returned reader.
func measuredServer(t *testing.T, cfg Config) (*httptest.Server, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	res, err := clientip.NewResolver([]string{"127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	authn := func(ctx context.Context, tok string) (context.Context, string, bool) {
		user, ok := strings.CutPrefix(tok, "valid-")
		return ctx, user, ok
	}
	writeErr := func(w http.ResponseWriter, _ *http.Request, err error) {
		e, _ := fault.As(err)
		code := http.StatusInternalServerError
		switch {
		case e != nil && e.Kind == fault.RateLimited:
			code = http.StatusTooManyRequests
		case e != nil && e.Kind == fault.TooLarge:
			code = http.StatusRequestEntityTooLarge
		}
		w.WriteHeader(code)
		fmt.Fprint(w, err.Error())
	}
	h, err := NewHTTP(redisLimiter(t, discard()), cfg, authn, writeErr).Measure(mp)
	if err != nil {
		t.Fatal(err)
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	srv := httptest.NewServer(res.Middleware(h.Middleware().Wrap(echo)))
	t.Cleanup(srv.Close)
	return srv, reader
}

// refusalsByRule reads the refusals counter: rule → count.
func refusalsByRule(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "jarvis.ratelimit.refusals" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("rule")
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}

type call struct {
	method, path, ip, token, body string
}

func do(t *testing.T, srv *httptest.Server, c call) *http.Response {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", c.ip)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// allowedTimes sends c until it is refused and returns how many got through.
func allowedTimes(t *testing.T, srv *httptest.Server, c call, upTo int) (int, *http.Response) {
	t.Helper()
	for i := range upTo {
		resp := do(t, srv, c)
		if resp.StatusCode == http.StatusTooManyRequests {
			return i, resp
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, resp.StatusCode)
		}
	}
	return upTo, nil
}

func TestEachLimitFiresAtItsNumber(t *testing.T) {
	cfg := Config{IPPerMinute: 12, UserPerMinute: 4, AuthIPPerMinute: 3, AuthAccountPerMinute: 2, AuthAccountCeilingPerMinute: 5}
	login := func(ip, email string) call {
		return call{method: "POST", path: "/v1/auth/login", ip: ip, body: `{"email":"` + email + `","password":"x"}`}
	}
	cases := []struct {
		name string
		want int
		rule string           // the refusal's metric label
		next func(i int) call // the i-th request of the run
	}{
		{"per IP on every route", 12, "ip", func(int) call { return call{path: "/v1/things", ip: "198.51.100.1"} }},
		{"per user across IPs", 4, "user", func(i int) call {
			return call{path: "/v1/me", ip: "198.51.100." + strconv.Itoa(10+i), token: "valid-u1"}
		}},
		{"login per IP across accounts", 3, "login.ip", func(i int) call { return login("198.51.100.2", fmt.Sprintf("a%d@example.com", i)) }},
		{"login per account and IP", 2, "login.account_ip", func(int) call { return login("198.51.100.5", "victim@example.com") }},
		{"login per account across IPs (the ceiling), case and spaces folded", 5, "login.account", func(i int) call {
			return login("198.51.100."+strconv.Itoa(50+i), []string{"Victim@Example.com", " victim@example.com"}[i%2])
		}},
		{"register per IP", 3, "register.ip", func(i int) call {
			return call{method: "POST", path: "/v1/auth/register", ip: "198.51.100.3", body: fmt.Sprintf(`{"email":"r%d@example.com"}`, i)}
		}},
		{"refresh per IP", 3, "refresh.ip", func(int) call {
			return call{method: "POST", path: "/v1/auth/refresh", ip: "198.51.100.4", body: `{"refresh_token":"x"}`}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, reader := measuredServer(t, cfg)
			n := 0
			for ; n < 50; n++ {
				resp := do(t, srv, c.next(n))
				if resp.StatusCode == http.StatusTooManyRequests {
					if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
						t.Errorf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
					}
					if resp.Header.Get("RateLimit-Remaining") != "0" {
						t.Errorf("429 with RateLimit-Remaining %q", resp.Header.Get("RateLimit-Remaining"))
					}
					break
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d", n+1, resp.StatusCode)
				}
				if resp.Header.Get("RateLimit-Limit") == "" {
					t.Fatalf("request %d: no RateLimit-Limit", n+1)
				}
			}
			if n != c.want {
				t.Fatalf("%d requests allowed, want %d", n, c.want)
			}
			if got := refusalsByRule(t, reader); len(got) != 1 || got[c.rule] != 1 {
				t.Fatalf("refusals by rule %v, want one of %s", got, c.rule)
			}
		})
	}
}

func TestHeadersShowTheTightestLimit(t *testing.T) {
	srv := server(t, Config{IPPerMinute: 100, UserPerMinute: 5})
	resp := do(t, srv, call{path: "/v1/me", ip: "198.51.100.1", token: "valid-u"})
	for k, want := range map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": "4", "RateLimit-Policy": "5;w=60"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r := resp.Header.Get("RateLimit-Reset"); r != "12" {
		t.Errorf("RateLimit-Reset = %q, want 12 (one interval of 60s/5)", r)
	}
	if resp.Header.Get("Retry-After") != "" {
		t.Error("Retry-After on an allowed request")
	}
}

// Tokens that do not verify spend nobody's per-user budget, and health
// endpoints are never limited.
func TestWhatIsNotCounted(t *testing.T) {
	srv := server(t, Config{IPPerMinute: 1000, UserPerMinute: 2})
	for range 5 {
		do(t, srv, call{path: "/v1/me", ip: "198.51.100.1", token: "forged-u"})
	}
	if n, _ := allowedTimes(t, srv, call{path: "/v1/me", ip: "198.51.100.1", token: "valid-u"}, 5); n != 2 {
		t.Fatalf("user allowed %d times, want 2", n)
	}
	srv = server(t, Config{IPPerMinute: 2})
	if n, _ := allowedTimes(t, srv, call{path: "/healthz", ip: "198.51.100.1"}, 10); n != 10 {
		t.Fatalf("/healthz limited after %d", n)
	}
}

// The per-account limit reads the body and gives it back whole.
func TestLoginBodyReachesTheHandler(t *testing.T) {
	srv := server(t, DefaultConfig())
	body := `{"email":"ada@example.com","password":"correct horse battery staple"}`
	resp := do(t, srv, call{method: "POST", path: "/v1/auth/login", ip: "198.51.100.1", body: body})
	got, _ := io.ReadAll(resp.Body)
	if string(got) != body {
		t.Fatalf("handler saw %q", got)
	}
	// A body too big to be a sign-in is refused rather than skipped (it
	// would otherwise slip past the per-account limit).
	resp = do(t, srv, call{method: "POST", path: "/v1/auth/login", ip: "198.51.100.1",
		body: `{"password":"x",` + strings.Repeat(" ", authBodyMax) + `"email":"ada@example.com"}`})
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized login body: %d", resp.StatusCode)
	}
}

// Two emails in one body are both charged.
func TestDuplicateEmailKeysAreAllCharged(t *testing.T) {
	// (The service's edge refuses such a body before this; the limiter does
	// not rely on it.) Per email and address, then the ceiling per email.
	for _, c := range []struct {
		cfg      Config
		from, to string
	}{
		{Config{AuthAccountPerMinute: 1}, "198.51.100.1", "198.51.100.1"},
		{Config{AuthAccountCeilingPerMinute: 1}, "198.51.100.1", "198.51.100.2"},
	} {
		srv := server(t, c.cfg)
		do(t, srv, call{method: "POST", path: "/v1/auth/login", ip: c.from, body: `{"email":"a@example.com"}`})
		resp := do(t, srv, call{method: "POST", path: "/v1/auth/login", ip: c.to,
			body: `{"email":"fresh@example.com","email":"a@example.com"}`})
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%+v: status %d: the second email was not charged", c.cfg, resp.StatusCode)
		}
	}
}

// A refusal is held back for RefusalDelay before it is sent, so a client
// that ignores Retry-After slows down.
func TestRefusalsAreHeldBack(t *testing.T) {
	srv := server(t, Config{IPPerMinute: 1, RefusalDelay: 300 * time.Millisecond})
	c := call{path: "/v1/x", ip: "198.51.100.1"}
	start := time.Now()
	if resp := do(t, srv, c); resp.StatusCode != http.StatusOK || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("allowed request: %d after %s", resp.StatusCode, time.Since(start))
	}
	start = time.Now()
	if resp := do(t, srv, c); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 280*time.Millisecond {
		t.Fatalf("refusal sent after %s, want ≥ 300ms", d)
	}
}

// The token is verified by the limiter only while the per-user limit needs
// it, and what it verified reaches the handler (which then need not verify
// it again).
func TestTokenVerifiedOnlyForThePerUserLimit(t *testing.T) {
	type key struct{}
	for _, tc := range []struct {
		name      string
		perUser   int
		wantCalls int64
	}{
		{"per-user limit on", 100, 1},
		{"per-user limit off", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			authn := func(ctx context.Context, tok string) (context.Context, string, bool) {
				calls.Add(1)
				return context.WithValue(ctx, key{}, tok), "u1", true
			}
			h := NewHTTP(New(nil, discard(), Options{}), Config{IPPerMinute: 100, UserPerMinute: tc.perUser}, authn,
				func(w http.ResponseWriter, _ *http.Request, err error) {
					http.Error(w, err.Error(), http.StatusTooManyRequests)
				})
			var seen any
			srv := httptest.NewServer(h.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				seen = r.Context().Value(key{})
			})))
			t.Cleanup(srv.Close)
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/secrets", nil)
			req.Header.Set("Authorization", "Bearer tok-1")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Fatalf("authenticator called %d times, want %d", got, tc.wantCalls)
			}
			if want := map[bool]any{true: "tok-1", false: nil}[tc.wantCalls == 1]; seen != want {
				t.Fatalf("handler saw %v in its context, want %v", seen, want)
			}
		})
	}
}
