package pgmigrate

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"ariga.io/atlas/sql/migrate"

	"github.com/jarvis-core/jarvis/ent"
	entmigrate "github.com/jarvis-core/jarvis/ent/migrate"
)

// ModelTables is what ent/schema's annotations say of the tables.
var ModelTables = Tables{Owned: ent.OwnedTables, Reference: ent.ReferenceTables}

// SetLocalSettings are the settings jarvis_set_local may set: the identity
// and lookups of row-level security, and the per-query planner settings of
// vector search. A whitelist, because the function builds a SET statement.
var SetLocalSettings = []string{
	CurrentUserSetting, "app.lookup_email", "app.lookup_token_hash",
	"hnsw.ef_search", "hnsw.iterative_scan", "enable_sort", "enable_bitmapscan", "enable_seqscan", "jit", "plan_cache_mode",
}

// routine is a SQL function the migrations keep as written here: when the
// replayed directory has another body (or none), the next plan replaces it.
type routine struct {
	name, signature, returns, attrs, body, grant string
}

func (r routine) sql() string {
	s := fmt.Sprintf("CREATE OR REPLACE FUNCTION %s(%s) RETURNS %s\nLANGUAGE plpgsql %s AS $$%s$$;\n",
		quoteIdent(r.name), r.signature, r.returns, r.attrs, r.body)
	args := typesOf(r.signature)
	s += fmt.Sprintf("REVOKE ALL ON FUNCTION %s(%s) FROM PUBLIC;\n", quoteIdent(r.name), args)
	if r.grant != "" {
		s += fmt.Sprintf("GRANT EXECUTE ON FUNCTION %s(%s) TO %s;\n", quoteIdent(r.name), args, quoteIdent(r.grant))
	}
	return s
}

// typesOf drops the parameter names of a signature ("a uuid, b text" ->
// "uuid, text").
func typesOf(sig string) string {
	var ts []string
	for _, p := range strings.Split(sig, ",") {
		f := strings.Fields(p)
		ts = append(ts, f[len(f)-1])
	}
	return strings.Join(ts, ", ")
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quoteLiteral(s)
	}
	return strings.Join(q, ", ")
}

// routines are the functions of the model. Settings go through SET LOCAL,
// not set_config: Citus sends SET LOCAL (not set_config) to the workers a
// transaction uses, once citus.propagate_set_commands is 'local', which
// jarvis_set_local sets first; on plain Postgres both mean the same. One
// parameterized statement per setting keeps pgx from preparing a statement
// per literal.
func routines() []routine {
	return []routine{
		{
			name: "jarvis_set_local", signature: "name text, value text", returns: "void",
			attrs: "VOLATILE SECURITY INVOKER", grant: AppRole,
			body: fmt.Sprintf(`
-- SET LOCAL name = value for the whitelisted settings of the service
-- (internal/pgmigrate.SetLocalSettings), so that Citus propagates it to the
-- workers of the transaction; a placeholder setting on plain Postgres.
BEGIN
  IF name <> ALL (ARRAY[%s]) THEN
    RAISE EXCEPTION 'jarvis_set_local: setting %% is not allowed', name USING ERRCODE = '42501';
  END IF;
  SET LOCAL citus.propagate_set_commands = 'local';
  EXECUTE 'SET LOCAL ' || name || ' = ' || quote_literal(value);
END
`, quoteList(SetLocalSettings)),
		},
		{
			name: "jarvis_identify", signature: "uid uuid, sid uuid", returns: "void",
			attrs: "VOLATILE SECURITY INVOKER", grant: AppRole,
			body: `
-- Sets the transaction's acting user (app.current_user_id, transaction-local,
-- through jarvis_set_local so it reaches Citus workers too) and, for a
-- request's session, checks in the same statement that the session is live
-- and its user active, raising JV401 otherwise. The check names the user,
-- so on Citus it runs on that user's shard.
BEGIN
  PERFORM public.jarvis_set_local('app.current_user_id', uid::text);
  IF sid IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM public.sessions s JOIN public.users u ON u.id = s.user_id
    WHERE s.user_id = uid AND s.id = sid AND u.id = uid AND s.revoked_at IS NULL AND u.status = 'active'
  ) THEN
    RAISE EXCEPTION 'session is no longer valid' USING ERRCODE = 'JV401';
  END IF;
END
`,
		},
		{
			name: "jarvis_distribute", signature: "tbl regclass, col text", returns: "void",
			attrs: "VOLATILE SECURITY INVOKER",
			body: `
-- On a database with the citus extension: distributes tbl by col,
-- co-located with users (col NULL: a reference table, copied to every node;
-- its keys to distributed tables are dropped, which Citus cannot keep). A
-- table already distributed is left as it is. On plain Postgres: nothing.
DECLARE
  fk record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = tbl) THEN
    RETURN;
  END IF;
  -- DDL on tables this transaction has created or changed must not go
  -- over several connections.
  SET LOCAL citus.multi_shard_modify_mode = 'sequential';
  IF col IS NULL THEN
    FOR fk IN SELECT conname FROM pg_catalog.pg_constraint WHERE conrelid = tbl AND contype = 'f' LOOP
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, fk.conname);
    END LOOP;
    PERFORM create_reference_table(tbl);
  ELSIF tbl = 'public.users'::regclass THEN
    PERFORM create_distributed_table(tbl, col);
  ELSE
    PERFORM create_distributed_table(tbl, col, colocate_with => 'users');
  END IF;
END
`,
		},
	}
}

// readRoutines returns the body of each function of the model the database has.
func readRoutines(ctx context.Context, db *sql.DB) (map[string]string, error) {
	var names []string
	for _, r := range routines() {
		names = append(names, r.name)
	}
	rows, err := db.QueryContext(ctx, `SELECT p.proname, p.prosrc FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = current_schema() AND p.proname = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("inspect functions: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, src string
		if err := rows.Scan(&n, &src); err != nil {
			return nil, err
		}
		out[n] = src
	}
	return out, rows.Err()
}

// missingRoutines is the SQL that creates or replaces each function whose
// body differs from the model's (jarvis_set_local first: the others call it).
func missingRoutines(have map[string]string) string {
	var b strings.Builder
	for _, r := range routines() {
		if have[r.name] != r.body {
			b.WriteString("-- Function " + r.name + " (internal/pgmigrate/citus.go).\n")
			b.WriteString(r.sql())
		}
	}
	return b.String()
}

// distributeCall matches the distribution statement of a table in a
// migration file.
var distributeCall = regexp.MustCompile(`(?m)^SELECT jarvis_distribute\('([a-z0-9_]+)'`)

// distributedIn returns the tables the files of dir (and extra SQL) distribute.
func distributedIn(dir migrate.Dir, extra string) (map[string]bool, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	add := func(s string) {
		for _, m := range distributeCall.FindAllStringSubmatch(s, -1) {
			out[m[1]] = true
		}
	}
	for _, f := range files {
		add(string(f.Bytes()))
	}
	add(extra)
	return out, nil
}

// missingDistribution is the SQL that distributes (on Citus; nothing on
// plain Postgres) every table of the model no migration distributes yet:
// users first, then owned tables with their parents before them, then
// reference tables. A table added to the model later gets its call in the
// migration that creates it, whoever writes it: `jarvis migrate diff` plans
// it and `jarvis migrate check` fails without it.
func missingDistribution(done map[string]bool, m Tables) string {
	var b strings.Builder
	for _, t := range DistributionOrder(m) {
		if done[t] {
			continue
		}
		col, ok := m.distributed(t)
		arg := "NULL"
		if ok {
			arg = quoteLiteral(col)
		}
		fmt.Fprintf(&b, "SELECT jarvis_distribute('%s', %s);\n", t, arg)
	}
	if b.Len() == 0 {
		return ""
	}
	return "-- Citus: distribute per-user tables by user, co-located with users; reference tables everywhere (a no-op on plain Postgres).\n" + b.String()
}

// DistributionOrder lists the tables of the model in the order they must
// be distributed: users, then every other distributed table after the
// tables it references, then the reference tables.
func DistributionOrder(m Tables) []string {
	refs := map[string][]string{}
	for _, t := range entmigrate.Tables {
		for _, fk := range t.ForeignKeys {
			if fk.RefTable != nil && fk.RefTable.Name != t.Name {
				refs[t.Name] = append(refs[t.Name], fk.RefTable.Name)
			}
		}
	}
	var dist, ref []string
	for t := range m.Owned {
		if _, ok := m.distributed(t); ok {
			dist = append(dist, t)
		} else {
			ref = append(ref, t)
		}
	}
	for t := range m.Reference {
		if _, owned := m.Owned[t]; !owned {
			ref = append(ref, t)
		}
	}
	sort.Strings(dist)
	sort.Strings(ref)
	var order []string
	seen := map[string]bool{}
	var visit func(t string)
	visit = func(t string) {
		if seen[t] {
			return
		}
		seen[t] = true
		for _, p := range refs[t] {
			if _, ok := m.distributed(p); ok {
				visit(p)
			}
		}
		order = append(order, t)
	}
	if _, ok := m.distributed("users"); ok {
		visit("users")
	}
	for _, t := range dist {
		visit(t)
	}
	return append(order, ref...)
}
