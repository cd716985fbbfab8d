package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/ent/auditevent"
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
	if err := run(ctx, []string{"admin", "secrets", "rotate-key", "--batch", "2"}, &out, io.Discard); err == nil {
		t.Fatal("rotation without --reason ran")
	}
	if err := run(ctx, []string{"admin", "secrets", "rotate-key", "--batch", "2", "--operator", "carol", "--reason", "yearly rotation"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Every user whose rows were re-sealed is told, in the batches' transactions.
	rotated := map[string]float64{}
	for _, e := range owner.AuditEvent.Query().Where(auditevent.TypeEQ(auditevent.TypeAdminAction)).AllX(admin) {
		if e.UserID != alice.User.ID || e.Actor != "operator:carol" || e.Reason != "yearly rotation" || e.Data["action"] != "rotate_key" || e.Data["key_version"] != float64(2) {
			t.Fatalf("rotation event %+v", e)
		}
		rotated[e.Data["table"].(string)] += e.Data["rows"].(float64)
	}
	if rotated["user_secrets"] != 3 || rotated["oauth_connections"] != 2 {
		t.Fatalf("audited re-seals: %v", rotated)
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

// The budgets, usage, prices and reembed commands as an operator types
// them: flags, output formats and refusals.
func TestAdminBudgetUsageAndReembedCommands(t *testing.T) {
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	sys := viewer.NewContext(context.Background(), viewer.System())
	owner.LLMCall.Create().SetUserID(alice.User.ID).SetRunID(alice.Run.ID).SetProvider("custom").SetModel("mystery-1").ExecX(sys)
	t.Setenv("MIGRATE_DATABASE_URL", d.OwnerURL)
	ctx := context.Background()
	runCmd := func(args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(ctx, append([]string{"admin"}, args...), &out, io.Discard)
		return out.String(), err
	}

	if _, err := runCmd("budgets", "set", "alice@example.com", "--limit-usd", "12.50", "--soft-limit-usd", "20", "--reason", "r"); err == nil ||
		!strings.Contains(err.Error(), "soft_limit_usd") {
		t.Fatalf("soft over the limit: %v", err)
	}
	if _, err := runCmd("budgets", "set", "alice@example.com", "--limit-usd", "12.50", "--json", "--reason", "r"); err == nil {
		t.Fatal("a flag of another command was accepted")
	}
	out, err := runCmd("budgets", "set", "alice@example.com", "--limit-usd", "12.50", "--hard=false", "--reason", "support ticket 3", "--operator", "carol")
	if err != nil || !strings.Contains(out, `"limit_usd": "12.5"`) || !strings.Contains(out, `"hard": false`) {
		t.Fatalf("set: %s %v", out, err)
	}
	if out, err := runCmd("budgets", "show", alice.User.ID.String()); err != nil || !strings.Contains(out, `"spent_usd": "0.0000015"`) {
		t.Fatalf("show: %s %v", out, err)
	}

	out, err = runCmd("usage", "top", "--json", "--limit", "5", "--by", "model")
	if err != nil {
		t.Fatal(err)
	}
	var top struct {
		By   string `json:"by"`
		Rows []struct {
			Email   string `json:"email"`
			Model   string `json:"model"`
			CostUSD string `json:"cost_usd"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &top); err != nil || top.By != "model" || len(top.Rows) != 2 ||
		top.Rows[0].Model != "gpt-4o-mini" || top.Rows[0].CostUSD != "0.0000015" {
		t.Fatalf("usage top --json: %s %v", out, err)
	}
	if out, err := runCmd("usage", "top"); err != nil || !strings.Contains(out, "COST_USD") || !strings.Contains(out, "alice@example.com") {
		t.Fatalf("usage top table: %s %v", out, err)
	}
	if _, err := runCmd("usage", "top", "--month", "2026-13"); err == nil {
		t.Fatal("a bad month accepted")
	}
	if out, err := runCmd("prices", "unpriced"); err != nil || !strings.Contains(out, "mystery-1") {
		t.Fatalf("prices unpriced: %s %v", out, err)
	}

	// reembed with the local embedder (model local-hash-…): a summary line,
	// not a progress bar, when stdout is not a terminal.
	t.Setenv("EMBEDDINGS_PROVIDER", "local")
	if _, err := runCmd("reembed", "memories", "--batch", "10", "--reason", "r"); err == nil {
		t.Fatal("reembed without --user or --all")
	}
	out, err = runCmd("reembed", "memories", "--all", "--batch", "10", "--reason", "model change")
	if err != nil || !strings.HasPrefix(out, "re-embedded 1 of 1 memories") || strings.Contains(out, "\r") {
		t.Fatalf("reembed: %q %v", out, err)
	}
	if out, err := runCmd("reembed", "memories", "--all", "--reason", "again"); err != nil || !strings.HasPrefix(out, "re-embedded 0 of 0 memories") {
		t.Fatalf("reembed again: %q %v", out, err)
	}
}

func TestProgressBar(t *testing.T) {
	for _, c := range []struct {
		done, total int
		want        string
	}{
		{0, 10, "[          ] 0/10 (0%)"},
		{5, 10, "[=====     ] 5/10 (50%)"},
		{10, 10, "[==========] 10/10 (100%)"},
		{0, 0, "[==========] 0/0 (100%)"},
	} {
		if got := progressBar(c.done, c.total, 10); got != c.want {
			t.Errorf("progressBar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}
