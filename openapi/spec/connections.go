package spec

import (
	"net/http"

	"github.com/ogen-go/ogen"
)

// The connections module's operations beyond list/read/delete: connecting
// (the authorization-code flow with PKCE, or importing tokens obtained
// elsewhere), the providers on offer, and the token endpoint for agent
// workers. Token values are write-only, except the access token that the
// token endpoint hands out.
func init() {
	nf := http.StatusNotFound
	scopes := func(desc string) *ogen.Property {
		n := uint64(50)
		return Str(1, 255).AsArray().SetMaxItems(&n).SetDescription(desc).ToProperty("scopes")
	}
	Register(Module{
		Group: "Connections",
		Operations: []Operation{
			{Method: http.MethodGet, Path: "/v1/connection-providers", ID: "listConnectionProviders",
				Summary: "List the OAuth providers this service knows, and what each can do",
				Result:  "ConnectionProviderList"},
			{Method: http.MethodPost, Path: "/v1/connections/authorize", ID: "startConnection",
				Summary: "Start connecting an account: the provider's authorization URL (PKCE, single-use state)",
				Description: "redirect_uri must be one of the service's configured redirect URLs. The state is single-use, " +
					"expires after a few minutes and works only for the same user and redirect_uri at the callback.",
				Body: "ConnectionStart", Status: http.StatusCreated, Result: "ConnectionAuthorization"},
			{Method: http.MethodPost, Path: "/v1/connections/callback", ID: "completeConnection",
				Summary: "Finish connecting: exchange the provider's code for tokens (stored sealed)",
				Description: "An unknown, used, expired or another user's state, or another redirect_uri than the start's, is refused with 400. " +
					"A state works once, whatever the outcome. Connecting an account already connected replaces its tokens.",
				Body: "ConnectionCallback", Status: http.StatusCreated, Result: "Connection",
				Errors: []int{http.StatusServiceUnavailable}},
			{Method: http.MethodPost, Path: "/v1/connections/import", ID: "importConnection",
				Summary:     "Import tokens obtained elsewhere (a Composio connected account, say), stored sealed",
				Description: "Importing an account already connected replaces its tokens and makes it active again.",
				Body:        "ConnectionImport", Status: http.StatusCreated, Result: "Connection"},
			{Method: http.MethodPost, Path: "/v1/connections/{id}/token", ID: "getConnectionToken",
				Summary: "A valid access token for agent workers (refreshed first when it is about to expire)",
				Description: "One refresh happens at the provider per expiry however many callers ask at once. " +
					"409 NEEDS_REAUTH when the provider no longer accepts the grant (the user must connect again); " +
					"503 with Retry-After when the provider is unreachable (the connection stays active).",
				Params: []*ogen.Parameter{IDParam("connection")}, Result: "ConnectionToken",
				Errors: []int{nf, http.StatusConflict, http.StatusServiceUnavailable}},
		},
		Schemas: map[string]*ogen.Schema{
			"ConnectionProvider": ogen.NewSchema().SetType("object").AddRequiredProperties(
				ogen.String().SetDescription("The name connections use").ToProperty("name"),
				ogen.Bool().SetDescription("The service holds client credentials: the authorization flow and refresh work").ToProperty("configured"),
				ogen.Bool().SetDescription("The provider has a revocation endpoint (RFC 7009)").ToProperty("revocable"),
				ogen.Bool().SetDescription("The provider replaces the refresh token on every refresh").ToProperty("rotates_refresh_tokens"),
				ogen.String().AsArray().ToProperty("default_scopes"),
			),
			"ConnectionProviderList": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("ConnectionProvider").AsArray().ToProperty("items")),
			"ConnectionStart": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 64).ToProperty("provider"),
				Str(1, 2048).SetDescription("Where the provider sends the user back; one of the configured redirect URLs").ToProperty("redirect_uri"),
			).AddOptionalProperties(scopes("Scopes to ask for; default: the provider's default scopes")),
			"ConnectionAuthorization": ogen.NewSchema().SetType("object").AddRequiredProperties(
				ogen.String().SetDescription("Send the user here").ToProperty("authorization_url"),
				ogen.String().SetDescription("The state in that URL; give it back at the callback").ToProperty("state"),
				ogen.DateTime().SetDescription("The state is refused after this").ToProperty("expires_at"),
			),
			"ConnectionCallback": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 512).ToProperty("state"),
				Str(1, 4096).SetDescription("The code the provider gave").ToProperty("code"),
				Str(1, 2048).SetDescription("The same redirect_uri as at the start").ToProperty("redirect_uri"),
			).AddOptionalProperties(
				Str(1, 255).SetDescription("A label for the account (default: what the provider says, else \"default\")").ToProperty("account")),
			"ConnectionImport": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 64).ToProperty("provider"),
				Str(1, 255).SetDescription("Which account at the provider").ToProperty("account"),
				Str(1, 8192).SetDescription("Write-only: never returned by reads").ToProperty("access_token"),
			).AddOptionalProperties(
				Str(1, 8192).SetDescription("Write-only: never returned").ToProperty("refresh_token"),
				ogen.DateTime().SetDescription("When the access token expires; absent: it does not").ToProperty("expires_at"),
				scopes("The scopes granted"),
			),
			"ConnectionToken": ogen.NewSchema().SetType("object").AddRequiredProperties(
				ogen.String().ToProperty("access_token"),
				ogen.String().SetDescription("Bearer, as the provider said").ToProperty("token_type"),
			).AddOptionalProperties(
				ogen.DateTime().SetDescription("Absent: the token does not expire").ToProperty("expires_at")),
		},
	})
}
