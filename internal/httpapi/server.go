// Package httpapi owns the HTTP surface: the route table, the middleware
// chain (correlation ids and request logs first), health endpoints and the
// server's life cycle.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/redisconn"
	"github.com/jarvis-core/jarvis/openapi"
)

// maxBody caps request bodies: the largest legitimate one is a secret value.
const maxBody = 1 << 20

// NewHandler builds the route table behind the middleware chain: correlation
// id and request log first, then panic recovery, then the routes. api may be
// nil (health endpoints only).
func NewHandler(log *slog.Logger, checks []Check, api *API) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", readyz(checks))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Spec)
	})
	notFound := func(w http.ResponseWriter, r *http.Request) { writeError(w, r, errNotFound) }
	if api != nil {
		v1, err := openapi.NewServer(api, api,
			openapi.WithErrorHandler(decodeErrorHandler(log)),
			openapi.WithNotFound(notFound),
			openapi.WithMethodNotAllowed(func(w http.ResponseWriter, r *http.Request, allowed string) {
				w.Header().Set("Allow", allowed)
				writeError(w, r, &apiError{http.StatusMethodNotAllowed, openapi.ErrorResponseErrorCodeVALIDATIONERROR,
					"method not allowed; allowed: " + allowed, nil})
			}),
		)
		if err != nil {
			return nil, fmt.Errorf("openapi server: %w", err)
		}
		mux.Handle("/v1/", http.MaxBytesHandler(challenge(clientMeta(v1)), maxBody))
	}
	mux.HandleFunc("/", notFound)
	return logging.Middleware(log)(recoverPanics(log)(mux)), nil
}

// Checks are the dependencies /readyz reports: Postgres, the schema version
// (a database behind the binary's migrations is not ready), and Redis.
func Checks(database *db.DB, rc *redisconn.Conn) []Check {
	return []Check{
		{Name: "postgres", Ping: database.Ping},
		{Name: "migrations", Ping: database.CheckSchema},
		{Name: "redis", Ping: rc.Ping, Disabled: !rc.Enabled()},
	}
}

// Server is the service's HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Addr is where the server listens (useful with PORT=0 in tests).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// NewServer listens at start and drains in-flight requests at stop, within
// the context fx gives the stop hook (SHUTDOWN_TIMEOUT).
func NewServer(lc fx.Lifecycle, cfg config.Config, h http.Handler, log *slog.Logger) *Server {
	s := &Server{srv: &http.Server{
		Addr:              cfg.Addr(),
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
	fx.Provide(
		fx.Private,
		Checks,
		NewAPI,
		NewHandler,
	),
	fx.Provide(NewServer),
	fx.Invoke(func(*Server) {}),
)
