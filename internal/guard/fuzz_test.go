package guard_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jarvis-core/jarvis/openapi"
)

// operation is one operation of openapi.json, enough to build a request.
type operation struct {
	method, path string
	pathParams   []string
	queryParams  []string
	body         map[string]string // property → JSON type, for the request body's top-level properties
	private      bool
}

// operations reads every operation from the served spec, so a new
// operation is fuzzed without anyone listing it here.
func operations(t testing.TB) []operation {
	t.Helper()
	var spec struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			RequestBody *struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Type string `json:"type"`
					Ref  string `json:"$ref"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, methods := range spec.Paths {
		for method, o := range methods {
			op := operation{method: strings.ToUpper(method), path: path, private: len(o.Security) > 0}
			for _, p := range o.Parameters {
				switch p.In {
				case "path":
					op.pathParams = append(op.pathParams, p.Name)
				case "query":
					op.queryParams = append(op.queryParams, p.Name)
				}
			}
			if o.RequestBody != nil {
				ref := o.RequestBody.Content["application/json"].Schema.Ref
				schema, ok := spec.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
				if !ok {
					t.Fatalf("%s %s: body schema %q not found", method, path, ref)
				}
				op.body = map[string]string{}
				for name, prop := range schema.Properties {
					typ := prop.Type
					if typ == "" {
						typ = "string" // a $ref: the enums are strings
					}
					op.body[name] = typ
				}
			}
			ops = append(ops, op)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	if len(ops) < 10 {
		t.Fatalf("only %d operations in the spec", len(ops))
	}
	return ops
}

// rawJSONString quotes s for JSON but leaves its bytes as they are (invalid
// UTF-8 included), escaping only what would end the string.
func rawJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzEveryOperation sends hostile strings in every parameter and body field
// of every operation of openapi.json to the real service over a real
// database, and fails on any 5xx: bad input must get a clean 4xx.
//
// mode picks the encoding of s in bodies: 0 as JSON would encode it (valid
// UTF-8, \u escapes), 1 with its raw bytes, 2 as a JSON escape sequence
// spliced in verbatim (lone surrogates, \u0000).
func FuzzEveryOperation(f *testing.F) {
	ops := operations(f)
	for i := range ops {
		for _, s := range []string{"\x00", `\u0000`, "\xff\xfe", `\ud800`, `\udc00x`, "a\x00b", "", strings.Repeat("é", 3000),
			"../../etc/passwd", "' OR 1=1 --", "%00", "\u202e\u0301😀", "null", "-1", "99999999999999999999999", "\r\nX-Injected: 1"} {
			for mode := range uint8(3) {
				f.Add(uint16(i), mode, s)
			}
		}
	}
	cfg := baseConfig()
	s := start(f, cfg)
	var users atomic.Int64
	signIn := func(t testing.TB) string {
		access, _ := register(t, s, fmt.Sprintf("fuzz%d@example.com", users.Add(1)), ip())
		return access
	}
	token := signIn(f)
	f.Fuzz(func(t *testing.T, which uint16, mode uint8, v string) {
		op := ops[int(which)%len(ops)]
		path := op.path
		for _, p := range op.pathParams {
			seg := url.PathEscape(v)
			if seg == "" {
				seg = "x"
			}
			path = strings.ReplaceAll(path, "{"+p+"}", seg)
		}
		if len(op.queryParams) > 0 {
			q := url.Values{}
			for _, p := range op.queryParams {
				q.Set(p, v)
			}
			path += "?" + q.Encode()
		}
		var body io.Reader
		if op.body != nil {
			var str string
			switch mode % 3 {
			case 0:
				b, _ := json.Marshal(v)
				str = string(b)
			case 1:
				str = rawJSONString(v)
			case 2:
				str = `"` + strings.ReplaceAll(v, `"`, ``) + `"`
			}
			var parts []string
			for name, typ := range op.body {
				val := str
				switch typ {
				case "integer", "number":
					val = "1"
				case "boolean":
					val = "true"
				case "object":
					val = `{"k":` + str + `}`
				case "array":
					val = `[` + str + `]`
				}
				parts = append(parts, fmt.Sprintf("%q:%s", name, val))
			}
			sort.Strings(parts)
			body = bytes.NewBufferString("{" + strings.Join(parts, ",") + "}")
		}
		req, err := http.NewRequest(op.method, s.URL+path, body)
		if err != nil {
			return // not a request a client could send
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if op.private {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("X-Forwarded-For", ip())
		if !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			// Any bytes a client can send (invalid UTF-8 included); control
			// characters the Go client refuses to send at all.
			req.Header.Set("User-Agent", v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", op.method, path, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s (mode %d, %q): %d %s", op.method, op.path, mode, v, resp.StatusCode, out)
		}
		if op.private && resp.StatusCode == http.StatusUnauthorized {
			token = signIn(t) // logout or a session deletion ended ours
		}
	})
}
