package pgmigrate_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	atlas "ariga.io/atlas/sql/migrate"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// projectDir is the migration directory as committed.
func projectDir(t *testing.T) *atlas.LocalDir {
	t.Helper()
	dir, err := pgmigrate.LocalDir("../../ent/migrate/migrations")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// memCopy copies dir into memory, letting edit change file contents first;
// atlas.sum is recomputed when rehash is set.
func memCopy(t *testing.T, dir atlas.Dir, rehash bool, edit func(name, body string) string) *atlas.MemDir {
	t.Helper()
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	mem := &atlas.MemDir{}
	for _, f := range files {
		body := string(f.Bytes())
		if edit != nil {
			body = edit(f.Name(), body)
		}
		if err := mem.WriteFile(f.Name(), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := dir.Checksum()
	if rehash {
		sum, err = mem.Checksum()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := atlas.WriteSumFile(mem, sum); err != nil {
		t.Fatal(err)
	}
	return mem
}

func addFile(t *testing.T, mem *atlas.MemDir, name, body string) {
	t.Helper()
	if err := mem.WriteFile(name, []byte(body)); err != nil {
		t.Fatal(err)
	}
	sum, err := mem.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := atlas.WriteSumFile(mem, sum); err != nil {
		t.Fatal(err)
	}
}

func openEmpty(t *testing.T) *sql.DB {
	t.Helper()
	conn, err := db.OpenSQL(context.Background(), dbtest.Empty(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func tableExists(t *testing.T, conn *sql.DB, name string) bool {
	t.Helper()
	var ok bool
	if err := conn.QueryRow("SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestMigrationDirectoryMatchesSchema fails when ent/schema changed without
// `jarvis migrate diff`, when RLS is missing on an owned table, or when
// atlas.sum does not match the files.
func TestMigrationDirectoryMatchesSchema(t *testing.T) {
	t.Parallel()
	if err := pgmigrate.Check(context.Background(), dbtest.AdminURL(), projectDir(t)); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedDirectoryIsTheCommittedOne(t *testing.T) {
	t.Parallel()
	embedded, err := pgmigrate.FSDir(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := embedded.Checksum()
	b, _ := projectDir(t).Checksum()
	if a.Sum() != b.Sum() {
		t.Fatal("embedded migrations differ from ent/migrate/migrations")
	}
}

func TestApplyIsIdempotentAndRecordsRevisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := openEmpty(t)
	dir := projectDir(t)
	files, _ := dir.Files()

	applied, err := pgmigrate.Apply(ctx, conn, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(files) {
		t.Fatalf("applied %v, want all %d files", applied, len(files))
	}
	again, err := pgmigrate.Apply(ctx, conn, dir, quiet)
	if err != nil || len(again) != 0 {
		t.Fatalf("second apply: %v, %v; want nothing applied", again, err)
	}
	st, err := pgmigrate.ReadStatus(ctx, conn, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.OK() || st.Current != files[len(files)-1].Version() || len(st.Applied) != len(files) {
		t.Fatalf("status = %+v", st)
	}
	for table := range ent.OwnedTables {
		if !tableExists(t, conn, table) {
			t.Errorf("table %s missing after apply", table)
		}
	}
}

func TestStatusOfANewDatabaseListsEveryFileAsPending(t *testing.T) {
	t.Parallel()
	conn := openEmpty(t)
	st, err := pgmigrate.ReadStatus(context.Background(), conn, projectDir(t))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := projectDir(t).Files()
	if st.OK() || len(st.Pending) != len(files) || st.Current != "" {
		t.Fatalf("status = %+v", st)
	}
	if tableExists(t, conn, "atlas_schema_revisions.atlas_schema_revisions") {
		t.Fatal("status created the revisions table")
	}
}

func TestApplyRefusesATamperedDirectory(t *testing.T) {
	t.Parallel()
	conn := openEmpty(t)
	tampered := memCopy(t, projectDir(t), false, func(_, body string) string {
		return strings.Replace(body, "FORCE ROW LEVEL SECURITY", "NO FORCE ROW LEVEL SECURITY", 1)
	})
	_, err := pgmigrate.Apply(context.Background(), conn, tampered, quiet)
	if !errors.Is(err, atlas.ErrChecksumMismatch) {
		t.Fatalf("err = %v, want checksum mismatch", err)
	}
	if tableExists(t, conn, "users") {
		t.Fatal("a tampered directory changed the database")
	}
}

func TestApplyRollsBackAFailingFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := openEmpty(t)
	dir := memCopy(t, projectDir(t), true, nil)
	addFile(t, dir, "20990101000000_broken.sql", "CREATE TABLE broken_probe (id int);\nSELECT 1/0;\n")

	applied, err := pgmigrate.Apply(ctx, conn, dir, quiet)
	if err == nil || !strings.Contains(err.Error(), "20990101000000_broken.sql") {
		t.Fatalf("err = %v, want a failure naming the broken file", err)
	}
	good, _ := projectDir(t).Files()
	if len(applied) != len(good) {
		t.Fatalf("applied = %v, want the %d good files only", applied, len(good))
	}
	if tableExists(t, conn, "broken_probe") {
		t.Fatal("the failing file's first statement survived")
	}
	st, err := pgmigrate.ReadStatus(ctx, conn, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 1 || st.Pending[0] != "20990101000000_broken.sql" {
		t.Fatalf("pending = %v, want the broken file", st.Pending)
	}
}

func TestConcurrentAppliesApplyOnce(t *testing.T) {
	t.Parallel()
	conn := openEmpty(t)
	dir := projectDir(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		errs  []error
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied, err := pgmigrate.Apply(context.Background(), conn, dir, quiet)
			mu.Lock()
			defer mu.Unlock()
			total += len(applied)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	files, _ := dir.Files()
	if len(errs) > 0 || total != len(files) {
		t.Fatalf("applied %d files in all (want %d), errors %v", total, len(files), errs)
	}
}

func TestDiffFromAnEmptyDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := &atlas.MemDir{}
	plan, err := pgmigrate.Diff(ctx, dbtest.AdminURL(), mem, "init")
	if err != nil {
		t.Fatal(err)
	}
	if plan == nil || !strings.HasSuffix(plan.Name, "_init.sql") {
		t.Fatalf("plan = %+v", plan)
	}
	for _, want := range []string{"CREATE EXTENSION IF NOT EXISTS vector", `CREATE ROLE "jarvis_app"`,
		"ALTER DEFAULT PRIVILEGES", "USING hnsw", "vector_cosine_ops"} {
		if !strings.Contains(plan.SQL, want) {
			t.Errorf("first migration lacks %q", want)
		}
	}
	for table := range ent.OwnedTables {
		if !strings.Contains(plan.SQL, `CREATE TABLE "`+table+`"`) || !strings.Contains(plan.SQL, `CREATE POLICY "`+table+`_owner"`) {
			t.Errorf("first migration lacks table or policy of %s", table)
		}
	}
	for table := range ent.LookupPolicies {
		if !strings.Contains(plan.SQL, `CREATE POLICY "`+table+`_lookup" ON "`+table+`" FOR SELECT`) {
			t.Errorf("first migration lacks the lookup policy of %s", table)
		}
	}
	if err := atlas.Validate(mem); err != nil {
		t.Fatalf("atlas.sum after diff: %v", err)
	}
	if err := pgmigrate.Check(ctx, dbtest.AdminURL(), mem); err != nil {
		t.Fatalf("check right after diff: %v", err)
	}
}

func TestDiffRestoresMissingRowLevelSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := memCopy(t, projectDir(t), true, func(_, body string) string {
		var kept []string
		for _, line := range strings.Split(body, "\n") {
			// Only the ENABLE/FORCE statements: later migrations alter
			// the table too (memory_search adds columns).
			if !strings.Contains(line, `"memories"`) || !strings.Contains(line, "ROW LEVEL SECURITY") {
				kept = append(kept, line)
			}
		}
		return strings.Join(kept, "\n")
	})
	if err := pgmigrate.Check(ctx, dbtest.AdminURL(), mem); !errors.Is(err, pgmigrate.ErrOutOfDate) {
		t.Fatalf("check with RLS missing on memories: err = %v, want out of date", err)
	}
	plan, err := pgmigrate.Diff(ctx, dbtest.AdminURL(), mem, "memories_rls")
	if err != nil || plan == nil {
		t.Fatalf("diff: %+v, %v", plan, err)
	}
	if strings.Contains(plan.SQL, "CREATE TABLE") || strings.Count(plan.SQL, "CREATE POLICY") != 1 ||
		!strings.Contains(plan.SQL, `CREATE POLICY "memories_owner" ON "memories"`) {
		t.Fatalf("plan restores more or less than the memories policy:\n%s", plan.SQL)
	}
}

func TestDiffRejectsABadName(t *testing.T) {
	t.Parallel()
	if _, err := pgmigrate.Diff(context.Background(), dbtest.AdminURL(), &atlas.MemDir{}, "Drop Tables;"); err == nil {
		t.Fatal("diff accepted a name with spaces and punctuation")
	}
}

func TestLintReportsDestructiveChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clean, err := pgmigrate.Lint(ctx, dbtest.AdminURL(), projectDir(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := pgmigrate.CountErrors(clean); n != 0 {
		t.Fatalf("the committed migrations have %d blocking findings: %v", n, clean)
	}
	mem := memCopy(t, projectDir(t), true, nil)
	addFile(t, mem, "20990101000000_drop.sql", "DROP TABLE \"budgets\";\nALTER TABLE \"memories\" DROP COLUMN \"metadata\";\n")
	findings, err := pgmigrate.Lint(ctx, dbtest.AdminURL(), mem, 1)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, f := range findings {
		if f.Blocking {
			codes[f.Code] = true
		}
	}
	if !codes["DS102"] || !codes["DS103"] {
		t.Fatalf("findings = %v, want blocking DS102 (drop table) and DS103 (drop column)", findings)
	}
}

// TestMigrationsKeepConstraintsApart: Citus refuses an ALTER TABLE of a
// distributed table that adds a constraint beside another change ("cannot
// execute ADD COLUMN command with PRIMARY KEY, UNIQUE, FOREIGN and CHECK
// constraints"). `jarvis migrate diff` plans each constraint in its own
// statement (splitConstraints); this holds every committed file to it,
// hand-written ones included, from the first distributed migration on.
func TestMigrationsKeepConstraintsApart(t *testing.T) {
	t.Parallel()
	dir, err := pgmigrate.FSDir(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	distributed := false
	for _, f := range files {
		src := string(f.Bytes())
		if !distributed {
			// Tables are local until the migration that distributes them.
			distributed = strings.Contains(src, "SELECT jarvis_distribute(")
			continue
		}
		for _, stmt := range strings.Split(src, ";\n") {
			s := strings.TrimSpace(stripComments(stmt))
			if !strings.HasPrefix(s, "ALTER TABLE") {
				continue
			}
			clauses := pgmigrate.AlterClauses(s)
			adds := 0
			for _, c := range clauses {
				if strings.HasPrefix(c, "ADD CONSTRAINT") || strings.HasPrefix(c, "ADD PRIMARY KEY") ||
					strings.HasPrefix(c, "ADD UNIQUE") || strings.HasPrefix(c, "ADD FOREIGN KEY") || strings.HasPrefix(c, "ADD CHECK") {
					adds++
				}
			}
			if adds > 0 && len(clauses) > adds+countDrops(clauses) {
				t.Errorf("%s: a constraint is added beside other changes, which Citus refuses on a distributed table; give it an ALTER TABLE of its own:\n%s", f.Name(), s)
			}
		}
	}
}

func countDrops(clauses []string) int {
	n := 0
	for _, c := range clauses {
		if strings.HasPrefix(c, "DROP CONSTRAINT") {
			n++
		}
	}
	return n
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestAlterClauses(t *testing.T) {
	got := pgmigrate.AlterClauses(`ALTER TABLE "t" ADD COLUMN "a" numeric(20,10) NULL, ADD CONSTRAINT "c" FOREIGN KEY ("x", "y") REFERENCES "p" ("id", "user_id")`)
	want := []string{`ADD COLUMN "a" numeric(20,10) NULL`, `ADD CONSTRAINT "c" FOREIGN KEY ("x", "y") REFERENCES "p" ("id", "user_id")`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("AlterClauses = %q, want %q", got, want)
	}
}
