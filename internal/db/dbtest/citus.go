package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// CitusWorkers are the workers of a Citus cluster whose coordinator is
// AdminURL, from JARVIS_TEST_CITUS_WORKERS (host:port,host:port); none on
// plain Postgres. Citus keeps its metadata per database and propagates
// neither CREATE DATABASE nor roles made outside a Citus database, so with
// workers every test database, its extensions and the test roles are made on
// every node, and the coordinator of each database registers the workers.
func CitusWorkers() []string {
	var out []string
	for _, w := range strings.Split(os.Getenv("JARVIS_TEST_CITUS_WORKERS"), ",") {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// Citus reports whether the tests run on a Citus cluster.
func Citus() bool { return len(CitusWorkers()) > 0 }

// nodeURL is AdminURL on another node (host:port), database name.
func nodeURL(hostport, name string) (string, error) {
	u, err := url.Parse(AdminURL())
	if err != nil {
		return "", fmt.Errorf("dbtest: parse URL: %w", err)
	}
	u.Host = hostport
	u.Path = "/" + name
	return u.String(), nil
}

// onWorkers runs fn with a superuser connection to database name on each worker.
func onWorkers(ctx context.Context, name string, fn func(*sql.DB) error) error {
	for _, w := range CitusWorkers() {
		u, err := nodeURL(w, name)
		if err != nil {
			return err
		}
		c, err := db.OpenSQL(ctx, u)
		if err != nil {
			return fmt.Errorf("worker %s: %w", w, err)
		}
		err = fn(c)
		c.Close()
		if err != nil {
			return fmt.Errorf("worker %s: %w", w, err)
		}
	}
	return nil
}

// execOnWorkers runs stmt in database name of every worker.
func execOnWorkers(ctx context.Context, name, stmt string) error {
	return onWorkers(ctx, name, func(c *sql.DB) error {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
		return nil
	})
}

// citusRoles provisions the test roles on every worker and gives the
// service role, on the coordinator, what the Citus tests require of it: any
// statement that would run on more than one shard is an error (a request
// must name its user), and its SET LOCALs reach the workers.
func citusRoles(ctx context.Context, conn *sql.Conn) error {
	if err := onWorkers(ctx, "postgres", func(c *sql.DB) error {
		cc, err := c.Conn(ctx)
		if err != nil {
			return err
		}
		defer cc.Close()
		return ensureRoles(ctx, cc)
	}); err != nil {
		return err
	}
	for _, stmt := range []string{
		fmt.Sprintf("ALTER ROLE %q SET citus.multi_task_query_log_level = 'error'", ServiceRole),
		fmt.Sprintf("ALTER ROLE %q SET citus.propagate_set_commands = 'local'", ServiceRole),
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// citusDatabase makes database name a Citus database on every node: the
// database on each worker, the extensions everywhere (as superuser:
// pgvector is not trusted), and the coordinator's registration of itself
// and the workers.
func citusDatabase(ctx context.Context, name string) error {
	if err := execOnWorkers(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %q OWNER %q", name, OwnerRole)); err != nil {
		return err
	}
	if err := execOnWorkers(ctx, name, "CREATE EXTENSION IF NOT EXISTS citus"); err != nil {
		return err
	}
	if err := execOnWorkers(ctx, name, ownedVector); err != nil {
		return err
	}
	super, err := pgmigrate.WithDatabase(AdminURL(), name)
	if err != nil {
		return err
	}
	c, err := db.OpenSQL(ctx, super)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS citus"); err != nil {
		return fmt.Errorf("create extension citus: %w", err)
	}
	cu, err := url.Parse(AdminURL())
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cu.Host)
	if err != nil {
		return fmt.Errorf("coordinator address %s: %w", cu.Host, err)
	}
	if _, err := c.ExecContext(ctx, "SELECT citus_set_coordinator_host($1, $2::int)", host, port); err != nil {
		return fmt.Errorf("citus_set_coordinator_host: %w", err)
	}
	for _, w := range CitusWorkers() {
		h, p, err := net.SplitHostPort(w)
		if err != nil {
			return fmt.Errorf("worker address %s: %w", w, err)
		}
		if _, err := c.ExecContext(ctx, "SELECT citus_add_node($1, $2::int)", h, p); err != nil {
			return fmt.Errorf("citus_add_node %s: %w", w, err)
		}
	}
	if _, err := c.ExecContext(ctx, ownedVector); err != nil {
		return fmt.Errorf("create extension vector: %w", err)
	}
	return nil
}

// ownedVector creates pgvector owned by the role that runs migrations. On
// Citus the first migration's CREATE EXTENSION IF NOT EXISTS vector, even
// when the extension exists, makes the coordinator sync the extension's
// metadata to the workers, which requires owning it ("must be owner of
// extension vector"); pgvector is not a trusted extension, so the owner is
// a superuser for that one statement. docs/scale-out.md says the same for
// production.
var ownedVector = fmt.Sprintf(`ALTER ROLE %[1]q SUPERUSER; SET ROLE %[1]q; CREATE EXTENSION IF NOT EXISTS vector; RESET ROLE; ALTER ROLE %[1]q NOSUPERUSER`, OwnerRole)

// citusTemplate closes the template to connections on the workers too, so
// it can be cloned there (Citus's maintenance daemon would hold it open).
func citusTemplate(ctx context.Context, name string) error {
	return execOnWorkers(ctx, "postgres", fmt.Sprintf("ALTER DATABASE %q WITH IS_TEMPLATE true ALLOW_CONNECTIONS false", name))
}

// citusClone clones the template on every worker, with the same name as on
// the coordinator (Citus connects to workers' databases of the same name).
func citusClone(ctx context.Context, name, tmpl string) error {
	return onWorkers(ctx, "postgres", func(c *sql.DB) error {
		cc, err := c.Conn(ctx)
		if err != nil {
			return err
		}
		defer cc.Close()
		if err := closeConnections(ctx, cc, tmpl); err != nil {
			return err
		}
		_, err = cc.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %q TEMPLATE %q OWNER %q", name, tmpl, OwnerRole))
		return err
	})
}

// closeConnections ends the sessions on database name (the template, which
// takes no new ones) and waits until they are gone.
func closeConnections(ctx context.Context, c *sql.Conn, name string) error {
	for i := 0; i < 50; i++ {
		var n int
		if err := c.QueryRowContext(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name).Scan(&n); err != nil {
			return fmt.Errorf("close connections to %s: %w", name, err)
		}
		if n == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("connections to %s did not close", name)
}

// citusDrop drops database name on every worker.
func citusDrop(ctx context.Context, name string, template bool) error {
	return onWorkers(ctx, "postgres", func(c *sql.DB) error {
		if template {
			if _, err := c.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %q WITH IS_TEMPLATE false", name)); err != nil && !strings.Contains(err.Error(), "does not exist") {
				return err
			}
		}
		// Citus's maintenance daemon, a background worker, is not ended by
		// FORCE: end it, and retry while it comes back.
		var err error
		for i := 0; i < 10; i++ {
			if _, err = c.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
				return err
			}
			if _, err = c.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %q WITH (FORCE)", name)); err == nil {
				return nil
			}
			time.Sleep(200 * time.Millisecond)
		}
		return err
	})
}
