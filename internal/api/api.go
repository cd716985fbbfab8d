// Package api is what a module provides to the HTTP surface, and all it needs
// to know of it: its ogen operation-group handler, its routes outside ogen
// (WebSocket), and its middleware. internal/httpapi composes whatever the
// modules provide through these fx value groups and imports none of them.
//
// A module's fx.Module says, for example:
//
//	var Module = fx.Module("secrets",
//		fx.Provide(NewService),
//		api.Handler(NewHandler), // NewHandler returns a type implementing openapi.SecretsHandler
//	)
package api

import (
	"context"
	"net/http"

	"go.uber.org/fx"
)

// OperationHandler is a module's implementation of one or more of the
// generated openapi.<Group>Handler interfaces. The HTTP layer finds which
// ones by type assertion and refuses to start when a group has no handler
// or two.
type OperationHandler any

// Handler provides the result of ctor (a module's operation-group handler)
// to the HTTP layer.
func Handler(ctor any) fx.Option {
	return fx.Provide(fx.Annotate(ctor, fx.As(new(OperationHandler)), fx.ResultTags(`group:"api.handlers"`)))
}

// Route is a route outside the OpenAPI surface (the WebSocket endpoint). Its
// handler runs behind the same middleware chain (correlation ids, logs,
// security headers, rate limits) as every operation.
type Route struct {
	Pattern string // a net/http ServeMux pattern, "GET /v1/ws"
	Handler http.Handler
}

// Routes provides the result of ctor (a Route) to the HTTP layer.
func Routes(ctor any) fx.Option {
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(`group:"api.routes"`)))
}

// Middleware wraps every request after correlation ids and request logging
// and before routing. Lower Order runs first (outermost).
type Middleware struct {
	Name  string
	Order int
	Wrap  func(http.Handler) http.Handler
}

// Middlewares provides the result of ctor (a Middleware) to the HTTP layer.
func Middlewares(ctor any) fx.Option {
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(`group:"api.middleware"`)))
}

// Edge provides the result of ctor (a Middleware) to wrap every request
// outside correlation ids and request logs, so that what it puts in the
// context reaches every log line of the request: telemetry's server span.
func Edge(ctor any) fx.Option {
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(`group:"api.edge"`)))
}

// Client is who is calling, as far as the HTTP layer can tell: the address
// (the connection's, or the trusted proxy chain's) and the user agent.
type Client struct {
	IP        string
	UserAgent string
}

type clientKey struct{}

// WithClient returns ctx carrying c. The HTTP layer sets it from the
// connection; a middleware that knows better (trusted proxies) replaces it.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the caller recorded in ctx.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}
