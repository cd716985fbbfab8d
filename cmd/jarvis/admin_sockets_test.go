package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/connections/oauthtest"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/openapi"
)

// The operator's commands as typed, against two service instances on Redis:
// `users revoke-sessions`, `users disable` and `users erase` each close the
// user's socket on the other instance at once, with the command's reason,
// while another user's socket there keeps receiving; a socket opened after
// a close is not closed by it again; the erasure also revokes the user's
// OAuth grant at the provider and deletes the user's keys in Redis.
func TestAdminCommandsCloseSocketsAndRevokeGrants(t *testing.T) {
	provider := oauthtest.New()
	t.Cleanup(provider.Close)
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	prefix := "jarvis:test:admin-sockets:" + hex.EncodeToString(rb[:]) + ":"
	redisURL := os.Getenv("JARVIS_TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	keys := func(pattern string) []string {
		ks, err := rdb.Keys(context.Background(), pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	t.Cleanup(func() {
		if ks := keys(prefix + "*"); len(ks) > 0 {
			rdb.Del(context.Background(), ks...)
		}
		_ = rdb.Close()
	})
	providers, _ := json.Marshal([]map[string]any{{
		"name": "acme", "client_id": oauthtest.ClientID, "client_secret": oauthtest.ClientSecret,
		"auth_url": provider.URL + "/authorize", "token_url": provider.URL + "/token", "revoke_url": provider.URL + "/revoke",
		"auth_style": "header", "scopes": []string{"read"},
	}})
	service := map[string]string{
		"REDIS_URL": redisURL, "REALTIME_REDIS_PREFIX": prefix,
		"CONNECTIONS_PROVIDERS": string(providers), "CONNECTIONS_REDIRECT_URLS": "https://app.example/cb",
		"CONNECTIONS_PROVIDER_TIMEOUT": "2s", "SECRETS_MASTER_KEY": strings.Repeat("07", 32),
	}
	var pub events.Publisher
	a := apptest.New(t, apptest.Env(service), apptest.Fx(fx.Populate(&pub)))
	b := apptest.New(t, apptest.Env(service), apptest.Database(a.DB))
	// The command runs with the service's environment, as the owner role.
	for k, v := range service {
		t.Setenv(k, v)
	}
	t.Setenv("DATABASE_URL", a.DB.AppURL)
	t.Setenv("MIGRATE_DATABASE_URL", a.DB.OwnerURL)
	t.Setenv("JWT_SECRET", strings.Repeat("s", 32))
	ctx := context.Background()

	c, alice := a.SignUp(t, "alice@example.com")
	_, bob := a.SignUp(t, "bob@example.com")
	access, refresh := provider.Grant("alice-at-acme")
	if _, err := c.ImportConnection(ctx, &openapi.ConnectionImport{Provider: "acme", Account: "alice-at-acme",
		AccessToken: access, RefreshToken: openapi.NewOptString(refresh)}); err != nil {
		t.Fatal(err)
	}
	bobWS := dialWS(t, b.URL, bob.AccessToken)
	login := func() string {
		t.Helper()
		lc, _ := a.Client(t)
		tok, err := lc.Login(ctx, &openapi.LoginRequest{Email: "alice@example.com", Password: apptest.Password})
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	// receives proves a socket is open and delivering: an event emitted on
	// instance a arrives on it (on instance b).
	receives := func(ws *websocket.Conn, user uuid.UUID, what string) {
		t.Helper()
		if err := pub.EmitToUser(ctx, user, events.Event{Type: events.BudgetWarning, Data: json.RawMessage(`{"n":"` + what + `"}`)}); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		for {
			_, msg, err := ws.Read(rctx)
			if err != nil {
				t.Fatalf("%s: the socket ended: %v", what, err)
			}
			if strings.Contains(string(msg), what) {
				return
			}
		}
	}
	admin := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		args = append([]string{"admin", "users"}, append(args, "--operator", "carol", "--reason", "ticket 42")...)
		if err := run(ctx, args, &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}

	steps := []struct {
		args   []string
		reason string
		after  func()
	}{
		{[]string{"revoke-sessions", "alice@example.com"}, realtime.ReasonRevoked, nil},
		{[]string{"disable", "alice@example.com"}, realtime.ReasonDisabled, func() { admin("enable", "alice@example.com") }},
		{[]string{"erase", "alice@example.com"}, realtime.ReasonErased, nil},
	}
	token := alice.AccessToken
	for i, s := range steps {
		ws := dialWS(t, b.URL, token)
		receives(ws, alice.UserID, "before-"+s.args[0])
		out := admin(s.args...)
		if s.args[0] != "erase" && !strings.Contains(out, "open sockets closed on every instance") {
			t.Fatalf("%s output: %s", s.args[0], out)
		}
		expectClosed(t, ws, s.reason)
		receives(bobWS, bob.UserID, "bob-after-"+s.args[0])
		if s.after != nil {
			s.after()
		}
		if i < len(steps)-1 {
			token = login()
		}
	}
	if ks := keys(prefix + "*" + alice.UserID.String() + "*"); len(ks) != 0 {
		t.Fatalf("alice's keys survive in Redis: %v", ks)
	}
	if len(keys(prefix+"*"+bob.UserID.String()+"*")) == 0 {
		t.Fatal("bob's stream was deleted too")
	}
	if n := provider.Revocations(); n != 2 {
		t.Fatalf("%d revocations at the provider, want 2 (refresh and access token)", n)
	}
}

func dialWS(t *testing.T, base, token string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/ws",
		&websocket.DialOptions{Subprotocols: []string{realtime.Subprotocol, realtime.BearerPrefix + token}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	if _, _, err := ws.Read(ctx); err != nil { // "connected"
		t.Fatal(err)
	}
	return ws
}

// expectClosed reads until the socket is closed, which must be at once and
// with 4001 and reason.
func expectClosed(t *testing.T, ws *websocket.Conn, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != realtime.CloseUnauthorized || ce.Reason != reason {
			t.Fatalf("socket ended with %v, want close %d %q", err, realtime.CloseUnauthorized, reason)
		}
		return
	}
}
