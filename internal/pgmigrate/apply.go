package pgmigrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ariga.io/atlas/sql/migrate"
)

// operator is recorded with every revision, as the Atlas CLI records its version.
const operator = "jarvis-migrate"

// lockName names the advisory lock that serializes concurrent applies
// (several instances starting at once); lockTimeout bounds the wait.
const (
	lockName    = "jarvis_migrate_apply"
	lockTimeout = 5 * time.Minute
)

// Apply runs every pending migration file of dir on db, in order, each file in
// its own transaction, and returns the versions it applied. A file that fails
// leaves nothing behind: its transaction rolls back and the error names the
// statement. Running it again when nothing is pending is a no-op. Apply refuses
// a directory whose atlas.sum does not match its files.
func Apply(ctx context.Context, db *sql.DB, dir migrate.Dir, log *slog.Logger) ([]string, error) {
	if err := migrate.Validate(dir); err != nil {
		return nil, fmt.Errorf("migration directory: %w", err)
	}
	// One connection holds the lock and runs every file: waiting appliers hold
	// one connection each and never starve the one doing the work.
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration connection: %w", err)
	}
	defer conn.Close()
	lockCtx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	if _, err := conn.ExecContext(lockCtx, "SELECT pg_advisory_lock(hashtext($1))", lockName); err != nil {
		return nil, fmt.Errorf("acquire migration lock (another apply running?): %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(hashtext($1))", lockName); err != nil {
			log.Warn("release migration lock", slog.Any("error", err))
		}
	}()
	if _, err := conn.ExecContext(ctx, createRevisions); err != nil {
		return nil, fmt.Errorf("create revisions table: %w", err)
	}
	var applied []string
	for {
		start := time.Now()
		version, err := applyNext(ctx, conn, dir)
		if err != nil {
			return applied, err
		}
		if version == "" {
			// After the files: the first one may have just created the role.
			if _, err := conn.ExecContext(ctx, grantRevisions); err != nil {
				return applied, fmt.Errorf("grant revisions to %s: %w", AppRole, err)
			}
			return applied, nil
		}
		log.Info("migration applied", slog.String("version", version), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
		applied = append(applied, version)
	}
}

// applyNext applies the first pending file in one transaction and returns its
// version, or "" when nothing is pending.
func applyNext(ctx context.Context, conn *sql.Conn, dir migrate.Dir) (_ string, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("begin migration transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	ex, err := newExecutor(tx, dir)
	if err != nil {
		return "", err
	}
	pending, err := ex.Pending(ctx)
	if errors.Is(err, migrate.ErrNoPendingFiles) {
		return "", tx.Rollback()
	}
	if err != nil {
		return "", fmt.Errorf("pending migrations: %w", err)
	}
	file := pending[0]
	if err := ex.Execute(ctx, file); err != nil {
		return "", fmt.Errorf("apply %s: %w", file.Name(), err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("commit %s: %w", file.Name(), err)
	}
	return file.Version(), nil
}

func newExecutor(tx *sql.Tx, dir migrate.Dir) (*migrate.Executor, error) {
	drv, err := openDriver(tx)
	if err != nil {
		return nil, err
	}
	ex, err := migrate.NewExecutor(drv, dir, &revisions{q: tx}, migrate.WithOperatorVersion(operator))
	if err != nil {
		return nil, fmt.Errorf("migration executor: %w", err)
	}
	return ex, nil
}

// grantRevisions lets the service read which version its database is at
// (readiness), and nothing else of the revisions.
var grantRevisions = fmt.Sprintf(`DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %[1]s) THEN
    GRANT USAGE ON SCHEMA "atlas_schema_revisions" TO %[2]s;
    GRANT SELECT ON "atlas_schema_revisions"."atlas_schema_revisions" TO %[2]s;
  END IF;
END
$$`, quoteLiteral(AppRole), quoteIdent(AppRole))

// ErrBehind is reported when the database lacks migrations the binary has.
var ErrBehind = errors.New("database schema is behind this binary: run `jarvis migrate apply`")

// CheckCurrent returns ErrBehind when the newest fully applied revision on db
// is older than the newest file of dir. A database ahead of the binary (a
// rollback of the service) is fine: migrations are reviewed to stay
// backward compatible. It needs only SELECT on the revisions table, which
// Apply grants to the service role.
func CheckCurrent(ctx context.Context, db *sql.DB, dir migrate.Dir) error {
	files, err := dir.Files()
	if err != nil {
		return fmt.Errorf("read migration directory: %w", err)
	}
	if len(files) == 0 {
		return nil
	}
	var current sql.NullString
	err = db.QueryRowContext(ctx, `SELECT max(version) FROM "atlas_schema_revisions"."atlas_schema_revisions" WHERE applied = total`).Scan(&current)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if !current.Valid || current.String < files[len(files)-1].Version() {
		return ErrBehind
	}
	return nil
}

// Status is where a database stands against the migration directory.
type Status struct {
	Current string              // last applied version, "" if none
	Applied []*migrate.Revision // in order
	Pending []string            // file names not yet applied
}

// OK reports whether the database is at the directory's latest version.
func (s Status) OK() bool { return len(s.Pending) == 0 }

// ReadStatus reports which files of dir are applied on db and which are pending.
// It writes nothing.
func ReadStatus(ctx context.Context, db *sql.DB, dir migrate.Dir) (Status, error) {
	if err := migrate.Validate(dir); err != nil {
		return Status{}, fmt.Errorf("migration directory: %w", err)
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Status{}, fmt.Errorf("begin status transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var st Status
	exists, err := revisionsExist(ctx, tx)
	if err != nil {
		return st, err
	}
	if exists {
		if st.Applied, err = (&revisions{q: tx}).ReadRevisions(ctx); err != nil {
			return st, err
		}
		if n := len(st.Applied); n > 0 {
			st.Current = st.Applied[n-1].Version
		}
		ex, err := newExecutor(tx, dir)
		if err != nil {
			return st, err
		}
		pending, err := ex.Pending(ctx)
		if err != nil && !errors.Is(err, migrate.ErrNoPendingFiles) {
			return st, fmt.Errorf("pending migrations: %w", err)
		}
		for _, f := range pending {
			st.Pending = append(st.Pending, f.Name())
		}
		return st, nil
	}
	files, err := dir.Files()
	if err != nil {
		return st, fmt.Errorf("read migration directory: %w", err)
	}
	for _, f := range files {
		st.Pending = append(st.Pending, f.Name())
	}
	return st, nil
}
