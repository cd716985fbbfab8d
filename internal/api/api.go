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
