package db

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/privacy"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// ErrNoViewer is returned by Run when ctx names nobody to act for.
var ErrNoViewer = fault.New(fault.Unauthorized, "sign in first: a valid bearer access token is required")

// Run is the unit of work: fn runs in one transaction acting as the viewer
// in ctx. For a user viewer the transaction first sets app.current_user_id
// (set_config(..., true): transaction-local, so a pooled connection never
// carries one user's identity into another's work) and, when the viewer
// came with a session (viewer.Session), checks in the same transaction that
// the session is live and the user active. A privileged viewer (system,
// admin) runs without an identity: RLS then shows it no user's rows, which
// is what its narrow jobs (registration) expect.
//
// fn's error, or a panic in fn, rolls the transaction back. Errors come back
// classified (fault): privacy denials, the model's cross-owner refusal and
// foreign keys to rows the viewer cannot see are NotFound, unique
// violations Conflict, ent validation Invalid with the field.
func (d *DB) Run(ctx context.Context, fn func(ctx context.Context, tx *ent.Tx) error) (err error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return ErrNoViewer
	}
	tx, err := d.Client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if v.Role == viewer.RoleUser {
		if err := identify(ctx, tx, v); err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	if err := fn(ctx, tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(Classify(err), fmt.Errorf("rollback: %w", rerr))
		}
		return Classify(err)
	}
	if err := tx.Commit(); err != nil {
		return Classify(fmt.Errorf("commit: %w", err))
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

// identify sets the transaction's RLS identity and, for a request's
// session, checks it.
func identify(ctx context.Context, tx *ent.Tx, v viewer.Viewer) error {
	if _, err := tx.ExecContext(ctx, "SELECT set_config($1, $2, true)", pgmigrate.CurrentUserSetting, v.UserID.String()); err != nil {
		return fmt.Errorf("set row-level security identity: %w", err)
	}
	if v.SessionID != [16]byte{} {
		return checkSession(ctx, tx, v.SessionID)
	}
	return nil
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
