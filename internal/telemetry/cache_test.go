package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func recordLabels(opts []metric.RecordOption) map[string]string {
	got := map[string]string{}
	set := metric.NewRecordConfig(opts).Attributes()
	for it := set.Iter(); it.Next(); {
		kv := it.Attribute()
		got[string(kv.Key)] = kv.Value.Emit()
	}
	return got
}

// TestEdgeSetsAreBuiltOncePerRoute: a request finds its route and the
// duration's attribute set without building either again, and the set
// labels the operation, the method and the status class.
func TestEdgeSetsAreBuiltOncePerRoute(t *testing.T) {
	tel, err := New(context.Background(), Config{MetricsAddr: "127.0.0.1:0"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	e, err := newEdge(tel, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/v1/secrets?limit=20", nil)
	a, b := e.route(req), e.route(req)
	if a != b {
		t.Error("the same operation built its route twice")
	}
	if &a.sets.of(200)[0] != &b.sets.of(204)[0] {
		t.Error("200 and 204 do not share the 2xx set")
	}
	for status, class := range map[int]string{200: "2xx", 404: "4xx", 503: "5xx", 302: "3xx", 101: "1xx", 0: "other", 600: "other"} {
		want := map[string]string{"jarvis.operation": "listSecrets", "http.request.method": "GET", "http.response.status_class": class}
		got := recordLabels(a.sets.of(status))
		if len(got) != len(want) {
			t.Errorf("status %d: labels %v, want %v", status, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("status %d: %s = %q, want %q", status, k, got[k], v)
			}
		}
	}
	un := e.route(httptest.NewRequest("BREW", "/nowhere", nil))
	if un != e.route(httptest.NewRequest("PURGE", "/nowhere/else", nil)) {
		t.Error("unrouted requests of unknown methods do not share a route")
	}
	if got := recordLabels(un.sets.of(404)); got["jarvis.operation"] != opUnrouted || got["http.request.method"] != "_OTHER" {
		t.Errorf("unrouted labels %v", got)
	}
	if got := e.route(httptest.NewRequest("GET", "/healthz", nil)); got.op != opHealthz || recordLabels(got.sets.of(200))["jarvis.operation"] != opHealthz {
		t.Errorf("healthz route %+v", got)
	}
}

// TestRedisCommandCacheIsBounded: a command's options are built once and
// reused; past the cap new names are still labelled, but not kept.
func TestRedisCommandCacheIsBounded(t *testing.T) {
	h := newRedisHook(nil)
	if h.command("get") != h.command("get") {
		t.Error("the same command built its options twice")
	}
	if got := recordLabels(h.command("evalsha").record); got["db.operation.name"] != "evalsha" || len(got) != 1 {
		t.Errorf("evalsha labelled %v", got)
	}
	for i := range 2 * maxRedisCommands {
		h.command(fmt.Sprintf("cmd%d", i))
	}
	var n int
	h.commands.m.Range(func(any, any) bool { n++; return true })
	if n > maxRedisCommands || h.commands.n.Load() > maxRedisCommands {
		t.Errorf("%d commands cached (counter %d), cap %d", n, h.commands.n.Load(), maxRedisCommands)
	}
	late := h.command("late")
	if got := recordLabels(late.record); got["db.operation.name"] != "late" {
		t.Errorf("a command past the cap labelled %v", got)
	}
	if h.command("late") == late {
		t.Error("a command past the cap was cached")
	}
}

// TestHeaderCarrier: the edge's carrier reads and writes the same headers
// as propagation.HeaderCarrier, and a request without trace context is
// told apart without parsing.
func TestHeaderCarrier(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	h := http.Header{}
	if hasTraceContext(h) {
		t.Error("an empty header has trace context")
	}
	h.Set("traceparent", tp)
	h.Add("baggage", "a=1")
	h.Add("baggage", "b=2")
	h.Set("X-Other", "x")
	if !hasTraceContext(h) {
		t.Error("a traceparent header is not trace context")
	}
	c, std := headerCarrier(h), propagation.HeaderCarrier(h)
	for _, k := range []string{"traceparent", "tracestate", "baggage", "x-other", "X-Other", "missing"} {
		if c.Get(k) != std.Get(k) {
			t.Errorf("Get(%q) = %q, HeaderCarrier says %q", k, c.Get(k), std.Get(k))
		}
		if !slices.Equal(c.Values(k), std.Values(k)) {
			t.Errorf("Values(%q) = %q, HeaderCarrier says %q", k, c.Values(k), std.Values(k))
		}
	}
	if !hasTraceContext(http.Header{"Baggage": {"a=1"}}) {
		t.Error("a baggage header alone is not trace context")
	}
	out := http.Header{}
	headerCarrier(out).Set("traceparent", tp)
	headerCarrier(out).Set("x-custom", "v")
	if out.Get("Traceparent") != tp || out.Get("X-Custom") != "v" || len(out) != 2 {
		t.Errorf("Set wrote %v", out)
	}
	keys := headerCarrier(out).Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"Traceparent", "X-Custom"}) {
		t.Errorf("Keys = %v", keys)
	}
	// Extracted through the composite propagator, the context is the caller's.
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	ctx := prop.Extract(context.Background(), c)
	if sc := trace.SpanContextFromContext(ctx); sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsRemote() {
		t.Errorf("extracted %v", sc)
	}
	if m := baggage.FromContext(ctx); m.Member("a").Value() != "1" || m.Member("b").Value() != "2" {
		t.Errorf("baggage %v", m)
	}
}

// TestStatementCache: one SQL text is described once (the same name and
// options every time), its span carries the text and no values, and the
// cache stops growing at its cap.
func TestStatementCache(t *testing.T) {
	c := newStatementCache()
	const sql = `SELECT "user_secrets"."id" FROM "user_secrets" WHERE "user_secrets"."user_id" = $1 LIMIT 21`
	a, b := c.get(sql), c.get(sql)
	if a != b {
		t.Error("the same SQL was described twice")
	}
	for sql, want := range map[string]string{
		sql:                                   "SELECT user_secrets",
		"  begin read only":                   "BEGIN",
		"SELECT jarvis_identify($1, $2)":      "SELECT jarvis_identify",
		`SELECT "s"."t" FROM "s"."t" LIMIT 1`: "SELECT s.t",
		"SELECT 1":                            "SELECT",
	} {
		if got := c.get(sql).name; got != want {
			t.Errorf("%q named %q, want %q", sql, got, want)
		}
	}
	cfg := trace.NewSpanStartConfig(a.opts...)
	if cfg.SpanKind() != trace.SpanKindClient {
		t.Errorf("kind %v", cfg.SpanKind())
	}
	got := map[string]string{}
	for _, kv := range cfg.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	if len(got) != 2 || got["db.system.name"] != "postgresql" || got["db.query.text"] != sql {
		t.Errorf("attributes %v", got)
	}
	for i := range maxStatements + 100 {
		c.get(fmt.Sprintf("SELECT %d FROM t", i))
	}
	var n int
	c.m.Range(func(any, any) bool { n++; return true })
	if n > maxStatements || c.n.Load() > maxStatements {
		t.Errorf("%d statements cached (counter %d), cap %d", n, c.n.Load(), maxStatements)
	}
	late := c.get("INSERT INTO late (id) VALUES ($1)")
	if late.name != "INSERT late" {
		t.Errorf("a statement past the cap named %q", late.name)
	}
	if c.get("INSERT INTO late (id) VALUES ($1)") == late {
		t.Error("a statement past the cap was cached")
	}
}
