package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/ent/oauthconnection"
	"github.com/jarvis-core/jarvis/ent/usersecret"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/connections"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

func TestAdminRotateKey(t *testing.T) {
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	ctx := context.Background()
	admin := viewer.NewContext(ctx, viewer.Admin())
	owner.UserSecret.Delete().ExecX(admin) // seeded rows are not sealed by any key
	owner.OAuthConnection.Delete().ExecX(admin)

	k1, k2 := strings.Repeat("01", 32), strings.Repeat("02", 32)
	v1, err := secrets.NewBox(1, bytes.Repeat([]byte{1}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := secrets.NewService(d.App(t), v1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, name := range []string{"a", "b", "c"} {
		if _, err := svc.Create(viewer.NewContext(ctx, viewer.User(alice.User.ID)), "custom", name, "sk-value-"+name+"-0123456789"); err != nil {
			t.Fatal(err)
		}
	}
	// Two connections, one with a refresh token, sealed under key 1.
	conns := connections.NewService(d.App(t), v1, connections.DefaultConfig(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	actx := viewer.NewContext(ctx, viewer.User(alice.User.ID))
	c1, err := conns.Import(actx, "github", "alice", connections.Tokens{Access: "gho_access_one_0123456789", Refresh: "ghr_refresh_one_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conns.Import(actx, "notion", "alice's workspace", connections.Tokens{Access: "ntn_access_two_0123456789"}); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"DATABASE_URL": d.AppURL, "MIGRATE_DATABASE_URL": d.OwnerURL, "JWT_SECRET": strings.Repeat("j", 32),
		"SECRETS_MASTER_KEY": k2, "SECRETS_KEY_VERSION": "2", "SECRETS_OLD_KEYS": "1:" + k1,
	} {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "secrets", "rotate-key", "--batch", "2"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "re-sealed 3 secret(s) under key version 2") {
		t.Fatalf("output: %s", out.String())
	}
	if n := owner.UserSecret.Query().Where(usersecret.KeyVersion(2)).CountX(admin); n != 3 {
		t.Fatalf("%d secrets on key 2, want 3", n)
	}
	if !strings.Contains(out.String(), "re-sealed 2 connection(s) under key version 2") {
		t.Fatalf("output: %s", out.String())
	}
	if n := owner.OAuthConnection.Query().Where(oauthconnection.KeyVersion(2)).CountX(admin); n != 2 {
		t.Fatalf("%d connections on key 2, want 2", n)
	}
	// Key 2 alone opens them now: the tokens survived the re-seal.
	v2, err := secrets.NewBox(2, bytes.Repeat([]byte{2}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	after := connections.NewService(d.App(t), v2, connections.DefaultConfig(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tok, err := after.Token(actx, c1.ID)
	if err != nil || tok.Value != "gho_access_one_0123456789" {
		t.Fatalf("token after rotation: %v %v", tok, err)
	}
	if strings.Contains(out.String(), "sk-value") || strings.Contains(out.String(), "_0123456789") || strings.Contains(out.String(), k2) {
		t.Fatal("rotation printed a secret")
	}
}

func TestAdminUsersAndAuditCommands(t *testing.T) {
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	t.Setenv("MIGRATE_DATABASE_URL", d.OwnerURL)
	t.Setenv("AUDIT_RETENTION", "24h")
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "users", "disable", "alice@example.com"}, &out, io.Discard); err == nil {
		t.Fatal("disable without --reason ran")
	}
	if err := run(ctx, []string{"admin", "users", "disable", "--operator", "carol", "--reason", "abuse report 9", "alice@example.com"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "disabled alice@example.com (1 session(s) revoked)") {
		t.Fatalf("output: %s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"admin", "users", "find", alice.User.ID.String()}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"status": "disabled"`) || !strings.Contains(out.String(), `"memories": 1`) {
		t.Fatalf("find output: %s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"admin", "audit", "prune", "--reason", "retention"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "pruned 0 audit event(s) older than 24h0m0s") {
		t.Fatalf("prune output: %s", out.String())
	}
}
