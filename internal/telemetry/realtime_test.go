package telemetry_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/telemetry"
)

const testRedisURL = "redis://127.0.0.1:6379/0"

// redisPrefix is a realtime key prefix of the test's own, deleted at the end.
func redisPrefix(t *testing.T) string {
	t.Helper()
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	prefix := "jarvis:test:rt:" + hex.EncodeToString(rb[:]) + ":"
	opts, err := redis.ParseURL(testRedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return prefix
}

type wsMessage struct {
	Type      string    `json:"type"`
	RunID     uuid.UUID `json:"run_id"`
	Epoch     string    `json:"epoch"`
	Seq       uint64    `json:"seq"`
	Recovered *bool     `json:"recovered"`
}

func dialWS(t *testing.T, s *apptest.Server, access string) (*websocket.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/v1/ws",
		&websocket.DialOptions{Subprotocols: []string{realtime.Subprotocol, realtime.BearerPrefix + access}})
	if err == nil {
		t.Cleanup(func() { _ = ws.CloseNow() })
	}
	return ws, err
}

func readWS(t *testing.T, ws *websocket.Conn) wsMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m wsMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeWS(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// subscribedSocket opens a socket on s, subscribes it to run and resumes
// from where it connected (releasing what it holds), and returns it.
func subscribedSocket(t *testing.T, s *apptest.Server, access string, run uuid.UUID) *websocket.Conn {
	t.Helper()
	ws, err := dialWS(t, s, access)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	connected := readWS(t, ws)
	if connected.Type != "connected" {
		t.Fatalf("first message %+v", connected)
	}
	writeWS(t, ws, map[string]any{"type": "subscribe", "run_id": run})
	if m := readWS(t, ws); m.Type != "subscribed" {
		t.Fatalf("subscribe: %+v", m)
	}
	writeWS(t, ws, map[string]any{"type": "resume", "epoch": connected.Epoch, "seq": connected.Seq})
	if m := readWS(t, ws); m.Type != "resumed" || m.Recovered == nil || !*m.Recovered {
		t.Fatalf("resume: %+v", m)
	}
	return ws
}

func createRun(t *testing.T, s *apptest.Server, access string) uuid.UUID {
	t.Helper()
	resp := s.Do(t, http.MethodPost, "/v1/runs", access, "")
	defer resp.Body.Close()
	var r struct {
		ID uuid.UUID `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&r) != nil {
		t.Fatalf("create run: %d", resp.StatusCode)
	}
	return r.ID
}

// TestRealtimeDeliveryContinuesThePublishersTrace: an event emitted through
// one instance's API and delivered to a socket on another is one trace: the
// emitting request's server span over a producer span "realtime publish" on
// the first instance, and under that a consumer span "realtime deliver" on
// the second, which learned the context from the event's envelope (through
// Redis). Each instance exports to its own in-memory exporter, as two
// processes would.
func TestRealtimeDeliveryContinuesThePublishersTrace(t *testing.T) {
	d := dbtest.New(t)
	env := apptest.Env(map[string]string{"REDIS_URL": testRedisURL, "REALTIME_REDIS_PREFIX": redisPrefix(t)})
	traced := func() (*apptest.Server, *tracetest.InMemoryExporter) {
		exp := tracetest.NewInMemoryExporter()
		s := apptest.New(t, apptest.Database(d), env, apptest.Fx(fx.Supply(telemetry.Options{
			SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(exp)},
		})))
		return s, exp
	}
	a, expA := traced()
	b, expB := traced()
	_, tok := a.SignUp(t, "rt-trace@example.com")
	run := createRun(t, a, tok.AccessToken)
	ws := subscribedSocket(t, b, tok.AccessToken, run)

	expA.Reset()
	expB.Reset()
	resp := a.Do(t, http.MethodPost, "/v1/runs/"+run.String()+"/events", tok.AccessToken, `{"type":"agent.token","data":{"text":"hi"}}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("emit: %d", resp.StatusCode)
	}
	if m := readWS(t, ws); m.Type != "agent.token" || m.RunID != run {
		t.Fatalf("socket got %+v", m)
	}

	var publish *tracetest.SpanStub
	var server trace.SpanContext
	for _, sp := range expA.GetSpans() {
		switch {
		case sp.Name == "realtime publish":
			publish = &sp
		case sp.SpanKind == trace.SpanKindServer:
			server = sp.SpanContext
		}
	}
	if publish == nil {
		t.Fatal("no realtime publish span on the emitting instance")
	}
	if publish.SpanKind != trace.SpanKindProducer || publish.Parent.SpanID() != server.SpanID() {
		t.Fatalf("publish span kind %v under %s, want a producer under the request's span %s", publish.SpanKind, publish.Parent.SpanID(), server.SpanID())
	}
	wantAttr(t, publish, "jarvis.event.type", "agent.token")

	// The delivery span ends once the hub has queued the message, which
	// can be just after the client read it: wait for it (bounded).
	var deliver *tracetest.SpanStub
	for deadline := time.Now().Add(5 * time.Second); deliver == nil && time.Now().Before(deadline); {
		for _, sp := range expB.GetSpans() {
			if sp.Name == "realtime deliver" {
				deliver = &sp
			}
		}
		if deliver == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if deliver == nil {
		t.Fatal("no realtime deliver span on the delivering instance")
	}
	if deliver.SpanKind != trace.SpanKindConsumer ||
		deliver.SpanContext.TraceID() != publish.SpanContext.TraceID() ||
		deliver.Parent.SpanID() != publish.SpanContext.SpanID() || !deliver.Parent.IsRemote() {
		t.Fatalf("deliver span %v in trace %s under %s (remote %v); want a consumer in trace %s under the publish span %s",
			deliver.SpanKind, deliver.SpanContext.TraceID(), deliver.Parent.SpanID(), deliver.Parent.IsRemote(),
			publish.SpanContext.TraceID(), publish.SpanContext.SpanID())
	}
	wantAttr(t, deliver, "jarvis.event.type", "agent.token")
	for _, sp := range expB.GetSpans() {
		if sp.Name == "realtime publish" {
			t.Error("the delivering instance published nothing, yet has a publish span")
		}
	}
	for _, sp := range append(expA.GetSpans(), expB.GetSpans()...) {
		for _, kv := range sp.Attributes {
			if strings.Contains(kv.Value.Emit(), `"hi"`) || strings.Contains(kv.Value.Emit(), tok.AccessToken) {
				t.Errorf("span %s attribute %s carries the event's data or the token", sp.Name, kv.Key)
			}
		}
	}
}
