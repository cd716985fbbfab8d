package connections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/connections/oauthtest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/openapi"
)

const redirect = "https://app.example/connected"

// world is a provider and two instances of the service over one database.
type world struct {
	provider *oauthtest.Server
	s1, s2   *apptest.Server
	db       *dbtest.Database

	mu   sync.Mutex
	seen []string // states handed out, scanned for in the logs
}

// newWorld starts the provider and two service instances configured with
// it as the generic provider "acme". At the end, every server's log is
// scanned for every token, code and state the test saw.
func newWorld(t *testing.T) *world {
	t.Helper()
	p := oauthtest.New()
	w := &world{provider: p}
	t.Cleanup(func() { // registered first: runs after the servers stopped
		defer p.Close()
		for _, s := range []*apptest.Server{w.s1, w.s2} {
			if s == nil {
				continue
			}
			logs := s.Logs.String()
			w.mu.Lock()
			seen := append(p.Issued(), w.seen...)
			w.mu.Unlock()
			for _, v := range seen {
				if strings.Contains(logs, v) {
					t.Errorf("a token, code or state is in the logs: %.12s…", v)
				}
			}
			// The realtime publisher took every connection.needs_reauth event.
			if strings.Contains(logs, "needs_reauth not delivered") {
				t.Error("a connection.needs_reauth event was not delivered")
			}
			for _, v := range []string{oauthtest.ClientSecret, "test_at_", "test_rt_", "test_code_"} {
				if strings.Contains(logs, v) {
					t.Errorf("logs contain %q", v)
				}
			}
		}
	})
	providers, _ := json.Marshal([]map[string]any{{
		"name": "acme", "client_id": oauthtest.ClientID, "client_secret": oauthtest.ClientSecret,
		"auth_url": p.URL + "/authorize", "token_url": p.URL + "/token", "revoke_url": p.URL + "/revoke",
		"auth_style": "header", "scopes": []string{"read", "write"},
	}})
	env := apptest.Env(map[string]string{
		"CONNECTIONS_PROVIDERS": string(providers), "CONNECTIONS_REDIRECT_URLS": redirect + ",https://app.example/other",
		"CONNECTIONS_PROVIDER_TIMEOUT": "2s", "CONNECTIONS_REFRESH_ATTEMPTS": "2", "CONNECTIONS_RETRY_AFTER": "7s",
		// 50 callers of one user in a second: the per-user limit is not under test.
		"RATELIMIT_USER_PER_MINUTE": "0", "RATELIMIT_IP_PER_MINUTE": "0",
	})
	w.s1 = apptest.New(t, env)
	w.db = w.s1.DB
	w.s2 = apptest.New(t, env, apptest.Database(w.db))
	return w
}

// on returns a client of server s acting with tok.
func on(t *testing.T, s *apptest.Server, tok *openapi.TokenResponse) *openapi.Client {
	c, b := s.Client(t)
	b.Token = tok.AccessToken
	return c
}

// importExpired imports a grant of the provider whose access token expired.
func (w *world) importExpired(t *testing.T, c *openapi.Client, account string) (*openapi.Connection, string, string) {
	t.Helper()
	access, refresh := w.provider.Grant(account)
	conn, err := c.ImportConnection(context.Background(), &openapi.ConnectionImport{
		Provider: "acme", Account: account, AccessToken: access,
		RefreshToken: openapi.NewOptString(refresh), ExpiresAt: openapi.NewOptDateTime(time.Now().Add(-time.Minute)),
	})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return conn, access, refresh
}

func TestFiftyCallersTwoInstancesOneRefresh(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c1, tok := w.s1.SignUp(t, "alice@example.com")
	c2 := on(t, w.s2, tok)
	conn, old, _ := w.importExpired(t, c1, "alice")
	// A provider that takes its time keeps every caller's window open: without
	// the row lock, both instances would refresh (and one be refused).
	w.provider.SetDelay(300 * time.Millisecond)

	var wg sync.WaitGroup
	got := make([]string, 50)
	errs := make([]error, 50)
	start := make(chan struct{})
	for i := range 50 {
		wg.Go(func() {
			c := c1
			if i%2 == 1 {
				c = c2
			}
			<-start
			r, err := c.GetConnectionToken(context.Background(), openapi.GetConnectionTokenParams{ID: conn.ID})
			if err == nil {
				got[i] = r.AccessToken
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if n := w.provider.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes at the provider, want exactly 1", n)
	}
	if n := w.provider.Rejected(); n != 0 {
		t.Fatalf("%d refresh grants refused, want 0", n)
	}
	for i, v := range got {
		if v != got[0] {
			t.Fatalf("caller %d got another access token than caller 0", i)
		}
	}
	if got[0] == old || !w.provider.ValidAccess(got[0]) {
		t.Fatal("callers did not get the provider's new access token")
	}
	after, err := c2.GetConnection(context.Background(), openapi.GetConnectionParams{ID: conn.ID})
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != openapi.ConnectionStatusActive || !after.LastRefreshedAt.Set {
		t.Fatalf("after the refresh: status %s, last_refreshed_at set %v", after.Status, after.LastRefreshedAt.Set)
	}
	// The rotated refresh token was stored: the next expiry refreshes again, once.
	w.expire(t, conn.ID)
	if _, err := c1.GetConnectionToken(context.Background(), openapi.GetConnectionTokenParams{ID: conn.ID}); err != nil {
		t.Fatal(err)
	}
	if n := w.provider.Refreshes(); n != 2 {
		t.Fatalf("%d refreshes after the second expiry, want 2", n)
	}
}

// expire makes the connection's access token expired, as time would.
func (w *world) expire(t *testing.T, id uuid.UUID) {
	t.Helper()
	conn := w.db.OwnerClient(t)
	if _, err := conn.ExecContext(context.Background(),
		"UPDATE oauth_connections SET expires_at = now() - interval '1 minute' WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
}

func TestReplayedRotatedOutRefreshTokenNeedsReauth(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, tok := w.s1.SignUp(t, "alice@example.com")
	conn, access, refresh := w.importExpired(t, c, "alice")
	if _, err := c.GetConnectionToken(context.Background(), openapi.GetConnectionTokenParams{ID: conn.ID}); err != nil {
		t.Fatal(err)
	}
	// A stale copy of the grant (the same account imported again from
	// elsewhere) holds the refresh token the provider rotated out.
	if _, err := c.ImportConnection(context.Background(), &openapi.ConnectionImport{
		Provider: "acme", Account: "alice", AccessToken: access, RefreshToken: openapi.NewOptString(refresh),
		ExpiresAt: openapi.NewOptDateTime(time.Now().Add(-time.Minute)),
	}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetConnectionToken(context.Background(), openapi.GetConnectionTokenParams{ID: conn.ID})
	apptest.APIError(t, err, http.StatusConflict, "NEEDS_REAUTH")
	if w.provider.Rejected() != 1 {
		t.Fatalf("%d refusals at the provider, want 1", w.provider.Rejected())
	}
	got, err := on(t, w.s2, tok).GetConnection(context.Background(), openapi.GetConnectionParams{ID: conn.ID})
	if err != nil || got.Status != openapi.ConnectionStatusNeedsReauth {
		t.Fatalf("status %v (%v), want needs_reauth", got, err)
	}
	// No further calls reach the provider until the user connects again.
	_, err = c.GetConnectionToken(context.Background(), openapi.GetConnectionTokenParams{ID: conn.ID})
	apptest.APIError(t, err, http.StatusConflict, "NEEDS_REAUTH")
	if n := w.provider.TokenCalls(); n != 2 {
		t.Fatalf("%d token calls, want 2", n)
	}
	// Connecting again (an import of a live grant) makes it active.
	w.importExpired(t, c, "alice")
	if _, err := c.GetConnectionToken(context.Background(), openapi.GetConnectionTokenParams{ID: conn.ID}); err != nil {
		t.Fatal(err)
	}
}

func TestProviderDownIs503AndStaysActive(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, tok := w.s1.SignUp(t, "alice@example.com")
	conn, _, _ := w.importExpired(t, c, "alice")
	w.provider.SetDown(true)
	resp := w.s2.Do(t, http.MethodPost, "/v1/connections/"+conn.ID.String()+"/token", tok.AccessToken, "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("provider down: %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(string(body), `"UNAVAILABLE"`) {
		t.Fatalf("body: %s", body)
	}
	if n := w.provider.TokenCalls(); n != 2 {
		t.Fatalf("%d attempts at the provider, want 2 (CONNECTIONS_REFRESH_ATTEMPTS)", n)
	}
	got, err := c.GetConnection(context.Background(), openapi.GetConnectionParams{ID: conn.ID})
	if err != nil || got.Status != openapi.ConnectionStatusActive {
		t.Fatalf("status %v (%v), want active", got, err)
	}
	w.provider.SetDown(false)
	r, err := c.GetConnectionToken(context.Background(), openapi.GetConnectionTokenParams{ID: conn.ID})
	if err != nil || !w.provider.ValidAccess(r.AccessToken) {
		t.Fatalf("after the provider is back: %v", err)
	}
}

// start begins a flow for c and returns the provider's URL and the state.
func (w *world) start(t *testing.T, c *openapi.Client) *openapi.ConnectionAuthorization {
	t.Helper()
	a, err := c.StartConnection(context.Background(), &openapi.ConnectionStart{Provider: "acme", RedirectURI: redirect})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	w.mu.Lock()
	w.seen = append(w.seen, a.State)
	w.mu.Unlock()
	return a
}

func TestConnectFlowWithPKCEAndState(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	alice, _ := w.s1.SignUp(t, "alice@example.com")
	bob, _ := w.s1.SignUp(t, "bob@example.com")

	a := w.start(t, alice)
	u, _ := url.Parse(a.AuthorizationURL)
	if q := u.Query(); q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") != a.State ||
		q.Get("redirect_uri") != redirect || q.Get("scope") != "read write" {
		t.Fatalf("authorization URL: %s", a.AuthorizationURL)
	}
	code, state, err := w.provider.Authorize(a.AuthorizationURL + "&login_hint=alice-at-acme")
	if err != nil || state != a.State {
		t.Fatalf("authorize: %v", err)
	}
	cb := &openapi.ConnectionCallback{State: state, Code: code, RedirectURI: redirect}
	conn, err := alice.CompleteConnection(ctx, cb)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	if conn.Provider != "acme" || conn.Account != "alice-at-acme" || conn.Status != openapi.ConnectionStatusActive {
		t.Fatalf("connection: %+v", conn)
	}
	r, err := alice.GetConnectionToken(ctx, openapi.GetConnectionTokenParams{ID: conn.ID})
	if err != nil || !w.provider.ValidAccess(r.AccessToken) || w.provider.Refreshes() != 0 {
		t.Fatalf("token after connecting: %v", err)
	}

	refused := func(name string, c *openapi.Client, cb *openapi.ConnectionCallback) {
		t.Helper()
		_, err := c.CompleteConnection(ctx, cb)
		e := apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
		if len(e.Details) == 0 {
			t.Fatalf("%s: no field named", name)
		}
	}
	// Replayed: the state (and the code) worked once.
	refused("replayed", alice, cb)

	// Tampered state.
	a = w.start(t, alice)
	code, _, _ = w.provider.Authorize(a.AuthorizationURL)
	refused("tampered state", alice, &openapi.ConnectionCallback{State: a.State + "x", Code: code, RedirectURI: redirect})
	// Another redirect than the one the state is bound to: refused, and the state is spent.
	refused("other redirect", alice, &openapi.ConnectionCallback{State: a.State, Code: code, RedirectURI: "https://app.example/other"})
	refused("spent by a refused try", alice, &openapi.ConnectionCallback{State: a.State, Code: code, RedirectURI: redirect})

	// Another user's state.
	b := w.start(t, bob)
	code, _, _ = w.provider.Authorize(b.AuthorizationURL)
	refused("other user's state", alice, &openapi.ConnectionCallback{State: b.State, Code: code, RedirectURI: redirect})
	if _, err := bob.CompleteConnection(ctx, &openapi.ConnectionCallback{State: b.State, Code: code, RedirectURI: redirect}); err != nil {
		t.Fatalf("bob's own state after alice tried it: %v", err)
	}

	// Expired.
	a = w.start(t, alice)
	code, _, _ = w.provider.Authorize(a.AuthorizationURL)
	if _, err := w.db.OwnerClient(t).ExecContext(ctx, "UPDATE oauth_states SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	refused("expired", alice, &openapi.ConnectionCallback{State: a.State, Code: code, RedirectURI: redirect})

	// PKCE: a code obtained with another challenge (an attacker's) does not
	// exchange with this flow's verifier.
	a = w.start(t, alice)
	u, _ = url.Parse(a.AuthorizationURL)
	q := u.Query()
	q.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	u.RawQuery = q.Encode()
	code, _, _ = w.provider.Authorize(u.String())
	_, err = alice.CompleteConnection(ctx, &openapi.ConnectionCallback{State: a.State, Code: code, RedirectURI: redirect})
	e := apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
	if e.Details[0].Field.Or("") != "code" {
		t.Fatalf("PKCE mismatch: %+v", e)
	}

	// A redirect the service does not know is refused at the start.
	_, err = alice.StartConnection(ctx, &openapi.ConnectionStart{Provider: "acme", RedirectURI: "https://evil.example/steal"})
	apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
	// So is a provider without credentials, and an unknown one.
	for _, p := range []string{"github", "nope"} {
		_, err = alice.StartConnection(ctx, &openapi.ConnectionStart{Provider: p, RedirectURI: redirect})
		apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
	}
	list, err := alice.ListConnections(ctx, openapi.ListConnectionsParams{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("alice's connections: %v %v", list, err)
	}
}

func TestAnotherUsersConnectionIs404(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	alice, _ := w.s1.SignUp(t, "alice@example.com")
	bob, _ := w.s2.SignUp(t, "bob@example.com")
	conn, _, _ := w.importExpired(t, alice, "alice")
	_, err := bob.GetConnection(ctx, openapi.GetConnectionParams{ID: conn.ID})
	apptest.APIError(t, err, http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
	_, err = bob.GetConnectionToken(ctx, openapi.GetConnectionTokenParams{ID: conn.ID})
	apptest.APIError(t, err, http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
	err = bob.DeleteConnection(ctx, openapi.DeleteConnectionParams{ID: conn.ID})
	apptest.APIError(t, err, http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
	if w.provider.TokenCalls() != 0 || w.provider.Revocations() != 0 {
		t.Fatal("bob's requests reached the provider")
	}
	if _, err := alice.GetConnection(ctx, openapi.GetConnectionParams{ID: conn.ID}); err != nil {
		t.Fatal(err)
	}
}

func TestReadsNeverShowTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, tok := w.s1.SignUp(t, "alice@example.com")
	conn, access, refresh := w.importExpired(t, c, "alice")
	for _, path := range []string{"/v1/connections", "/v1/connections/" + conn.ID.String()} {
		body, _ := io.ReadAll(w.s1.Do(t, http.MethodGet, path, tok.AccessToken, "").Body)
		if strings.Contains(string(body), access) || strings.Contains(string(body), refresh) || strings.Contains(string(body), "token\"") {
			t.Fatalf("%s shows a token: %s", path, body)
		}
	}
	body, _ := io.ReadAll(w.s1.Do(t, http.MethodPost, "/v1/connections/"+conn.ID.String()+"/token", tok.AccessToken, "").Body)
	if strings.Contains(string(body), "refresh") || !strings.Contains(string(body), `"access_token"`) {
		t.Fatalf("token endpoint: %s", body)
	}
}

func TestDeleteRevokesAtTheProvider(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	c, _ := w.s1.SignUp(t, "alice@example.com")
	conn, access, refresh := w.importExpired(t, c, "alice")
	if err := c.DeleteConnection(ctx, openapi.DeleteConnectionParams{ID: conn.ID}); err != nil {
		t.Fatal(err)
	}
	if !w.provider.Revoked(refresh) || !w.provider.Revoked(access) {
		t.Fatal("tokens not revoked at the provider")
	}
	_, err := c.GetConnection(ctx, openapi.GetConnectionParams{ID: conn.ID})
	apptest.APIError(t, err, http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)

	// Provider down: 503, the connection is revoked (no token handed out)
	// and deleting again, once it is back, revokes and forgets.
	conn, _, refresh = w.importExpired(t, c, "bob-account")
	w.provider.SetDown(true)
	err = c.DeleteConnection(ctx, openapi.DeleteConnectionParams{ID: conn.ID})
	apptest.APIError(t, err, http.StatusServiceUnavailable, openapi.ErrorResponseErrorCodeUNAVAILABLE)
	got, err := c.GetConnection(ctx, openapi.GetConnectionParams{ID: conn.ID})
	if err != nil || got.Status != openapi.ConnectionStatusRevoked {
		t.Fatalf("after a failed revocation: %v %v", got, err)
	}
	_, err = c.GetConnectionToken(ctx, openapi.GetConnectionTokenParams{ID: conn.ID})
	apptest.APIError(t, err, http.StatusConflict, "NEEDS_REAUTH")
	w.provider.SetDown(false)
	if err := c.DeleteConnection(ctx, openapi.DeleteConnectionParams{ID: conn.ID}); err != nil {
		t.Fatal(err)
	}
	if !w.provider.Revoked(refresh) {
		t.Fatal("not revoked on the second try")
	}
}

func TestConcurrentFirstImportsAllSucceed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c1, tok := w.s1.SignUp(t, "alice@example.com")
	c2 := on(t, w.s2, tok)
	var wg sync.WaitGroup
	ids := make([]uuid.UUID, 12)
	errs := make([]error, 12)
	for i := range 12 {
		wg.Go(func() {
			c := c1
			if i%2 == 1 {
				c = c2
			}
			conn, err := c.ImportConnection(context.Background(), &openapi.ConnectionImport{
				Provider: "github", Account: "octocat", AccessToken: fmt.Sprintf("gho_import_%02d_abcdefghij", i)})
			errs[i] = err
			if err == nil {
				ids[i] = conn.ID
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("import %d: %v", i, err)
		}
		if ids[i] != ids[0] {
			t.Fatalf("import %d made another connection", i)
		}
	}
	list, err := c1.ListConnections(context.Background(), openapi.ListConnectionsParams{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
}

func TestImportRefusesBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c, tok := w.s1.SignUp(t, "alice@example.com")
	for name, body := range map[string]string{
		"unknown provider": `{"provider":"nope","account":"a","access_token":"x1"}`,
		"blank account":    `{"provider":"github","account":"  ","access_token":"x1"}`,
		"spaces in token":  `{"provider":"github","account":"a","access_token":"x 1"}`,
	} {
		resp := w.s1.Do(t, http.MethodPost, "/v1/connections/import", tok.AccessToken, body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
	list, err := c.ListConnections(context.Background(), openapi.ListConnectionsParams{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("bad imports stored something: %v %v", list, err)
	}
	provs, err := c.ListConnectionProviders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]openapi.ConnectionProvider{}
	for _, p := range provs.Items {
		names[p.Name] = p
	}
	if !names["acme"].Configured || !names["acme"].Revocable || names["github"].Configured || len(names) != 5 {
		t.Fatalf("providers: %+v", provs.Items)
	}
}
