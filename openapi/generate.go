// Package openapi is the generated HTTP contract: openapi.json (from
// ent/schema via entoas and openapi/spec) and the ogen server and client in
// the oas_*_gen.go files. Nothing here is edited by hand: change ent/schema
// or openapi/spec and run `go tool task generate`.
package openapi

//go:generate go tool ogen -target . -package openapi -clean openapi.json

import _ "embed"

// Spec is openapi.json, served at GET /openapi.json.
//
//go:embed openapi.json
var Spec []byte
