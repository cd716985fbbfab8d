// Package db owns connections to Postgres: a pgx/v5 pool under the ent client,
// and the unit of work that runs as one user inside one transaction with both
// the ent viewer and Postgres's app.current_user_id set, so ent privacy and
// row-level security agree on who is asking.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	_ "github.com/jarvis-core/jarvis/ent/runtime" // privacy policies and hooks of ent/schema
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// CurrentUserSetting is the transaction-local setting row-level security
// compares with each row's owner (set by jarvis_identify, or by
// jarvis_set_local within a narrow lookup).
const CurrentUserSetting = pgmigrate.CurrentUserSetting

// DB is the service's database handle.
type DB struct {
	Pool   *pgxpool.Pool
	SQL    *sql.DB
	Client *ent.Client

	observer Observer
}

// Option adjusts the pool's configuration before it connects.
type Option func(*pgxpool.Config)

// WithTracer has pgx report every statement to t (telemetry's spans); nil
// is no tracer.
func WithTracer(t pgx.QueryTracer) Option {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = t }
}

// Open connects to url (the service role: no BYPASSRLS) and checks the connection.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	d, wait, err := Dial(url, opts...)
	if err != nil {
		return nil, err
	}
	if err := wait(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Dial is Open without the wait: the first connection is dialled in the
// background, and wait returns how that went (Open's error). The service
// waits at start, so that Postgres forks its backend while the rest of the
// app is built.
func Dial(url string, opts ...Option) (d *DB, wait func(context.Context) error, err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included.
		return nil, nil, errors.New("parse database URL: invalid connection string")
	}
	for _, o := range opts {
		o(cfg)
	}
	if after := cfg.AfterConnect; after != nil {
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			if err := registerVector(ctx, c); err != nil {
				return err
			}
			return after(ctx, c)
		}
	} else {
		cfg.AfterConnect = registerVector
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("create pool for %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	// Close ends a dial still under way (the pool cancels its connects);
	// wait returns the same answer however often it is asked.
	var dialErr error
	dialed := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pool.Ping(ctx); err != nil {
			dialErr = fmt.Errorf("connect to %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
		}
		close(dialed)
	}()
	wait = func(ctx context.Context) error {
		select {
		case <-dialed:
			return dialErr
		case <-ctx.Done():
			return fmt.Errorf("connect to %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, ctx.Err())
		}
	}
	return &DB{
		Pool: pool,
		// For tools that need database/sql (the schema check); ent does not
		// go through it.
		SQL:    stdlib.OpenDBFromPool(pool),
		Client: ent.NewClient(ent.Driver(&pgxDriver{pool: pool})),
	}, wait, nil
}

// OpenSQL returns a database/sql handle on the pgx driver, for tools that
// speak database/sql (migrations, provisioning). Closing it closes its
// connections (unlike stdlib.OpenDBFromPool, whose pool outlives the handle).
func OpenSQL(ctx context.Context, url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New("parse database URL: invalid connection string")
	}
	sqlDB := stdlib.OpenDB(*cfg)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	return sqlDB, nil
}

// Close releases every connection.
func (d *DB) Close() {
	_ = d.Client.Close()
	d.Pool.Close()
}

// Ping checks that Postgres answers.
func (d *DB) Ping(ctx context.Context) error { return d.Pool.Ping(ctx) }

// CheckSchema returns pgmigrate.ErrBehind when the database lacks migrations
// embedded in this binary.
func (d *DB) CheckSchema(ctx context.Context) error {
	return pgmigrate.CheckCurrent(ctx, d.SQL, embeddedDir)
}

// embeddedDir is the binary's migration directory, loaded once.
var embeddedDir = func() atlasmigrate.Dir {
	dir, err := pgmigrate.FSDir(migrations.FS)
	if err != nil {
		panic(fmt.Sprintf("embedded migrations: %v", err)) // the build embeds them; unreadable means a broken binary
	}
	return dir
}()

// ErrSessionInvalid is returned by Run when the request's session (see
// viewer.Session) is revoked or gone, or its user disabled or deleted.
var ErrSessionInvalid = fault.New(fault.Unauthorized, "session is no longer valid: sign in again")

// RunUnowned runs fn in one transaction whose row-level security identity
// is id, with no viewer: for a record about no real account (a failed login
// for an unknown e-mail is audited under audit.UnknownUser, which no viewer
// can name). RLS holds fn to id's rows; ent privacy is bypassed with reason.
func (d *DB) RunUnowned(ctx context.Context, id uuid.UUID, reason string, fn func(ctx context.Context, tx *ent.Tx) error) error {
	ctx = rule.Bypass(ctx, reason)
	pre := []prelude{{
		sql:  "SELECT jarvis_set_local($1, $2)",
		args: []any{CurrentUserSetting, id.String()},
		wrap: func(err error) error { return fmt.Errorf("set row-level security identity: %w", err) },
	}}
	if err := d.unit(ctx, nil, pre, false, fn); err != nil {
		return Classify(err)
	}
	return nil
}

// Lookup runs fn in one read-only transaction where the narrow lookup
// setting of table (ent.LookupPolicies: users by email, refresh tokens by
// hash) holds value, before anyone's identity is known. Row-level security
// then shows fn exactly the rows whose lookup column equals value, read only;
// ent privacy sees a system viewer, since RLS alone confines the query.
func (d *DB) Lookup(ctx context.Context, table, value string, fn func(ctx context.Context, tx *ent.Tx) error) error {
	l, ok := ent.LookupPolicies[table]
	if !ok {
		return fmt.Errorf("lookup: table %s has no lookup policy", table)
	}
	ctx = rule.Bypass(ctx, "sign-in looks up rows before identity; RLS's lookup policy confines it")
	pre := []prelude{{
		// jarvis_set_local, not set_config: on Citus the setting must
		// reach the worker that holds the rows (see the migration's function).
		sql:  "SELECT jarvis_set_local($1, $2)",
		args: []any{l.Setting, value},
		wrap: func(err error) error { return fmt.Errorf("set lookup: %w", err) },
	}}
	return d.unit(ctx, &sql.TxOptions{ReadOnly: true}, pre, false, fn)
}
