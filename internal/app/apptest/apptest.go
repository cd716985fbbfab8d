// Package apptest runs the real service (every module, wired by fx as in
// production) on a loopback port over a fresh test database, for tests that
// speak HTTP to it. Each server checks its whole log output at the end for
// anything that must never be logged.
package apptest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/app"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/httpapi"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
	"github.com/jarvis-core/jarvis/openapi"
)

// Password is the password test accounts use.
const Password = "correct horse battery staple"

// Leaks are what must never appear in a log line, whatever the test did:
// the test password, JWTs (their header always starts eyJ), API key values
// and bearer headers.
var Leaks = []string{Password, "eyJ", "sk-live", "ghp_", "Bearer "}

// CheapHash is a password hasher cheap enough for tests (the production cost
// is benchmarked, not tested).
var CheapHash = password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Server is one running instance of the service.
type Server struct {
	URL      string
	DB       *dbtest.Database
	Logs     *logtest.Buffer
	Issuer   *token.Issuer
	Security *httpapi.Security
	stop     func()
}

type options struct {
	env    map[string]string
	hash   password.Params
	extra  []fx.Option
	db     *dbtest.Database
	silent bool
}

// Option changes how the server is built.
type Option func(*options)

// Env sets configuration variables (over the test defaults).
func Env(kv map[string]string) Option { return func(o *options) { maps.Copy(o.env, kv) } }

// Hash sets the password hashing cost.
func Hash(p password.Params) Option { return func(o *options) { o.hash = p } }

// Fx adds fx options (decorators, invokes) to the app.
func Fx(opts ...fx.Option) Option { return func(o *options) { o.extra = append(o.extra, opts...) } }

// Database runs the server over an existing test database (two instances
// sharing one).
func Database(d *dbtest.Database) Option { return func(o *options) { o.db = d } }

// New starts the service for t and stops it at cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := &options{
		env: map[string]string{
			"APP_ENV": "test", "HOST": "127.0.0.1", "PORT": "0",
			"JWT_SECRET": strings.Repeat("s", 32), "SECRETS_MASTER_KEY": strings.Repeat("07", 32),
			"SHUTDOWN_TIMEOUT": "5s", "LOG_LEVEL": "debug",
		},
		hash: CheapHash,
	}
	for _, opt := range opts {
		opt(o)
	}
	if o.db == nil {
		o.db = dbtest.New(t)
	}
	if _, ok := o.env["DATABASE_URL"]; !ok {
		o.env["DATABASE_URL"] = o.db.AppURL
	}
	logs := &logtest.Buffer{}
	log := logging.New(logs, slog.LevelDebug)
	s := &Server{DB: o.db, Logs: logs}
	var srv *httpapi.Server
	fxOpts := append([]fx.Option{
		fx.Decorate(func() (*password.Hasher, error) { return password.New(o.hash) }),
		fx.Populate(&srv, &s.Issuer, &s.Security),
	}, o.extra...)
	a := app.New(config.Map(o.env), log, fxOpts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start the service: %v", err)
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("stop the service: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		s.stop()
		out := logs.String()
		for _, leak := range Leaks {
			if strings.Contains(out, leak) {
				t.Errorf("server logs contain %q:\n%s", leak, out)
			}
		}
	})
	s.URL = "http://" + srv.Addr()
	return s
}

// Stop shuts the instance down as production does (sockets get 1001 after
// draining) before the test ends: a restart or a failover. The log check
// still runs at cleanup.
func (s *Server) Stop() { s.stop() }

// Bearer is a client's security source; an empty token sends none.
type Bearer struct{ Token string }

// BearerAuth implements openapi.SecuritySource.
func (b *Bearer) BearerAuth(context.Context, openapi.OperationName) (openapi.BearerAuth, error) {
	if b.Token == "" {
		return openapi.BearerAuth{}, errors.New("no token") // ogen then omits the header
	}
	return openapi.BearerAuth{Token: b.Token}, nil
}

// Client is the generated Go client on the server, with its token source.
func (s *Server) Client(t testing.TB) (*openapi.Client, *Bearer) {
	t.Helper()
	b := &Bearer{}
	c, err := openapi.NewClient(s.URL, b)
	if err != nil {
		t.Fatal(err)
	}
	return c, b
}

// SignUp registers email and returns a client signed in as it.
func (s *Server) SignUp(t testing.TB, email string) (*openapi.Client, *openapi.TokenResponse) {
	t.Helper()
	c, b := s.Client(t)
	tok, err := c.Register(context.Background(), &openapi.RegisterRequest{Email: email, Password: Password})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	b.Token = tok.AccessToken
	return c, tok
}

// APIError asserts err is the API's error body with status and code.
func APIError(t testing.TB, err error, status int, code openapi.ErrorResponseErrorCode) *openapi.ErrorResponseError {
	t.Helper()
	var e *openapi.ErrorStatusCode
	if !errors.As(err, &e) {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
	if e.StatusCode != status || e.Response.Error.Code != code {
		t.Fatalf("want %d %s, got %d %s: %s", status, code, e.StatusCode, e.Response.Error.Code, e.Response.Error.Message)
	}
	if e.Response.Error.CorrelationID == "" {
		t.Fatal("error without correlation id")
	}
	return &e.Response.Error
}

// Do sends a raw request with an optional bearer token.
func (s *Server) Do(t testing.TB, method, path, token string, body string) *http.Response {
	t.Helper()
	var r *strings.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	var req *http.Request
	var err error
	if r != nil {
		req, err = http.NewRequest(method, s.URL+path, r)
	} else {
		req, err = http.NewRequest(method, s.URL+path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// String is for messages.
func (s *Server) String() string { return fmt.Sprintf("jarvis at %s", s.URL) }
