package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/openapi"
)

// resource makes one resource of a kind for the signed-in client and
// returns its id: what the cross-user test points another user at.
type resource func(t *testing.T, c *openapi.Client, tok *openapi.TokenResponse) uuid.UUID

// resources are the kinds of {id} the API takes. A module that adds a kind
// adds its maker here.
var resources = map[string]resource{
	"session": func(_ *testing.T, _ *openapi.Client, tok *openapi.TokenResponse) uuid.UUID { return tok.SessionID },
	"secret": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		s, err := c.CreateSecret(context.Background(), &openapi.SecretCreate{
			Provider: openapi.SecretProviderOpenai, Name: "probe", Value: "sk-live-probe-0123456789"})
		if err != nil {
			t.Fatalf("create secret: %v", err)
		}
		return s.ID
	},
	"run": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		r, err := c.CreateRun(context.Background(), openapi.OptRunCreate{})
		if err != nil {
			t.Fatalf("create run: %v", err)
		}
		return r.ID
	},
	"tool_call": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		r, err := c.CreateRun(context.Background(), openapi.OptRunCreate{})
		if err != nil {
			t.Fatalf("create run: %v", err)
		}
		tc, err := c.StartToolCall(context.Background(), &openapi.ToolCallStart{ToolID: "search"},
			openapi.StartToolCallParams{ID: r.ID})
		if err != nil {
			t.Fatalf("start tool call: %v", err)
		}
		return tc.ID
	},
	"llm_call": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		r, err := c.CreateRun(context.Background(), openapi.OptRunCreate{})
		if err != nil {
			t.Fatalf("create run: %v", err)
		}
		call, err := c.RecordLLMCall(context.Background(), &openapi.LLMCallCreate{Provider: "openai", Model: "gpt-4o-mini",
			InputTokens: openapi.NewOptInt64(10)}, openapi.RecordLLMCallParams{ID: r.ID})
		if err != nil {
			t.Fatalf("record llm call: %v", err)
		}
		return call.ID
	},
	"tool_permission": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		p, err := c.SetToolPermission(context.Background(), &openapi.ToolPermissionSet{
			ToolID: "shell", Effect: openapi.ToolPermissionEffectDeny})
		if err != nil {
			t.Fatalf("set tool permission: %v", err)
		}
		return p.ID
	},
	"memory": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		m, err := c.CreateMemory(context.Background(), &openapi.MemoryCreate{Content: "bob likes chess"})
		if err != nil {
			t.Fatalf("create memory: %v", err)
		}
		return m.ID
	},
	"connection": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		conn, err := c.ImportConnection(context.Background(), &openapi.ConnectionImport{
			Provider: "github", Account: "probe", AccessToken: "gho_probe_0123456789"})
		if err != nil {
			t.Fatalf("import connection: %v", err)
		}
		return conn.ID
	},
	"entity": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		return bobEntity(t, c, "Bob").ID
	},
	// Registration wrote bob's first audit event.
	"audit_event": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		p, err := c.ListAuditEvents(context.Background(), openapi.ListAuditEventsParams{})
		if err != nil || len(p.Items) == 0 {
			t.Fatalf("list audit events: %v", err)
		}
		return p.Items[len(p.Items)-1].ID
	},
	"relation": func(t *testing.T, c *openapi.Client, _ *openapi.TokenResponse) uuid.UUID {
		from, to := bobEntity(t, c, "Bob's chess club"), bobEntity(t, c, "Bob's city")
		r, err := c.CreateRelation(context.Background(), &openapi.RelationCreate{SourceID: from.ID, TargetID: to.ID, Type: "located_in"})
		if err != nil {
			t.Fatalf("create relation: %v", err)
		}
		return r.ID
	},
}

func bobEntity(t *testing.T, c *openapi.Client, name string) *openapi.Entity {
	t.Helper()
	e, err := c.CreateEntity(context.Background(), &openapi.EntityCreate{Type: "thing", Name: name})
	if err != nil {
		t.Fatalf("create entity: %v", err)
	}
	return e
}

// idOperations says, for every operation on an {id}, which kind of resource
// the id names and a valid body when it takes one. The test refuses an
// operation on an {id} that is missing here: new endpoints cannot skip the
// cross-user check.
var idOperations = map[string]struct {
	kind string
	body string
}{
	"deleteSession": {kind: "session"},
	"getSecret":     {kind: "secret"},
	"updateSecret":  {kind: "secret", body: `{"name":"stolen"}`},
	"deleteSecret":  {kind: "secret"},

	"getRun":               {kind: "run"},
	"startRun":             {kind: "run"},
	"completeRun":          {kind: "run"},
	"failRun":              {kind: "run", body: `{"error":"stolen"}`},
	"cancelRun":            {kind: "run"},
	"listRunMessages":      {kind: "run"},
	"appendRunMessage":     {kind: "run", body: `{"role":"user","content":"stolen"}`},
	"listRunToolCalls":     {kind: "run"},
	"startToolCall":        {kind: "run", body: `{"tool_id":"search"}`},
	"listRunLLMCalls":      {kind: "run"},
	"recordLLMCall":        {kind: "run", body: `{"provider":"openai","model":"gpt-5","input_tokens":1}`},
	"getToolCall":          {kind: "tool_call"},
	"getLLMCall":           {kind: "llm_call"},
	"completeToolCall":     {kind: "tool_call", body: `{"status":"error","error":"stolen"}`},
	"deleteToolPermission": {kind: "tool_permission"},
	"emitRunEvent":         {kind: "run", body: `{"type":"agent.token","data":{"text":"stolen"}}`},
	"emitRunEvents":        {kind: "run", body: `{"events":[{"type":"agent.token","data":{"text":"stolen"}}]}`},

	"getMemory":    {kind: "memory"},
	"updateMemory": {kind: "memory", body: `{"content":"stolen"}`},
	"deleteMemory": {kind: "memory"},

	"getEntity":           {kind: "entity"},
	"updateEntity":        {kind: "entity", body: `{"name":"stolen"}`},
	"deleteEntity":        {kind: "entity"},
	"listNeighbors":       {kind: "entity"},
	"listEntityRelations": {kind: "entity"},
	"getRelation":         {kind: "relation"},

	"getConnection":      {kind: "connection"},
	"deleteConnection":   {kind: "connection"},
	"getConnectionToken": {kind: "connection"},
	"deleteRelation":     {kind: "relation"},
	"getAuditEvent":      {kind: "audit_event"},
}

type operation struct {
	id, method, path string
	private          bool
	body             bool
}

// operations reads every operation of the served contract.
func operations(t *testing.T) []operation {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Security    []map[string][]string `json:"security"`
			RequestBody *struct{}             `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Spec, &doc); err != nil {
		t.Fatal(err)
	}
	var out []operation
	for path, item := range doc.Paths {
		for method, op := range item {
			out = append(out, operation{op.OperationID, strings.ToUpper(method), path,
				len(op.Security) > 0 && len(op.Security[0]) > 0, op.RequestBody != nil})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// TestEveryOperationIsGuarded is driven by openapi.json: every private
// operation answers 401 without a token, and every operation on an {id}
// answers 404 when the id is another user's, whatever the module.
func TestEveryOperationIsGuarded(t *testing.T) {
	t.Parallel()
	// One user probes every operation within a second: rate limits are
	// another test's subject (internal/guard), not this one's.
	s := apptest.New(t, apptest.Env(map[string]string{"RATELIMIT_USER_PER_MINUTE": "0", "RATELIMIT_IP_PER_MINUTE": "0"}))
	alice, aliceTok := s.SignUp(t, "alice@example.com")
	bob, bobTok := s.SignUp(t, "bob@example.com")
	_ = alice
	bobs := map[string]uuid.UUID{}
	for kind, make := range resources {
		bobs[kind] = make(t, bob, bobTok)
	}
	for _, op := range operations(t) {
		t.Run(op.id, func(t *testing.T) {
			path := strings.ReplaceAll(op.path, "{id}", uuid.NewString())
			if op.private {
				resp := s.Do(t, op.method, path, "", bodyOf(op))
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("without a token: %d, want 401", resp.StatusCode)
				}
			}
			if !strings.Contains(op.path, "{id}") {
				return
			}
			fix, ok := idOperations[op.id]
			if !ok {
				t.Fatalf("%s %s takes an {id} but has no entry in idOperations: say which resource it names", op.method, op.path)
			}
			id, ok := bobs[fix.kind]
			if !ok {
				t.Fatalf("no maker for resource kind %q in resources", fix.kind)
			}
			body := fix.body
			if body == "" && op.body {
				body = "{}"
			}
			resp := s.Do(t, op.method, strings.ReplaceAll(op.path, "{id}", id.String()), aliceTok.AccessToken, body)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("alice on bob's %s: %d, want 404", fix.kind, resp.StatusCode)
			}
		})
	}
	// Bob's resources survived alice's attempts.
	if _, err := bob.GetSecret(context.Background(), openapi.GetSecretParams{ID: bobs["secret"]}); err != nil {
		t.Fatalf("bob's secret after alice's attempts: %v", err)
	}
	if r, err := bob.GetRun(context.Background(), openapi.GetRunParams{ID: bobs["run"]}); err != nil || r.Status != openapi.RunStatusPending {
		t.Fatalf("bob's run after alice's attempts: %+v, %v", r, err)
	}
	if tc, err := bob.GetToolCall(context.Background(), openapi.GetToolCallParams{ID: bobs["tool_call"]}); err != nil || tc.Status != openapi.ToolCallStatusPending {
		t.Fatalf("bob's tool call after alice's attempts: %+v, %v", tc, err)
	}
	if ps, err := bob.ListToolPermissions(context.Background(), openapi.ListToolPermissionsParams{}); err != nil || len(ps.Items) != 1 {
		t.Fatalf("bob's tool permission after alice's attempts: %+v, %v", ps, err)
	}
	if m, err := bob.GetMemory(context.Background(), openapi.GetMemoryParams{ID: bobs["memory"]}); err != nil || m.Content != "bob likes chess" {
		t.Fatalf("bob's memory after alice's attempts: %v", err)
	}
	if e, err := bob.GetEntity(context.Background(), openapi.GetEntityParams{ID: bobs["entity"]}); err != nil || e.Name != "Bob" {
		t.Fatalf("bob's entity after alice's attempts: %v", err)
	}
	if _, err := bob.GetRelation(context.Background(), openapi.GetRelationParams{ID: bobs["relation"]}); err != nil {
		t.Fatalf("bob's relation after alice's attempts: %v", err)
	}
	if _, err := bob.GetMe(context.Background()); err != nil {
		t.Fatalf("bob's session after alice's attempts: %v", err)
	}
}

func bodyOf(op operation) string {
	if op.body {
		return "{}"
	}
	return ""
}
