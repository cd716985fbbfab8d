package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

func TestSensitiveKey(t *testing.T) {
	for _, k := range []string{"password", "Password", "new_password", "secret", "client_secret", "token",
		"access_token", "refresh_token", "refreshToken", "token_hash", "Authorization", "api_key", "apiKey",
		"X-API-Key", "cookie", "set-cookie", "SECRETS_MASTER_KEY", "encrypted_value", "nonce", "auth_tag"} {
		if !SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = false", k)
		}
	}
	for _, k := range []string{"total_tokens", "input_tokens", "user_id", "email", "path", "status", "correlation_id"} {
		if SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = true", k)
		}
	}
}

func TestRedactionKeepsSecretsOutOfLogs(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelDebug)
	secrets := []string{"hunter2", "sk-live-abcdef", "eyJhbGciOiJIUzI1NiJ9.payload.sig", "pgpass", "r3fr3sh"}
	log.Info("login",
		slog.String("password", secrets[0]),
		slog.Group("provider", slog.String("api_key", secrets[1])),
		slog.String("header", "Bearer "+secrets[2]),
		slog.String("dsn", "postgres://svc:"+secrets[3]+"@db:5432/jarvis"),
		slog.Any("body", map[string]any{"refresh_token": secrets[4], "nested": map[string]any{"password": secrets[0]}}),
		slog.Any("error", errors.New("dial postgres://svc:"+secrets[3]+"@db failed")),
		slog.Int("total_tokens", 42),
	)
	log.With(slog.String("token", secrets[2])).Warn("child")
	out := buf.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log output contains %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, `"total_tokens":42`) || !strings.Contains(out, "svc:[REDACTED]@db") {
		t.Errorf("redaction removed too much:\n%s", out)
	}
}

func TestCorrelationIDs(t *testing.T) {
	var buf bytes.Buffer
	base := New(&buf, slog.LevelInfo)
	h := Middleware(base)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context(), nil).Info("inside handler")
		w.WriteHeader(http.StatusTeapot)
	}))
	cases := []struct {
		name, in string
		keep     bool
	}{
		{"valid incoming id", "req-0123456789abcdef", true},
		{"uuid", "0195f3a8-8a41-7c00-b1a2-3c4d5e6f7a8b", true},
		{"missing", "", false},
		{"too short", "abc", false},
		{"log injection", "abcdefgh\n{\"level\":\"ERROR\"}", false},
		{"too long", strings.Repeat("a", 200), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			req := httptest.NewRequest("GET", "/x?token=abc", nil)
			if tc.in != "" {
				req.Header.Set(CorrelationHeader, tc.in)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			id := rec.Header().Get(CorrelationHeader)
			if tc.keep && id != tc.in {
				t.Fatalf("response id = %q, want the incoming %q", id, tc.in)
			}
			if !tc.keep && (id == tc.in || !validCorrelationID.MatchString(id)) {
				t.Fatalf("response id = %q, want a fresh valid id", id)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("want 2 log lines (handler + request), got:\n%s", buf.String())
			}
			for _, l := range lines {
				var rec map[string]any
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Fatalf("log line is not JSON: %v", err)
				}
				if rec["correlation_id"] != id {
					t.Errorf("log line without the request's correlation id: %s", l)
				}
			}
			if strings.Contains(buf.String(), "token=abc") {
				t.Error("the query string reached the log")
			}
		})
	}
}

func BenchmarkSensitiveKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SensitiveKey("correlation_id")
	}
}

// Keys with non-ASCII letters take the Unicode path and are judged the same.
func TestSensitiveKeyUnicode(t *testing.T) {
	if !SensitiveKey("clé_SECRET") || !SensitiveKey("Ünique-Password") || SensitiveKey("größe") {
		t.Error("non-ASCII keys are judged differently")
	}
}

// A client that goes away is not a server error, whatever status the
// handler then writes; a 503 refusal under load is a warning; other 5xx
// stay errors.
func TestRequestLogLevels(t *testing.T) {
	var logs logtest.Buffer
	log := New(&logs, slog.LevelDebug)
	gone := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		w.WriteHeader(http.StatusInternalServerError)
		close(gone)
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	srv := httptest.NewServer(Middleware(log)(mux))
	defer srv.Close()

	c := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := c.Get(srv.URL + "/slow"); err == nil {
		t.Fatal("the slow handler answered")
	}
	<-gone
	for _, p := range []string{"/busy", "/broken"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := map[string]string{"/slow": "INFO", "/busy": "WARN", "/broken": "ERROR"}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := map[string]string{}
		for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
			var e struct{ Level, Msg, Path string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "http request" {
				got[e.Path] = e.Level
			}
		}
		if maps.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request log levels %v, want %v\n%s", got, want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"client_gone":true`) {
		t.Fatal("the disconnect is not marked client_gone")
	}
}

func TestRedactStringSkipsOnlyTextThatCannotMatch(t *testing.T) {
	cases := []struct{ in, want string }{
		{"http request", "http request"},
		{"header Bearer abc.def", "header Bearer " + Redacted},
		{"BASIC dXNlcjpwdw==", "BASIC " + Redacted},
		{"auth bearer\tabc.def", "auth bearer " + Redacted},
		{"postgres://svc:pw@db/x", "postgres://svc:" + Redacted + "@db/x"},
		{"mail me@example.com", "mail me@example.com"},
		{"baſic abc", "baſic " + Redacted}, // the expression folds case the Unicode way
	}
	for _, tc := range cases {
		if got := RedactString(tc.in); got != tc.want {
			t.Errorf("RedactString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestContextLoggerIsMadeWhenUsed(t *testing.T) {
	var buf bytes.Buffer
	base := New(&buf, slog.LevelInfo)
	ctx := WithCorrelationID(httptest.NewRequest("GET", "/", nil).Context(), base, "req-0123456789")
	ctx = With(ctx, base, slog.String("user_id", "u1"))
	FromContext(ctx, nil).Info("inside")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line: %v: %s", err, buf.String())
	}
	if line["correlation_id"] != "req-0123456789" || line["user_id"] != "u1" {
		t.Errorf("child logger lost its parent's attributes: %s", buf.String())
	}
}
