package spec_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jarvis-core/jarvis/openapi"
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
	// auth and secrets 12, runs 22, realtime 1, memories 6, knowledge graph 12
	if ops != 55 {
		t.Errorf("%d operations, want 55", ops)
	}
	for name, raw := range doc.Components.Schemas {
		for _, bad := range []string{"password_hash", "encrypted_value", "nonce", "auth_tag", "token_hash", "user_id\"", "search_vector"} {
			if strings.Contains(string(raw), bad) && !(name == "TokenResponse" && bad == "user_id\"") {
				t.Errorf("schema %s exposes %s", name, bad)
			}
		}
	}
}
