// Package httpapi owns the HTTP surface: it composes the operation-group
// handlers, routes and middleware that modules provide (internal/api) behind
// one chain (correlation ids and request logs first, panics, then the
// modules' middleware), maps errors once (fault kinds → statuses), serves
// health endpoints and runs the server's life cycle. It imports no module.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	goerrors "github.com/go-faster/errors"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/redisconn"
	"github.com/jarvis-core/jarvis/openapi"
)

// Params is what the handler is built from: whatever the modules provide.
type Params struct {
	fx.In
	Log        *slog.Logger
	Checks     []Check
	Security   openapi.SecurityHandler
	Handlers   []api.OperationHandler `group:"api.handlers"`
	Routes     []api.Route            `group:"api.routes"`
	Middleware []api.Middleware       `group:"api.middleware"`
	Edge       []api.Middleware       `group:"api.edge"`
}

// NewHandler builds the route table behind the middleware chain.
func NewHandler(p Params) (http.Handler, error) {
	log := p.Log
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", readyz(p.Checks))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Spec)
	})
	mux.HandleFunc("GET /asyncapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.AsyncAPI)
	})
	refuse := func(w http.ResponseWriter, r *http.Request, err error) { WriteError(w, r, log, err) }
	notFound := func(w http.ResponseWriter, r *http.Request) { refuse(w, r, errNotFound) }
	if len(p.Handlers) > 0 {
		// ogen's decoders build their errors with go-faster/errors, which
		// records the caller's frame in each (runtime.Callers): an absent
		// optional query parameter makes one per request, and nothing here
		// prints those frames (errors are mapped to our format, or logged
		// with their message).
		goerrors.DisableTrace()
		h, err := openapi.Compose(newError(log), handlers(p.Handlers)...)
		if err != nil {
			return nil, fmt.Errorf("compose the API: %w", err)
		}
		v1, err := openapi.NewServer(h, p.Security,
			openapi.WithErrorHandler(decodeErrorHandler(log)),
			openapi.WithNotFound(notFound),
			openapi.WithMethodNotAllowed(func(w http.ResponseWriter, r *http.Request, allowed string) {
				w.Header().Set("Allow", allowed)
				refuse(w, r, &statusError{http.StatusMethodNotAllowed, openapi.ErrorResponseErrorCodeMETHODNOTALLOWED,
					fmt.Sprintf("method %s is not allowed here; allowed: %s", r.Method, allowed)})
			}),
		)
		if err != nil {
			return nil, fmt.Errorf("openapi server: %w", err)
		}
		mux.Handle("/v1/", withWriter(v1))
	}
	for _, rt := range p.Routes {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	mux.HandleFunc("/", notFound)
	var h http.Handler = challenge(clientMeta(limitBody(maxBody, mux, refuse)))
	mw := append([]api.Middleware(nil), p.Middleware...)
	sort.SliceStable(mw, func(i, j int) bool { return mw[i].Order < mw[j].Order })
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i].Wrap(h)
	}
	h = logging.Middleware(log)(recoverPanics(log)(h))
	edge := append([]api.Middleware(nil), p.Edge...)
	sort.SliceStable(edge, func(i, j int) bool { return edge[i].Order < edge[j].Order })
	for i := len(edge) - 1; i >= 0; i-- {
		h = edge[i].Wrap(h)
	}
	return h, nil
}

// handlers unwraps the value group.
func handlers(hs []api.OperationHandler) []any {
	out := make([]any, len(hs))
	for i, h := range hs {
		out[i] = h
	}
	return out
}

// withWriter hands the response writer to newError (Retry-After headers).
func withWriter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), writerKey{}, w)))
	})
}

// Checks are the dependencies /readyz reports: Postgres, the schema version
// (a database behind the binary's migrations is not ready), and Redis.
func Checks(database *db.DB, rc *redisconn.Conn) []Check {
	return []Check{
		{Name: "postgres", Ping: database.Ping, Group: "postgres"},
		{Name: "migrations", Ping: database.CheckSchema, Group: "postgres"},
		{Name: "redis", Ping: rc.Ping, Disabled: !rc.Enabled(), Optional: true},
	}
}

// Server is the service's HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Addr is where the server listens (useful with PORT=0 in tests).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Config is where the server listens.
type Config struct {
	// Host defaults to 127.0.0.1, or 0.0.0.0 in production (APP_ENV).
	Host string `env:"HOST"`
	// Port 0 asks the system for a free port (tests, several instances).
	Port int `env:"PORT" envDefault:"8080"`
}

// Validate checks the port's range.
func (c Config) Validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return config.Invalid("PORT", "must be a port number (0-65535; 0 picks a free one)")
	}
	return nil
}

// Addr is the listen address in deployment env.
func (c Config) Addr(env config.Env) string {
	host := c.Host
	if host == "" {
		host = "127.0.0.1" // a laptop's dev server is not for the network
		if env == config.Production {
			host = "0.0.0.0"
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(c.Port))
}

// NewServer listens at start and drains in-flight requests at stop, within
// the context fx gives the stop hook (SHUTDOWN_TIMEOUT).
func NewServer(lc fx.Lifecycle, cfg Config, env config.Env, h http.Handler, log *slog.Logger) *Server {
	s := &Server{srv: &http.Server{
		Addr:              cfg.Addr(env),
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.srv.Addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", s.srv.Addr, err)
			}
			s.ln = ln
			go func() {
				if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server stopped", slog.Any("error", err))
				}
			}()
			log.Info("http server listening", slog.String("addr", ln.Addr().String()))
			return nil
		},
		OnStop: func(ctx context.Context) error {
			log.Info("http server draining")
			if err := s.srv.Shutdown(ctx); err != nil {
				return fmt.Errorf("http shutdown: %w", err)
			}
			return nil
		},
	})
	return s
}

// Module provides the handler and the server, and starts it.
var Module = fx.Module("http",
	config.Provide[Config](),
	fx.Provide(
		fx.Private,
		Checks,
		NewHandler,
	),
	fx.Provide(
		NewSecurity,
		func(s *Security) openapi.SecurityHandler { return s },
		NewServer,
	),
	fx.Invoke(func(*Server) {}),
)
