package spec_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jarvis-core/jarvis/openapi"
	"github.com/jarvis-core/jarvis/openapi/spec"
)

// TestSpecIsValidOpenAPI3 validates the committed, generated spec with an
// independent OpenAPI 3 implementation.
func TestSpecIsValidOpenAPI3(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3: %v", err)
	}
}

// TestSpecShape pins what post-processing promises: /v1 paths, bearer
// security on private operations, our error body on every operation, cursor
// pagination, and no sensitive field anywhere.
func TestSpecShape(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                      `json:"operationId"`
			Security    []map[string][]string       `json:"security"`
			Parameters  []struct{ Name, In string } `json:"parameters"`
			Responses   map[string]struct {
				Ref string `json:"$ref"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.Spec, &doc); err != nil {
		t.Fatal(err)
	}
	public := map[string]bool{"register": true, "login": true, "refresh": true}
	ops := 0
	for path, item := range doc.Paths {
		if len(path) < 4 || path[:4] != "/v1/" {
			t.Errorf("path %s is not under /v1", path)
		}
		for method, op := range item {
			ops++
			if op.Responses["default"].Ref != "#/components/responses/Error" || op.Responses["429"].Ref == "" {
				t.Errorf("%s %s lacks the error response", method, path)
			}
			if public[op.OperationID] == (len(op.Security) > 0) {
				t.Errorf("%s: security %v", op.OperationID, op.Security)
			}
			if method == "get" && (op.OperationID == "listSecrets" || op.OperationID == "listSessions" || op.OperationID == "listToolPermissions" ||
				op.OperationID == "listMemories" || op.OperationID == "listEntities") {
				names := map[string]bool{}
				for _, p := range op.Parameters {
					names[p.Name] = true
				}
				if !names["limit"] || !names["cursor"] || len(names) != 2 {
					t.Errorf("%s parameters = %v, want limit and cursor", op.OperationID, names)
				}
			}
		}
	}
	// auth and secrets 12, runs 23, realtime 1, memories 6, knowledge graph 12, connections 8, audit 2, account 2, run event batches 1
	if ops != 67 {
		t.Errorf("%d operations, want 67", ops)
	}
	for name, raw := range doc.Components.Schemas {
		for _, bad := range []string{"password_hash", "encrypted_value", "nonce", "auth_tag", "token_hash", "user_id\"", "search_vector"} {
			if strings.Contains(string(raw), bad) && !(name == "TokenResponse" && bad == "user_id\"") {
				t.Errorf("schema %s exposes %s", name, bad)
			}
		}
	}
}

// TestAsyncAPIIsCurrent: asyncapi.json is what spec.AsyncAPI builds from
// the committed openapi.json, so the realtime contract cannot drift from
// the components it is made of (regenerate with go tool task generate).
func TestAsyncAPIIsCurrent(t *testing.T) {
	want, err := spec.AsyncAPI(openapi.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(openapi.AsyncAPI) {
		t.Fatal("openapi/asyncapi.json is stale: run go tool task generate")
	}
}

// TestAsyncAPIShape: an AsyncAPI 3.0 document for /v1/ws whose every $ref
// resolves inside it, carrying the realtime components of openapi.json
// unchanged.
func TestAsyncAPIShape(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openapi.AsyncAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["asyncapi"] != "3.0.0" {
		t.Fatalf("asyncapi = %v", doc["asyncapi"])
	}
	ch := doc["channels"].(map[string]any)["realtime"].(map[string]any)
	if ch["address"] != "/v1/ws" {
		t.Fatalf("channel = %v", ch)
	}
	ops := doc["operations"].(map[string]any)
	actions := map[string]int{}
	for _, op := range ops {
		actions[op.(map[string]any)["action"].(string)]++
	}
	if actions["send"] != 1 || actions["receive"] != 2 {
		t.Fatalf("operations = %v", ops)
	}
	var walk func(v any)
	refs := 0
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs++
					if !resolves(doc, s) {
						t.Errorf("$ref %s does not resolve", s)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if refs < 10 {
		t.Fatalf("only %d refs", refs)
	}
	var api struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.Spec, &api); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{"RealtimeClientMessage", "RealtimeEvent", "RealtimeReply", "RealtimeEventType", "AgentFinalData"} {
		got, _ := json.Marshal(schemas[name])
		var a, b any
		_ = json.Unmarshal(got, &a)
		_ = json.Unmarshal(api.Components.Schemas[name], &b)
		ga, _ := json.Marshal(a)
		gb, _ := json.Marshal(b)
		if schemas[name] == nil || string(ga) != string(gb) {
			t.Errorf("schema %s differs from openapi.json's", name)
		}
	}
}

// resolves follows a local JSON pointer (#/a/b) in doc.
func resolves(doc map[string]any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}
