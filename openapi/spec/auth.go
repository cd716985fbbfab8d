package spec

import (
	"net/http"

	"github.com/ogen-go/ogen"
)

// The auth module's operations: accounts, sign-in and tokens. Its entities
// (users, sessions) are exposed by their schema annotations.
func init() {
	Register(Module{
		Group: "Auth",
		Operations: []Operation{
			{Method: http.MethodPost, Path: "/v1/auth/register", ID: "register", Public: true,
				Summary: "Create an account and sign in", Body: "RegisterRequest",
				Status: http.StatusCreated, Result: "TokenResponse", Errors: []int{http.StatusConflict, http.StatusServiceUnavailable}},
			{Method: http.MethodPost, Path: "/v1/auth/login", ID: "login", Public: true,
				Summary: "Sign in with email and password", Body: "LoginRequest",
				Result: "TokenResponse", Errors: []int{http.StatusUnauthorized, http.StatusServiceUnavailable}},
			{Method: http.MethodPost, Path: "/v1/auth/refresh", ID: "refresh", Public: true,
				Summary:     "Rotate a refresh token",
				Description: "The presented token stops working. A repeat within a few seconds (two tabs) returns the same successor; a later repeat revokes the session.",
				Body:        "RefreshRequest", Result: "TokenResponse", Errors: []int{http.StatusUnauthorized}},
			{Method: http.MethodPost, Path: "/v1/auth/logout", ID: "logout",
				Summary: "Revoke this session, or every session with all", Body: "LogoutRequest", BodyOptional: true,
				Status: http.StatusNoContent},
			{Method: http.MethodGet, Path: "/v1/me", ID: "getMe", Summary: "The signed-in user", Result: "User"},
		},
		Schemas: map[string]*ogen.Schema{
			"RegisterRequest": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(3, 320).SetFormat("email").ToProperty("email"),
				Str(1, 1024).SetDescription("12 to 256 characters").ToProperty("password"),
			).AddOptionalProperties(Str(0, 255).ToProperty("display_name")),
			"LoginRequest": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 320).ToProperty("email"), Str(1, 1024).ToProperty("password")),
			"RefreshRequest": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 256).ToProperty("refresh_token")),
			"LogoutRequest": ogen.NewSchema().SetType("object").AddOptionalProperties(
				ogen.Bool().SetDescription("Revoke every session of the user").ToProperty("all")),
			"TokenResponse": ogen.NewSchema().SetType("object").AddRequiredProperties(
				ogen.String().ToProperty("access_token"),
				ogen.String().ToProperty("refresh_token"),
				Enum("Bearer").ToProperty("token_type"),
				ogen.Int().SetDescription("Seconds until the access token expires").ToProperty("expires_in"),
				ogen.UUID().ToProperty("user_id"),
				ogen.UUID().ToProperty("session_id"),
			),
		},
	})
}
