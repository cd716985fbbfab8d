// Package openapi is the generated HTTP contract: openapi.json (from
// ent/schema via entoas and openapi/spec), the ogen server and client in the
// oas_*_gen.go files, and Compose (compose_gen.go), which joins the modules'
// handlers. Nothing here is edited by hand: change ent/schema or openapi/spec
// and run `go tool task generate`.
package openapi

//go:generate go run ./internal/oasgen

import _ "embed"

// Spec is openapi.json, served at GET /openapi.json.
//
//go:embed openapi.json
var Spec []byte

// AsyncAPI is asyncapi.json, the realtime protocol (GET /v1/ws) as an
// AsyncAPI 3.0 document built from Spec's components; served at GET
// /asyncapi.json.
//
//go:embed asyncapi.json
var AsyncAPI []byte
