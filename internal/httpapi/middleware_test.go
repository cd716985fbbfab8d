package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/openapi"
)

func TestRequireAndOptionalAuth(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, tok := s.signUp(t, "ada@example.com")
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := viewer.FromContext(r.Context())
		if !ok {
			io.WriteString(w, "anonymous")
			return
		}
		io.WriteString(w, v.UserID.String())
	})
	cases := []struct {
		name, header string
		optional     bool
		status       int
		body         string
	}{
		{"required, valid", "Bearer " + tok.AccessToken, false, 200, tok.UserID.String()},
		{"required, missing", "", false, 401, ""},
		{"required, refresh token", "Bearer " + tok.RefreshToken, false, 401, ""},
		{"required, basic", "Basic YTpi", false, 401, ""},
		{"optional, missing", "", true, 200, "anonymous"},
		{"optional, valid", "bearer " + tok.AccessToken, true, 200, tok.UserID.String()},
		{"optional, invalid", "Bearer nope", true, 401, ""},
	}
	api := s.Security
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := api.RequireAuth(echo)
			if tc.optional {
				h = api.OptionalAuth(echo)
			}
			req := httptest.NewRequest("GET", "/x", nil).WithContext(context.Background())
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 && rec.Body.String() != tc.body {
				t.Fatalf("body %q, want %q", rec.Body, tc.body)
			}
			if tc.status == 401 {
				var e openapi.ErrorResponse
				if err := e.UnmarshalJSON(rec.Body.Bytes()); err != nil || e.Error.Code != "UNAUTHORIZED" || rec.Header().Get("WWW-Authenticate") == "" {
					t.Fatalf("401 body %s", rec.Body)
				}
			}
		})
	}
}
