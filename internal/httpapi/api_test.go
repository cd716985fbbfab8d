package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/openapi"
)

const pw = apptest.Password

type testServer struct{ *apptest.Server }

type bearer = apptest.Bearer

// newServer runs the real service on a fresh database, with a cheap
// password hasher (the production cost is benchmarked).
func newServer(t testing.TB) *testServer { return &testServer{apptest.New(t)} }

func newServerWith(t testing.TB, params password.Params) *testServer {
	return &testServer{apptest.New(t, apptest.Hash(params))}
}

func (s *testServer) client(t testing.TB) (*openapi.Client, *bearer) { return s.Client(t) }

func (s *testServer) signUp(t *testing.T, email string) (*openapi.Client, *openapi.TokenResponse) {
	return s.SignUp(t, email)
}

// apiErr asserts err is the API's error body with status and code.
func apiErr(t *testing.T, err error, status int, code openapi.ErrorResponseErrorCode) *openapi.ErrorResponseError {
	t.Helper()
	var e *openapi.ErrorStatusCode
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an API error %d %s", err, status, code)
	}
	if e.StatusCode != status || e.Response.Error.Code != code || e.Response.Error.CorrelationID == "" {
		t.Fatalf("error = %d %+v, want %d %s with a correlation id", e.StatusCode, e.Response.Error, status, code)
	}
	return &e.Response.Error
}

func TestAuthFlow(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c, tok := s.signUp(t, "Ada@Example.com")
	if tok.TokenType != "Bearer" || tok.ExpiresIn < 890 || tok.ExpiresIn > 900 {
		t.Fatalf("token response = %+v", tok)
	}
	me, err := c.GetMe(ctx)
	if err != nil || me.Email != "ada@example.com" || me.ID != tok.UserID {
		t.Fatalf("me = %+v, %v", me, err)
	}
	_, err = c.Register(ctx, &openapi.RegisterRequest{Email: "ADA@example.com", Password: pw})
	apiErr(t, err, 409, openapi.ErrorResponseErrorCodeEMAILEXISTS)
	e := apiErr(t, mustErr(c.Register(ctx, &openapi.RegisterRequest{Email: "bob@example.com", Password: "short"})), 400, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
	if len(e.Details) != 1 || e.Details[0].Field.Or("") != "password" || !strings.Contains(e.Message, "12") {
		t.Fatalf("weak password error = %+v", e)
	}

	anon, _ := s.client(t)
	_, err = anon.Login(ctx, &openapi.LoginRequest{Email: "ada@example.com", Password: "wrong password here"})
	wrong := apiErr(t, err, 401, openapi.ErrorResponseErrorCodeINVALIDCREDENTIALS)
	_, err = anon.Login(ctx, &openapi.LoginRequest{Email: "nobody@example.com", Password: pw})
	unknown := apiErr(t, err, 401, openapi.ErrorResponseErrorCodeINVALIDCREDENTIALS)
	if wrong.Message != unknown.Message {
		t.Fatalf("login failures differ: %q vs %q", wrong.Message, unknown.Message)
	}
	login, err := anon.Login(ctx, &openapi.LoginRequest{Email: "ada@example.com", Password: pw})
	if err != nil {
		t.Fatal(err)
	}

	next, err := anon.Refresh(ctx, &openapi.RefreshRequest{RefreshToken: login.RefreshToken})
	if err != nil || next.RefreshToken == login.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}
	again, err := anon.Refresh(ctx, &openapi.RefreshRequest{RefreshToken: login.RefreshToken})
	if err != nil || again.RefreshToken != next.RefreshToken {
		t.Fatalf("second tab within the grace window: %v", err)
	}
	sessions, err := c.ListSessions(ctx, openapi.ListSessionsParams{})
	if err != nil || len(sessions.Items) != 2 {
		t.Fatalf("sessions = %+v, %v", sessions, err)
	}
	if err := c.Logout(ctx, openapi.NewOptLogoutRequest(openapi.LogoutRequest{})); err != nil {
		t.Fatal(err)
	}
	apiErr(t, mustErr(c.GetMe(ctx)), 401, openapi.ErrorResponseErrorCodeUNAUTHORIZED)
	apiErr(t, mustErr(anon.Refresh(ctx, &openapi.RefreshRequest{RefreshToken: tok.RefreshToken})), 401, openapi.ErrorResponseErrorCodeUNAUTHORIZED)
	// The other session lives on until logout with all.
	other, b := s.client(t)
	b.Token = next.AccessToken
	if _, err := other.GetMe(ctx); err != nil {
		t.Fatalf("other session after logout of one: %v", err)
	}
	if err := other.Logout(ctx, openapi.NewOptLogoutRequest(openapi.LogoutRequest{All: openapi.NewOptBool(true)})); err != nil {
		t.Fatal(err)
	}
	apiErr(t, mustErr(other.GetMe(ctx)), 401, openapi.ErrorResponseErrorCodeUNAUTHORIZED)
}

func mustErr[T any](_ T, err error) error { return err }

func TestSecretsAPI(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c, _ := s.signUp(t, "ada@example.com")
	var ids []uuid.UUID
	for _, name := range []string{"a", "b", "c"} {
		sec, err := c.CreateSecret(ctx, &openapi.SecretCreate{Provider: "openai", Name: name, Value: "sk-live-value-" + name + "-0123456789"})
		if err != nil {
			t.Fatal(err)
		}
		if sec.Last4.Or("") != "6789" || sec.Name != name {
			t.Fatalf("created = %+v", sec)
		}
		ids = append(ids, sec.ID)
	}
	_, err := c.CreateSecret(ctx, &openapi.SecretCreate{Provider: "openai", Name: "a", Value: "sk-x"})
	apiErr(t, err, 409, openapi.ErrorResponseErrorCodeCONFLICT)

	first, err := c.ListSecrets(ctx, openapi.ListSecretsParams{Limit: openapi.NewOptInt(2)})
	if err != nil || len(first.Items) != 2 || first.Items[0].ID != ids[2] || !first.NextCursor.IsSet() {
		t.Fatalf("first page = %+v, %v", first, err)
	}
	second, err := c.ListSecrets(ctx, openapi.ListSecretsParams{Limit: openapi.NewOptInt(2), Cursor: first.NextCursor})
	if err != nil || len(second.Items) != 1 || second.Items[0].ID != ids[0] || second.NextCursor.IsSet() {
		t.Fatalf("second page = %+v, %v", second, err)
	}
	_, err = c.ListSecrets(ctx, openapi.ListSecretsParams{Cursor: openapi.NewOptString("not-a-cursor!")})
	e := apiErr(t, err, 400, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
	if e.Details[0].Field.Or("") != "cursor" {
		t.Fatalf("cursor error = %+v", e)
	}

	upd, err := c.UpdateSecret(ctx, &openapi.SecretUpdate{Name: openapi.NewOptString("renamed"), Value: openapi.NewOptString("sk-live-new-value-abcd")},
		openapi.UpdateSecretParams{ID: ids[0]})
	if err != nil || upd.Name != "renamed" || upd.Last4.Or("") != "abcd" {
		t.Fatalf("update = %+v, %v", upd, err)
	}
	_, err = c.UpdateSecret(ctx, &openapi.SecretUpdate{}, openapi.UpdateSecretParams{ID: ids[0]})
	apiErr(t, err, 400, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
	if err := c.DeleteSecret(ctx, openapi.DeleteSecretParams{ID: ids[1]}); err != nil {
		t.Fatal(err)
	}
	apiErr(t, c.DeleteSecret(ctx, openapi.DeleteSecretParams{ID: ids[1]}), 404, openapi.ErrorResponseErrorCodeNOTFOUND)
}

// TestCrossUserAccessIsNotFound tries every endpoint that takes an id with
// another user's id: 404, never 403, and nothing changes.
func TestCrossUserAccessIsNotFound(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	alice, _ := s.signUp(t, "alice@example.com")
	bob, bobTok := s.signUp(t, "bob@example.com")
	bobs, err := bob.CreateSecret(ctx, &openapi.SecretCreate{Provider: "github", Name: "ci", Value: "ghp_0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.UpdateSecret(ctx, &openapi.SecretUpdate{Name: openapi.NewOptString("mine")}, openapi.UpdateSecretParams{ID: bobs.ID})
	apiErr(t, err, 404, openapi.ErrorResponseErrorCodeNOTFOUND)
	apiErr(t, alice.DeleteSecret(ctx, openapi.DeleteSecretParams{ID: bobs.ID}), 404, openapi.ErrorResponseErrorCodeNOTFOUND)
	apiErr(t, alice.DeleteSession(ctx, openapi.DeleteSessionParams{ID: bobTok.SessionID}), 404, openapi.ErrorResponseErrorCodeNOTFOUND)
	list, err := alice.ListSecrets(ctx, openapi.ListSecretsParams{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("alice lists %d secrets, want 0", len(list.Items))
	}
	sessions, err := alice.ListSessions(ctx, openapi.ListSessionsParams{})
	if err != nil || len(sessions.Items) != 1 {
		t.Fatalf("alice lists %d sessions, want her 1", len(sessions.Items))
	}
	mine, err := bob.ListSecrets(ctx, openapi.ListSecretsParams{})
	if err != nil || len(mine.Items) != 1 || mine.Items[0].Name != "ci" {
		t.Fatalf("bob's secrets after alice's attempts: %+v, %v", mine, err)
	}
	if _, err := bob.GetMe(ctx); err != nil {
		t.Fatalf("bob's session after alice's attempt: %v", err)
	}
}

func TestTokensTheAPIRefuses(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	_, tok := s.signUp(t, "ada@example.com")
	c, b := s.client(t)
	for name, raw := range map[string]string{
		"garbage":       "abc.def.ghi",
		"refresh token": tok.RefreshToken,
		"other secret":  forgeAccess(t, tok),
	} {
		b.Token = raw
		t.Run(name, func(t *testing.T) {
			apiErr(t, mustErr(c.GetMe(ctx)), 401, openapi.ErrorResponseErrorCodeUNAUTHORIZED)
		})
	}
	// Expired an hour ago, signed with the server's secret: the API says
	// TOKEN_EXPIRED, so clients know to refresh rather than sign in.
	old, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": tok.UserID.String(), "sid": tok.SessionID.String(), "typ": "access", "jti": uuid.NewString(),
		"iss": "jarvis-core", "aud": "jarvis-api",
		"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix(),
	}).SignedString([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	b.Token = old
	apiErr(t, mustErr(c.GetMe(ctx)), 401, openapi.ErrorResponseErrorCodeTOKENEXPIRED)
}

func forgeAccess(t *testing.T, tok *openapi.TokenResponse) string {
	t.Helper()
	iss, err := token.NewIssuer([]byte(strings.Repeat("x", 32)), "jarvis-core", "jarvis-api", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := iss.Issue(tok.UserID, tok.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRawHTTPErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	cases := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"malformed json", "POST", "/v1/auth/login", "{bad", 400, "VALIDATION_ERROR", "body"},
		{"missing field", "POST", "/v1/auth/register", `{"email":"a@example.com"}`, 400, "VALIDATION_ERROR", "password"},
		{"not an email", "POST", "/v1/auth/register", `{"email":"not-an-email","password":"correct horse battery staple"}`, 400, "VALIDATION_ERROR", "email"},
		{"wrong type", "POST", "/v1/auth/logout", `{"all":"yes"}`, 401, "UNAUTHORIZED", ""},
		{"bad limit", "GET", "/v1/secrets?limit=1000", "", 401, "UNAUTHORIZED", ""},
		{"unknown route", "GET", "/v1/nope", "", 404, "NOT_FOUND", ""},
		{"unknown top route", "GET", "/nope", "", 404, "NOT_FOUND", ""},
		{"wrong method", "PUT", "/v1/secrets", "", 405, "METHOD_NOT_ALLOWED", ""},
		{"wrong method on an item", "PUT", "/v1/secrets/0192f5e0-0000-7000-8000-000000000000", "", 405, "METHOD_NOT_ALLOWED", ""},
		{"body over the limit", "POST", "/v1/auth/login", `{"email":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "PAYLOAD_TOO_LARGE", ""},
		{"no token", "GET", "/v1/me", "", 401, "UNAUTHORIZED", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Correlation-ID", "test-correlation-0001")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body openapi.ErrorResponse
			raw, _ := io.ReadAll(resp.Body)
			if err := body.UnmarshalJSON(raw); err != nil {
				t.Fatalf("body is not the error format: %s", raw)
			}
			if resp.StatusCode != tc.status || string(body.Error.Code) != tc.code || body.Error.CorrelationID != "test-correlation-0001" {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			if tc.field != "" && (len(body.Error.Details) == 0 || body.Error.Details[0].Field.Or("") != tc.field) {
				t.Fatalf("details do not name %s: %s", tc.field, raw)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if resp.StatusCode == 405 && resp.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
}

// TestLogsHoldNoSecrets runs a whole session against the server and checks
// that no password, token or secret value reached any log line.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	c, tok := s.signUp(t, "ada@example.com")
	value := "sk-live-super-secret-value-42"
	if _, err := c.CreateSecret(ctx, &openapi.SecretCreate{Provider: "anthropic", Name: "main", Value: value}); err != nil {
		t.Fatal(err)
	}
	anon, _ := s.client(t)
	_, _ = anon.Login(ctx, &openapi.LoginRequest{Email: "ada@example.com", Password: "a wrong password " + value})
	next, err := anon.Refresh(ctx, &openapi.RefreshRequest{RefreshToken: tok.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	// Reuse after a rotation is logged as a security event, without the token.
	req, _ := http.NewRequest("POST", s.URL+"/v1/auth/login?token="+tok.AccessToken, strings.NewReader("{"))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	logs := s.Logs.String()
	if !strings.Contains(logs, `"msg":"http request"`) {
		t.Fatalf("no request logs captured:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"password": pw, "secret value": value, "access token": tok.AccessToken,
		"refresh token": tok.RefreshToken, "rotated refresh token": next.RefreshToken,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s reached the logs", name)
		}
	}
}

// The HTTP contract and the realtime one (AsyncAPI 3.0, issue 16 item 16)
// are both served as committed.
func TestOpenAPIIsServed(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for path, want := range map[string][]byte{"/openapi.json": openapi.Spec, "/asyncapi.json": openapi.AsyncAPI} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, want) || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d, %d bytes", path, resp.StatusCode, len(got))
		}
	}
}

// BenchmarkLoginHTTP is one login over HTTP with the production argon2id
// parameters: the latency a user waits for.
func BenchmarkLoginHTTP(b *testing.B) {
	s := newServerWith(b, password.Default)
	c, err := openapi.NewClient(s.URL, &bearer{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Register(ctx, &openapi.RegisterRequest{Email: "bench@example.com", Password: pw}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Login(ctx, &openapi.LoginRequest{Email: "bench@example.com", Password: pw}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginUnknownEmailHTTP: a failed login for an unknown email costs
// about the same as a successful one (the dummy hash), so timing does not
// tell which accounts exist.
func BenchmarkLoginUnknownEmailHTTP(b *testing.B) {
	s := newServerWith(b, password.Default)
	c, err := openapi.NewClient(s.URL, &bearer{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Login(ctx, &openapi.LoginRequest{Email: "nobody@example.com", Password: pw}); err == nil {
			b.Fatal("login of an unknown email succeeded")
		}
	}
}

// TestParallelRefreshesOverHTTP: tabs refreshing one token at the same
// moment all stay signed in, with one successor between them.
func TestParallelRefreshesOverHTTP(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, tok := s.signUp(t, "ada@example.com")
	anon, _ := s.client(t)
	const tabs = 6
	got := make(chan string, tabs)
	errs := make(chan error, tabs)
	var wg sync.WaitGroup
	for range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := anon.Refresh(context.Background(), &openapi.RefreshRequest{RefreshToken: tok.RefreshToken})
			if err != nil {
				errs <- err
				return
			}
			got <- r.RefreshToken
		}()
	}
	wg.Wait()
	close(got)
	close(errs)
	for err := range errs {
		t.Fatalf("a tab was signed out: %v", err)
	}
	distinct := map[string]bool{}
	for r := range got {
		distinct[r] = true
	}
	if len(distinct) != 1 {
		t.Fatalf("%d successors for one token, want 1", len(distinct))
	}
}

// TestRevocationAndDisablingActAtOnce: the session check runs inside each
// request's transaction, so a session revoked from another device, or a
// disabled user, is refused on the very next request.
func TestRevocationAndDisablingActAtOnce(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	laptop, first := s.signUp(t, "ada@example.com")
	phone, b := s.client(t)
	second, err := phone.Login(ctx, &openapi.LoginRequest{Email: "ada@example.com", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	b.Token = second.AccessToken
	if err := phone.DeleteSession(ctx, openapi.DeleteSessionParams{ID: first.SessionID}); err != nil {
		t.Fatal(err)
	}
	apiErr(t, mustErr(laptop.ListSecrets(ctx, openapi.ListSecretsParams{})), 401, openapi.ErrorResponseErrorCodeUNAUTHORIZED)
	if _, err := phone.GetMe(ctx); err != nil {
		t.Fatalf("the revoking session itself: %v", err)
	}
	owner := s.DB.OwnerClient(t)
	if err := owner.User.UpdateOneID(second.UserID).SetStatus("disabled").Exec(viewer.NewContext(ctx, viewer.Admin())); err != nil {
		t.Fatal(err)
	}
	apiErr(t, mustErr(phone.GetMe(ctx)), 401, openapi.ErrorResponseErrorCodeUNAUTHORIZED)
	_, err = phone.CreateSecret(ctx, &openapi.SecretCreate{Provider: "openai", Name: "x", Value: "sk-live-0123456789abcd"})
	apiErr(t, err, 401, openapi.ErrorResponseErrorCodeUNAUTHORIZED)
	if n := owner.UserSecret.Query().CountX(viewer.NewContext(ctx, viewer.Admin())); n != 0 {
		t.Fatalf("a disabled user's request stored %d secrets", n)
	}
}

// BenchmarkGetMeHTTP is one authenticated request: JWT check, then one
// transaction that sets the identity, checks the session and reads the user.
func BenchmarkGetMeHTTP(b *testing.B) {
	s := newServer(b)
	c, bt := s.client(b)
	tok, err := c.Register(context.Background(), &openapi.RegisterRequest{Email: "bench@example.com", Password: pw})
	if err != nil {
		b.Fatal(err)
	}
	bt.Token = tok.AccessToken
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetMe(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
