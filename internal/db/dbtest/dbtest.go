// Package dbtest gives each test its own Postgres database, migrated and
// dropped at cleanup, so tests run in parallel and twice in a row. Databases
// are cloned from a template migrated once per version of the migration
// directory; building it is serialized across test processes by an advisory
// lock. The server is JARVIS_TEST_DATABASE_URL (a superuser), else the local
// postgres superuser.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/migrate"
)

// ServiceRole is the login role tests connect as to see what the service
// sees: a member of migrate.AppRole, without BYPASSRLS.
const ServiceRole = "jarvis_test_service"

const servicePassword = "jarvis_test_service"

// AdminURL is the superuser URL of the test server.
func AdminURL() string {
	if u := os.Getenv("JARVIS_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Database is one test's database.
type Database struct {
	Name string
	// OwnerURL connects as the superuser: migrations, fixtures, admin
	// scripts. Row-level security does not apply.
	OwnerURL string
	// AppURL connects as ServiceRole: row-level security applies.
	AppURL string
}

// New creates a migrated database for t and drops it when t ends.
func New(t testing.TB) *Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		t.Fatalf("dbtest: open admin connection: %v", err)
	}
	defer admin.Close()
	tmpl, err := ensureTemplate(ctx, admin)
	if err != nil {
		t.Fatalf("dbtest: template database: %v", err)
	}
	name := "jarvis_test_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	name = sanitize(name) + "_" + randomHex(4)
	if err := createFromTemplate(ctx, admin, name, tmpl); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := sql.Open("pgx", AdminURL())
		if err != nil {
			t.Errorf("dbtest: open admin connection: %v", err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	owner, err := migrate.WithDatabase(AdminURL(), name)
	if err != nil {
		t.Fatal(err)
	}
	app, err := serviceURL(owner)
	if err != nil {
		t.Fatal(err)
	}
	return &Database{Name: name, OwnerURL: owner, AppURL: app}
}

// Empty creates an empty database (pgvector only, no migrations) for tests
// of the migration engine itself, and drops it when t ends.
func Empty(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev, err := migrate.OpenDev(ctx, AdminURL())
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := dev.Close(); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	return dev.URL
}

// serviceURL is ownerURL with the service's login role as the user.
func serviceURL(ownerURL string) (string, error) {
	u, err := url.Parse(ownerURL)
	if err != nil {
		return "", fmt.Errorf("dbtest: parse URL: %w", err)
	}
	u.User = url.UserPassword(ServiceRole, servicePassword)
	return u.String(), nil
}

// ensureTemplate returns the name of the migrated template for the current
// migration directory, building it (once per directory version) if needed.
func ensureTemplate(ctx context.Context, admin *sql.DB) (string, error) {
	sum, err := migrations.FS.ReadFile("atlas.sum")
	if err != nil {
		return "", fmt.Errorf("read atlas.sum: %w", err)
	}
	h := sha256.Sum256(sum)
	name := "jarvis_tmpl_" + hex.EncodeToString(h[:6])

	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// One builder at a time across every test process on this server.
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext('jarvis_dbtest_template'))"); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(hashtext('jarvis_dbtest_template'))") //nolint:errcheck

	var isTemplate sql.NullBool
	err = conn.QueryRowContext(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&isTemplate)
	switch {
	case err == nil && isTemplate.Bool:
		return name, nil
	case err == nil: // a build that died half-way
		if err := dropDatabase(ctx, conn, name); err != nil {
			return "", err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return "", err
	}
	if err := dropStaleTemplates(ctx, conn, name); err != nil {
		return "", err
	}
	if err := buildTemplate(ctx, conn, name); err != nil {
		return "", err
	}
	return name, nil
}

func buildTemplate(ctx context.Context, conn *sql.Conn, name string) error {
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %q", name)); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	u, err := migrate.WithDatabase(AdminURL(), name)
	if err != nil {
		return err
	}
	tdb, err := db.OpenSQL(ctx, u)
	if err != nil {
		return err
	}
	dir, err := migrate.FSDir(migrations.FS)
	if err == nil {
		_, err = migrate.Apply(ctx, tdb, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	tdb.Close()
	if err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	if err := ensureServiceRole(ctx, conn); err != nil {
		return err
	}
	// Marked last: a template is complete exactly when it is marked.
	_, err = conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %q WITH IS_TEMPLATE true ALLOW_CONNECTIONS false", name))
	return err
}

func ensureServiceRole(ctx context.Context, conn *sql.Conn) error {
	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", ServiceRole).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE ROLE %q LOGIN NOBYPASSRLS PASSWORD '%s'", ServiceRole, servicePassword)); err != nil {
			return fmt.Errorf("create %s: %w", ServiceRole, err)
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("GRANT %q TO %q", migrate.AppRole, ServiceRole)); err != nil {
		return fmt.Errorf("grant %s: %w", migrate.AppRole, err)
	}
	return nil
}

func dropStaleTemplates(ctx context.Context, conn *sql.Conn, keep string) error {
	rows, err := conn.QueryContext(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'jarvis_tmpl_%' AND datname <> $1", keep)
	if err != nil {
		return err
	}
	var stale []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		stale = append(stale, n)
	}
	rows.Close()
	for _, n := range stale {
		if err := dropDatabase(ctx, conn, n); err != nil {
			return err
		}
	}
	return nil
}

func dropDatabase(ctx context.Context, conn *sql.Conn, name string) error {
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %q WITH IS_TEMPLATE false", name)); err != nil {
		return fmt.Errorf("unmark template %s: %w", name, err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %q WITH (FORCE)", name)); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	return nil
}

// createFromTemplate clones tmpl. Postgres counts a session cloning a
// template as a user of it and refuses (after waiting 5 s) a second clone
// meanwhile, so clones take turns under an advisory lock.
func createFromTemplate(ctx context.Context, admin *sql.DB, name, tmpl string) error {
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext('jarvis_dbtest_clone'))"); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(hashtext('jarvis_dbtest_clone'))") //nolint:errcheck
	_, err = conn.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %q TEMPLATE %q", name, tmpl))
	return err
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
