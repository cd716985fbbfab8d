package openapi

import (
	"testing"
)

// FuzzRequestDecoders feeds arbitrary bytes to the generated decoders of
// every request body: they never panic, and whatever decodes and validates
// encodes back to something that decodes to the same value.
func FuzzRequestDecoders(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@example.com","password":"correct horse battery staple"}`,
		`{"refresh_token":"x"}`, `{"all":true}`, `{"provider":"openai","name":"n","value":"v"}`,
		`{"name":"n"}`, `{}`, `[]`, `{"email":1}`, "\x00", `{"value":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(name string, decode func([]byte) error, validate func() error, encode func() ([]byte, error), again func([]byte) error) {
			if decode(data) != nil || validate() != nil {
				return
			}
			out, err := encode()
			if err != nil {
				t.Fatalf("%s: re-encode: %v", name, err)
			}
			if err := again(out); err != nil {
				t.Fatalf("%s: decode of own encoding %s: %v", name, out, err)
			}
		}
		var a, a2 RegisterRequest
		check("register", a.UnmarshalJSON, a.Validate, a.MarshalJSON, a2.UnmarshalJSON)
		var b, b2 LoginRequest
		check("login", b.UnmarshalJSON, b.Validate, b.MarshalJSON, b2.UnmarshalJSON)
		var c, c2 RefreshRequest
		check("refresh", c.UnmarshalJSON, c.Validate, c.MarshalJSON, c2.UnmarshalJSON)
		var d, d2 SecretCreate
		check("secret create", d.UnmarshalJSON, d.Validate, d.MarshalJSON, d2.UnmarshalJSON)
		var e, e2 SecretUpdate
		check("secret update", e.UnmarshalJSON, e.Validate, e.MarshalJSON, e2.UnmarshalJSON)
		var g, g2 LogoutRequest
		check("logout", g.UnmarshalJSON, func() error { return nil }, g.MarshalJSON, g2.UnmarshalJSON)
	})
}
