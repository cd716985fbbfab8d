package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgxDriver is ent's dialect.Driver straight on a pgx pool, without
// database/sql: statements go out in pgx's statement-cache mode (prepared
// once per connection, then one round trip each), and a transaction begins
// lazily, so that BEGIN, the unit of work's identity statements and its
// first query travel to Postgres as one pipeline.
type pgxDriver struct{ pool *pgxpool.Pool }

var _ dialect.Driver = (*pgxDriver)(nil)

func (d *pgxDriver) Dialect() string { return dialect.Postgres }

// Close is a no-op: DB.Close closes the pool, which others share.
func (d *pgxDriver) Close() error { return nil }

func (d *pgxDriver) Exec(ctx context.Context, query string, args, v any) error {
	argv, ok := args.([]any)
	if !ok {
		return fmt.Errorf("db driver: invalid type %T for args, want []any", args)
	}
	tag, err := d.pool.Exec(ctx, query, pgxArgs(argv)...)
	if err != nil {
		return err
	}
	return setResult(v, tag)
}

func (d *pgxDriver) Query(ctx context.Context, query string, args, v any) error {
	vr, argv, err := queryTargets(args, v)
	if err != nil {
		return err
	}
	rows, err := d.pool.Query(ctx, query, argv...)
	if err != nil {
		return err
	}
	vr.ColumnScanner = &pgxRows{rows: rows}
	return nil
}

// Tx is a transaction that begins at its first statement (see txSetup).
func (d *pgxDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx is Tx with options; ent's Client.BeginTx calls it. Only the read
// only flag and the isolation levels Postgres has are understood.
func (d *pgxDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	t := &pgxTx{pool: d.pool, ctx: ctx}
	if opts != nil {
		if opts.ReadOnly {
			t.opts.AccessMode = pgx.ReadOnly
		}
		switch opts.Isolation {
		case sql.LevelDefault:
		case sql.LevelReadCommitted:
			t.opts.IsoLevel = pgx.ReadCommitted
		case sql.LevelRepeatableRead, sql.LevelSnapshot:
			t.opts.IsoLevel = pgx.RepeatableRead
		case sql.LevelSerializable:
			t.opts.IsoLevel = pgx.Serializable
		default:
			return nil, fmt.Errorf("db driver: isolation level %s is not supported", opts.Isolation)
		}
	}
	if s, ok := ctx.Value(txSetupKey{}).(*txSetup); ok && s.tx == nil {
		t.setup = s
		s.tx = t
	}
	return t, nil
}

// txSetup is how a unit of work (Run, Lookup) hands its transaction the
// statements that must run first, before any of fn's, and learns which
// transaction ent began for it. It travels in the context given to
// Client.Tx, since ent's Tx hides its driver.
type txSetup struct {
	// prelude runs right after BEGIN, in the same pipeline as the first
	// statement of the work; its errors end the transaction.
	prelude []prelude
	// oneStatement queues COMMIT right after the first statement, in its
	// pipeline: the unit has no other statement to wait for.
	oneStatement bool
	tx           *pgxTx
}

// ErrOneStatement is a statement after the one a unit of work declared its
// last (ReadOne's first, CommitWithNext's next): a programming error,
// refused rather than run outside the transaction that has committed.
var ErrOneStatement = errors.New("db: a statement after the unit of work's last one (ReadOne, CommitWithNext)")

type prelude struct {
	sql  string
	args []any
	// wrap turns the statement's error into the unit's (nil: as is).
	wrap func(error) error
}

type txSetupKey struct{}

// pgxTx is ent's dialect.Tx on one pooled connection. Nothing goes to
// Postgres until the first statement: then BEGIN, the prelude and that
// statement are one pipeline, one round trip once the connection has them
// prepared. A transaction that runs no statement never takes a connection,
// except to run its prelude (the session check still has to answer).
type pgxTx struct {
	pool  *pgxpool.Pool
	opts  pgx.TxOptions
	setup *txSetup
	// ctx is the unit of work's: a transaction whose BEGIN is deferred to
	// Commit (no statement ran) still honours its deadline there.
	ctx context.Context

	mu   sync.Mutex
	conn *pgxpool.Conn
	tx   pgx.Tx
	err  error // sticky: the prelude (identity) failed, or the begin did
	done bool
	// ended is set once the unit's last statement went out with COMMIT
	// behind it (ReadOne's first, CommitWithNext's next); endErr is what
	// that batch said, the COMMIT's answer included, once the statement's
	// results were read.
	ended  bool
	endErr error
	// pending are statements queued by ExecWithNext, sent in the pipeline
	// of the next statement; commitNext (CommitWithNext) queues COMMIT
	// behind that statement.
	pending    []prelude
	commitNext bool
}

var _ dialect.Tx = (*pgxTx)(nil)

// send sends one batch: BEGIN and the prelude when the transaction has not
// begun, the statements queued by ExecWithNext, stmt, and COMMIT behind
// stmt when last (see lastNext). It returns stmt's rows or tag. A failed
// prelude fails the unit for good (t.err); a failed queued statement is
// stmt's error, and the transaction is then aborted. The caller holds t.mu.
func (t *pgxTx) send(ctx context.Context, stmt string, args []any, query, last bool) (pgx.Rows, pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	begin := t.tx == nil
	var pre []prelude
	if begin {
		conn, err := t.pool.Acquire(ctx)
		if err != nil {
			t.err = fmt.Errorf("acquire connection: %w", err)
			return nil, pgconn.CommandTag{}, t.err
		}
		t.conn = conn
		b.BeginTx(t.opts)
		if t.setup != nil {
			pre = t.setup.prelude
		}
	}
	preludes := len(pre)
	if len(t.pending) > 0 {
		pre = append(pre[:len(pre):len(pre)], t.pending...)
		t.pending = nil
	}
	for _, p := range pre {
		b.Queue(p.sql, p.args...)
	}
	b.Queue(stmt, args...)
	if last {
		b.Queue("COMMIT")
		t.ended = true
	}
	var br pgx.BatchResults
	if begin {
		br = t.conn.Conn().SendBatch(ctx, b)
		t.tx = br.Tx()
		if _, err := br.Exec(); err != nil {
			t.err = errors.Join(fmt.Errorf("begin transaction: %w", err), br.Close())
			return nil, pgconn.CommandTag{}, t.err
		}
	} else {
		br = t.tx.SendBatch(ctx, b)
	}
	for i, p := range pre {
		if _, err := br.Exec(); err != nil {
			if p.wrap != nil {
				err = p.wrap(err)
			}
			_ = br.Close() // the same error, or the connection is gone: err says more
			if i < preludes {
				t.err = err
			} else if last {
				t.endErr = err // COMMIT never ran: Commit must say so
			}
			return nil, pgconn.CommandTag{}, err
		}
	}
	if query {
		rows, err := br.Query()
		if err != nil {
			err = errors.Join(err, br.Close())
			if last {
				t.endErr = err
			}
			return nil, pgconn.CommandTag{}, err
		}
		// The batch must be closed before the connection is used again:
		// closing the rows does it.
		return &batchRows{Rows: rows, br: br, tx: t}, pgconn.CommandTag{}, nil
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if last {
		t.endErr = err
	}
	return nil, tag, err
}

// lastNext reports whether the next statement is the unit's last, to be
// followed by COMMIT in its pipeline: CommitWithNext said so, or it is the
// first statement of a one-statement unit (ReadOne). The caller holds t.mu.
func (t *pgxTx) lastNext() bool {
	return t.commitNext || (t.tx == nil && t.setup != nil && t.setup.oneStatement)
}

// queue adds a statement for the next batch (ExecWithNext), or with
// commitNext marks the next statement the last (CommitWithNext); refused
// once nothing more can be sent.
func (t *pgxTx) queue(p *prelude, commitNext bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.err != nil:
		return t.err
	case t.done:
		return pgx.ErrTxClosed
	case t.ended:
		return ErrOneStatement
	}
	if p != nil {
		t.pending = append(t.pending, *p)
	}
	t.commitNext = t.commitNext || commitNext
	return nil
}

func (t *pgxTx) exec(ctx context.Context, query string, argv []any) (pgconn.CommandTag, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.err != nil:
		return pgconn.CommandTag{}, t.err
	case t.done:
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	case t.ended:
		return pgconn.CommandTag{}, ErrOneStatement
	case t.tx == nil, len(t.pending) > 0, t.commitNext:
		_, tag, err := t.send(ctx, query, argv, false, t.lastNext())
		return tag, err
	}
	return t.tx.Exec(ctx, query, argv...)
}

func (t *pgxTx) query(ctx context.Context, query string, argv []any) (pgx.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.err != nil:
		return nil, t.err
	case t.done:
		return nil, pgx.ErrTxClosed
	case t.ended:
		return nil, ErrOneStatement
	case t.tx == nil, len(t.pending) > 0, t.commitNext:
		rows, _, err := t.send(ctx, query, argv, true, t.lastNext())
		return rows, err
	}
	return t.tx.Query(ctx, query, argv...)
}

func (t *pgxTx) Exec(ctx context.Context, query string, args, v any) error {
	argv, ok := args.([]any)
	if !ok {
		return fmt.Errorf("db driver: invalid type %T for args, want []any", args)
	}
	tag, err := t.exec(ctx, query, pgxArgs(argv))
	if err != nil {
		return err
	}
	return setResult(v, tag)
}

func (t *pgxTx) Query(ctx context.Context, query string, args, v any) error {
	vr, argv, err := queryTargets(args, v)
	if err != nil {
		return err
	}
	rows, err := t.query(ctx, query, argv)
	if err != nil {
		return err
	}
	vr.ColumnScanner = &pgxRows{rows: rows}
	return nil
}

// ExecContext serves ent's Tx.ExecContext (raw statements in a unit of
// work), in the transaction like any other statement.
func (t *pgxTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tag, err := t.exec(ctx, query, pgxArgs(args))
	if err != nil {
		return nil, err
	}
	return result(tag), nil
}

// Commit commits what ran, or, when nothing did, still runs the prelude
// (a unit of work that only checks the session must get its answer).
// Statements still queued (ExecWithNext) go with COMMIT, in one batch.
func (t *pgxTx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	defer t.release()
	if t.err != nil {
		if t.tx != nil {
			// End the failed transaction, so the connection goes back to
			// the pool instead of being destroyed by it.
			_ = t.tx.Rollback(context.Background())
		}
		return t.err
	}
	if t.ended {
		// COMMIT went with the statement; its answer came when the
		// statement's results were closed. The connection must have left
		// the transaction: a failure fn ignored is still the unit's.
		err := t.endErr
		if err == nil && t.conn.Conn().PgConn().TxStatus() != 'I' {
			err = errors.New("commit: the unit's last statement did not end its transaction")
		}
		if err != nil {
			_ = t.tx.Rollback(context.Background()) // a no-op unless the batch left it open
			return err
		}
		return nil
	}
	if t.tx == nil && (t.setup == nil || len(t.setup.prelude) == 0) && len(t.pending) == 0 {
		return nil
	}
	if t.tx == nil || len(t.pending) > 0 {
		// The prelude (a unit that only checks the session must get its
		// answer) or queued statements: they and COMMIT, one batch.
		t.commitNext = false
		ctx := t.ctx
		if t.tx != nil {
			// Like pgx's own Commit below: work done is not undone because
			// the request went away just after it.
			ctx = context.WithoutCancel(ctx)
		}
		if _, _, err := t.send(ctx, "COMMIT", nil, false, false); err != nil {
			if t.tx != nil {
				_ = t.tx.Rollback(context.Background()) // as above: keep the connection
			}
			return err
		}
		return nil
	}
	return t.tx.Commit(context.Background())
}

// Rollback ends the transaction; one that never began has nothing to undo.
func (t *pgxTx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	defer t.release()
	if t.tx == nil {
		return nil
	}
	err := t.tx.Rollback(context.Background())
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil // the failed begin already ended it
	}
	return err
}

// release returns the connection; the pool destroys one left inside a
// transaction (a failed rollback), so no state leaks to the next user.
func (t *pgxTx) release() {
	if t.conn != nil {
		t.conn.Release()
		t.conn = nil
	}
}

// batchRows are the rows of a batch's last query: closing them closes the
// batch, which frees the connection for the transaction's next statement.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
	tx *pgxTx
}

func (r *batchRows) Close() {
	r.Rows.Close()
	err := r.br.Close() // the rows' error too, or COMMIT's when it was queued behind them
	if r.tx.ended {
		r.tx.endErr = err
	}
}

// pgxRows is ent's ColumnScanner on pgx rows.
type pgxRows struct {
	rows    pgx.Rows
	columns []string
	targets []any // Scan's, reused from row to row
}

func (r *pgxRows) Close() error {
	r.rows.Close()
	return r.rows.Err()
}

// ColumnTypes would return database/sql types; ent only uses them to guess
// how to scan columns it does not know, and falls back to any.
func (r *pgxRows) ColumnTypes() ([]*sql.ColumnType, error) {
	return nil, errors.New("column types are not available on the pgx driver")
}

func (r *pgxRows) Columns() ([]string, error) {
	if r.columns == nil {
		fds := r.rows.FieldDescriptions()
		r.columns = make([]string, len(fds))
		for i, fd := range fds {
			r.columns[i] = fd.Name
		}
	}
	return r.columns, nil
}

func (r *pgxRows) Err() error          { return r.rows.Err() }
func (r *pgxRows) Next() bool          { return r.rows.Next() }
func (r *pgxRows) NextResultSet() bool { return false }
func (r *pgxRows) Scan(dest ...any) error {
	// The targets pgx gets are a copy: ent reads its own back after the
	// scan, by their types.
	r.targets = append(r.targets[:0], dest...)
	for i, d := range dest {
		switch d := d.(type) {
		case *entsql.UnknownType:
			// ent scans columns it does not model into *sql.UnknownType,
			// an interface pgx does not know as such.
			r.targets[i] = (*any)(d)
		// ent's scan targets are database/sql's: pgx scans a sql.Scanner
		// by decoding the column into a driver value, then converting it
		// again (a uuid through its text). These targets take pgx's values
		// as they are, and are still sql.Scanners for the types whose
		// codecs do not offer them (pgx then falls back to Scan).
		case *uuid.UUID:
			r.targets[i] = (*scanUUID)(d)
		case *sql.NullString:
			r.targets[i] = (*scanNullString)(d)
		case *sql.NullTime:
			r.targets[i] = (*scanNullTime)(d)
		case *sql.NullInt64:
			r.targets[i] = (*scanNullInt64)(d)
		}
	}
	return r.rows.Scan(r.targets...)
}

type (
	scanUUID       uuid.UUID
	scanNullString sql.NullString
	scanNullTime   sql.NullTime
	scanNullInt64  sql.NullInt64
)

// ScanUUID leaves the target as it was on NULL, as uuid.UUID.Scan does.
func (u *scanUUID) ScanUUID(v pgtype.UUID) error {
	if v.Valid {
		*u = v.Bytes
	}
	return nil
}

func (u *scanUUID) Scan(src any) error { return (*uuid.UUID)(u).Scan(src) }

func (s *scanNullString) ScanText(v pgtype.Text) error {
	*s = scanNullString{String: v.String, Valid: v.Valid}
	return nil
}

func (s *scanNullString) Scan(src any) error { return (*sql.NullString)(s).Scan(src) }

func (t *scanNullTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	if v.Valid && v.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("cannot scan an infinite timestamp into a time")
	}
	*t = scanNullTime{Time: v.Time, Valid: v.Valid}
	return nil
}

func (t *scanNullTime) Scan(src any) error { return (*sql.NullTime)(t).Scan(src) }

func (n *scanNullInt64) ScanInt64(v pgtype.Int8) error {
	*n = scanNullInt64{Int64: v.Int64, Valid: v.Valid}
	return nil
}

func (n *scanNullInt64) Scan(src any) error { return (*sql.NullInt64)(n).Scan(src) }

// pgxArgs gives pgx uuid arguments in a type it encodes directly:
// uuid.UUID is a driver.Valuer, which pgx would turn into its text and parse
// back for every argument (6% of a list request's CPU in jarvis bench read).
// args is copied, not changed, when it holds one.
func pgxArgs(args []any) []any {
	out := args
	for i, a := range args {
		var u pgtype.UUID
		switch a := a.(type) {
		case uuid.UUID:
			u = pgtype.UUID{Bytes: a, Valid: true}
		case *uuid.UUID:
			if a == nil {
				continue
			}
			u = pgtype.UUID{Bytes: *a, Valid: true}
		default:
			continue
		}
		if &out[0] == &args[0] {
			out = slices.Clone(args)
		}
		out[i] = u
	}
	return out
}

func queryTargets(args, v any) (*entsql.Rows, []any, error) {
	vr, ok := v.(*entsql.Rows)
	if !ok {
		return nil, nil, fmt.Errorf("db driver: invalid type %T for rows, want *sql.Rows", v)
	}
	argv, ok := args.([]any)
	if !ok {
		return nil, nil, fmt.Errorf("db driver: invalid type %T for args, want []any", args)
	}
	return vr, pgxArgs(argv), nil
}

func setResult(v any, tag pgconn.CommandTag) error {
	switch v := v.(type) {
	case nil:
	case *sql.Result:
		*v = result(tag)
	default:
		return fmt.Errorf("db driver: invalid type %T for result, want *sql.Result", v)
	}
	return nil
}

// result is a command tag as database/sql's Result.
type result pgconn.CommandTag

func (r result) LastInsertId() (int64, error) {
	return 0, errors.New("LastInsertId is not supported by Postgres: use RETURNING")
}

func (r result) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }

// committedInBatch reports whether COMMIT already went out in the last
// statement's pipeline (ReadOne, CommitWithNext): Commit then sends nothing.
func (t *pgxTx) committedInBatch() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended
}

// failed is the error that ended the transaction before fn's statements
// could run (the identity, the begin), if any.
func (t *pgxTx) failed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
