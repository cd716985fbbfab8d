package pgmigrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"ariga.io/atlas/sql/migrate"
)

// The revisions table has the Atlas CLI's name and columns, so `atlas migrate
// status` reads what `jarvis migrate apply` wrote and the other way round.
const (
	revisionSchema = "atlas_schema_revisions"
	revisionTable  = "atlas_schema_revisions"
)

const createRevisions = `
CREATE SCHEMA IF NOT EXISTS "atlas_schema_revisions";
CREATE TABLE IF NOT EXISTS "atlas_schema_revisions"."atlas_schema_revisions" (
	"version" character varying NOT NULL PRIMARY KEY,
	"description" character varying NOT NULL,
	"type" bigint NOT NULL DEFAULT 2,
	"applied" bigint NOT NULL DEFAULT 0,
	"total" bigint NOT NULL DEFAULT 0,
	"executed_at" timestamptz NOT NULL,
	"execution_time" bigint NOT NULL,
	"error" text NULL,
	"error_stmt" text NULL,
	"hash" character varying NOT NULL,
	"partial_hashes" jsonb NULL,
	"operator_version" character varying NOT NULL
)`

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// revisions implements migrate.RevisionReadWriter on the revisions table.
type revisions struct{ q querier }

var _ migrate.RevisionReadWriter = (*revisions)(nil)

func (r *revisions) Ident() *migrate.TableIdent {
	return &migrate.TableIdent{Schema: revisionSchema, Name: revisionTable}
}

const selectRevision = `SELECT version, description, type, applied, total, executed_at, execution_time,
	COALESCE(error, ''), COALESCE(error_stmt, ''), hash, partial_hashes, operator_version
	FROM "atlas_schema_revisions"."atlas_schema_revisions"`

func (r *revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	return r.read(ctx, selectRevision+" ORDER BY version")
}

func (r *revisions) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	revs, err := r.read(ctx, selectRevision+" WHERE version = $1", version)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, migrate.ErrRevisionNotExist
	}
	return revs[0], nil
}

func (r *revisions) read(ctx context.Context, query string, args ...any) ([]*migrate.Revision, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer rows.Close()
	var revs []*migrate.Revision
	for rows.Next() {
		var (
			rev      migrate.Revision
			typ      int64
			execNano int64
			partial  []byte
		)
		if err := rows.Scan(&rev.Version, &rev.Description, &typ, &rev.Applied, &rev.Total, &rev.ExecutedAt,
			&execNano, &rev.Error, &rev.ErrorStmt, &rev.Hash, &partial, &rev.OperatorVersion); err != nil {
			return nil, fmt.Errorf("scan revision: %w", err)
		}
		rev.Type = migrate.RevisionType(typ)
		rev.ExecutionTime = time.Duration(execNano)
		if len(partial) > 0 {
			if err := json.Unmarshal(partial, &rev.PartialHashes); err != nil {
				return nil, fmt.Errorf("revision %s partial hashes: %w", rev.Version, err)
			}
		}
		revs = append(revs, &rev)
	}
	return revs, rows.Err()
}

func (r *revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	var partial []byte
	if len(rev.PartialHashes) > 0 {
		var err error
		if partial, err = json.Marshal(rev.PartialHashes); err != nil {
			return err
		}
	}
	_, err := r.q.ExecContext(ctx, `INSERT INTO "atlas_schema_revisions"."atlas_schema_revisions"
		(version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''), NULLIF($9, ''), $10, $11, $12)
		ON CONFLICT (version) DO UPDATE SET description = EXCLUDED.description, type = EXCLUDED.type,
			applied = EXCLUDED.applied, total = EXCLUDED.total, executed_at = EXCLUDED.executed_at,
			execution_time = EXCLUDED.execution_time, error = EXCLUDED.error, error_stmt = EXCLUDED.error_stmt,
			hash = EXCLUDED.hash, partial_hashes = EXCLUDED.partial_hashes, operator_version = EXCLUDED.operator_version`,
		rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total, rev.ExecutedAt,
		int64(rev.ExecutionTime), rev.Error, rev.ErrorStmt, rev.Hash, partial, rev.OperatorVersion)
	if err != nil {
		return fmt.Errorf("write revision %s: %w", rev.Version, err)
	}
	return nil
}

func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.q.ExecContext(ctx, `DELETE FROM "atlas_schema_revisions"."atlas_schema_revisions" WHERE version = $1`, version)
	if err != nil {
		return fmt.Errorf("delete revision %s: %w", version, err)
	}
	return nil
}

// revisionsExist reports whether the revisions table is there (status on a
// database never migrated must not create it).
func revisionsExist(ctx context.Context, q querier) (bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT to_regclass('"atlas_schema_revisions"."atlas_schema_revisions"') IS NOT NULL`)
	if err != nil {
		return false, fmt.Errorf("look up revisions table: %w", err)
	}
	defer rows.Close()
	var ok bool
	if rows.Next() {
		if err := rows.Scan(&ok); err != nil {
			return false, err
		}
	}
	return ok, rows.Err()
}
