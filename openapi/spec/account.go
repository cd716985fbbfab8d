package spec

import (
	"net/http"

	"github.com/ogen-go/ogen"
)

// The user-data module's operations (internal/userdata): the user's export
// of everything held about them, and the deletion of their own account.
func init() {
	Register(Module{
		Group: "Account",
		Operations: []Operation{
			{Method: http.MethodGet, Path: "/v1/me/export", ID: "exportMe",
				Summary: "Download everything held about you",
				Description: "NDJSON, streamed: a header line (format jarvis.export, version 1), one line per row of every table " +
					"holding your data, and an end line with the counts; an export without its end line was cut short. " +
					"Secrets and connections are metadata only; embeddings only with embeddings=true (docs/operations.md).",
				Params: []*ogen.Parameter{
					ogen.NewParameter().SetName("embeddings").SetIn("query").
						SetDescription("Include the embedding vectors of memories and entities").SetSchema(ogen.Bool()),
				},
				ResultMedia: "application/x-ndjson"},
			{Method: http.MethodDelete, Path: "/v1/me", ID: "deleteMe",
				Summary: "Delete your account and everything held about you",
				Description: "Requires your password again. Erases every row of your data, closes your sockets, " +
					"deletes your realtime stream and revokes your OAuth connections' tokens at their providers where possible. " +
					"The audit log keeps a tombstone without personal data.",
				Body: "DeleteAccountRequest", Status: http.StatusNoContent,
				Errors: []int{http.StatusBadRequest, http.StatusForbidden}},
		},
		Schemas: map[string]*ogen.Schema{
			"DeleteAccountRequest": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 1024).SetDescription("Your current password").ToProperty("password")),
		},
	})
}
