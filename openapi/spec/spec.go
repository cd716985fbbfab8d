// Package spec is the post-processing step of the generated contract: entoas
// builds entity schemas and the CRUD operations we expose from ent/schema;
// Mutate turns that into the API: /v1 paths, cursor pagination, the bearer
// scheme, our error body on every operation, and the operations that are not
// CRUD (accounts, secrets writes). Nothing in openapi.json is edited by hand.
package spec

import (
	"encoding/json"
	"fmt"

	"entgo.io/ent/entc/gen"
	"github.com/ogen-go/ogen"
)

// ErrorCodes are the stable codes of the error body.
var ErrorCodes = []string{
	"VALIDATION_ERROR", "UNAUTHORIZED", "INVALID_CREDENTIALS", "TOKEN_EXPIRED", "FORBIDDEN",
	"NOT_FOUND", "EMAIL_EXISTS", "CONFLICT", "BUDGET_EXCEEDED", "RATE_LIMITED", "INTERNAL",
}

// views renames entoas's entity views to the API's schema names.
var views = map[string]string{"UserRead": "User", "SessionList": "Session", "UserSecretList": "Secret"}

const bearer = "bearerAuth"

// Mutate is an entoas.MutateFunc.
func Mutate(_ *gen.Graph, s *ogen.Spec) error {
	crud := map[string]*ogen.Operation{}
	for _, item := range s.Paths {
		for _, op := range []*ogen.Operation{item.Get, item.Post, item.Patch, item.Delete, item.Put} {
			if op != nil {
				crud[op.OperationID] = op
			}
		}
	}
	take := func(id string) (*ogen.Operation, error) {
		op, ok := crud[id]
		if !ok {
			return nil, fmt.Errorf("spec: entoas did not generate %s: check the schema's entoas annotations", id)
		}
		return op, nil
	}
	schemas := map[string]*ogen.Schema{}
	for from, to := range views {
		v, ok := s.Components.Schemas[from]
		if !ok {
			return fmt.Errorf("spec: entoas did not generate the %s view", from)
		}
		schemas[to] = v
	}
	for name, sc := range components() {
		schemas[name] = sc
	}

	listSessions, err := take("listSession")
	if err != nil {
		return err
	}
	revokeSession, err := take("deleteSession")
	if err != nil {
		return err
	}
	listSecrets, err := take("listUserSecret")
	if err != nil {
		return err
	}
	deleteSecret, err := take("deleteUserSecret")
	if err != nil {
		return err
	}
	readUser, err := take("readUser")
	if err != nil {
		return err
	}

	paths := ogen.Paths{
		"/v1/auth/register": ogen.NewPathItem().SetPost(public(ogen.NewOperation().SetOperationID("register").
			AddTags("Auth").SetSummary("Create an account and sign in").
			SetRequestBody(body("RegisterRequest")).AddResponse("201", jsonResponse("Signed in", "TokenResponse")))),
		"/v1/auth/login": ogen.NewPathItem().SetPost(public(ogen.NewOperation().SetOperationID("login").
			AddTags("Auth").SetSummary("Sign in with email and password").
			SetRequestBody(body("LoginRequest")).AddResponse("200", jsonResponse("Signed in", "TokenResponse")))),
		"/v1/auth/refresh": ogen.NewPathItem().SetPost(public(ogen.NewOperation().SetOperationID("refresh").
			AddTags("Auth").SetSummary("Rotate a refresh token").
			SetDescription("The presented token stops working. A repeat within a few seconds (two tabs) returns the same successor; a later repeat revokes the session.").
			SetRequestBody(body("RefreshRequest")).AddResponse("200", jsonResponse("New tokens", "TokenResponse")))),
		"/v1/auth/logout": ogen.NewPathItem().SetPost(private(ogen.NewOperation().SetOperationID("logout").
			AddTags("Auth").SetSummary("Revoke this session, or every session with all").
			SetRequestBody(body("LogoutRequest")).AddResponse("204", ogen.NewResponse().SetDescription("Signed out")))),
		"/v1/me": ogen.NewPathItem().SetGet(private(readUser.SetOperationID("getMe").SetTags([]string{"Auth"}).
			SetSummary("The signed-in user").SetDescription("").
			SetParameters(nil).SetResponses(ogen.Responses{"200": jsonResponse("The signed-in user", "User")}))),
		"/v1/sessions": ogen.NewPathItem().SetGet(private(paginate(listSessions.SetOperationID("listSessions").
			SetTags([]string{"Sessions"}), "SessionPage"))),
		"/v1/sessions/{id}": ogen.NewPathItem().SetDelete(private(revokeSession.SetOperationID("revokeSession").
			SetTags([]string{"Sessions"}).SetSummary("Revoke a session").SetDescription("Ends the session and its refresh tokens.").
			SetResponses(ogen.Responses{"204": ogen.NewResponse().SetDescription("Revoked")}))),
		"/v1/secrets": ogen.NewPathItem().
			SetGet(private(paginate(listSecrets.SetOperationID("listSecrets").SetTags([]string{"Secrets"}).
				SetDescription("Secrets without their values: provider, name, last four characters, timestamps."), "SecretPage"))).
			SetPost(private(ogen.NewOperation().SetOperationID("createSecret").AddTags("Secrets").
				SetSummary("Store a secret (sealed with AES-256-GCM)").
				SetRequestBody(body("SecretCreate")).AddResponse("201", jsonResponse("Stored", "Secret")))),
		"/v1/secrets/{id}": ogen.NewPathItem().
			SetPatch(private(ogen.NewOperation().SetOperationID("updateSecret").AddTags("Secrets").
				SetSummary("Rename a secret and/or replace its value").AddParameters(idParam("secret")).
				SetRequestBody(body("SecretUpdate")).AddResponse("200", jsonResponse("Updated", "Secret")))).
			SetDelete(private(deleteSecret.SetOperationID("deleteSecret").SetTags([]string{"Secrets"}).
				SetResponses(ogen.Responses{"204": ogen.NewResponse().SetDescription("Deleted")}))),
	}
	for _, item := range paths {
		for _, op := range []*ogen.Operation{item.Get, item.Post, item.Patch, item.Delete} {
			if op != nil {
				op.AddResponse("default", ogen.NewResponse().SetRef("#/components/responses/Error"))
			}
		}
	}
	s.Info = *ogen.NewInfo().SetTitle("Jarvis core API").SetVersion("1.0.0").
		SetDescription("Accounts, secrets and agent infrastructure. Generated from ent/schema; do not edit.")
	s.Paths = paths
	s.Components = &ogen.Components{
		Schemas: schemas,
		Responses: map[string]*ogen.Response{
			"Error": jsonResponse("An error: the code is stable, the message is for people", "ErrorResponse"),
		},
		SecuritySchemes: map[string]*ogen.SecurityScheme{
			bearer: {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
				Description: "Access token from /v1/auth/login, /register or /refresh."},
		},
	}
	return nil
}

func ref(name string) *ogen.Schema { return ogen.NewSchema().SetRef("#/components/schemas/" + name) }

func body(name string) *ogen.RequestBody {
	return ogen.NewRequestBody().SetRequired(true).SetJSONContent(ref(name))
}

func jsonResponse(desc, name string) *ogen.Response {
	return ogen.NewResponse().SetDescription(desc).SetJSONContent(ref(name))
}

func public(op *ogen.Operation) *ogen.Operation { return op }

func private(op *ogen.Operation) *ogen.Operation {
	op.Security = ogen.SecurityRequirements{{bearer: []string{}}}
	return op
}

func idParam(what string) *ogen.Parameter {
	return ogen.NewParameter().SetName("id").SetIn("path").SetRequired(true).
		SetDescription("ID of the " + what).SetSchema(ogen.UUID())
}

// paginate replaces entoas's page/itemsPerPage with keyset pagination on id.
func paginate(op *ogen.Operation, page string) *ogen.Operation {
	one, hundred := int64(1), int64(100)
	maxCursor := uint64(200)
	return op.SetParameters([]*ogen.Parameter{
		ogen.NewParameter().SetName("limit").SetIn("query").SetDescription("Items per page (1-100, default 20)").
			SetSchema(ogen.Int().SetMinimum(&one).SetMaximum(&hundred).SetDefault(json.RawMessage("20"))),
		ogen.NewParameter().SetName("cursor").SetIn("query").SetDescription("next_cursor of the previous page").
			SetSchema(ogen.String().SetMaxLength(&maxCursor)),
	}).SetResponses(ogen.Responses{"200": jsonResponse("A page", page)})
}

func str(min, max uint64) *ogen.Schema {
	return ogen.String().SetMinLength(&min).SetMaxLength(&max)
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// components are the schemas the non-CRUD operations and the pages need.
func components() map[string]*ogen.Schema {
	codes := make([]json.RawMessage, len(ErrorCodes))
	for i, c := range ErrorCodes {
		codes[i] = raw(c)
	}
	providers := []json.RawMessage{raw("openai"), raw("anthropic"), raw("composio"), raw("github"), raw("custom")}
	page := func(item string) *ogen.Schema {
		return ogen.NewSchema().SetType("object").
			AddRequiredProperties(ref(item).AsArray().ToProperty("items")).
			AddOptionalProperties(ogen.String().SetDescription("Absent on the last page").ToProperty("next_cursor"))
	}
	return map[string]*ogen.Schema{
		"ErrorResponse": ogen.NewSchema().SetType("object").AddRequiredProperties(
			ogen.NewSchema().SetType("object").AddRequiredProperties(
				ogen.String().AsEnum(nil, codes...).ToProperty("code"),
				ogen.String().ToProperty("message"),
				ogen.String().ToProperty("correlation_id"),
			).AddOptionalProperties(
				ref("ErrorDetail").AsArray().ToProperty("details"),
			).ToProperty("error")),
		"ErrorDetail": ogen.NewSchema().SetType("object").AddRequiredProperties(
			ogen.String().ToProperty("message"),
		).AddOptionalProperties(ogen.String().SetDescription("The input field, when one is at fault").ToProperty("field")),
		"RegisterRequest": ogen.NewSchema().SetType("object").AddRequiredProperties(
			str(3, 320).SetFormat("email").ToProperty("email"),
			str(1, 1024).SetDescription("12 to 256 characters").ToProperty("password"),
		).AddOptionalProperties(str(0, 255).ToProperty("display_name")),
		"LoginRequest": ogen.NewSchema().SetType("object").AddRequiredProperties(
			str(1, 320).ToProperty("email"), str(1, 1024).ToProperty("password")),
		"RefreshRequest": ogen.NewSchema().SetType("object").AddRequiredProperties(
			str(1, 256).ToProperty("refresh_token")),
		"LogoutRequest": ogen.NewSchema().SetType("object").AddOptionalProperties(
			ogen.Bool().SetDescription("Revoke every session of the user").ToProperty("all")),
		"TokenResponse": ogen.NewSchema().SetType("object").AddRequiredProperties(
			ogen.String().ToProperty("access_token"),
			ogen.String().ToProperty("refresh_token"),
			ogen.String().AsEnum(nil, raw("Bearer")).ToProperty("token_type"),
			ogen.Int().SetDescription("Seconds until the access token expires").ToProperty("expires_in"),
			ogen.UUID().ToProperty("user_id"),
			ogen.UUID().ToProperty("session_id"),
		),
		"SecretCreate": ogen.NewSchema().SetType("object").AddRequiredProperties(
			ogen.String().AsEnum(nil, providers...).ToProperty("provider"),
			str(1, 100).ToProperty("name"),
			str(1, 8192).SetDescription("Write-only: never returned").ToProperty("value"),
		),
		"SecretUpdate": ogen.NewSchema().SetType("object").AddOptionalProperties(
			str(1, 100).ToProperty("name"),
			str(1, 8192).SetDescription("Write-only: never returned").ToProperty("value"),
		),
		"SessionPage": page("Session"),
		"SecretPage":  page("Secret"),
	}
}
