package userdata_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/connections/oauthtest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/userdata"
	"github.com/jarvis-core/jarvis/openapi"
)

var sys = viewer.NewContext(context.Background(), viewer.Admin())

func countAll(t *testing.T, conn *sql.DB, uid uuid.UUID) map[string]int {
	t.Helper()
	out := map[string]int{}
	for table, col := range ent.OwnedTables {
		var n int
		if err := conn.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q WHERE %q = $1`, table, col), uid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func ownerSQL(t *testing.T, d *dbtest.Database) *sql.DB {
	t.Helper()
	conn, err := sql.Open("pgx", d.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type line struct {
	Type       string          `json:"type"`
	Table      string          `json:"table"`
	Data       json.RawMessage `json:"data"`
	Format     string          `json:"format"`
	Version    int             `json:"version"`
	UserID     uuid.UUID       `json:"user_id"`
	Embeddings bool            `json:"embeddings"`
	Tables     []string        `json:"tables"`
	Counts     map[string]int  `json:"counts"`
}

func export(t *testing.T, s *apptest.Server, token, query string) (*http.Response, []line) {
	t.Helper()
	resp := s.Do(t, http.MethodGet, "/v1/me/export"+query, token, "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var out []line
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d is not JSON: %v: %.200s", len(out)+1, err, sc.Text())
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// The export holds every row of the user in every owned table, no other
// user's, no credential, embeddings only when asked; it is audited.
func TestExportHoldsEverythingOfTheUserAndNoSecret(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	owner := s.DB.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	conn := ownerSQL(t, s.DB)
	tok, _, err := s.Issuer.Issue(alice.User.ID, alice.Session.ID)
	if err != nil {
		t.Fatal(err)
	}

	if resp, _ := export(t, s, "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("export without a token: %d", resp.StatusCode)
	}
	resp, lines := export(t, s, tok, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != userdata.MediaType {
		t.Fatalf("export: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), s.Logs.String())
	}
	// Counted after the export: it audits itself before its snapshot.
	want := countAll(t, conn, alice.User.ID)
	if len(lines) < 3 || lines[0].Type != "header" || lines[len(lines)-1].Type != "end" {
		t.Fatalf("no header or end line in %d lines", len(lines))
	}
	h := lines[0]
	if h.Format != userdata.Format || h.Version != 1 || h.UserID != alice.User.ID || h.Embeddings || h.Tables[0] != "users" {
		t.Fatalf("header = %+v", h)
	}
	got := map[string]int{}
	ids := map[string]bool{}
	for _, l := range lines[1 : len(lines)-1] {
		if l.Type != "row" {
			t.Fatalf("line of type %q between header and end", l.Type)
		}
		got[l.Table]++
		var row map[string]any
		if err := json.Unmarshal(l.Data, &row); err != nil {
			t.Fatal(err)
		}
		ids[fmt.Sprint(row["id"])] = true
		owner := row["user_id"]
		if l.Table == "users" {
			owner = row["id"]
		}
		if owner != alice.User.ID.String() {
			t.Fatalf("%s row of %v in alice's export", l.Table, owner)
		}
		for _, k := range []string{"password_hash", "token_hash", "encrypted_value", "nonce", "auth_tag",
			"access_token", "refresh_token", "state_hash", "verifier", "embedding", "search_vector"} {
			if _, ok := row[k]; ok {
				t.Errorf("%s row exports %s", l.Table, k)
			}
		}
	}
	for table, n := range want {
		if n == 0 {
			t.Fatalf("the fixture holds no %s row: the test would prove nothing", table)
		}
		if got[table] != n || lines[len(lines)-1].Counts[table] != n {
			t.Errorf("%s: exported %d rows (end line says %d), alice has %d", table, got[table], lines[len(lines)-1].Counts[table], n)
		}
	}
	for table, id := range alice.IDs() {
		if !ids[id.String()] {
			t.Errorf("alice's %s row %s missing", table, id)
		}
	}
	for table, id := range bob.IDs() {
		if ids[id.String()] {
			t.Errorf("bob's %s row %s in alice's export", table, id)
		}
	}
	if n := owner.AuditEvent.Query().Where(auditevent.UserID(alice.User.ID), auditevent.TypeEQ(audit.DataExported)).CountX(sys); n != 1 {
		t.Fatalf("%d data_exported events, want 1", n)
	}

	_, lines = export(t, s, tok, "?embeddings=true")
	embedded, vectors := 0, 0
	for _, l := range lines {
		if l.Table == "memories" || l.Table == "kg_entities" {
			var row map[string]any
			_ = json.Unmarshal(l.Data, &row)
			if v, ok := row["embedding"]; ok {
				embedded++
				if s, ok := v.(string); ok && strings.HasPrefix(s, "[") {
					vectors++
				}
			}
		}
	}
	if !lines[0].Embeddings || vectors == 0 || embedded != want["memories"]+want["kg_entities"] {
		t.Fatalf("embeddings=true: %d rows with an embedding, want %d", embedded, want["memories"]+want["kg_entities"])
	}
}

func testRedisURL() string {
	if u := os.Getenv("JARVIS_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func redisKeys(t *testing.T, rdb *redis.Client, pattern string) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// DELETE /v1/me: a wrong password changes nothing; the right one erases
// every row of the user and no other user's, closes the user's socket on
// another instance, deletes the user's keys in Redis and revokes the
// user's OAuth grant at the provider.
func TestDeleteMeErasesEverythingOfTheUserOnly(t *testing.T) {
	t.Parallel()
	provider := oauthtest.New()
	t.Cleanup(provider.Close)
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	prefix := "jarvis:test:erase:" + hex.EncodeToString(rb[:]) + ":"
	opts, err := redis.ParseURL(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() {
		for _, k := range redisKeys(t, rdb, prefix+"*") {
			rdb.Del(context.Background(), k)
		}
		_ = rdb.Close()
	})
	providers, _ := json.Marshal([]map[string]any{{
		"name": "acme", "client_id": oauthtest.ClientID, "client_secret": oauthtest.ClientSecret,
		"auth_url": provider.URL + "/authorize", "token_url": provider.URL + "/token", "revoke_url": provider.URL + "/revoke",
		"auth_style": "header", "scopes": []string{"read"},
	}})
	env := apptest.Env(map[string]string{
		"REDIS_URL": testRedisURL(), "REALTIME_REDIS_PREFIX": prefix,
		"CONNECTIONS_PROVIDERS": string(providers), "CONNECTIONS_REDIRECT_URLS": "https://app.example/cb",
		"CONNECTIONS_PROVIDER_TIMEOUT": "2s",
	})
	var pub events.Publisher
	a := apptest.New(t, env, apptest.Fx(fx.Populate(&pub)))
	b := apptest.New(t, env, apptest.Database(a.DB))
	owner := a.DB.OwnerClient(t)
	conn := ownerSQL(t, a.DB)
	ctx := context.Background()

	c, tok := a.SignUp(t, "alice@example.com")
	_, bobTok := a.SignUp(t, "bob@example.com")
	bobFix := dbtest.Seed(t, owner, "carol@example.com") // a user with a row in every table
	access, refresh := provider.Grant("alice-at-acme")
	if _, err := c.ImportConnection(ctx, &openapi.ConnectionImport{Provider: "acme", Account: "alice-at-acme",
		AccessToken: access, RefreshToken: openapi.NewOptString(refresh)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: "alice likes tea"}); err != nil {
		t.Fatal(err)
	}
	// Alice's socket is on instance b; her stream exists in Redis.
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.URL, "http")+"/v1/ws",
		&websocket.DialOptions{Subprotocols: []string{realtime.Subprotocol, realtime.BearerPrefix + tok.AccessToken}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if _, _, err := ws.Read(rctx); err != nil { // "connected"
		t.Fatal(err)
	}
	cancel()
	if err := pub.EmitToUser(ctx, tok.UserID, events.Event{Type: events.BudgetWarning, Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	aliceKeys := prefix + "*" + tok.UserID.String() + "*"
	if len(redisKeys(t, rdb, aliceKeys)) == 0 {
		t.Fatal("alice has no keys in Redis: the test would prove nothing")
	}
	bobBefore := map[uuid.UUID]map[string]int{bobTok.UserID: countAll(t, conn, bobTok.UserID), bobFix.User.ID: countAll(t, conn, bobFix.User.ID)}
	aliceBefore := countAll(t, conn, tok.UserID)

	// A wrong password: 403, nothing changes.
	resp := a.Do(t, http.MethodDelete, "/v1/me", tok.AccessToken, `{"password":"not the password"}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong password: %d, want 403", resp.StatusCode)
	}
	resp = a.Do(t, http.MethodDelete, "/v1/me", tok.AccessToken, `{}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no password: %d, want 400", resp.StatusCode)
	}
	if after := countAll(t, conn, tok.UserID); fmt.Sprint(after) != fmt.Sprint(aliceBefore) {
		t.Fatalf("a refused deletion changed rows: %v -> %v", aliceBefore, after)
	}
	if provider.Revocations() != 0 {
		t.Fatal("a refused deletion revoked a grant")
	}

	body, _ := json.Marshal(map[string]string{"password": apptest.Password})
	resp = a.Do(t, http.MethodDelete, "/v1/me", tok.AccessToken, string(body))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}

	// The socket on the other instance is closed as unauthorized.
	rctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		_, _, err := ws.Read(rctx)
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != realtime.CloseUnauthorized {
			t.Fatalf("socket ended with %v (code %d), want close %d", err, code, realtime.CloseUnauthorized)
		}
		break
	}
	if keys := redisKeys(t, rdb, aliceKeys); len(keys) != 0 {
		t.Fatalf("alice's keys survive in Redis: %v", keys)
	}
	if n := provider.Revocations(); n != 2 {
		t.Fatalf("%d revocations at the provider, want 2 (refresh and access token)", n)
	}
	for table, n := range countAll(t, conn, tok.UserID) {
		want := 0
		if table == auditevent.Table {
			want = 1 // the tombstone
		}
		if n != want {
			t.Errorf("%s: %d of alice's rows after erasure, want %d", table, n, want)
		}
	}
	for uid, before := range bobBefore {
		if after := countAll(t, conn, uid); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("another user's rows changed: %v -> %v", before, after)
		}
	}
	tomb := owner.AuditEvent.Query().Where(auditevent.UserID(tok.UserID)).OnlyX(sys)
	if tomb.Type != audit.AccountErased || tomb.Actor != "user" || tomb.IP != "" || tomb.UserAgent != "" {
		t.Fatalf("tombstone = %+v", tomb)
	}
	// The token no longer works: the session is gone.
	resp = a.Do(t, http.MethodGet, "/v1/me", tok.AccessToken, "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/me after erasure: %d", resp.StatusCode)
	}
}
