package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// ent's Tx.QueryContext must return database/sql's *sql.Rows, which only a
// *sql.DB can make. rawSQL is a database/sql handle whose connections own
// nothing: each query runs on the pgx transaction the context names (see
// pgxTx.QueryContext), so raw queries in a unit of work keep its
// transaction and identity, and only the rows go through database/sql.
var rawSQL = sql.OpenDB(txConnector{})

type rawTxKey struct{}

// QueryContext runs a raw query in the transaction (its deferred BEGIN and
// identity included) and returns its rows through database/sql.
func (t *pgxTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return rawSQL.QueryContext(context.WithValue(ctx, rawTxKey{}, t), query, args...)
}

type txConnector struct{}

func (txConnector) Connect(context.Context) (driver.Conn, error) { return txConn{}, nil }
func (txConnector) Driver() driver.Driver                        { return txDriver{} }

type txDriver struct{}

func (txDriver) Open(string) (driver.Conn, error) { return txConn{}, nil }

// txConn is a database/sql connection that only queries, on the pgx
// transaction in the query's context.
type txConn struct{}

var errRawOnly = errors.New("db: this handle only serves Tx.QueryContext in a unit of work")

func (txConn) Prepare(string) (driver.Stmt, error) { return nil, errRawOnly }
func (txConn) Close() error                        { return nil }
func (txConn) Begin() (driver.Tx, error)           { return nil, errRawOnly }

// CheckNamedValue hands arguments to pgx as they are, as pgx's own
// database/sql driver does: pgx knows more types than database/sql.
func (txConn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (txConn) QueryContext(ctx context.Context, query string, named []driver.NamedValue) (driver.Rows, error) {
	t, ok := ctx.Value(rawTxKey{}).(*pgxTx)
	if !ok {
		return nil, errRawOnly
	}
	args := make([]any, len(named))
	for i, nv := range named {
		args[i] = nv.Value
	}
	rows, err := t.query(ctx, query, pgxArgs(args))
	if err != nil {
		return nil, err
	}
	return &sqlRows{rows: rows}, nil
}

// sqlRows are pgx rows as database/sql driver rows: each value decoded by
// its type's codec into what database/sql scans (as pgx's stdlib does).
type sqlRows struct {
	rows    pgx.Rows
	columns []string
}

func (r *sqlRows) Columns() []string {
	if r.columns == nil {
		fds := r.rows.FieldDescriptions()
		r.columns = make([]string, len(fds))
		for i, fd := range fds {
			r.columns[i] = fd.Name
		}
	}
	return r.columns
}

func (r *sqlRows) Close() error {
	r.rows.Close()
	return r.rows.Err()
}

func (r *sqlRows) Next(dest []driver.Value) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	m := r.rows.Conn().TypeMap()
	fds := r.rows.FieldDescriptions()
	for i, raw := range r.rows.RawValues() {
		if raw == nil {
			dest[i] = nil
			continue
		}
		fd := fds[i]
		typ, ok := m.TypeForOID(fd.DataTypeOID)
		if !ok {
			// A type pgx does not know (pgvector's): its text form.
			if fd.Format == pgx.TextFormatCode {
				dest[i] = string(raw)
			} else {
				dest[i] = append([]byte(nil), raw...)
			}
			continue
		}
		v, err := typ.Codec.DecodeDatabaseSQLValue(m, fd.DataTypeOID, fd.Format, raw)
		if err != nil {
			return fmt.Errorf("column %s: %w", fd.Name, err)
		}
		dest[i] = v
	}
	return nil
}
