package telemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/fx"
	"google.golang.org/protobuf/proto"

	"github.com/coder/websocket"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/telemetry"
)

// otlpReceiver is an OTLP/HTTP traces endpoint: it decodes what the
// exporter posts as the protocol's protobuf and keeps the span names.
type otlpReceiver struct {
	mu    sync.Mutex
	names []string
	attrs []string
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not an OTLP traces export", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, a := range rs.GetResource().GetAttributes() {
			rc.attrs = append(rc.attrs, a.GetKey()+"="+a.GetValue().GetStringValue())
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				rc.names = append(rc.names, sp.Name)
			}
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *otlpReceiver) seen() ([]string, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.names...), append([]string(nil), rc.attrs...)
}

// TestOTLPExportReachesACollector: with OTEL_EXPORTER_OTLP_ENDPOINT set,
// spans travel over OTLP/HTTP to the receiver, under the configured
// service name and resource attributes.
func TestOTLPExportReachesACollector(t *testing.T) {
	rc := &otlpReceiver{}
	col := httptest.NewServer(rc)
	t.Cleanup(col.Close)
	var tel *telemetry.Telemetry
	s := apptest.New(t, apptest.Env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL,
		"OTEL_SERVICE_NAME":           "jarvis-under-test",
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment.name=ci,team=core%20api",
	}), apptest.Fx(fx.Populate(&tel)))
	s.SignUp(t, "otlp@example.com")
	s.Do(t, "GET", "/readyz", "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	names, attrs := rc.seen()
	for _, want := range []string{"Register", "GET /readyz", "unit of work", "BEGIN; SELECT jarvis_identify; INSERT users", "INSERT sessions", "COMMIT"} {
		if !contains(names, want) {
			t.Errorf("collector lacks span %q; got %q", want, names)
		}
	}
	for _, want := range []string{"service.name=jarvis-under-test", "deployment.environment.name=ci", "team=core api"} {
		if !contains(attrs, want) {
			t.Errorf("resource lacks %s; got %q", want, attrs)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestMetricsPage: /metrics, on its own listener, parses with Prometheus'
// text parser and carries the request, unit-of-work and pool series after a
// few requests, with no label that names a user or a path with an id; and
// promtool finds nothing to fix in it.
func TestMetricsPage(t *testing.T) {
	var ms *telemetry.MetricsServer
	s := apptest.New(t, apptest.Env(map[string]string{
		"METRICS_ADDR": "127.0.0.1:0", "REDIS_URL": testRedisURL, "REALTIME_REDIS_PREFIX": redisPrefix(t),
		"EMBEDDINGS_PROVIDER": "openai", "EMBEDDINGS_URL": flakyEmbeddings(t), "EMBEDDINGS_MODEL": "text-embedding-3-small",
		"EMBEDDINGS_API_KEY": "sk-live-metrics-test-key", "EMBEDDINGS_MAX_RETRIES": "1",
		// One login per account and IP a minute: the second is refused.
		"RATELIMIT_AUTH_ACCOUNT_PER_MINUTE": "1", "RATELIMIT_USER_PER_MINUTE": "1000", "RATELIMIT_REFUSAL_DELAY": "1ms",
	}), apptest.Fx(fx.Populate(&ms)))
	if strings.Contains(s.URL, ms.Addr()) || ms.Addr() == "" {
		t.Fatalf("metrics listen on %q, the API on %s: want a listener of their own", ms.Addr(), s.URL)
	}
	_, tok := s.SignUp(t, "metrics@example.com")
	for range 3 {
		s.Do(t, "GET", "/v1/secrets?limit=5", tok.AccessToken, "")
	}
	s.Do(t, "GET", "/v1/secrets/0198e3a4-0000-7000-8000-000000000000", tok.AccessToken, "")
	s.Do(t, "GET", "/v1/secrets", "", "")
	s.Do(t, "GET", "/nowhere/12345", "", "")

	domainTraffic(t, s, tok.AccessToken)

	page := scrape(t, "http://"+ms.Addr()+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	find := func(name string, labels map[string]string) *dto.Metric {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Errorf("no %s", name)
			return nil
		}
		for _, m := range f.Metric {
			if hasLabels(m, labels) {
				return m
			}
		}
		t.Errorf("%s has no series with %v", name, labels)
		return nil
	}
	want := func(name string, labels map[string]string) { t.Helper(); find(name, labels) }
	// Counters read at scrape time are on the page at 0 as well: what the
	// traffic caused must have counted.
	counted := func(name string, labels map[string]string) {
		t.Helper()
		m := find(name, labels)
		if m == nil {
			return
		}
		if v := m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount()); v <= 0 {
			t.Errorf("%s%v = %v, want more than 0", name, labels, v)
		}
	}
	want("http_server_request_duration_seconds", map[string]string{
		"jarvis_operation": "listSecrets", "http_request_method": "GET", "http_response_status_class": "2xx"})
	want("http_server_request_duration_seconds", map[string]string{
		"jarvis_operation": "getSecret", "http_response_status_class": "4xx"})
	want("http_server_request_duration_seconds", map[string]string{
		"jarvis_operation": "listSecrets", "http_response_status_class": "4xx"})
	want("http_server_request_duration_seconds", map[string]string{"jarvis_operation": "unrouted"})
	want("jarvis_db_unit_duration_seconds", map[string]string{"outcome": "committed"})
	want("jarvis_db_pool_connections", map[string]string{"state": "idle"})
	want("jarvis_db_pool_max_connections", nil)
	want("jarvis_redis_pool_connections", nil)
	want("jarvis_db_pool_acquires_total", nil)
	want("jarvis_redis_up", nil)
	want("jarvis_redis_command_duration_seconds", nil)
	want("jarvis_realtime_connections", nil)
	want("jarvis_realtime_slow_consumer_closes_total", nil)
	want("jarvis_http_server_refusals_total", map[string]string{"http_response_status_code": "401"})
	want("go_goroutines", nil)
	// Realtime: a socket resumed, got an event; a bad token was closed.
	counted("jarvis_realtime_events_delivered_total", nil)
	counted("jarvis_realtime_resumes_total", map[string]string{"recovered": "true"})
	counted("jarvis_realtime_auth_closes_total", nil)
	counted("jarvis_realtime_delivery_latency_seconds", nil)
	// Rate limits and the password gate.
	counted("jarvis_ratelimit_refusals_total", map[string]string{"rule": "login.account_ip"})
	want("jarvis_auth_password_gate_in_use", nil)
	want("jarvis_auth_password_gate_queued", nil)
	want("jarvis_auth_password_gate_limit", nil)
	want("jarvis_auth_password_gate_refusals_total", nil)
	// Runs: a priced call, an unpriced one (model "other"), a budget refusal.
	counted("jarvis_llm_calls_total", map[string]string{"gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o-mini"})
	counted("jarvis_llm_calls_total", map[string]string{"gen_ai_provider_name": "other", "gen_ai_request_model": "other"})
	counted("jarvis_llm_tokens_total", map[string]string{"gen_ai_token_type": "output", "gen_ai_request_model": "gpt-4o-mini"})
	counted("jarvis_llm_cost_usd_total", map[string]string{"gen_ai_request_model": "gpt-4o-mini"})
	counted("jarvis_runs_budget_refusals_total", map[string]string{"refused": "run"})
	// Every user's unfinished runs: the run created above is pending.
	if m := find("jarvis_runs_active", map[string]string{"status": "pending"}); m != nil && m.GetGauge().GetValue() < 1 {
		t.Errorf("jarvis_runs_active{status=pending} = %v, want at least 1", m.GetGauge().GetValue())
	}
	want("jarvis_runs_active", map[string]string{"status": "running"})
	// Embeddings (a provider failing now and then) and vector search.
	counted("gen_ai_client_operation_duration_seconds", map[string]string{"gen_ai_operation_name": "embeddings", "gen_ai_provider_name": "openai"})
	counted("gen_ai_client_operation_duration_seconds", map[string]string{"gen_ai_operation_name": "embeddings", "error_type": "unavailable"})
	counted("jarvis_embeddings_retries_total", map[string]string{"gen_ai_provider_name": "openai"})
	counted("jarvis_vecsearch_duration_seconds", map[string]string{"strategy": "exact", "table": "memories"})
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				v := l.GetValue()
				if strings.Contains(v, "@") || strings.Contains(v, "0198e3a4") || strings.Contains(v, "12345") || strings.Contains(v, "made-up") {
					t.Errorf("%s label %s=%q names a user or an id", name, l.GetName(), v)
				}
			}
		}
	}
	promtoolCheckMetrics(t, page)
	shippedQueriesUseRealSeries(t, fams)
}

// domainTraffic makes what the modules measure happen: a run with LLM
// calls (one of a model the price table does not know) and a budget
// refusal, a socket that resumes and gets an event, a socket refused for
// its token, a login refused by the rate limit, and a memory created and
// searched (embeddings, vector search).
func domainTraffic(t *testing.T, s *apptest.Server, access string) {
	t.Helper()
	expect := func(method, path, body string, status int) {
		t.Helper()
		resp := s.Do(t, method, path, access, body)
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, status)
		}
	}
	run := createRun(t, s, access)
	ws := subscribedSocket(t, s, access, run)
	expect(http.MethodPost, "/v1/runs/"+run.String()+"/events", `{"type":"agent.token","data":{"text":"hi"}}`, http.StatusAccepted)
	if m := readWS(t, ws); m.Type != "agent.token" {
		t.Fatalf("socket got %+v", m)
	}
	if ws, err := dialWS(t, s, "not-a-token"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err = ws.Read(ctx)
		cancel()
		if websocket.CloseStatus(err) != realtime.CloseUnauthorized {
			t.Fatalf("bad token: %v, want close 4001", err)
		}
	}
	expect(http.MethodPost, "/v1/runs/"+run.String()+"/llm-calls",
		`{"provider":"openai","model":"gpt-4o-mini","input_tokens":1200,"output_tokens":350}`, http.StatusCreated)
	expect(http.MethodPost, "/v1/runs/"+run.String()+"/llm-calls",
		`{"provider":"openai","model":"made-up-model","input_tokens":10,"output_tokens":5}`, http.StatusCreated)
	expect(http.MethodPut, "/v1/budget", `{"limit_usd":"0.0001"}`, http.StatusOK)
	expect(http.MethodPost, "/v1/runs", "", http.StatusPaymentRequired)
	expect(http.MethodDelete, "/v1/budget", "", http.StatusNoContent)

	// The provider fails its first request (retried) and every "fail-me".
	expect(http.MethodPost, "/v1/memories", `{"content":"Ada drinks green tea"}`, http.StatusCreated)
	expect(http.MethodPost, "/v1/memories", `{"content":"fail-me"}`, http.StatusServiceUnavailable)
	expect(http.MethodPost, "/v1/memories/search", `{"query":"green tea"}`, http.StatusOK)

	login := `{"email":"nobody-metrics@example.com","password":"wrong password"}`
	for i, want := range []int{http.StatusUnauthorized, http.StatusTooManyRequests} {
		resp := s.Do(t, http.MethodPost, "/v1/auth/login", "", login)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("login %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

// flakyEmbeddings is an OpenAI-style embeddings provider whose first
// request answers 503, as does every request embedding "fail-me"; it
// returns the provider's URL.
func flakyEmbeddings(t *testing.T) string {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Input []string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		first := n == 0
		n++
		mu.Unlock()
		if first || slices.Contains(req.Input, "fail-me") {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var out struct {
			Data []item `json:"data"`
		}
		for i := range req.Input {
			v := make([]float32, 1536)
			v[i%1536] = 1
			out.Data = append(out.Data, item{Index: i, Embedding: v})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// shippedQueriesUseRealSeries: every metric the Grafana dashboard and the
// alert rules query is one the service exports (a renamed metric would
// otherwise leave a panel blank and an alert silent forever).
func shippedQueriesUseRealSeries(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	name := regexp.MustCompile(`\b(?:jarvis|http_server|go|db_client|gen_ai)_[a-z0-9_]+`)
	labels := map[string]bool{}
	for _, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				labels[l.GetName()] = true
			}
		}
	}
	for _, f := range []string{"../../observability/grafana-dashboard.json", "../../observability/alerts.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range name.FindAllString(string(b), -1) {
			if labels[m] {
				continue
			}
			base := m
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				if _, ok := fams[base]; !ok {
					base = strings.TrimSuffix(base, suf)
				}
			}
			if _, ok := fams[base]; !ok {
				t.Errorf("%s queries %s, which /metrics does not carry", f, m)
			}
			n++
		}
		if n < 5 {
			t.Errorf("%s: only %d metric names found; is the pattern right?", f, n)
		}
	}
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.Label {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// promtoolCheckMetrics lints a scrape with Prometheus' own tool. The test
// task installs promtool (scripts/setup.sh) and sets JARVIS_REQUIRE_PROMTOOL,
// so there a missing promtool fails instead of skipping.
func promtoolCheckMetrics(t *testing.T, page string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("JARVIS_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool is not installed (scripts/setup.sh installs Debian's prometheus package)")
		}
		t.Log("promtool not installed: `promtool check metrics` skipped")
		return
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	fmt.Fprint(io.Discard, string(out))
}
