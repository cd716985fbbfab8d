package textguard

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/internal/fault"
)

func TestJSON(t *testing.T) {
	cases := []struct {
		name string
		body string
		ok   bool
	}{
		{"plain", `{"email":"ada@example.com","n":[1,2,{"a":"b"}]}`, true},
		{"unicode raw and escaped", `{"name":"Zoë 東京 🚀","e":"\u00e9\ud83d\ude80\n\t\"\\"}`, true},
		{"escaped slash and quote at the end", `["a\"","b\\"]`, true},
		{"empty strings", `{"":""}`, true},
		{"NUL escape in a value", `{"email":"a\u0000@example.com"}`, false},
		{"NUL escape in a name", `{"a\u0000":1}`, false},
		{"raw NUL in a string", "{\"email\":\"a\x00b\"}", false},
		{"invalid UTF-8 in a value", "{\"name\":\"\xff\xfe\"}", false},
		{"truncated UTF-8", "{\"name\":\"caf\xc3\"}", false},
		{"overlong encoding", "{\"name\":\"\xc0\xaf\"}", false},
		{"encoded surrogate (CESU)", "{\"name\":\"\xed\xa0\x80\"}", false},
		{"lone high surrogate escape", `{"name":"\ud800"}`, false},
		{"lone high surrogate then text", `{"name":"\ud800abcdef"}`, false},
		{"high surrogate then non-surrogate escape", `{"name":"\ud800\u0041"}`, false},
		{"lone low surrogate escape", `{"name":"\udc00"}`, false},
		{"raw control character", "{\"name\":\"a\x01b\"}", false},
		{"uppercase escape hex", `{"name":"\uD83D\uDE80"}`, true},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), false},
		{"deep but within", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), true},
		{"brackets inside strings do not nest", `{"a":"` + strings.Repeat("[", 200) + `"}`, true},
		{"malformed outside strings is the decoder's", `{"a":tru}`, true},
		{"unterminated string is the decoder's", `{"a":"abc`, true},
		{"duplicate name", `{"input_tokens":1,"input_tokens":1000000000}`, false},
		{"duplicate name, one escaped", `{"a":1,"\u0061":2}`, false},
		{"duplicate non-ASCII name, one escaped", `{"café":1,"caf\u00e9":2}`, false},
		{"non-ASCII names that differ", `{"café":1,"cafe":2,"cafè":3}`, true},
		{"duplicate name in a nested object", `{"x":{"k":1,"k":2}}`, false},
		{"duplicate name in an object in an array", `[{"k":1},{"k":2,"k":3}]`, false},
		{"many names", manyNames(40, ""), true},
		{"many names, the first again last", manyNames(40, `"k0":0`), false},
		{"many names, a small one's again last", manyNames(10, `"k3":0`), false},
		{"many names around nested objects", `{"a":{"x":1,"y":{"a":1}},` + manyNames(30, `"x":{"a":2}`)[1:], true},
		{"same name in sibling objects", `[{"k":1},{"k":2}]`, true},
		{"same name at two levels", `{"k":{"k":{"k":1}}}`, true},
		{"name equal to a value", `{"a":"b","b":"a"}`, true},
		{"names after a nested object", `{"a":{"b":1},"b":2,"c":[1,{"a":1}],"d":3}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := JSON([]byte(c.body))
			if (err == nil) != c.ok {
				t.Fatalf("JSON(%q) = %v, want ok=%v", c.body, err, c.ok)
			}
			if err != nil && !fault.Is(err, fault.Invalid) {
				t.Fatalf("error is not Invalid: %v", err)
			}
		})
	}
}

func TestParams(t *testing.T) {
	for raw, ok := range map[string]bool{
		"/v1/secrets?limit=20&cursor=abc":                       true,
		"/v1/secrets?name=Zo%C3%AB":                             true,
		"/v1/secrets?cursor=%00":                                false,
		"/v1/secrets?cursor=%FF%FE":                             false,
		"/v1/secrets?%00=1":                                     false,
		"/v1/secrets/%00":                                       false,
		"/v1/secrets/%C3%28":                                    false,
		"/v1/secrets?cursor=" + strings.Repeat("a", MaxParam+1): false,
		"/v1/secrets?a=%zz":                                     false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := Params(u); (err == nil) != ok {
			t.Errorf("Params(%s) = %v, want ok=%v", raw, err, ok)
		}
	}
}

func TestSanitize(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"Mozilla/5.0 (X11; Linux)", 512, "Mozilla/5.0 (X11; Linux)"},
		{"curl/8\x00\x01\x7f", 512, "curl/8"},
		{"bad \xff\xfe bytes", 512, "bad \uFFFD bytes"},
		{"  spaced\r\n", 512, "spaced"},
		{"tab\tinside", 512, "tabinside"},
		{"\u0085next line (C1)", 512, "next line (C1)"},
		{strings.Repeat("é", 10), 9, "éééé"}, // a 5th would need bytes 9-10
		{"abcdefghijkl", 9, "abcdefghi"},
		{"", 9, ""},
	}
	for _, c := range cases {
		if got := Sanitize(c.in, c.max); got != c.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestEmail(t *testing.T) {
	for in, want := range map[string]string{
		"ada@example.com":             "ada@example.com",
		"  Ada.Lovelace@Example.COM ": "ada.lovelace@example.com",
		"o'brien+tag@example.co.uk":   "o'brien+tag@example.co.uk",
		"zoë@exämple.com":             "zoë@exämple.com",
	} {
		got, err := Email(in)
		if err != nil || got != want {
			t.Errorf("Email(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "ada", "ada@", "@example.com", "ada@@example.com", "ada@example.com.",
		"Ada <ada@example.com>", "<ada@example.com>", "ada@example.com (Ada)",
		"ada@example.com, bob@example.com", "a\x00da@example.com", "ada\xff@example.com",
		"ada@[127.0.0.1]", `"ada lovelace"@example.com`, "ada @example.com",
		strings.Repeat("a", 65) + "@example.com", "a@" + strings.Repeat("b", 250) + ".com",
	} {
		if got, err := Email(in); err == nil {
			t.Errorf("Email(%q) = %q, want an error", in, got)
		} else if fs := fault.Fields(err); len(fs) != 1 || fs[0].Name != "email" {
			t.Errorf("Email(%q): error %v does not name the email field", in, err)
		}
	}
}

func TestMiddleware(t *testing.T) {
	var gotBody string
	h := NewHTTP(func(w http.ResponseWriter, _ *http.Request, err error) {
		code := 500
		switch fault.KindOf(err) {
		case fault.Invalid:
			code = 400
		case fault.TooLarge:
			code = 413
		}
		w.WriteHeader(code)
	}).Middleware().Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(path, ct, body string) int {
		// No length up front, as a streaming client sends it: the check
		// must stop at MaxBody by itself.
		req, _ := http.NewRequest("POST", srv.URL+path, io.MultiReader(strings.NewReader(body)))
		req.Header.Set("Content-Type", ct)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := `{"email":"ada@example.com","password":"correct horse battery staple"}`
	if code := post("/v1/auth/login", "application/json; charset=utf-8", good); code != 200 || gotBody != good {
		t.Fatalf("clean body: %d, handler saw %q", code, gotBody)
	}
	for name, c := range map[string]struct {
		path, ct, body string
		code           int
	}{
		"NUL escape":         {"/v1/auth/login", "application/json", `{"email":"a\u0000"}`, 400},
		"invalid UTF-8":      {"/v1/auth/register", "application/json", "{\"display_name\":\"\xff\"}", 400},
		"problem+json":       {"/v1/x", "application/merge-patch+json", `{"a":"\udc00"}`, 400},
		"NUL in the query":   {"/v1/secrets?cursor=%00", "application/json", `{}`, 400},
		"too large, chunked": {"/v1/x", "application/json", `"` + strings.Repeat("a", MaxBody) + `"`, 413},
		"not JSON: decoder":  {"/v1/x", "text/plain", "\x00\xff", 200},
	} {
		if code := post(c.path, c.ct, c.body); code != c.code {
			t.Errorf("%s: status %d, want %d", name, code, c.code)
		}
	}
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `"\u0000"`, `"\ud800\udc00"`, "\"\xff\"", `[[[]]]`, `{"a":"\\"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := JSON(b); err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("not an Invalid error: %v", err)
			}
			return
		}
		// What passes and decodes holds no NUL anywhere.
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		if s := fmt.Sprintf("%#v", v); strings.ContainsRune(s, 0) || strings.Contains(s, `\x00`) {
			t.Fatalf("%q passed but decodes with a NUL: %s", b, s)
		}
	})
}

// manyNames is an object of n names k0…k<n-1>, then extra if given.
func manyNames(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	if extra != "" {
		b.WriteString(extra + ",")
	}
	b.WriteString(`"end":true}`)
	return b.String()
}
