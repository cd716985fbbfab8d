package guard_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/browserpolicy"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/guard"
	"github.com/jarvis-core/jarvis/internal/ratelimit"
)

// generous limits: tests that are not about limits never meet them.
var generous = ratelimit.Config{IPPerMinute: 10000, UserPerMinute: 10000, AuthIPPerMinute: 10000, AuthAccountPerMinute: 10000}

// setup is the guard module's three configurations.
type setup struct {
	guard.Config
	Limits ratelimit.Config
	CORS   browserpolicy.Config
}

// baseConfig trusts loopback as a proxy, so each test picks its client
// address with X-Forwarded-For.
func baseConfig() setup {
	return setup{Config: guard.Config{TrustedProxies: []string{"127.0.0.1", "::1"}, BodyTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second}, Limits: generous}
}

// start runs the real service (the guard module is in the app) with cfg.
func start(t testing.TB, cfg setup, opts ...apptest.Option) *apptest.Server {
	t.Helper()
	return apptest.New(t, append([]apptest.Option{apptest.Fx(fx.Replace(cfg.Config, cfg.Limits, cfg.CORS))}, opts...)...)
}

// ip returns an address of its own for a test (TEST-NET-2 and -3 space plus
// randomness), so tests sharing a Redis never share a budget.
func ip() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return fmt.Sprintf("10.%d.%d.%d", b[0], b[1], 1+int(b[0]^b[1])%250)
}

type req struct {
	method, path, body, token, ip string
	header                        map[string]string
}

func do(t testing.TB, s *apptest.Server, r req) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, s.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.ip != "" {
		hr.Header.Set("X-Forwarded-For", r.ip)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func errorCode(t testing.TB, body string) string {
	t.Helper()
	var e struct {
		Error struct {
			Code          string `json:"code"`
			CorrelationID string `json:"correlation_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.CorrelationID == "" {
		t.Fatalf("not the API's error body: %q", body)
	}
	return e.Error.Code
}

func register(t testing.TB, s *apptest.Server, email, from string) (access, refresh string) {
	t.Helper()
	resp, body := do(t, s, req{method: "POST", path: "/v1/auth/register", ip: from,
		body: `{"email":"` + email + `","password":"` + apptest.Password + `"}`})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, resp.StatusCode, body)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken, tok.RefreshToken
}

// Text Postgres can't store answered 500 before sign-in: now 400, and
// nothing is created.
func TestHostileTextIsRefusedWithA400(t *testing.T) {
	t.Parallel()
	s := start(t, baseConfig())
	access, _ := register(t, s, "ada@example.com", ip())
	cases := []struct {
		name string
		r    req
	}{
		{"NUL escape in register email", req{method: "POST", path: "/v1/auth/register", body: `{"email":"eve\u0000@example.com","password":"` + apptest.Password + `"}`}},
		{"NUL escape in display name", req{method: "POST", path: "/v1/auth/register", body: `{"email":"eve@example.com","password":"` + apptest.Password + `","display_name":"E\u0000ve"}`}},
		{"invalid UTF-8 in display name", req{method: "POST", path: "/v1/auth/register", body: "{\"email\":\"eve@example.com\",\"password\":\"" + apptest.Password + "\",\"display_name\":\"\xff\xfe\"}"}},
		{"lone surrogate in display name", req{method: "POST", path: "/v1/auth/register", body: `{"email":"eve@example.com","password":"` + apptest.Password + `","display_name":"\ud800"}`}},
		{"not an email address", req{method: "POST", path: "/v1/auth/register", body: `{"email":"Eve <eve@example.com>","password":"` + apptest.Password + `"}`}},
		{"NUL escape in login email", req{method: "POST", path: "/v1/auth/login", body: `{"email":"ada\u0000@example.com","password":"x"}`}},
		{"invalid UTF-8 in login password", req{method: "POST", path: "/v1/auth/login", body: "{\"email\":\"ada@example.com\",\"password\":\"\xc3\x28\"}"}},
		{"NUL in a refresh token", req{method: "POST", path: "/v1/auth/refresh", body: `{"refresh_token":"\u0000"}`}},
		{"NUL in a secret name", req{method: "POST", path: "/v1/secrets", token: access, body: `{"provider":"openai","name":"a\u0000","value":"sk-test-0123456789"}`}},
		{"NUL in a query cursor", req{method: "GET", path: "/v1/secrets?cursor=%00", token: access}},
		{"invalid UTF-8 in a path id", req{method: "DELETE", path: "/v1/secrets/%FF%FE", token: access}},
		{"deep nesting", req{method: "POST", path: "/v1/auth/login", body: strings.Repeat("[", 100) + strings.Repeat("]", 100)}},
	}
	for _, c := range cases {
		c.r.ip = ip()
		resp, body := do(t, s, c.r)
		if resp.StatusCode != http.StatusBadRequest || errorCode(t, body) != "VALIDATION_ERROR" {
			t.Errorf("%s: %d %s, want 400 VALIDATION_ERROR", c.name, resp.StatusCode, body)
		}
	}
	// Nothing was created by the refused registrations.
	register(t, s, "eve@example.com", ip())
}

// A User-Agent the database can't store made a correct password answer 500
// and a wrong one 401: a password oracle. Stored values are now cleaned.
func TestStrangeUserAgentNeverDecidesALogin(t *testing.T) {
	t.Parallel()
	s := start(t, baseConfig())
	register(t, s, "ada@example.com", ip())
	ua := map[string]string{"User-Agent": "Mozilla/5.0 \xff\xfe\xc3 (X11)" + strings.Repeat("x", 2000)}
	from := ip()
	login := func(pw string) *http.Response {
		resp, _ := do(t, s, req{method: "POST", path: "/v1/auth/login", ip: from, header: ua,
			body: `{"email":"ada@example.com","password":"` + pw + `"}`})
		return resp
	}
	if resp := login(apptest.Password); resp.StatusCode != http.StatusOK {
		t.Fatalf("correct password with a strange user agent: %d", resp.StatusCode)
	}
	if resp := login("wrong password entirely"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password with a strange user agent: %d", resp.StatusCode)
	}
	var stored, storedIP string
	owner, err := db.OpenSQL(context.Background(), s.DB.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := owner.QueryRowContext(context.Background(),
		`SELECT user_agent, ip FROM sessions ORDER BY id DESC LIMIT 1`).Scan(&stored, &storedIP); err != nil {
		t.Fatal(err)
	}
	// Behind a trusted proxy the session records the client, not the proxy.
	if storedIP != from {
		t.Errorf("session ip %q, want the forwarded client %s", storedIP, from)
	}
	if !strings.HasPrefix(stored, "Mozilla/5.0 \uFFFD") || len(stored) > 512 {
		t.Fatalf("stored user agent %q (%d bytes)", stored[:min(len(stored), 40)], len(stored))
	}

	// A NUL in a header never reaches the service: Go's server refuses the
	// request itself with a plain 400, not a 500.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"ada@example.com","password":"` + apptest.Password + `"}`
	fmt.Fprintf(conn, "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x00b\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("NUL in User-Agent: %d", resp.StatusCode)
	}
}

func TestLogoutWithoutABody(t *testing.T) {
	t.Parallel()
	s := start(t, baseConfig())
	access, _ := register(t, s, "ada@example.com", ip())
	if resp, body := do(t, s, req{method: "POST", path: "/v1/auth/logout", token: access}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout without a body: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, s, req{method: "GET", path: "/v1/me", token: access}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("still signed in after logout: %d", resp.StatusCode)
	}
}

func TestSecurityHeadersNoStoreAndCORS(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.CORS.AllowedOrigins = []string{"https://app.example.com"}
	s := start(t, cfg)
	for _, r := range []req{{method: "GET", path: "/healthz"}, {method: "GET", path: "/v1/me"}, {method: "GET", path: "/nowhere"}} {
		resp, _ := do(t, s, r)
		h := resp.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: security headers missing: %v", r.path, h)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS outside production", r.path)
		}
	}
	resp, body := do(t, s, req{method: "POST", path: "/v1/auth/register", ip: ip(),
		body: `{"email":"ada@example.com","password":"` + apptest.Password + `"}`})
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token response: %d Cache-Control %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}

	resp, _ = do(t, s, req{method: "OPTIONS", path: "/v1/secrets", header: map[string]string{
		"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization,content-type"}})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight of a configured origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = do(t, s, req{method: "OPTIONS", path: "/v1/secrets", header: map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("preflight of another origin: %d %v", resp.StatusCode, resp.Header)
	}
}

// Every limit lets exactly its number through, then answers 429
// RATE_LIMITED with Retry-After and the RateLimit fields.
func TestEachLimitFiresAtItsNumber(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Limits = ratelimit.Config{IPPerMinute: 15, UserPerMinute: 6, AuthIPPerMinute: 4, AuthAccountPerMinute: 3, AuthAccountCeilingPerMinute: 5}
	s := start(t, cfg)
	// Accounts made from addresses of their own.
	accessA, _ := register(t, s, "a@example.com", ip())
	_, refreshB := register(t, s, "b@example.com", ip())
	register(t, s, "victim@example.com", ip())

	login := func(from, email string) req {
		return req{method: "POST", path: "/v1/auth/login", ip: from, body: `{"email":"` + email + `","password":"wrong password here"}`}
	}
	one, mine := ip(), ip()
	cases := []struct {
		name string
		want int
		next func(i int) req
	}{
		{"per IP, any route", 15, func(int) req { return req{method: "GET", path: "/v1/nothing-here", ip: one} }},
		{"per user, from many addresses", 6, func(int) req { return req{method: "GET", path: "/v1/me", token: accessA, ip: ip()} }},
		{"login per IP, many accounts", 4, func(i int) req { return login(one+"", fmt.Sprintf("x%d@example.com", i)) }},
		{"login per account and address", 3, func(int) req { return login(mine, "target@example.com") }},
		{"login per account, many addresses (the ceiling)", 5, func(int) req { return login(ip(), "Victim@Example.com") }},
		// Probing which emails exist (409 EMAIL_EXISTS) is throttled per
		// address, whichever emails are tried...
		{"register per IP", 4, func(i int) req {
			return req{method: "POST", path: "/v1/auth/register", ip: "192.0.2.77",
				body: fmt.Sprintf(`{"email":"probe%d@example.com","password":"%s"}`, i, apptest.Password)}
		}},
		// ...and per email, from whichever addresses (victim@ was registered
		// once already above, which counts).
		{"register per account", 2, func(i int) req {
			return req{method: "POST", path: "/v1/auth/register", ip: ip(),
				body: `{"email":"victim@example.com","password":"` + apptest.Password + `"}`}
		}},
		{"refresh per IP", 4, func(int) req {
			return req{method: "POST", path: "/v1/auth/refresh", ip: "192.0.2.78", body: `{"refresh_token":"` + refreshB + `x"}`}
		}},
	}
	for _, c := range cases {
		n := 0
		for ; n < 40; n++ {
			resp, body := do(t, s, c.next(n))
			if resp.StatusCode == http.StatusTooManyRequests {
				if errorCode(t, body) != "RATE_LIMITED" {
					t.Errorf("%s: 429 with %s", c.name, body)
				}
				if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
					t.Errorf("%s: Retry-After %q", c.name, resp.Header.Get("Retry-After"))
				}
				if resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Limit") == "" {
					t.Errorf("%s: RateLimit fields %v", c.name, resp.Header)
				}
				break
			}
			if resp.StatusCode >= 500 {
				t.Fatalf("%s: request %d answered %d %s", c.name, n+1, resp.StatusCode, body)
			}
		}
		if n != c.want {
			t.Errorf("%s: %d requests before 429, want %d", c.name, n, c.want)
		}
		if c.name == "per IP, any route" {
			one = ip() // the next cases start from a fresh address
		}
	}
}

// Redis down: limits go on in process (and fire), /readyz stays 200
// degraded, and the switch is logged once.
func TestRedisDownFallsBackInProcess(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg := baseConfig()
	cfg.Limits.AuthIPPerMinute = 3
	s := start(t, cfg, apptest.Env(map[string]string{"REDIS_URL": "redis://" + dead + "/0"}))
	from := ip()
	n := 0
	for ; n < 10; n++ {
		resp, _ := do(t, s, req{method: "POST", path: "/v1/auth/login", ip: from, body: `{"email":"a@example.com","password":"wrong password here"}`})
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("login %d with Redis down: %d", n+1, resp.StatusCode)
		}
	}
	if n != 3 {
		t.Fatalf("%d logins before 429 with Redis down, want 3", n)
	}
	resp, body := do(t, s, req{method: "GET", path: "/readyz"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"degraded"`) || !strings.Contains(body, `"redis":"down"`) {
		t.Fatalf("readyz with Redis down: %d %s", resp.StatusCode, body)
	}
	if c := strings.Count(s.Logs.String(), "Redis unavailable"); c != 1 {
		t.Fatalf("fallback logged %d times, want once", c)
	}
}

// The same limits in Redis, shared by two instances: what one spends, the
// other can't.
func TestLimitsAreSharedThroughRedis(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Limits.AuthIPPerMinute = 4
	env := apptest.Env(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"})
	a := start(t, cfg, env)
	b := start(t, cfg, env, apptest.Database(a.DB))
	from := ip()
	codes := []int{}
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		resp, _ := do(t, s, req{method: "POST", path: "/v1/auth/login", ip: from, body: `{"email":"a@example.com","password":"wrong password here"}`})
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[401 401 401 401 429 429]" {
		t.Fatalf("two instances, one budget of 4: %v", codes)
	}
}

// A body trickled a byte at a time was kept open past 60 s: now the body
// deadline cuts it off.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.BodyTimeout = time.Second
	s := start(t, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for time.Since(start) < 10*time.Second {
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.ReadAll(conn) // a 4xx then close, or just close
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("slow body held the connection %s", took)
	}
	conn.Close()
	<-done
}

// Under a login flood the password work stays bounded: the excess gets 503
// UNAVAILABLE with Retry-After, never a 500, and the rest are answered.
func TestLoginFloodIsRefusedNotQueuedForEver(t *testing.T) {
	t.Parallel()
	// Production cost and the default bound (GOMAXPROCS-1 at once, a queue
	// of four times that, 1 s of waiting): 200 at once overflow it on any
	// machine with fewer than 40 cores.
	s := start(t, baseConfig(), apptest.Hash(password.Default))
	register(t, s, "ada@example.com", ip())
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for range 200 {
		wg.Go(func() {
			resp, body := do(t, s, req{method: "POST", path: "/v1/auth/login", ip: ip(), body: `{"email":"ada@example.com","password":"wrong password here"}`})
			mu.Lock()
			defer mu.Unlock()
			codes[resp.StatusCode]++
			if resp.StatusCode == http.StatusServiceUnavailable {
				if resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "UNAVAILABLE") {
					t.Errorf("503 without Retry-After or code: %v %s", resp.Header, body)
				}
			}
		})
	}
	wg.Wait()
	if codes[http.StatusServiceUnavailable] == 0 || codes[http.StatusUnauthorized] == 0 || len(codes) != 2 {
		t.Fatalf("200 concurrent logins: %v, want some 401 and some 503 only", codes)
	}
}

// Correctly signed access tokens that live longer than the service issues
// are refused; a replay of a refresh token whose successor rotated on ends
// the session.
func TestTokenEdges(t *testing.T) {
	t.Parallel()
	s := start(t, baseConfig())
	access, refresh := register(t, s, "ada@example.com", ip())
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(access, claims); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(365 * 24 * time.Hour).Unix()
	claims["jti"] = uuid.NewString()
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, s, req{method: "GET", path: "/v1/me", token: forged}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a year-long access token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, s, req{method: "GET", path: "/v1/me", token: access}); resp.StatusCode != http.StatusOK {
		t.Fatalf("the real token: %d", resp.StatusCode)
	}

	rotate := func(tok string) (string, int) {
		resp, body := do(t, s, req{method: "POST", path: "/v1/auth/refresh", ip: ip(), body: `{"refresh_token":"` + tok + `"}`})
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.Unmarshal([]byte(body), &out)
		return out.RefreshToken, resp.StatusCode
	}
	second, code := rotate(refresh)
	if code != http.StatusOK {
		t.Fatalf("first refresh: %d", code)
	}
	third, code := rotate(second)
	if code != http.StatusOK {
		t.Fatalf("second refresh: %d", code)
	}
	if _, code := rotate(refresh); code != http.StatusUnauthorized {
		t.Fatalf("replay of the first token within the window: %d", code)
	}
	if _, code := rotate(third); code != http.StatusUnauthorized {
		t.Fatalf("the session survived the replay: %d", code)
	}
	if !strings.Contains(s.Logs.String(), "refresh_token_reuse") {
		t.Fatal("replay not logged as refresh_token_reuse")
	}
}

// Oversized bodies are 413 whether they announce their length or not.
func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	s := start(t, baseConfig())
	access, _ := register(t, s, "ada@example.com", ip())
	big := `{"provider":"openai","name":"x","value":"` + strings.Repeat("a", 2<<20) + `"}`
	resp, body := do(t, s, req{method: "POST", path: "/v1/secrets", token: access, ip: ip(), body: big})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || errorCode(t, body) != "PAYLOAD_TOO_LARGE" {
		t.Fatalf("announced 2 MiB: %d %s", resp.StatusCode, body)
	}
	hr, _ := http.NewRequest("POST", s.URL+"/v1/secrets", io.MultiReader(strings.NewReader(big)))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+access)
	r2, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	b, _ := io.ReadAll(r2.Body)
	if r2.StatusCode != http.StatusRequestEntityTooLarge || errorCode(t, string(b)) != "PAYLOAD_TOO_LARGE" {
		t.Fatalf("chunked 2 MiB: %d %s", r2.StatusCode, b)
	}
}

// TestLoginLimitDoesNotLockTheVictimOut: failing logins in someone's name
// from one address slows that address down, and the owner still signs in
// from theirs; only a distributed attack reaches the per-account ceiling
// (issue 16, item 12; the policy is in docs/security.md).
func TestLoginLimitDoesNotLockTheVictimOut(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Limits = ratelimit.Config{IPPerMinute: 100, UserPerMinute: 100, AuthIPPerMinute: 50, AuthAccountPerMinute: 3, AuthAccountCeilingPerMinute: 8}
	s := start(t, cfg)
	register(t, s, "owner@example.com", ip())
	login := func(from, password string) int {
		resp, _ := do(t, s, req{method: "POST", path: "/v1/auth/login", ip: from,
			body: `{"email":"owner@example.com","password":"` + password + `"}`})
		return resp.StatusCode
	}
	attacker, owner := ip(), ip()
	for i := range 3 {
		if st := login(attacker, "wrong password here"); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, st)
		}
	}
	if st := login(attacker, "wrong password here"); st != http.StatusTooManyRequests {
		t.Fatalf("attacker's 4th attempt: %d, want 429", st)
	}
	// The attacker keeps trying (refused, so not counted against the
	// ceiling); the owner signs in from their own address.
	for range 10 {
		login(attacker, "wrong password here")
	}
	if st := login(owner, apptest.Password); st != http.StatusOK {
		t.Fatalf("owner after the attack: %d, want 200", st)
	}
	// Many addresses together reach the ceiling: then the account is held
	// for everyone, the owner included, until the minute passes.
	n := 0
	for ; n < 20; n++ {
		if login(ip(), "wrong password here") == http.StatusTooManyRequests {
			break
		}
	}
	if n != 8-4 { // 3 attacker failures and the owner's sign-in count too
		t.Fatalf("%d distributed attempts before the ceiling, want 4", n)
	}
}
