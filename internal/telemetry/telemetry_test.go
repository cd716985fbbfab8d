package telemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/telemetry"
)

// tracedServer runs the service with every span kept in memory.
func tracedServer(t *testing.T, env map[string]string) (*apptest.Server, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	s := apptest.New(t, apptest.Env(env), apptest.Fx(fx.Supply(telemetry.Options{
		SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(exp)},
	})))
	return s, exp
}

const secretValue = "sk-live-0123456789abcdefSECRET"

// TestOneRequestIsOneTree: a request's spans form one tree, the API
// operation over the unit of work over its Postgres statements, and no
// attribute of any span carries a password, a token, a secret's value or a
// statement's argument.
func TestOneRequestIsOneTree(t *testing.T) {
	s, exp := tracedServer(t, nil)
	email := "tree-" + strings.ReplaceAll(t.Name(), "/", "-") + "@example.com"
	_, tok := s.SignUp(t, email)
	resp := s.Do(t, "POST", "/v1/secrets", tok.AccessToken,
		`{"provider":"openai","name":"default","value":"`+secretValue+`"}`)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("create secret: %d", resp.StatusCode)
	}
	exp.Reset()
	resp = s.Do(t, "GET", "/v1/secrets?limit=20", tok.AccessToken, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list secrets: %d", resp.StatusCode)
	}
	spans := exp.GetSpans()
	var root *tracetest.SpanStub
	for i := range spans {
		if spans[i].SpanKind == trace.SpanKindServer {
			if root != nil {
				t.Fatalf("two server spans for one request: %s and %s", root.Name, spans[i].Name)
			}
			root = &spans[i]
		}
	}
	if root == nil {
		t.Fatalf("no server span among %d", len(spans))
	}
	if root.Name != "ListSecrets" {
		t.Errorf("server span named %q, want the operation ListSecrets", root.Name)
	}
	wantAttr(t, root, "http.route", "/v1/secrets")
	wantAttr(t, root, "jarvis.operation", "listSecrets")
	wantAttr(t, root, "http.response.status_code", "200")
	if v := attr(root, telemetry.CorrelationAttr); v == "" || v != resp.Header.Get("X-Correlation-ID") {
		t.Errorf("correlation id attribute %q, response header %q", v, resp.Header.Get("X-Correlation-ID"))
	}
	byID := map[trace.SpanID]*tracetest.SpanStub{}
	for i := range spans {
		byID[spans[i].SpanContext.SpanID()] = &spans[i]
		if spans[i].SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("span %s is in another trace", spans[i].Name)
		}
	}
	var unit *tracetest.SpanStub
	var statements []string
	for i := range spans {
		sp := &spans[i]
		switch {
		case sp.Name == "unit of work":
			unit = sp
			if sp.Parent.SpanID() != root.SpanContext.SpanID() {
				t.Errorf("unit of work's parent is %v, want the server span", sp.Parent.SpanID())
			}
		case attr(sp, "db.system.name") == "postgresql":
			parent := byID[sp.Parent.SpanID()]
			if parent == nil || parent.Name != "unit of work" {
				t.Errorf("statement %q is not under the unit of work", sp.Name)
			}
			statements = append(statements, sp.Name)
		}
	}
	if unit == nil {
		for _, sp := range spans {
			t.Logf("span %s kind %v parent %v", sp.Name, sp.SpanKind, sp.Parent.SpanID())
		}
		t.Fatal("no unit-of-work span")
	}
	// The list is one pipeline (BEGIN, the identity, the list, COMMIT): one
	// span, a batch in OpenTelemetry's database conventions, carrying every
	// statement's text; no second COMMIT from the unit of work.
	const pipeline = "BEGIN; SELECT jarvis_identify; SELECT user_secrets; COMMIT"
	if len(statements) != 1 || statements[0] != pipeline {
		t.Fatalf("statement spans %q, want the one pipeline %q", statements, pipeline)
	}
	for i := range spans {
		if sp := &spans[i]; sp.Name == pipeline {
			wantAttr(t, sp, "db.operation.name", "BATCH")
			wantAttr(t, sp, "db.operation.batch.size", "4")
			text := attr(sp, "db.query.text")
			if !strings.HasPrefix(text, "begin read only; ") || !strings.Contains(text, "; SELECT jarvis_identify($1, $2); SELECT ") ||
				!strings.Contains(text, `FROM "user_secrets"`) || !strings.HasSuffix(text, "; COMMIT") {
				t.Errorf("db.query.text %q does not carry the pipeline's four statements", text)
			}
		}
	}
	// Nothing secret anywhere: not the token, the password, the secret's
	// value, the user's id (a statement argument) or their e-mail.
	forbidden := []string{tok.AccessToken, apptest.Password, secretValue, email, "eyJ"}
	if uid := userID(t, s, tok.AccessToken); uid != "" {
		forbidden = append(forbidden, uid)
	}
	for _, sp := range exp.GetSpans() {
		for _, kv := range sp.Attributes {
			for _, f := range forbidden {
				if strings.Contains(kv.Value.Emit(), f) {
					t.Errorf("span %s attribute %s carries %q", sp.Name, kv.Key, f)
				}
			}
		}
		for _, ev := range sp.Events {
			for _, kv := range ev.Attributes {
				for _, f := range forbidden {
					if strings.Contains(kv.Value.Emit(), f) {
						t.Errorf("span %s event %s carries %q", sp.Name, ev.Name, f)
					}
				}
			}
		}
	}
	// The log line of the request names the trace.
	if !strings.Contains(s.Logs.String(), `"trace_id":"`+root.SpanContext.TraceID().String()+`"`) {
		t.Errorf("no log line carries trace_id %s", root.SpanContext.TraceID())
	}
}

func userID(t *testing.T, s *apptest.Server, token string) string {
	t.Helper()
	c, b := s.Client(t)
	b.Token = token
	me, err := c.GetMe(context.Background())
	if err != nil {
		return ""
	}
	return me.ID.String()
}

// TestTraceparentContinues: a request carrying a W3C traceparent joins
// that trace (its server span is the caller's child) and the answer names it.
func TestTraceparentContinues(t *testing.T) {
	s, exp := tracedServer(t, nil)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const parentID = "00f067aa0ba902b7"
	req, _ := http.NewRequest("GET", s.URL+"/healthz", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Get("traceparent")
	if !strings.HasPrefix(got, "00-"+traceID+"-") || strings.Contains(got, parentID) {
		t.Errorf("traceparent answered %q, want trace %s with the server's span", got, traceID)
	}
	var found bool
	for _, sp := range exp.GetSpans() {
		if sp.Name == "GET /healthz" {
			found = true
			if sp.SpanContext.TraceID().String() != traceID || sp.Parent.SpanID().String() != parentID || !sp.Parent.IsRemote() {
				t.Errorf("healthz span in trace %s under %s, want %s under remote %s",
					sp.SpanContext.TraceID(), sp.Parent.SpanID(), traceID, parentID)
			}
		}
	}
	if !found {
		t.Error("no span for GET /healthz")
	}
}

func attr(sp *tracetest.SpanStub, key string) string {
	for _, kv := range sp.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func wantAttr(t *testing.T, sp *tracetest.SpanStub, key, want string) {
	t.Helper()
	if got := attr(sp, key); got != want {
		t.Errorf("span %s: %s = %q, want %q", sp.Name, key, got, want)
	}
}

// TestEmbeddingsCallIsAChildSpan: the embeddings provider's HTTP call is a
// client span of the request, the provider receives the trace context, and
// the API key appears in no attribute.
func TestEmbeddingsCallIsAChildSpan(t *testing.T) {
	const apiKey = "sk-live-embeddings-key-0123456789"
	var gotParent string
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotParent = r.Header.Get("traceparent")
		var req struct {
			Input []string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Data []item `json:"data"`
		}{}
		for i := range req.Input {
			v := make([]float32, 1536)
			v[i%1536] = 1
			out.Data = append(out.Data, item{Index: i, Embedding: v})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(provider.Close)
	s, exp := tracedServer(t, map[string]string{
		"EMBEDDINGS_PROVIDER": "openai", "EMBEDDINGS_URL": provider.URL, "EMBEDDINGS_MODEL": "text-embedding-3-small",
		"EMBEDDINGS_API_KEY": apiKey,
	})
	_, tok := s.SignUp(t, "embed-trace@example.com")
	exp.Reset()
	resp := s.Do(t, "POST", "/v1/memories", tok.AccessToken, `{"content":"the user likes green tea"}`)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("create memory: %d", resp.StatusCode)
	}
	var server, client *tracetest.SpanStub
	spans := exp.GetSpans()
	for i := range spans {
		switch {
		case spans[i].SpanKind == trace.SpanKindServer:
			server = &spans[i]
		case strings.HasPrefix(spans[i].Name, "embeddings "):
			client = &spans[i]
		}
		for _, kv := range spans[i].Attributes {
			if strings.Contains(kv.Value.Emit(), apiKey) {
				t.Errorf("span %s attribute %s carries the API key", spans[i].Name, kv.Key)
			}
		}
	}
	if server == nil || client == nil {
		t.Fatalf("want a server span and an embeddings client span; got %d spans", len(spans))
	}
	if client.SpanContext.TraceID() != server.SpanContext.TraceID() || client.SpanKind != trace.SpanKindClient {
		t.Errorf("embeddings span is not a client span of the request's trace")
	}
	if !strings.Contains(gotParent, client.SpanContext.TraceID().String()) {
		t.Errorf("provider got traceparent %q, want trace %s", gotParent, client.SpanContext.TraceID())
	}
}

// BenchmarkListSecrets is one GET /v1/secrets?limit=20 (five secrets)
// through the whole service in this process, over loopback HTTP, with
// telemetry off, metrics only, and every request traced and exported over
// OTLP/HTTP to a receiver that drops what it reads. The client's share is
// the same in each; the differences are telemetry's.
func BenchmarkListSecrets(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	for _, c := range []struct {
		name string
		env  map[string]string
	}{
		{"off", nil},
		{"metrics", map[string]string{"METRICS_ADDR": "127.0.0.1:0"}},
		{"traces", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL, "OTEL_TRACES_SAMPLER": "always_on"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			env := map[string]string{"LOG_LEVEL": "info", "RATELIMIT_IP_PER_MINUTE": "0", "RATELIMIT_USER_PER_MINUTE": "0"}
			maps.Copy(env, c.env)
			s := apptest.New(b, apptest.Env(env))
			_, tok := s.SignUp(b, "bench-"+c.name+"@example.com")
			for i := range 5 {
				resp := s.Do(b, "POST", "/v1/secrets", tok.AccessToken,
					fmt.Sprintf(`{"provider":"openai","name":"key-%d","value":"%s"}`, i, secretValue))
				if resp.StatusCode != http.StatusCreated {
					b.Fatalf("create secret: %d", resp.StatusCode)
				}
			}
			req, err := http.NewRequest("GET", s.URL+"/v1/secrets?limit=20", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
			b.ReportAllocs()
			// 16 clients per CPU keep the service busy, as under load; CPU
			// time per request (this process's: client and service) is the
			// steadier figure on a shared machine.
			b.SetParallelism(16)
			cpu0 := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Do(req.Clone(context.Background()))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("list: %d", resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// TestFailedPipelineSpanNamesTheSQLSTATE: when the identity refuses a
// revoked session, the pipeline's span is failed with the statement's
// SQLSTATE only (never the error's text, which can quote values).
func TestFailedPipelineSpanNamesTheSQLSTATE(t *testing.T) {
	s, exp := tracedServer(t, nil)
	_, tok := s.SignUp(t, "revoked-"+strings.ReplaceAll(t.Name(), "/", "-")+"@example.com")
	if resp := s.Do(t, "POST", "/v1/auth/logout", tok.AccessToken, `{"refresh_token":"`+tok.RefreshToken+`"}`); resp.StatusCode >= 300 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	exp.Reset()
	if resp := s.Do(t, "GET", "/v1/secrets?limit=20", tok.AccessToken, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("list with a revoked session: %d, want 401", resp.StatusCode)
	}
	var found bool
	for _, sp := range exp.GetSpans() {
		if !strings.HasPrefix(sp.Name, "BEGIN; SELECT jarvis_identify") {
			continue
		}
		found = true
		if sp.Status.Code != codes.Error || sp.Status.Description != "SQLSTATE JV401" {
			t.Errorf("pipeline span status %v %q, want Error SQLSTATE JV401", sp.Status.Code, sp.Status.Description)
		}
		wantAttr(t, &sp, "db.response.status_code", "JV401")
	}
	if !found {
		t.Fatal("no pipeline span for the refused request")
	}
}

// processCPU is this process's CPU time so far, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
