package realtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-faster/jx"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/openapi"
)

func testRedisURL() string {
	if u := os.Getenv("JARVIS_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// twoServers runs two instances of the whole service on one database and
// one Redis (a key prefix of their own, deleted at the end), and returns
// them with the events.Publisher of the first.
func twoServers(t *testing.T) (a, b *apptest.Server, pub events.Publisher) {
	t.Helper()
	a, b, pub, _, _ = twoServersOnRedis(t)
	return a, b, pub
}

// twoServersOnRedis is twoServers that also hands over the Redis client and
// the instances' key prefix.
func twoServersOnRedis(t *testing.T) (a, b *apptest.Server, pub events.Publisher, rdb *redis.Client, prefix string) {
	t.Helper()
	rdb, prefix = redisPrefix(t)
	d := dbtest.New(t)
	env := apptest.Env(map[string]string{"REDIS_URL": testRedisURL(), "REALTIME_REDIS_PREFIX": prefix,
		"RATELIMIT_IP_PER_MINUTE": "0", "RATELIMIT_USER_PER_MINUTE": "0"}) // workers stream fast
	a = apptest.New(t, apptest.Database(d), env, apptest.Fx(fx.Populate(&pub)))
	b = apptest.New(t, apptest.Database(d), env)
	return a, b, pub, rdb, prefix
}

// redisPrefix is a Redis client and a key prefix of the test's own, whose
// keys are deleted when the test ends.
func redisPrefix(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	prefix := "jarvis:test:rt:" + hex.EncodeToString(rb[:]) + ":"
	opts, err := redis.ParseURL(testRedisURL())
	if err != nil {
		tb.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	tb.Cleanup(func() {
		ctx := context.Background()
		for iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator(); iter.Next(ctx); {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

func createRun(t *testing.T, c *openapi.Client) uuid.UUID {
	t.Helper()
	r, err := c.CreateRun(context.Background(), openapi.OptRunCreate{})
	if err != nil {
		t.Fatalf("create run: %v", err)
	}
	return r.ID
}

type wsMessage struct {
	Type  string          `json:"type"`
	RunID uuid.UUID       `json:"run_id"`
	Seq   int64           `json:"seq"`
	Epoch string          `json:"epoch"`
	Data  json.RawMessage `json:"data"`
}

func dialWS(t *testing.T, s *apptest.Server, access string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/v1/ws",
		&websocket.DialOptions{Subprotocols: []string{realtime.Subprotocol, realtime.BearerPrefix + access}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

func readWS(t *testing.T, ws *websocket.Conn) wsMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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

// An agent worker streams into a run through the API of one instance; the
// owner's socket on the other instance gets each event, numbered, and so
// do run status changes any module emits through events.Publisher.
func TestRunEventsThroughTheAPIReachSocketsOnAnotherInstance(t *testing.T) {
	t.Parallel()
	a, b, pub := twoServers(t)
	worker, tok := a.SignUp(t, "ada@example.com")
	run := createRun(t, worker)
	ws := dialWS(t, b, tok.AccessToken)
	connected := readWS(t, ws)
	if connected.Type != "connected" || connected.Seq < 1 { // creating the run was announced
		t.Fatalf("first message %+v", connected)
	}
	writeWS(t, ws, map[string]any{"type": "subscribe", "run_id": run})
	if m := readWS(t, ws); m.Type != "subscribed" {
		t.Fatalf("subscribe: %+v", m)
	}
	ctx := context.Background()
	emit := func(typ openapi.RunEventType, data string) (*openapi.RealtimeEvent, error) {
		var d openapi.RunEventCreateData
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatal(err)
		}
		return worker.EmitRunEvent(ctx, &openapi.RunEventCreate{Type: typ, Data: d}, openapi.EmitRunEventParams{ID: run})
	}
	sent, err := emit(openapi.RunEventTypeAgentToken, `{"text":"Hel"}`)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Type != openapi.RealtimeEventTypeAgentToken || sent.RunID.Value != run || sent.Seq != connected.Seq+1 || string(sent.Data["text"]) != `"Hel"` {
		t.Fatalf("emit answered %+v", sent)
	}
	if m := readWS(t, ws); m.Type != "agent.token" || m.RunID != run || m.Seq != sent.Seq || string(m.Data) != `{"text":"Hel"}` {
		t.Fatalf("socket got %+v", m)
	}
	if _, err := emit(openapi.RunEventTypeAgentToolCall, `{"tool_call_id":"c1","name":"search","input":{"q":"go"}}`); err != nil {
		t.Fatal(err)
	}
	if m := readWS(t, ws); m.Type != "agent.tool_call" || m.Seq != connected.Seq+2 {
		t.Fatalf("socket got %+v", m)
	}
	// The runs module's status changes come through the same Publisher.
	if err := pub.EmitToRun(ctx, tok.UserID, run, events.Event{Type: events.RunStatus, Data: json.RawMessage(`{"status":"completed"}`)}); err != nil {
		t.Fatal(err)
	}
	if m := readWS(t, ws); m.Type != "run.status" || m.Seq != connected.Seq+3 || string(m.Data) != `{"status":"completed"}` {
		t.Fatalf("socket got %+v", m)
	}
}

func TestEmitRunEventRefusesBadEventsAndOtherUsersRuns(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	alice, aliceTok := s.SignUp(t, "alice@example.com")
	bob, _ := s.SignUp(t, "bob@example.com")
	run := createRun(t, alice)
	watch := dialWS(t, s, aliceTok.AccessToken)
	before := readWS(t, watch) // "connected": the stream's position now
	ctx := context.Background()
	emit := func(c *openapi.Client, typ openapi.RunEventType, data string, id uuid.UUID) error {
		d := openapi.RunEventCreateData{}
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatal(err)
		}
		_, err := c.EmitRunEvent(ctx, &openapi.RunEventCreate{Type: typ, Data: d}, openapi.EmitRunEventParams{ID: id})
		return err
	}
	for _, c := range []struct {
		name  string
		typ   openapi.RunEventType
		data  string
		field string
	}{
		{"missing text", openapi.RunEventTypeAgentToken, `{}`, "data.text"},
		{"unknown field", openapi.RunEventTypeAgentToken, `{"text":"a","txt":"b"}`, "data"},
		{"empty text", openapi.RunEventTypeAgentToken, `{"text":""}`, "data.text"},
		{"tool call without name", openapi.RunEventTypeAgentToolCall, `{"tool_call_id":"c1"}`, "data.name"},
		{"tool call input not an object", openapi.RunEventTypeAgentToolCall, `{"tool_call_id":"c1","name":"n","input":[1]}`, "data.input"},
		{"tool result without output", openapi.RunEventTypeAgentToolResult, `{"tool_call_id":"c1"}`, "data.output"},
		{"error without message", openapi.RunEventTypeAgentError, `{"code":"x"}`, "data.message"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := apptest.APIError(t, emit(alice, c.typ, c.data, run), http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
			if len(e.Details) == 0 || e.Details[0].Field.Value != c.field {
				t.Fatalf("details %+v, want field %s", e.Details, c.field)
			}
		})
	}
	big := `{"content":"` + strings.Repeat("x", 65536) + `"}`
	apptest.APIError(t, emit(alice, openapi.RunEventTypeAgentFinal, big, run), http.StatusRequestEntityTooLarge, openapi.ErrorResponseErrorCodePAYLOADTOOLARGE)
	apptest.APIError(t, emit(bob, openapi.RunEventTypeAgentToken, `{"text":"x"}`, run), http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
	apptest.APIError(t, emit(alice, openapi.RunEventTypeAgentToken, `{"text":"x"}`, uuid.Must(uuid.NewV7())), http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
	// A type the API does not take for workers (run.status) is refused by the contract.
	resp := s.Do(t, http.MethodPost, "/v1/runs/"+run.String()+"/events", aliceTok.AccessToken, `{"type":"run.status","data":{}}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("run.status from a worker: %d", resp.StatusCode)
	}
	// Nothing refused was published: the next good event follows at once.
	ok, err := alice.EmitRunEvent(ctx, &openapi.RunEventCreate{Type: openapi.RunEventTypeAgentFinal, Data: openapi.RunEventCreateData{"content": jx.Raw(`"done"`)}}, openapi.EmitRunEventParams{ID: run})
	if err != nil || ok.Seq != before.Seq+1 {
		t.Fatalf("first accepted event: %+v, %v", ok, err)
	}
	// A finished run takes no more events.
	if _, err := alice.CancelRun(ctx, openapi.CancelRunParams{ID: run}); err != nil {
		t.Fatal(err)
	}
	apptest.APIError(t, emit(alice, openapi.RunEventTypeAgentToken, `{"text":"late"}`, run), http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT)
}
