package connections_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/connections"
	"github.com/jarvis-core/jarvis/internal/connections/oauthtest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

func testBox(t *testing.T) *secrets.Box {
	t.Helper()
	b, err := secrets.NewBox(1, []byte(strings.Repeat("k", 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func acmeConfig(p *oauthtest.Server) connections.Config {
	cfg := connections.DefaultConfig()
	cfg.Providers = connections.Providers{List: []connections.ProviderConfig{{Name: "acme", ClientID: oauthtest.ClientID, ClientSecret: oauthtest.ClientSecret,
		AuthURL: p.URL + "/authorize", TokenURL: p.URL + "/token", RevokeURL: p.URL + "/revoke"}}}
	cfg.RefreshAttempts = 1
	return cfg
}

// A dead grant is reported to the user's sockets once, with what the app
// needs to ask for a new connection, and no token.
func TestNeedsReauthEmitsOneEvent(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	p := oauthtest.New()
	t.Cleanup(p.Close)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	rec := &events.Recorder{}
	svc := connections.NewService(d.App(t), testBox(t), acmeConfig(p), rec, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := viewer.NewContext(context.Background(), viewer.User(alice.User.ID))
	access, refresh := p.Grant("alice")
	p.Revoke(refresh) // the user removed the app at the provider
	c, err := svc.Import(ctx, "acme", "alice", connections.Tokens{Access: access, Refresh: refresh, Expiry: time.Now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Token(ctx, c.ID); !fault.Is(err, fault.Conflict) {
		t.Fatalf("token of a dead grant: %v, want NEEDS_REAUTH", err)
	}
	evs := rec.Events()
	if len(evs) != 1 || evs[0].Event.Type != "connection.needs_reauth" || evs[0].UserID != alice.User.ID {
		t.Fatalf("events: %+v", evs)
	}
	var data map[string]string
	if err := json.Unmarshal(evs[0].Event.Data, &data); err != nil || data["connection_id"] != c.ID.String() || data["provider"] != "acme" {
		t.Fatalf("event data: %s", evs[0].Event.Data)
	}
	if strings.Contains(string(evs[0].Event.Data), "test_") {
		t.Fatal("the event carries a token")
	}
	if _, err := svc.Token(ctx, c.ID); !fault.Is(err, fault.Conflict) || len(rec.Events()) != 1 {
		t.Fatalf("second call: %v, %d events", err, len(rec.Events()))
	}
}

// A token copied into another row, or into the other column, does not open:
// the seal binds user, connection and which token.
func TestSealedTokensAreBoundToTheirRow(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	svc := connections.NewService(d.App(t), testBox(t), connections.DefaultConfig(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := viewer.NewContext(context.Background(), viewer.User(alice.User.ID))
	a, err := svc.Import(ctx, "github", "one", connections.Tokens{Access: "gho_one_0123456789", Refresh: "ghr_one_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Import(ctx, "github", "two", connections.Tokens{Access: "gho_two_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	rows, err := owner.QueryContext(context.Background(), "SELECT access_token FROM oauth_connections WHERE id = $1", a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	if strings.Contains(string(raw), "gho_one") {
		t.Fatal("stored in the clear")
	}
	if _, err := owner.ExecContext(context.Background(), "UPDATE oauth_connections SET access_token = $1 WHERE id = $2", raw, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Token(ctx, b.ID); err == nil {
		t.Fatal("a token moved to another connection opened")
	}
	if _, err := owner.ExecContext(context.Background(), "UPDATE oauth_connections SET access_token = refresh_token WHERE id = $1", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Token(ctx, a.ID); err == nil {
		t.Fatal("the refresh token opened as the access token")
	}
}

// An imported token without a refresh token is handed out while it lasts,
// even inside the refresh skew, and then the connection needs re-authorization.
func TestTokenWithoutRefreshTokenLastsUntilItExpires(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	p := oauthtest.New()
	t.Cleanup(p.Close)
	alice := dbtest.Seed(t, d.OwnerClient(t), "alice@example.com")
	svc := connections.NewService(d.App(t), testBox(t), acmeConfig(p), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := viewer.NewContext(context.Background(), viewer.User(alice.User.ID))
	soon, err := svc.Import(ctx, "acme", "soon", connections.Tokens{Access: "soon_0123456789", Expiry: time.Now().Add(20 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := svc.Token(ctx, soon.ID); err != nil || tok.Value != "soon_0123456789" {
		t.Fatalf("token inside the skew: %v %v", tok, err)
	}
	gone, err := svc.Import(ctx, "acme", "gone", connections.Tokens{Access: "gone_0123456789", Expiry: time.Now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Token(ctx, gone.ID); !fault.Is(err, fault.Conflict) {
		t.Fatalf("expired token without refresh: %v, want NEEDS_REAUTH", err)
	}
	if p.TokenCalls() != 0 {
		t.Fatal("asked the provider without a refresh token")
	}
}
