package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/auth"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/logging/logtest"
)

// Test accounts' JWT settings (the real auth.Service checks every token).
var (
	testSecret   = []byte(strings.Repeat("k", 32))
	testIssuer   = "jarvis-core"
	testAudience = "jarvis-api"
)

// cluster is several service instances (a Hub, its Publisher and an HTTP
// server each) on one engine, authenticating against one database.
type cluster struct {
	t      *testing.T
	engine engine
	cfg    Config
	auth   *auth.Service
	authn  Authenticator
	ttl    time.Duration
	logs   *logtest.Buffer
}

type instance struct {
	hub *Hub
	pub *Publisher
	srv *httptest.Server
	url string
}

func newCluster(t *testing.T, e engine, cfg Config) *cluster {
	t.Helper()
	return newClusterTTL(t, e, cfg, 15*time.Minute)
}

// newClusterTTL issues access tokens living ttl.
func newClusterTTL(t *testing.T, e engine, cfg Config, ttl time.Duration) *cluster {
	t.Helper()
	d := dbtest.New(t)
	h, err := password.New(password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := token.NewIssuer(testSecret, testIssuer, testAudience, ttl)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	svc := auth.NewService(d.App(t), h, iss, testSecret, time.Hour, logging.New(logs, slog.LevelDebug))
	return &cluster{t: t, engine: e, cfg: cfg, auth: svc, authn: NewAuthenticator(svc, iss), ttl: ttl, logs: logs}
}

// start runs one more instance; it stops when the test ends (or earlier).
func (c *cluster) start(opts ...func(*httptest.Server)) *instance {
	c.t.Helper()
	return c.startOn(c.engine.node(c.t), opts...)
}

// startOn runs one more instance on broker b.
func (c *cluster) startOn(b Broker, opts ...func(*httptest.Server)) *instance {
	c.t.Helper()
	hub := NewHub(c.cfg, b, c.authn, logging.New(c.logs, slog.LevelDebug))
	if err := hub.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(hub.ServeHTTP))
	for _, o := range opts {
		o(srv)
	}
	srv.Start()
	in := &instance{hub: hub, pub: NewPublisher(c.cfg, b), srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
	c.t.Cleanup(func() { in.stop(c.t) })
	return in
}

func (in *instance) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.hub.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	in.srv.Close()
}

// logout revokes the session of toks.
func (c *cluster) logout(toks auth.Tokens) {
	c.t.Helper()
	ctx := viewer.NewContext(context.Background(), viewer.Session(toks.UserID, toks.SessionID))
	if err := c.auth.Logout(ctx, false); err != nil {
		c.t.Fatal(err)
	}
}

// user registers an account and returns its id and an access token.
func (c *cluster) user(name string) (uuid.UUID, string, auth.Tokens) {
	c.t.Helper()
	tok, err := c.auth.Register(context.Background(), name+"-"+uuid.NewString()[:8]+"@example.com", "correct horse battery staple", "", auth.Meta{})
	if err != nil {
		c.t.Fatal(err)
	}
	return tok.UserID, tok.AccessToken, tok
}

// msg is any server → client message.
type msg struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id"`
	RunID     uuid.UUID       `json:"run_id"`
	Seq       uint64          `json:"seq"`
	TS        time.Time       `json:"ts"`
	Data      json.RawMessage `json:"data"`
	Epoch     string          `json:"epoch"`
	Recovered *bool           `json:"recovered"`
	Missed    int             `json:"missed"`
	ExpiresAt time.Time       `json:"expires_at"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
	// connected is the first message of the socket.
	connected msg
}

func dialRaw(t *testing.T, url string, header http.Header, protocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header, Subprotocols: protocols})
}

// dial opens an authenticated socket (Authorization header) and reads its
// "connected" message.
func dial(t *testing.T, in *instance, tok string) *client {
	t.Helper()
	ws, _, err := dialRaw(t, in.url, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.CloseNow() })
	c.connected = c.next()
	if c.connected.Type != typeConnected || c.connected.Epoch == "" {
		t.Fatalf("first message %+v, want connected with an epoch", c.connected)
	}
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads one message (failing after 5 s).
func (c *client) next() msg {
	c.t.Helper()
	m, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *client) read(timeout time.Duration) (msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return msg{}, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("server sent %q: %v", b, err)
	}
	return m, nil
}

// expect reads one message of type typ.
func (c *client) expect(typ string) msg {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("got %+v, want a %s message", m, typ)
	}
	return m
}

func (c *client) subscribe(run uuid.UUID) {
	c.t.Helper()
	c.send(map[string]any{"type": "subscribe", "run_id": run})
	if m := c.expect(typeSubscribed); m.RunID != run {
		c.t.Fatalf("subscribed to %s, want %s", m.RunID, run)
	}
}

// closedWith reads until the socket closes and returns the close code.
func (c *client) closedWith(timeout time.Duration) websocket.StatusCode {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, err := c.read(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return websocket.CloseStatus(err)
		}
	}
	c.t.Fatalf("socket still open after %s", timeout)
	return 0
}

func tokenEvent(i int) events.Event {
	return events.Event{Type: events.AgentToken, Data: json.RawMessage(`{"text":"t` + strconv.Itoa(i) + `"}`)}
}
