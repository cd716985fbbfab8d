package vecsearch

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// ownerDB is a fresh database on the table owner's connection (no
// row-level security), closed with the test.
func ownerDB(t *testing.T) *sql.DB {
	t.Helper()
	d := dbtest.New(t)
	owner, err := db.OpenSQL(context.Background(), d.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Close() })
	return owner
}

// largeUser makes a database with one user holding ExactMaxRows+1 memories
// of random vectors, and returns the owner connection, the user and one
// memory's id and vector.
func largeUser(t *testing.T) (*sql.DB, uuid.UUID, uuid.UUID, pgvector.Vector) {
	t.Helper()
	owner := ownerDB(t)
	user := uuid.Must(uuid.NewV7())
	for _, stmt := range []string{
		`INSERT INTO users (id, created_at, updated_at, email, password_hash) VALUES ($1, now(), now(), 'big@example.com', 'x')`,
		// Loading under the HNSW index costs seconds; building it after, one.
		`DROP INDEX memory_embedding`,
		// One random vector per row (the subquery is correlated through g).
		`INSERT INTO memories (id, created_at, updated_at, user_id, content, embedding, embedding_model, metadata, redactions)
		 SELECT gen_random_uuid(), now(), now(), $1, 'row ' || g,
			ARRAY(SELECT random() - 0.5 + g * 0 FROM generate_series(1, 1536))::vector, 'm', '{}', '{}'
		 FROM generate_series(1, ` + fmt.Sprint(ExactMaxRows+1) + `) g`,
		`CREATE INDEX memory_embedding ON memories USING hnsw (embedding vector_cosine_ops)`,
		`ANALYZE memories`,
	} {
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, user)
		}
		if _, err := owner.Exec(stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	var id uuid.UUID
	var v pgvector.Vector
	if err := owner.QueryRow(`SELECT id, embedding FROM memories WHERE content = 'row 77'`).Scan(&id, &v); err != nil {
		t.Fatal(err)
	}
	return owner, user, id, v
}

// TestLargeUserTakesTheIndex: a user with more than ExactMaxRows rows is
// answered from the HNSW index (a stored row's own vector comes first), the
// search statement never runs its exact scan for such a user, and once
// Sizes knows the user large the count is skipped with the same answer.
func TestLargeUserTakesTheIndex(t *testing.T) {
	t.Parallel()
	owner, user, id, v := largeUser(t)
	sizes := NewSizes()
	req := Request{UserID: user, Vector: v, Model: "m", K: 10, MaxDistance: 2, Sizes: sizes, CountOtherModels: true}
	ctx := context.Background()

	tx, err := owner.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if sizes.large(Memories, user, "m") {
		t.Fatal("a user nobody searched is known large")
	}
	res, err := Nearest(ctx, tx, Memories, req)
	if err != nil {
		t.Fatal(err)
	}
	hits := res.Hits
	if res.Path != PathHNSW || len(hits) != 10 || hits[0].ID != id || hits[0].Distance > 1e-6 || res.OtherModels != 0 {
		t.Fatalf("path %s, %d hits, first %+v, %d other models; want hnsw, 10, row 77 at distance 0, 0",
			res.Path, len(hits), hits[:min(1, len(hits))], res.OtherModels)
	}
	if !sizes.large(Memories, user, "m") {
		t.Fatal("the search did not remember the user large")
	}
	again, err := Nearest(ctx, tx, Memories, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Path != PathHNSW || len(again.Hits) != len(hits) || again.Hits[0] != hits[0] {
		t.Fatalf("known large: path %s, hits %v; want hnsw and %v", again.Path, again.Hits, hits)
	}
	// With a condition of the caller's (its argument after the model's),
	// both statements agree.
	filtered := req
	filtered.Where = []Cond{{SQL: "metadata @> $?::jsonb", Arg: `{}`}}
	for _, known := range []bool{false, true} {
		query, args := searchSQL(Memories, filtered, known)
		got, err := search(ctx, tx, query, args)
		if err != nil {
			t.Fatal(err)
		}
		if got.Path != PathHNSW || len(got.Hits) != len(hits) || got.Hits[0] != hits[0] || got.OtherModels != 0 {
			t.Fatalf("with a condition, known large %v: path %s, hits %v; want hnsw and %v", known, got.Path, got.Hits, hits)
		}
	}

	if _, err := tx.Exec(searchSettings, fmt.Sprint(EFSearch)); err != nil {
		t.Fatal(err)
	}
	// The user's rows read stop at ExactMaxRows+1 (CTE mine); the index
	// walk (CTE near) runs.
	query, args := searchSQL(Memories, req, false)
	plan := textPlan(t, tx, query, args)
	if read, ok := scanRows(plan, "CTE mine", "on memories"); !ok || read > ExactMaxRows+1 || !ran(plan, "CTE near", "memory_embedding") {
		t.Fatalf("the plan of a user above ExactMaxRows:\n%s", strings.Join(plan, "\n"))
	}
	// Known large: no count at all.
	query, args = searchSQL(Memories, req, true)
	plan = textPlan(t, tx, query, args)
	if _, ok := scanRows(plan, "CTE mine", "on memories"); ok || !ran(plan, "CTE near", "memory_embedding") {
		t.Fatalf("the plan of a user known large:\n%s", strings.Join(plan, "\n"))
	}
}

// TestSmallUserIsScannedExactly: at ExactMaxRows or fewer rows the search
// scans them (the index walk never runs), counts the user's rows of other
// models when asked, and forgets a user once counted small.
func TestSmallUserIsScannedExactly(t *testing.T) {
	t.Parallel()
	owner := ownerDB(t)
	user := uuid.Must(uuid.NewV7())
	for _, stmt := range []string{
		`INSERT INTO users (id, created_at, updated_at, email, password_hash) VALUES ($1, now(), now(), 'small@example.com', 'x')`,
		`INSERT INTO memories (id, created_at, updated_at, user_id, content, embedding, embedding_model, metadata, redactions)
		 SELECT gen_random_uuid(), now(), now(), $1, 'row ' || g,
			ARRAY(SELECT random() - 0.5 + g * 0 FROM generate_series(1, 1536))::vector, CASE WHEN g <= 3 THEN 'old' ELSE 'm' END, '{}', '{}'
		 FROM generate_series(1, 50) g`,
	} {
		if _, err := owner.Exec(stmt, user); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	var id uuid.UUID
	var v pgvector.Vector
	if err := owner.QueryRow(`SELECT id, embedding FROM memories WHERE content = 'row 20'`).Scan(&id, &v); err != nil {
		t.Fatal(err)
	}
	sizes := NewSizes()
	sizes.note(Memories, user, "m", true) // as if it had been large a moment ago
	req := Request{UserID: user, Vector: v, Model: "m", K: 100, MaxDistance: 2, Sizes: sizes, CountOtherModels: true}
	tx, err := owner.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// Remembered large: the index walk, which still finds all the rows.
	res, err := Nearest(context.Background(), tx, Memories, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != PathHNSW || len(res.Hits) != 47 || res.Hits[0].ID != id || res.OtherModels != 3 {
		t.Fatalf("remembered large: path %s, %d hits, %d other models; want hnsw, 47, 3", res.Path, len(res.Hits), res.OtherModels)
	}
	if sizes.large(Memories, user, "m") {
		t.Fatal("a walk that found fewer rows than asked kept the user known large")
	}
	sizes.note(Memories, user, "m", true)
	// Once that is forgotten, the count and the exact scan.
	sizes.now = func() time.Time { return time.Now().Add(SizesTTL) }
	res, err = Nearest(context.Background(), tx, Memories, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != PathExact || len(res.Hits) != 47 || res.Hits[0].ID != id || res.OtherModels != 3 {
		t.Fatalf("counted: path %s, %d hits, %d other models; want exact, 47, 3", res.Path, len(res.Hits), res.OtherModels)
	}
	for i := 1; i < len(res.Hits); i++ {
		if res.Hits[i].Distance < res.Hits[i-1].Distance {
			t.Fatalf("hits out of order at %d: %v", i, res.Hits)
		}
	}
	if sizes.large(Memories, user, "m") {
		t.Fatal("a user counted small is still remembered large")
	}
	// The settings were reset for the transaction's later statements.
	var sortOn string
	if err := tx.QueryRow(`SHOW enable_sort`).Scan(&sortOn); err != nil || sortOn != "on" {
		t.Fatalf("enable_sort after the search: %q, %v", sortOn, err)
	}
	if _, err := tx.Exec(searchSettings, fmt.Sprint(EFSearch)); err != nil {
		t.Fatal(err)
	}
	query, args := searchSQL(Memories, req, false)
	plan := textPlan(t, tx, query, args)
	if read, ok := scanRows(plan, "CTE mine", "on memories"); !ok || read != 47 || ran(plan, "CTE near", "memory_embedding") { // 47 of its 50 rows are of model m
		t.Fatalf("the plan of a user of 50 rows:\n%s", strings.Join(plan, "\n"))
	}
}

// textPlan is EXPLAIN ANALYZE's text, which on Citus includes the plan the
// worker ran (JSON nests it where planNode does not look).
func textPlan(t *testing.T, tx *sql.Tx, query string, args []any) []string {
	t.Helper()
	rows, err := tx.Query("EXPLAIN (ANALYZE, COSTS OFF) "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		if len(line) > 160 { // the query vector's 1,536 numbers
			line = line[:160] + "…"
		}
		plan = append(plan, line)
	}
	return plan
}

// under is the first line after the one naming cte that contains node
// (shard names on Citus only add a suffix).
func under(plan []string, cte, node string) (string, bool) {
	in := false
	for _, line := range plan {
		if strings.Contains(line, cte) {
			in = true
			continue
		}
		if in && strings.Contains(line, node) {
			return line, true
		}
	}
	return "", false
}

var actualRows = regexp.MustCompile(`rows=(\d+) loops=(\d+)`)

// scanRows is the rows the scan node under cte returned, over its loops.
func scanRows(plan []string, cte, node string) (int, bool) {
	line, ok := under(plan, cte, node)
	if !ok {
		return 0, false
	}
	m := actualRows.FindStringSubmatch(line)
	if m == nil {
		return 0, !strings.Contains(line, "never executed")
	}
	rows, _ := strconv.Atoi(m[1])
	loops, _ := strconv.Atoi(m[2])
	return rows * loops, true
}

// ran reports whether the node under cte was executed.
func ran(plan []string, cte, node string) bool {
	line, ok := under(plan, cte, node)
	return ok && !strings.Contains(line, "never executed")
}

func explain(t *testing.T, tx *sql.Tx, query string, args []any) (*planNode, []byte) {
	t.Helper()
	var out []byte
	if err := tx.QueryRow("EXPLAIN (ANALYZE, FORMAT JSON) "+query, args...).Scan(&out); err != nil {
		t.Fatal(err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil {
		t.Fatal(err)
	}
	return &plans[0].Plan, out
}

// TestCountBoundedUnvacuumed: the count that picks the exact or the HNSW
// path reads at most ExactMaxRows+1 of the user's rows on a table just
// loaded, never vacuumed nor analyzed (autovacuum may be off, and a fresh
// bulk load must perform). An index-only scan is cheap only once VACUUM has
// set the visibility map; before, a plan that reads all of a big user's
// index entries (a bitmap scan) cost 33 ms a search at 100k rows.
func TestCountBoundedUnvacuumed(t *testing.T) {
	t.Parallel()
	owner := ownerDB(t)
	big, small := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	const bigRows = 4 * ExactMaxRows
	for _, stmt := range []string{
		`ALTER TABLE memories SET (autovacuum_enabled = false)`,
		`INSERT INTO users (id, created_at, updated_at, email, password_hash) VALUES ($1, now(), now(), 'big@example.com', 'x'), ($2, now(), now(), 'small@example.com', 'x')`,
		`DROP INDEX memory_embedding`,
		// Statistics from when the big user had a few rows (autovacuum
		// off: nothing analyzes again after the load), then the load,
		// interleaved as live writes of several users are: the planner
		// believes the big user small.
		`INSERT INTO memories (id, created_at, updated_at, user_id, content, embedding, embedding_model, metadata, redactions)
		 SELECT gen_random_uuid(), now(), now(), CASE WHEN g <= 5 THEN $1::uuid ELSE $2::uuid END, 'row ' || g,
			array_fill(0.5::real, ARRAY[1536])::vector, 'm', '{}', '{}'
		 FROM generate_series(1, 1000) g`,
		`ANALYZE memories`,
		`INSERT INTO memories (id, created_at, updated_at, user_id, content, embedding, embedding_model, metadata, redactions)
		 SELECT gen_random_uuid(), now(), now(), CASE WHEN g % 5 = 0 THEN $2::uuid ELSE $1::uuid END, 'row ' || g,
			array_fill(0.5::real, ARRAY[1536])::vector, 'm', '{}', '{}'
		 FROM generate_series(1, ` + fmt.Sprint(bigRows*5/4) + `) g`,
		`CREATE INDEX memory_embedding ON memories USING hnsw (embedding vector_cosine_ops)`,
	} {
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, big, small)
		}
		if _, err := owner.Exec(stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	v := pgvector.NewVector(make([]float32, 1536))
	v.Slice()[0] = 1
	for _, user := range []uuid.UUID{big, small} {
		tx, err := owner.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(searchSettings, fmt.Sprint(EFSearch)); err != nil {
			t.Fatal(err)
		}
		query, args := searchSQL(Memories, Request{UserID: user, Vector: v, Model: "m", K: 10, MaxDistance: 2}, false)
		plan, out := explain(t, tx, query, args)
		tx.Rollback()
		mine := plan.cte("CTE mine")
		if mine == nil {
			t.Fatalf("no CTE mine in the plan: %s", out)
		}
		if read := mine.scanned(); read > 2*(ExactMaxRows+1) {
			t.Errorf("user %s: the search read %d rows and index entries on an unvacuumed table, want at most ~%d:\n%s", user, read, ExactMaxRows+1, out)
		}
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType                  string     `json:"Node Type"`
	SubplanName               string     `json:"Subplan Name"`
	ActualRows                float64    `json:"Actual Rows"`
	ActualLoops               int        `json:"Actual Loops"`
	RowsRemovedByFilter       float64    `json:"Rows Removed by Filter"`
	RowsRemovedByIndexRecheck float64    `json:"Rows Removed by Index Recheck"`
	Plans                     []planNode `json:"Plans"`
}

func (n *planNode) walk(fn func(*planNode)) {
	fn(n)
	for i := range n.Plans {
		n.Plans[i].walk(fn)
	}
}

// scanned is the rows and index entries n's scans read (returned or
// filtered out), over all their loops.
func (n *planNode) scanned() int {
	read := 0
	n.walk(func(c *planNode) {
		if strings.Contains(c.NodeType, "Scan") && c.NodeType != "CTE Scan" {
			read += int(c.ActualRows+c.RowsRemovedByFilter+c.RowsRemovedByIndexRecheck) * max(c.ActualLoops, 1)
		}
	})
	return read
}

// cte is the subplan of the CTE named name ("CTE mine"), or nil.
func (n *planNode) cte(name string) *planNode {
	var found *planNode
	n.walk(func(c *planNode) {
		if c.SubplanName == name && found == nil {
			found = c
		}
	})
	return found
}
