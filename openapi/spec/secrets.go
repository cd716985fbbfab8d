package spec

import (
	"net/http"

	"github.com/ogen-go/ogen"
)

// The secrets module's operations beyond CRUD: writes carry the value, which
// is sealed and never shown, so they are not the entity's own fields.
func init() {
	Register(Module{
		Group: "Secrets",
		Operations: []Operation{
			{Method: http.MethodPost, Path: "/v1/secrets", ID: "createSecret",
				Summary: "Store a secret (sealed with AES-256-GCM)", Body: "SecretCreate",
				Status: http.StatusCreated, Result: "Secret", Errors: []int{http.StatusConflict}},
			{Method: http.MethodPatch, Path: "/v1/secrets/{id}", ID: "updateSecret",
				Summary: "Rename a secret and/or replace its value", Params: []*ogen.Parameter{IDParam("secret")},
				Body: "SecretUpdate", Result: "Secret", Errors: []int{http.StatusNotFound, http.StatusConflict}},
		},
		Schemas: map[string]*ogen.Schema{
			"SecretCreate": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("SecretProvider").ToProperty("provider"),
				Str(1, 100).ToProperty("name"),
				Str(1, 8192).SetDescription("Write-only: never returned").ToProperty("value"),
			),
			"SecretUpdate": ogen.NewSchema().SetType("object").AddOptionalProperties(
				Str(1, 100).ToProperty("name"),
				Str(1, 8192).SetDescription("Write-only: never returned").ToProperty("value"),
			),
		},
	})
}
