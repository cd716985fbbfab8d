package vecsearch

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// largeUser makes a database with one user holding ExactMaxRows+1 memories
// of random vectors, and returns the owner connection, the user and one
// memory's id and vector.
func largeUser(t *testing.T) (*sql.DB, uuid.UUID, uuid.UUID, pgvector.Vector) {
	t.Helper()
	d := dbtest.New(t)
	owner, err := db.OpenSQL(context.Background(), d.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Close() })
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
// answered from the HNSW index (a stored row's own vector comes first), and
// the combined statement never runs its exact scan for such a user.
func TestLargeUserTakesTheIndex(t *testing.T) {
	t.Parallel()
	owner, user, id, v := largeUser(t)
	req := Request{UserID: user, Vector: v, Model: "m", K: 10, MaxDistance: 2}
	ctx := context.Background()

	tx, err := owner.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	hits, path, err := Nearest(ctx, tx, Memories, req)
	if err != nil {
		t.Fatal(err)
	}
	if path != PathHNSW || len(hits) != 10 || hits[0].ID != id || hits[0].Distance > 1e-6 {
		t.Fatalf("path %s, %d hits, first %+v; want hnsw, 10, row 77 at distance 0", path, len(hits), hits[:min(1, len(hits))])
	}

	query, args := exactIfSmallSQL(Memories, req)
	rows, err := tx.Query("EXPLAIN (ANALYZE, COSTS OFF) "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	rows.Close()
	// The scan of the user's rows under CTE mine must say "never executed".
	inMine, skipped := false, false
	for _, line := range plan {
		if strings.Contains(line, "CTE mine") {
			inMine = true
		}
		if inMine && strings.Contains(line, "on memories") && strings.Contains(line, "never executed") {
			skipped = true
		}
	}
	if !skipped {
		t.Fatalf("the exact scan ran for a user above ExactMaxRows:\n%s", strings.Join(plan, "\n"))
	}
}
