package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/ent/usersecret"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
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
	if strings.Contains(out.String(), "sk-value") || strings.Contains(out.String(), k2) {
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
