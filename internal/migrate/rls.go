package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// AppRole is the role that holds the service's privileges. It cannot log in
// and has no BYPASSRLS; DATABASE_URL's login role is a member of it (see
// internal/db's provisioning), so grants live in migrations, passwords don't.
const AppRole = "jarvis_app"

// CurrentUserSetting is the transaction-local setting the service sets to the
// acting user's id before any query of a request (internal/db).
const CurrentUserSetting = "app.current_user_id"

// bootstrapSQL starts the first migration: what the tables need (pgvector)
// and who may use them (the service role, and default grants so every table a
// later migration creates is usable by the service without another GRANT).
// The role is created only when missing, so an operator can pre-create it and
// run migrations as an owner without CREATEROLE.
func bootstrapSQL() string {
	return fmt.Sprintf(`-- pgvector: embedding columns and HNSW indexes need the "vector" type.
CREATE EXTENSION IF NOT EXISTS vector;
-- The service's role: no login, no superuser, no BYPASSRLS; DATABASE_URL's login role is a member.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %[1]s) THEN
    CREATE ROLE %[2]s NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by another database's migration
END
$$;
GRANT USAGE ON SCHEMA public TO %[2]s;
-- Tables and sequences this owner creates from now on are usable by the service.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %[2]s;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %[2]s;
`, quoteLiteral(AppRole), quoteIdent(AppRole))
}

// policyName is the owner policy of a table.
func policyName(table string) string { return table + "_owner" }

// rlsSQL protects one owned table: row-level security enabled and forced (the
// table owner is bound too unless it has BYPASSRLS), and one policy that shows
// and accepts only the rows of app.current_user_id. NULLIF makes an unset or
// reset setting match nothing instead of failing the uuid cast.
func rlsSQL(table, column string) string {
	cond := fmt.Sprintf("%s = NULLIF(current_setting(%s, true), '')::uuid", quoteIdent(column), quoteLiteral(CurrentUserSetting))
	return fmt.Sprintf(`-- Row-level security on %[1]s: a session sees and writes only the rows of %[4]s.
ALTER TABLE %[1]s ENABLE ROW LEVEL SECURITY;
ALTER TABLE %[1]s FORCE ROW LEVEL SECURITY;
CREATE POLICY %[2]s ON %[1]s USING (%[3]s) WITH CHECK (%[3]s);
`, quoteIdent(table), quoteIdent(policyName(table)), cond, CurrentUserSetting)
}

// protectedTables returns the tables of the current schema that have RLS
// enabled and forced and carry their owner policy.
func protectedTables(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind = 'r'
		  AND c.relrowsecurity AND c.relforcerowsecurity
		  AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = c.relname || '_owner')`)
	if err != nil {
		return nil, fmt.Errorf("inspect row-level security: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out[name] = true
	}
	return out, rows.Err()
}

// missingRLS returns the SQL protecting every owned table not yet protected,
// in table order so the output is stable.
func missingRLS(owned map[string]string, protected map[string]bool) string {
	tables := make([]string, 0, len(owned))
	for t := range owned {
		if !protected[t] {
			tables = append(tables, t)
		}
	}
	sort.Strings(tables)
	var b strings.Builder
	for _, t := range tables {
		b.WriteString(rlsSQL(t, owned[t]))
	}
	return b.String()
}
