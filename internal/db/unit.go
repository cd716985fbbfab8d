package db

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/privacy"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// ErrNoViewer is returned by Run when ctx names nobody to act for.
var ErrNoViewer = fault.New(fault.Unauthorized, "sign in first: a valid bearer access token is required")

// Run is the unit of work: fn runs in one transaction acting as the viewer
// in ctx. For a user viewer the transaction first calls jarvis_identify,
// which sets app.current_user_id (set_config(..., true): transaction-local,
// so a pooled connection never carries one user's identity into another's
// work) and, when the viewer came with a session (viewer.Session), checks in
// the same statement that the session is live and the user active; a dead
// session fails that statement, so none of fn's statements runs, and Run
// returns ErrSessionInvalid. A privileged viewer (system, admin) runs
// without an identity: RLS then shows it no user's rows, which is what its
// narrow jobs (registration) expect.
//
// BEGIN and the identity go to Postgres with fn's first statement, as one
// pipeline: a read costs the round trip of its query and that of COMMIT
// (ReadOne, for a unit of one statement, folds COMMIT in: one). Go
// code in fn before its first statement runs before the session's answer,
// so fn must not act outside the database before it has read or written
// (a unit of work never should: it holds a transaction). A unit that runs no
// statement still gets the check, at commit.
//
// fn's error, or a panic in fn, rolls the transaction back. Errors come back
// classified (fault): privacy denials, the model's cross-owner refusal and
// foreign keys to rows the viewer cannot see are NotFound, unique
// violations Conflict, ent validation Invalid with the field.
func (d *DB) Run(ctx context.Context, fn func(ctx context.Context, tx *ent.Tx) error) error {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return ErrNoViewer
	}
	var pre []prelude
	if v.Role == viewer.RoleUser {
		pre = identify(v)
	}
	if err := d.unit(ctx, nil, pre, false, fn); err != nil {
		return Classify(err)
	}
	return nil
}

// ReadOne is Query for work that reads with exactly one statement (a list,
// a get): BEGIN READ ONLY, the identity, that statement and COMMIT go to
// Postgres as one pipeline, so the whole unit costs one round trip where
// Query costs two (the statement's, then COMMIT's). fn must run one
// statement and only one: a second fails with ErrOneStatement (the
// transaction has ended by then), and a write fails as in any read-only
// transaction. Errors are those of Query.
func ReadOne[T any](ctx context.Context, d *DB, fn func(ctx context.Context, tx *ent.Tx) (T, error)) (T, error) {
	var zero T
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return zero, ErrNoViewer
	}
	var pre []prelude
	if v.Role == viewer.RoleUser {
		pre = identify(v)
	}
	var out T
	err := d.unit(ctx, &sql.TxOptions{ReadOnly: true}, pre, true, func(ctx context.Context, tx *ent.Tx) error {
		var err error
		out, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		return zero, Classify(err)
	}
	return out, nil
}

// unit runs fn in one transaction begun with opts whose first statements
// are pre, and returns fn's error as is. With oneStatement, COMMIT travels
// with fn's first statement (see ReadOne).
func (d *DB) unit(ctx context.Context, opts *sql.TxOptions, pre []prelude, oneStatement bool, fn func(ctx context.Context, tx *ent.Tx) error) (err error) {
	var obs UnitSpan
	if d.observer != nil {
		ctx, obs = d.observer.StartUnit(ctx)
		defer func() { obs.End(err) }()
	}
	setup := &txSetup{prelude: pre, oneStatement: oneStatement}
	ctx = context.WithValue(ctx, txSetupKey{}, setup)
	var tx *ent.Tx
	if opts == nil {
		tx, err = d.Client.Tx(ctx)
	} else {
		tx, err = d.Client.BeginTx(ctx, opts)
	}
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		rerr := tx.Rollback()
		// A failed identity is the answer, whatever fn made of it.
		if setup.tx != nil && setup.tx.failed() != nil {
			err = setup.tx.failed()
		}
		if rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	// A COMMIT that travelled in the statement's pipeline has its own
	// statement span there; Commit then only reads what it said.
	if obs != nil && (setup.tx == nil || !setup.tx.committedInBatch()) {
		obs.Committing(ctx)
	}
	if err := tx.Commit(); err != nil {
		if setup.tx != nil && setup.tx.failed() != nil {
			return setup.tx.failed()
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Query is Run for work that returns a value.
func Query[T any](ctx context.Context, d *DB, fn func(ctx context.Context, tx *ent.Tx) (T, error)) (T, error) {
	var out T
	err := d.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		var err error
		out, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// QueryRows runs a raw query in the unit of work of ctx (the ctx Run gives
// fn), in its transaction and under its identity: for what ent cannot say
// (pgvector distance order, say), with pgx's rows; tx.QueryContext does
// the same through database/sql. The rows must be closed before the
// transaction's next statement.
func QueryRows(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	t, err := unitTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("db.QueryRows: %w", err)
	}
	return t.query(ctx, query, pgxArgs(args))
}

// ErrNoUnit is ExecWithNext or CommitWithNext called with a context that
// is not a unit of work's.
var ErrNoUnit = errors.New("db: no unit of work in the context")

// ExecWithNext queues query, a statement whose rows nobody reads (session
// settings, say), to go to Postgres in the pipeline of the unit's next
// statement, or of its COMMIT when none follows: it costs no round trip of
// its own. Its failure is that statement's error, and the transaction is
// then aborted, so the unit fails. ctx is the one Run gives fn; ErrNoUnit
// otherwise (the caller then executes the statement itself). After the
// unit's last statement (CommitWithNext, ReadOne) it returns
// ErrOneStatement: nothing more can be sent.
func ExecWithNext(ctx context.Context, query string, args ...any) error {
	t, err := unitTx(ctx)
	if err != nil {
		return err
	}
	return t.queue(&prelude{sql: query, args: pgxArgs(args), wrap: func(err error) error {
		return fmt.Errorf("queued statement: %w", err)
	}}, false)
}

// CommitWithNext declares the unit's next statement its last: COMMIT goes
// in that statement's pipeline, saving COMMIT's own round trip, as ReadOne
// does for its one statement. That must be one statement (an ent query
// with eager loading is several); a statement after it fails with
// ErrOneStatement. If the last statement fails, nothing is committed;
// once it succeeded, fn's later error cannot undo the commit, so call it
// before a read's last query, with nothing after it that can fail.
func CommitWithNext(ctx context.Context) error {
	t, err := unitTx(ctx)
	if err != nil {
		return err
	}
	return t.queue(nil, true)
}

// unitTx is the transaction of the unit of work in ctx; ent begins it when
// fn is handed its *ent.Tx.
func unitTx(ctx context.Context) (*pgxTx, error) {
	s, ok := ctx.Value(txSetupKey{}).(*txSetup)
	if !ok || s.tx == nil {
		return nil, ErrNoUnit
	}
	return s.tx, nil
}

// sessionInvalidCode is the SQLSTATE jarvis_identify raises for a session
// that is revoked or gone, or whose user is no longer active.
const sessionInvalidCode = "JV401"

// identify is the statement that makes a transaction the viewer's: see Run.
func identify(v viewer.Viewer) []prelude {
	// pgtype.UUID: encoded as is (see pgxArgs); invalid is NULL, no
	// session to check (a job acting for the user).
	sid := pgtype.UUID{Bytes: v.SessionID, Valid: v.SessionID != uuid.Nil}
	return []prelude{{
		sql:  "SELECT jarvis_identify($1, $2)",
		args: []any{pgtype.UUID{Bytes: v.UserID, Valid: true}, sid},
		wrap: func(err error) error {
			var pg *pgconn.PgError
			if errors.As(err, &pg) && pg.Code == sessionInvalidCode {
				return ErrSessionInvalid
			}
			return fmt.Errorf("set row-level security identity: %w", err)
		},
	}}
}

// Classify turns what ent and Postgres return into the fault vocabulary,
// leaving errors already classified (and unknown ones) as they are.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := fault.As(err); ok {
		return err
	}
	var (
		nf *ent.NotFoundError
		ve *ent.ValidationError
		pg *pgconn.PgError
	)
	switch {
	case errors.Is(err, privacy.Deny), errors.Is(err, rule.ErrCrossOwner):
		return fault.NotFoundf("not found").Wrap(err)
	case errors.As(err, &nf):
		label := strings.ReplaceAll(strings.TrimPrefix(nf.Error(), "ent: "), "_", " ")
		return fault.NotFoundf("%s", label).Wrap(err)
	case errors.As(err, &ve):
		return fault.InvalidField(ve.Name, "invalid value").Wrap(err)
	case errors.As(err, &pg):
		switch pg.Code {
		case "23503": // foreign key: the parent is not there for this user
			return fault.NotFoundf("referenced resource not found").Wrap(err)
		case "23505":
			return fault.Conflictf("already exists").Wrap(err)
		case "42501": // RLS refused the row: another user's
			return fault.NotFoundf("not found").Wrap(err)
		case "22003": // numeric value out of range (a total past numeric(20,10) or bigint)
			return fault.New(fault.Invalid, "a value is out of the range this service stores").Wrap(err)
		case "22001": // string too long for its column
			return fault.New(fault.Invalid, "a value is longer than this service stores").Wrap(err)
		case "23514": // check constraint
			return fault.New(fault.Invalid, "a value breaks a rule of the data model").Wrap(err)
		}
	}
	return err
}

// Page is a keyset page request on id, newest first: rows with id < Before
// (uuid.Nil: from the newest), Size of them. Services fetch Fetch() rows so
// that the page builder learns whether another page follows.
type Page struct {
	Before uuid.UUID
	Size   int
}

// Fetch is how many rows a list query asks for: one more than the page.
func (p Page) Fetch() int { return p.Size + 1 }

// NewPage reads a page request: size items (the API bounds it to 1-100)
// after cursor, a next_cursor this API returned ("" for the first page).
func NewPage(size int, cursor string) (Page, error) {
	p := Page{Size: size}
	if cursor == "" {
		return p, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		p.Before, err = uuid.FromBytes(b)
	}
	if err != nil {
		return Page{}, fault.InvalidField("cursor", "not a cursor this API returned")
	}
	return p, nil
}

// Cursor is the next_cursor after the row with id.
func Cursor(id uuid.UUID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// UserID is the acting user of ctx, for work that must name its owner (the
// user_id of a row it creates, a binding); ErrNoViewer without a user viewer.
func UserID(ctx context.Context) (uuid.UUID, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok || v.Role != viewer.RoleUser {
		return uuid.Nil, ErrNoViewer
	}
	return v.UserID, nil
}

// Observer watches units of work: internal/telemetry's span and duration
// metric. StartUnit returns the context the unit runs in (its statements
// nest under it) and the unit in progress.
type Observer interface {
	StartUnit(ctx context.Context) (context.Context, UnitSpan)
}

// UnitSpan is a unit of work in progress, as its Observer sees it.
type UnitSpan interface {
	// Committing is called when the work is done and COMMIT is sent.
	Committing(ctx context.Context)
	// End is called once with the unit's outcome (nil: committed).
	End(err error)
}

// Observe has o watch every unit of work from now on; call it before the
// service serves (fx invokes run before start hooks).
func (d *DB) Observe(o Observer) { d.observer = o }

// Snapshot is Run in one REPEATABLE READ, read-only transaction: every
// statement of fn sees the database as of its first one, so work that reads
// in many statements (an export paging through every table) reads one
// consistent state without holding it all in memory.
func (d *DB) Snapshot(ctx context.Context, fn func(ctx context.Context, tx *ent.Tx) error) error {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return ErrNoViewer
	}
	var pre []prelude
	if v.Role == viewer.RoleUser {
		pre = identify(v)
	}
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	if err := d.unit(ctx, opts, pre, false, fn); err != nil {
		return Classify(err)
	}
	return nil
}
