package pgmigrate

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/jarvis-core/jarvis/ent"
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
%[2]s;
GRANT USAGE ON SCHEMA public TO %[1]s;
-- Tables and sequences this owner creates from now on are usable by the service.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %[1]s;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %[1]s;
`, quoteIdent(AppRole), AppRoleSQL())
}

// AppRoleSQL creates AppRole if it is missing, tolerating a concurrent
// creation by another database's migration. The first migration runs it, and
// so does provisioning as superuser, for owners without CREATEROLE.
func AppRoleSQL() string {
	return fmt.Sprintf(`DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %[1]s) THEN
    CREATE ROLE %[2]s NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- created concurrently by another database's migration
END
$$`, quoteLiteral(AppRole), quoteIdent(AppRole))
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

// lookupPolicyName is the narrow lookup policy of a table.
func lookupPolicyName(table string) string { return table + "_lookup" }

// lookupSQL is the SELECT-only policy of a schema.Lookup annotation.
func lookupSQL(table string, l ent.LookupPolicy) string {
	value := fmt.Sprintf("NULLIF(current_setting(%s, true), '')", quoteLiteral(l.Setting))
	if l.Hex {
		value = fmt.Sprintf("decode(%s, 'hex')", value)
	}
	return fmt.Sprintf(`-- Narrow lookup on %[1]s before identity is known: rows whose %[3]s equals %[4]s, read only.
CREATE POLICY %[2]s ON %[1]s FOR SELECT USING (%[3]s = %[5]s);
`, quoteIdent(table), quoteIdent(lookupPolicyName(table)), quoteIdent(l.Column), l.Setting, value)
}

// rlsState is what a database has of row-level security: tables with RLS
// enabled and forced, and the names of policies per table.
type rlsState struct {
	forced   map[string]bool
	policies map[string]bool // "table/policy"
}

func readRLS(ctx context.Context, db *sql.DB) (rlsState, error) {
	st := rlsState{forced: map[string]bool{}, policies: map[string]bool{}}
	rows, err := db.QueryContext(ctx, `
		SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity, coalesce(p.polname, '')
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_policy p ON p.polrelid = c.oid
		WHERE n.nspname = current_schema() AND c.relkind = 'r'`)
	if err != nil {
		return st, fmt.Errorf("inspect row-level security: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			table, policy string
			forced        bool
		)
		if err := rows.Scan(&table, &forced, &policy); err != nil {
			return st, err
		}
		st.forced[table] = forced
		if policy != "" {
			st.policies[table+"/"+policy] = true
		}
	}
	return st, rows.Err()
}

// missingRLS returns the SQL giving every owned table its RLS and owner
// policy, and every lookup table its lookup policy, where the database lacks
// them; in table order so the output is stable.
func missingRLS(st rlsState, owned map[string]string, lookups map[string]ent.LookupPolicy) string {
	var tables []string
	for t := range owned {
		tables = append(tables, t)
	}
	for t := range lookups {
		if _, ok := owned[t]; !ok {
			tables = append(tables, t)
		}
	}
	sort.Strings(tables)
	var b strings.Builder
	for _, t := range tables {
		if col, ok := owned[t]; ok && !(st.forced[t] && st.policies[t+"/"+policyName(t)]) {
			b.WriteString(rlsSQL(t, col))
		}
		if l, ok := lookups[t]; ok && !st.policies[t+"/"+lookupPolicyName(t)] {
			b.WriteString(lookupSQL(t, l))
		}
	}
	return b.String()
}
