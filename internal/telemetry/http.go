package telemetry

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/openapi"
)

// Operation labels of what is not an API operation.
const (
	opHealthz  = "healthz"
	opReadyz   = "readyz"
	opSpec     = "openapi.json"
	opUnrouted = "unrouted" // no operation or route: 404s, 405s
)

// CorrelationAttr is the span attribute carrying X-Correlation-ID.
const CorrelationAttr = "jarvis.correlation_id"

// route is what a request is labelled with: its operation (ogen's
// operation id, or the name of a route outside the API) and path pattern.
type route struct {
	name    string // span name
	op      string // metric label
	pattern string // http.route
	attrs   []attribute.KeyValue
	sets    *classSets // the duration's attribute sets, by status class
}

// classSets are one operation and method's metric options by status class
// (index status/100 for 1xx–5xx, 0 for anything else), built when the
// route is: a request records with a set it finds by index, never hashing
// or allocating one. Each is a one-element slice so that Record's variadic
// argument is passed as is, not copied to the heap.
type classSets [6][]metric.RecordOption

func newClassSets(op, method string) *classSets {
	var s classSets
	for c := range s {
		class := "other"
		if c >= 1 {
			class = string(rune('0'+c)) + "xx"
		}
		s[c] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("jarvis.operation", op),
			semconv.HTTPRequestMethodKey.String(method),
			attribute.String("http.response.status_class", class),
		))}
	}
	return &s
}

// of is the options for a response status.
func (s *classSets) of(status int) []metric.RecordOption {
	c := status / 100
	if c < 1 || c > 5 {
		c = 0
	}
	return s[c]
}

// edge is the HTTP instrumentation: one server span per request (the
// pipeline's only span at this level: ogen's own is off) and the request
// duration histogram. It runs outside the logging middleware, so every line
// logged for the request carries the span's ids.
type edge struct {
	t        *Telemetry
	find     func(method, path string) (openapi.Route, bool)
	routes   map[methodPath]*route // GET /v1/ws → route, outside ogen
	ops      sync.Map              // "getRun" → *route (built once per operation)
	unrouted map[string]*route     // by method label: 404s and 405s
	duration metric.Float64Histogram
	refusals metric.Int64Counter
	refusal  map[int][]metric.AddOption // by status: the refusals an operator alerts on
}

type methodPath struct{ method, path string }

// newEdge routes with ogen's generated router (the same table the API
// serves from; its handler is never called) to name spans and label
// metrics by operation, never by a path with ids in it.
func newEdge(t *Telemetry, extra []api.Route) (*edge, error) {
	router, err := openapi.NewServer(openapi.UnimplementedHandler{}, nil)
	if err != nil {
		return nil, err
	}
	e := &edge{t: t, find: router.FindRoute, routes: map[methodPath]*route{}, unrouted: map[string]*route{}}
	add := func(method, path, op string) {
		e.routes[methodPath{method, path}] = &route{name: method + " " + path, op: op, pattern: path,
			attrs: []attribute.KeyValue{semconv.HTTPRouteKey.String(path), semconv.HTTPRequestMethodKey.String(method)},
			sets:  newClassSets(op, method)}
	}
	for _, m := range append(knownMethods[:len(knownMethods):len(knownMethods)], otherMethod) {
		e.unrouted[m] = &route{name: "HTTP " + m, op: opUnrouted, sets: newClassSets(opUnrouted, m)}
	}
	add("GET", "/healthz", opHealthz)
	add("GET", "/readyz", opReadyz)
	add("GET", "/openapi.json", opSpec)
	for _, r := range extra {
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok || strings.ContainsAny(path, "{") {
			continue // only exact method+path routes have a name of their own
		}
		add(method, path, strings.Trim(strings.ReplaceAll(path, "/", "."), "."))
	}
	e.duration, err = t.meter.Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests, by operation, method and status class."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	if err != nil {
		return nil, err
	}
	e.refusals, err = t.meter.Int64Counter("jarvis.http.server.refusals",
		metric.WithDescription("Requests refused on purpose, by status: 401 unauthenticated, 402 budget exceeded, 403 forbidden, 429 rate limited, 503 overloaded (password gate)."))
	if err != nil {
		return nil, err
	}
	e.refusal = map[int][]metric.AddOption{}
	for _, code := range []int{401, 402, 403, 429, 503} {
		e.refusal[code] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(semconv.HTTPResponseStatusCode(code)))}
	}
	return e, nil
}

func (e *edge) route(r *http.Request) *route {
	if rt, ok := e.routes[methodPath{r.Method, r.URL.Path}]; ok {
		return rt
	}
	or, ok := e.find(r.Method, r.URL.Path)
	if !ok {
		return e.unrouted[knownMethod(r.Method)]
	}
	if v, ok := e.ops.Load(or.OperationID()); ok {
		return v.(*route)
	}
	// An operation answers one method, so its sets are built for it alone.
	method := knownMethod(r.Method)
	rt := &route{name: or.Name(), op: or.OperationID(), pattern: or.PathPattern(), attrs: []attribute.KeyValue{
		attribute.String("jarvis.operation", or.OperationID()),
		semconv.HTTPRouteKey.String(or.PathPattern()),
		semconv.HTTPRequestMethodKey.String(r.Method),
	}, sets: newClassSets(or.OperationID(), method)}
	v, _ := e.ops.LoadOrStore(or.OperationID(), rt)
	return v.(*route)
}

// knownMethods are the method labels; any other method is otherMethod
// (semantic conventions).
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

const otherMethod = "_OTHER"

// knownMethod bounds the method label.
func knownMethod(m string) string {
	if slices.Contains(knownMethods, m) {
		return m
	}
	return otherMethod
}

// wrap is the middleware.
func (e *edge) wrap(next http.Handler) http.Handler {
	if !e.t.tracing && !e.t.metrics {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := e.route(r)
		ctx := r.Context()
		var span trace.Span
		if e.t.tracing {
			// Only a request that carries trace context pays for parsing
			// it; the canonical header keys are read directly, never
			// canonicalised per call.
			if hasTraceContext(r.Header) {
				ctx = e.t.Propagator.Extract(ctx, headerCarrier(r.Header))
			}
			ctx, span = e.t.tracer.Start(ctx, rt.name, serverKind)
			// The answer names the trace (W3C traceparent), so a client can
			// report the id of a slow or failed call.
			e.t.Propagator.Inject(ctx, headerCarrier(w.Header()))
			r = r.WithContext(ctx)
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if span != nil {
				if span.IsRecording() {
					// All the server span's attributes in one call, at its
					// end: one lock and one exactly sized slice, not three.
					attrs := make([]attribute.KeyValue, 0, len(rt.attrs)+2)
					attrs = append(attrs, rt.attrs...)
					attrs = append(attrs, semconv.HTTPResponseStatusCode(rec.status))
					if id := w.Header()[correlationKey]; len(id) > 0 && id[0] != "" {
						attrs = append(attrs, attribute.String(CorrelationAttr, id[0]))
					}
					span.SetAttributes(attrs...)
					if rec.status >= 500 {
						span.SetStatus(codes.Error, http.StatusText(rec.status))
					}
				}
				span.End()
			}
			if e.t.metrics {
				e.duration.Record(ctx, time.Since(start).Seconds(), rt.sets.of(rec.status)...)
				if opts, ok := e.refusal[rec.status]; ok {
					e.refusals.Add(ctx, 1, opts...)
				}
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

var (
	serverKind = trace.WithSpanKind(trace.SpanKindServer)
	// correlationKey is X-Correlation-ID as net/http stores it
	// ("X-Correlation-Id"): Header.Get would canonicalise, and allocate, per call.
	correlationKey = textproto.CanonicalMIMEHeaderKey(logging.CorrelationHeader)
)

// The propagators' header names, in their canonical (net/http) form.
const (
	hTraceparent = "Traceparent"
	hTracestate  = "Tracestate"
	hBaggage     = "Baggage"
)

// hasTraceContext reports whether a request carries anything the
// propagators (W3C trace context and baggage) would extract.
func hasTraceContext(h http.Header) bool {
	return len(h[hTraceparent]) > 0 || len(h[hBaggage]) > 0
}

// headerCarrier is propagation.HeaderCarrier without its per-call cost:
// the propagators' own keys map to their canonical header names by a
// switch instead of textproto's canonicalisation (which allocates for a
// lower-case key).
type headerCarrier http.Header

var _ propagation.TextMapCarrier = headerCarrier(nil)

func canonical(key string) string {
	switch key {
	case "traceparent":
		return hTraceparent
	case "tracestate":
		return hTracestate
	case "baggage":
		return hBaggage
	}
	return textproto.CanonicalMIMEHeaderKey(key)
}

// Get returns the first value of key.
func (c headerCarrier) Get(key string) string {
	if v := c[canonical(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of key (baggage may come in several headers).
func (c headerCarrier) Values(key string) []string { return c[canonical(key)] }

// Set replaces key's values.
func (c headerCarrier) Set(key, value string) { c[canonical(key)] = []string{value} }

// Keys lists the header names.
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer (flush, hijack for WebSocket).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
