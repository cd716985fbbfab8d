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

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// Roles of the test databases, provisioned as in production: migrations run
// as OwnerRole (not a superuser, no CREATEROLE; BYPASSRLS like admin scripts),
// the service connects as ServiceRole (a member of pgmigrate.AppRole, without
// BYPASSRLS). Their passwords only matter on servers without trust auth.
const (
	OwnerRole       = "jarvis_test_owner"
	ownerPassword   = "jarvis_test_owner"
	ServiceRole     = "jarvis_test_service"
	servicePassword = "jarvis_test_service"
)

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
	// OwnerURL connects as OwnerRole, which ran the migrations: fixtures and
	// admin scripts. Row-level security does not apply (BYPASSRLS).
	OwnerURL string
	// AppURL connects as ServiceRole: row-level security applies.
	AppURL string
}

// New creates a migrated database for t and drops it when t ends.
func New(t testing.TB) *Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, drop, err := Create(ctx, t.Name())
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	return d
}

// Create is New outside a test (jarvis bench): a migrated database named
// after label, which drop removes.
func Create(ctx context.Context, label string) (_ *Database, drop func(context.Context) error, _ error) {
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		return nil, nil, fmt.Errorf("open admin connection: %w", err)
	}
	defer admin.Close()
	name := "jarvis_test_" + strings.ToLower(strings.ReplaceAll(label, "/", "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	name = sanitize(name) + "_" + randomHex(4)
	// A test process of an older checkout drops every template but its own,
	// ours included, between our build and our clone: then build it again.
	for attempt := 1; ; attempt++ {
		tmpl, err := ensureTemplate(ctx, admin)
		if err != nil {
			return nil, nil, fmt.Errorf("template database: %w", err)
		}
		err = createFromTemplate(ctx, admin, name, tmpl)
		var pg *pgconn.PgError
		if err == nil {
			break
		}
		if attempt == 10 || !errors.As(err, &pg) || pg.Code != "3D000" { // invalid_catalog_name
			return nil, nil, fmt.Errorf("create database: %w", err)
		}
	}
	drop = func(ctx context.Context) error {
		admin, err := sql.Open("pgx", AdminURL())
		if err != nil {
			return fmt.Errorf("open admin connection: %w", err)
		}
		defer admin.Close()
		for attempt := 1; ; attempt++ {
			if Citus() {
				// Citus's maintenance daemon is not ended by FORCE.
				if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
					return fmt.Errorf("drop database %s: %w", name, err)
				}
			}
			_, err := admin.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name))
			if err == nil {
				break
			}
			if !Citus() || attempt == 10 {
				return fmt.Errorf("drop database %s: %w", name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		return citusDrop(ctx, name, false)
	}
	owner, err := roleURL(name, OwnerRole, ownerPassword)
	if err == nil {
		var app string
		if app, err = roleURL(name, ServiceRole, servicePassword); err == nil {
			return &Database{Name: name, OwnerURL: owner, AppURL: app}, drop, nil
		}
	}
	return nil, nil, errors.Join(err, drop(ctx))
}

// Empty creates an empty database (pgvector only, no migrations) for tests
// of the migration engine itself, and drops it when t ends.
func Empty(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev, err := pgmigrate.OpenDev(ctx, AdminURL())
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

// roleURL is the URL of database name on the test server as role.
func roleURL(name, role, password string) (string, error) {
	dbURL, err := pgmigrate.WithDatabase(AdminURL(), name)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("dbtest: parse URL: %w", err)
	}
	u.User = url.UserPassword(role, password)
	return u.String(), nil
}

// templateBuilder names the way templates are built: change it whenever
// buildTemplate, Provisioning or pgmigrate.Apply change what a database gets.
const templateBuilder = "owner-role-v5-citus"

// ensureTemplate returns the name of the migrated template for the current
// migration directory, building it (once per directory version) if needed.
func ensureTemplate(ctx context.Context, admin *sql.DB) (string, error) {
	sum, err := migrations.FS.ReadFile("atlas.sum")
	if err != nil {
		return "", fmt.Errorf("read atlas.sum: %w", err)
	}
	// The builder's version is hashed in too: a change in how templates are
	// built must not reuse one built the old way.
	h := sha256.Sum256(append([]byte(templateBuilder+strings.Join(CitusWorkers(), ",")), sum...))
	name := "jarvis_tpl_" + hex.EncodeToString(h[:6])

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
		return name, stampTemplate(ctx, conn, name)
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
	return name, stampTemplate(ctx, conn, name)
}

func buildTemplate(ctx context.Context, conn *sql.Conn, name string) error {
	if err := ensureAllRoles(ctx, conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %q OWNER %q", name, OwnerRole)); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if Citus() {
		if err := citusDatabase(ctx, name); err != nil {
			return fmt.Errorf("citus database %s: %w", name, err)
		}
	}
	// pgvector is not a trusted extension: the superuser creates it.
	super, err := pgmigrate.WithDatabase(AdminURL(), name)
	if err != nil {
		return err
	}
	if !Citus() { // citusDatabase creates it, owned by the owner role
		if err := execOn(ctx, super, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
			return err
		}
	}
	owner, err := roleURL(name, OwnerRole, ownerPassword)
	if err != nil {
		return err
	}
	tdb, err := db.OpenSQL(ctx, owner)
	if err != nil {
		return err
	}
	dir, err := pgmigrate.FSDir(migrations.FS)
	if err == nil {
		_, err = pgmigrate.Apply(ctx, tdb, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	tdb.Close()
	if err != nil {
		return fmt.Errorf("migrate %s as %s: %w", name, OwnerRole, err)
	}
	if Citus() {
		if err := citusTemplate(ctx, name); err != nil {
			return err
		}
	}
	// Marked last: a template is complete exactly when it is marked.
	_, err = conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %q WITH IS_TEMPLATE true ALLOW_CONNECTIONS false", name))
	return err
}

func execOn(ctx context.Context, url, stmt string) error {
	c, err := db.OpenSQL(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// ensureRoles provisions the test roles as internal/db's Provisioning does.
func ensureRoles(ctx context.Context, conn *sql.Conn) error {
	if err := db.EnsureRole(ctx, conn, OwnerRole, ownerPassword, "LOGIN BYPASSRLS NOSUPERUSER NOCREATEROLE"); err != nil {
		return err
	}
	if err := db.EnsureRole(ctx, conn, ServiceRole, servicePassword, "LOGIN NOBYPASSRLS NOSUPERUSER"); err != nil {
		return err
	}
	if err := db.EnsureAppRole(ctx, conn); err != nil {
		return err
	}
	return db.GrantAppRole(ctx, conn, ServiceRole)
}

// ensureAllRoles provisions the test roles on every node.
func ensureAllRoles(ctx context.Context, conn *sql.Conn) error {
	if err := ensureRoles(ctx, conn); err != nil {
		return err
	}
	if Citus() {
		return citusRoles(ctx, conn)
	}
	return nil
}

// staleAfter is how long an unused template is kept: several checkouts
// (branches, worktrees, CI beside a developer) share one server, each with its
// own migration directory, and must not drop each other's templates.
const staleAfter = 6 * time.Hour

// dropStaleTemplates drops the templates of other migration directories
// that no test has used for staleAfter (each use stamps the template's
// comment with the time).
func dropStaleTemplates(ctx context.Context, conn *sql.Conn, keep string) error {
	rows, err := conn.QueryContext(ctx, `SELECT d.datname, coalesce(shobj_description(d.oid, 'pg_database'), '')
		FROM pg_database d WHERE d.datname LIKE 'jarvis_tpl_%' AND d.datname <> $1`, keep)
	if err != nil {
		return err
	}
	var stale []string
	for rows.Next() {
		var n, stamp string
		if err := rows.Scan(&n, &stamp); err != nil {
			rows.Close()
			return err
		}
		used, err := time.Parse(time.RFC3339, strings.TrimPrefix(stamp, "used "))
		if err != nil || time.Since(used) > staleAfter {
			stale = append(stale, n)
		}
	}
	rows.Close()
	for _, n := range stale {
		if err := dropDatabase(ctx, conn, n); err != nil {
			return err
		}
	}
	return nil
}

// stampTemplate records that the template is in use.
func stampTemplate(ctx context.Context, conn *sql.Conn, name string) error {
	_, err := conn.ExecContext(ctx, fmt.Sprintf("COMMENT ON DATABASE %q IS 'used %s'", name, time.Now().UTC().Format(time.RFC3339)))
	return err
}

func dropDatabase(ctx context.Context, conn *sql.Conn, name string) error {
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %q WITH IS_TEMPLATE false", name)); err != nil {
		return fmt.Errorf("unmark template %s: %w", name, err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %q WITH (FORCE)", name)); err != nil {
		return fmt.Errorf("drop %s: %w", name, err)
	}
	return citusDrop(ctx, name, true)
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
	if Citus() {
		// Citus's maintenance daemon holds a connection to the template.
		if err := closeConnections(ctx, conn, tmpl); err != nil {
			return err
		}
	}
	if _, err = conn.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %q TEMPLATE %q OWNER %q", name, tmpl, OwnerRole)); err != nil {
		return err
	}
	return citusClone(ctx, name, tmpl)
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
