package realtime

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/auth"
)

// expiredToken is a correctly signed access token of user's session that
// expired two minutes ago (past the verifier's leeway).
func expiredToken(t *testing.T, user, session uuid.UUID) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": user.String(), "sid": session.String(), "typ": "access", "jti": uuid.NewString(),
		"iss": testIssuer, "aud": []string{testAudience},
		"iat": now.Add(-20 * time.Minute).Unix(), "nbf": now.Add(-20 * time.Minute).Unix(),
		"exp": now.Add(-2 * time.Minute).Unix(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The handshake authenticates like every request; refusals upgrade and
// close at once with a code a browser can see.
func TestHandshakeRefusesMissingBadExpiredAndRevokedTokens(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, memoryEngine(t, Retention{Size: 10, TTL: time.Hour}), testConfig())
	a := cl.start()
	user, _, toks := cl.user("ada")
	_, _, revoked := cl.user("bob")
	cl.logout(revoked)
	forged := toks.AccessToken[:len(toks.AccessToken)-4] + "AAAA"
	for _, c := range []struct {
		name      string
		header    http.Header
		protocols []string
		want      websocket.StatusCode
	}{
		{"none", nil, nil, CloseUnauthorized},
		{"not bearer", http.Header{"Authorization": {"Basic " + toks.AccessToken}}, nil, CloseUnauthorized},
		{"garbage", http.Header{"Authorization": {"Bearer not-a-jwt"}}, nil, CloseUnauthorized},
		{"bad signature", http.Header{"Authorization": {"Bearer " + forged}}, nil, CloseUnauthorized},
		{"bad signature as subprotocol", nil, []string{Subprotocol, BearerPrefix + forged}, CloseUnauthorized},
		{"expired", http.Header{"Authorization": {"Bearer " + expiredToken(t, user, toks.SessionID)}}, nil, CloseTokenExpired},
		{"revoked session", http.Header{"Authorization": {"Bearer " + revoked.AccessToken}}, nil, CloseUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws, _, err := dialRaw(t, a.url, c.header, c.protocols...)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer ws.CloseNow()
			cli := &client{t: t, ws: ws}
			if code := cli.closedWith(5 * time.Second); code != c.want {
				t.Fatalf("close code %d, want %d", code, c.want)
			}
		})
	}
	if a.hub.Connected() != 0 {
		t.Fatalf("%d sockets registered after refusals", a.hub.Connected())
	}
	// The token never reaches the logs.
	if strings.Contains(cl.logs.String(), toks.AccessToken[20:60]) || strings.Contains(cl.logs.String(), forged[20:60]) {
		t.Fatal("a token was logged")
	}
}

// Browsers pass the token as a subprotocol next to jarvis.v1; the server
// negotiates jarvis.v1 and never echoes the token.
func TestBrowserAuthenticatesWithSubprotocol(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, memoryEngine(t, Retention{Size: 10, TTL: time.Hour}), testConfig())
	a := cl.start()
	_, tok, _ := cl.user("ada")
	ws, resp, err := dialRaw(t, a.url, nil, Subprotocol, BearerPrefix+tok)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != Subprotocol || resp.Header.Get("Sec-WebSocket-Protocol") != Subprotocol {
		t.Fatalf("negotiated %q (header %q), want %q", ws.Subprotocol(), resp.Header.Get("Sec-WebSocket-Protocol"), Subprotocol)
	}
	c := &client{t: t, ws: ws}
	c.expect(typeConnected)
	c.send(map[string]any{"type": "ping", "id": 1})
	c.expect(typePong)
}

// An open socket closes with 4002 when its token expires, unless the client
// sent a fresh token ("auth") before.
func TestOpenSocketClosesAtTokenExpiryUnlessRenewed(t *testing.T) {
	t.Parallel()
	cl := newClusterTTL(t, memoryEngine(t, Retention{Size: 10, TTL: time.Hour}), testConfig(), 4*time.Second)
	a := cl.start()
	_, tok, toks := cl.user("ada")
	plain := dial(t, a, tok)
	renewed := dial(t, a, tok)
	if !renewed.connected.ExpiresAt.Equal(toks.AccessExpiresAt) {
		t.Fatalf("connected says expires_at %v, token %v", renewed.connected.ExpiresAt, toks.AccessExpiresAt)
	}
	time.Sleep(1100 * time.Millisecond) // the next token expires at least a second later
	fresh, err := cl.auth.Refresh(context.Background(), toks.RefreshToken, authMeta())
	if err != nil {
		t.Fatal(err)
	}
	renewed.send(map[string]any{"type": "auth", "token": fresh.AccessToken, "id": 2})
	if m := renewed.expect(typeAuthed); !m.ExpiresAt.Equal(fresh.AccessExpiresAt) || !m.ExpiresAt.After(toks.AccessExpiresAt) {
		t.Fatalf("authed %+v, want expiry %v", m, fresh.AccessExpiresAt)
	}
	if code := plain.closedWith(5 * time.Second); code != CloseTokenExpired {
		t.Fatalf("close code %d, want %d", code, CloseTokenExpired)
	}
	// Past the first token's expiry, the renewed socket still answers.
	renewed.send(map[string]any{"type": "ping"})
	renewed.expect(typePong)
	if code := renewed.closedWith(6 * time.Second); code != CloseTokenExpired {
		t.Fatalf("renewed socket: close code %d, want %d at the new expiry", code, CloseTokenExpired)
	}
}

// A token of another user cannot take over a socket.
func TestAuthMessageWithAnotherUsersTokenCloses(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, memoryEngine(t, Retention{Size: 10, TTL: time.Hour}), testConfig())
	a := cl.start()
	_, tok, _ := cl.user("ada")
	_, other, _ := cl.user("eve")
	c := dial(t, a, tok)
	c.send(map[string]any{"type": "auth", "token": other})
	if code := c.closedWith(3 * time.Second); code != CloseUnauthorized {
		t.Fatalf("close code %d, want %d", code, CloseUnauthorized)
	}
}

// A session revoked while its socket is open closes the socket at the next
// session check.
func TestRevokedSessionClosesOpenSocket(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PingInterval, cfg.SessionRecheck = 100*time.Millisecond, 200*time.Millisecond
	cl := newCluster(t, memoryEngine(t, Retention{Size: 10, TTL: time.Hour}), cfg)
	a := cl.start()
	_, tok, toks := cl.user("ada")
	c := dial(t, a, tok)
	time.Sleep(400 * time.Millisecond) // pings and checks pass while the session is live
	c.send(map[string]any{"type": "ping"})
	c.expect(typePong)
	cl.logout(toks)
	if code := c.closedWith(3 * time.Second); code != CloseUnauthorized {
		t.Fatalf("close code %d, want %d", code, CloseUnauthorized)
	}
}

func authMeta() auth.Meta { return auth.Meta{UserAgent: "realtime test"} }
