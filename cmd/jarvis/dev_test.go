package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// unsetenv clears keys for the test and restores them after.
func unsetenv(t *testing.T, keys ...string) {
	for _, k := range keys {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// TestDevProvisionsFromNothingAndIsIdempotent runs `jarvis dev --no-serve`
// twice with its own database and role names, as on a fresh machine.
func TestDevProvisionsFromNothingAndIsIdempotent(t *testing.T) {
	unsetenv(t, "APP_ENV", "PORT", "DATABASE_URL", "MIGRATE_DATABASE_URL", "REDIS_URL", "JWT_SECRET",
		"SECRETS_MASTER_KEY", "JARVIS_DEV_DATABASE", "JARVIS_DEV_OWNER", "JARVIS_DEV_SERVICE",
		"JARVIS_DEV_OWNER_PASSWORD", "JARVIS_DEV_SERVICE_PASSWORD")
	suffix := strings.ToLower(randomHex(4))
	names := map[string]string{
		"JARVIS_DEV_DATABASE": "jarvis_devtest_" + suffix,
		"JARVIS_DEV_OWNER":    "jarvis_devtest_owner_" + suffix,
		"JARVIS_DEV_SERVICE":  "jarvis_devtest_svc_" + suffix,
	}
	envPath := t.TempDir() + "/.env"
	if err := writeEnvFile(envPath, "", names); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		for _, stmt := range []string{
			fmt.Sprintf("DROP DATABASE IF EXISTS %q WITH (FORCE)", names["JARVIS_DEV_DATABASE"]),
			fmt.Sprintf("DROP ROLE IF EXISTS %q", names["JARVIS_DEV_SERVICE"]),
			fmt.Sprintf("DROP ROLE IF EXISTS %q", names["JARVIS_DEV_OWNER"]),
		} {
			if _, err := admin.Exec(stmt); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	args := []string{"dev", "--no-serve", "--env-file", envPath, "--admin-url", dbtest.AdminURL()}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("first run: %v", err)
	}
	first, err := readEnvFile(envPath)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(envPath); info.Mode().Perm() != 0o600 {
		t.Errorf(".env mode = %v, want 0600 (it holds secrets)", info.Mode().Perm())
	}
	if len(first["JWT_SECRET"]) < 32 || len(first["SECRETS_MASTER_KEY"]) != 64 || first["JARVIS_DEV_DATABASE"] != names["JARVIS_DEV_DATABASE"] {
		t.Fatalf("generated .env lacks secrets or lost the given names: %v", keys(first))
	}
	if strings.Contains(out.String(), first["JARVIS_DEV_SERVICE_PASSWORD"]) {
		t.Error("dev printed a password")
	}

	// The service role connects, sees the migrated schema, and RLS binds it.
	ownerURL, serviceURL, err := db.Provisioning{
		AdminURL: dbtest.AdminURL(), Database: first["JARVIS_DEV_DATABASE"],
		Owner: first["JARVIS_DEV_OWNER"], OwnerPassword: first["JARVIS_DEV_OWNER_PASSWORD"],
		Service: first["JARVIS_DEV_SERVICE"], ServicePassword: first["JARVIS_DEV_SERVICE_PASSWORD"],
	}.URLs()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := db.Open(context.Background(), serviceURL)
	if err != nil {
		t.Fatalf("service role cannot connect: %v", err)
	}
	defer svc.Close()
	var bypass bool
	if err := svc.Pool.QueryRow(context.Background(), "SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&bypass); err != nil || bypass {
		t.Fatalf("service role bypassrls = %v, %v", bypass, err)
	}
	if _, err := svc.Pool.Exec(context.Background(), "SELECT count(*) FROM agent_runs"); err != nil {
		t.Fatalf("service role cannot use the tables: %v", err)
	}

	// Second run: nothing to do, the same secrets.
	if err := run(context.Background(), args, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("second run: %v", err)
	}
	second, _ := readEnvFile(envPath)
	for _, k := range []string{"JWT_SECRET", "SECRETS_MASTER_KEY", "JARVIS_DEV_OWNER_PASSWORD"} {
		if first[k] != second[k] {
			t.Errorf("%s changed between runs", k)
		}
	}
	owner, err := db.OpenSQL(context.Background(), ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	dir, _ := pgmigrate.FSDir(migrations.FS)
	st, err := pgmigrate.ReadStatus(context.Background(), owner, dir)
	if err != nil || !st.OK() {
		t.Fatalf("status after dev: %+v, %v", st, err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestEnvFileRoundTrip: what dev writes, godotenv reads back unchanged,
// even values a shell or a naive reader would mangle.
func TestEnvFileRoundTrip(t *testing.T) {
	path := t.TempDir() + "/.env"
	vars := map[string]string{"A": "x=y", "B": "2", "C": `a"b'c`, "D": "$HOME", "E": "#not-a-comment", "F": ""}
	if err := writeEnvFile(path, "# header\n", vars); err != nil {
		t.Fatal(err)
	}
	got, err := readEnvFile(path)
	if err != nil || !maps.Equal(got, vars) {
		t.Fatalf("read back %q, %v; want %q", got, err, vars)
	}
	missing, err := readEnvFile(t.TempDir() + "/none")
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing file: %v, %v", missing, err)
	}
	if err := os.WriteFile(path, []byte("JWT_SECRET=ok\nnot a line with secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readEnvFile(path); err == nil || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("malformed file: %v (must fail without quoting the file)", err)
	}
}
