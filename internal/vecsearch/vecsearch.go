// Package vecsearch answers one user's k-nearest-neighbour query by cosine
// distance over a table with a pgvector embedding column, a user_id column
// and an embedding_model column (memories, kg_entities), without losing
// recall to the per-user filter.
//
// An HNSW index followed by a user_id filter returns too few rows for a user
// holding a small share of the table (pgvector issues #259 and #751): the
// index yields ef_search candidates from the whole table and the filter
// keeps the few that are the user's. Measured with `jarvis bench vector`
// (docs/benchmarks.md: 2 shared cores, PostgreSQL 15, pgvector 0.8.0, 100k
// two-level clustered 1536-d vectors, per-user top 10; latencies at load
// average 4, and roughly doubled at 9-12):
//
//   - 100 users of 1,000 rows: HNSW + filter has recall@10 0.69-0.72 and
//     62-67% of queries get fewer than 10 rows; iterative scan reaches
//     0.97-0.99 whatever ef_search; an exact scan of the user's rows through
//     the btree on (user_id, embedding_model) has recall 1.0 at p50 3.6 ms,
//     p95 3.8 ms.
//   - 20 users of 5,000 rows (load 12): exact 28 ms p50; iterative scan
//     0.97-0.98 at p95 8-11 ms.
//   - one user of 100k rows: exact 200 ms p50; HNSW at ef_search 100 has
//     recall 0.967-0.979 (three index builds) at p95 4.2 ms when the index
//     is built after the load, 0.925 when it grows insert by insert among
//     another 100k rows of other users (EFSearch below).
//   - design.md's earlier figures: iterative scan for a user with 100 rows
//     costs 68-240 ms (it walks the graph until it finds them) where the
//     btree path costs 1.3 ms.
//
// So Nearest reads the user's rows of the model with their distances,
// stopping at ExactMaxRows+1 (an index scan that stops there, vacuumed or
// not: see baseSettings), and
//   - at most ExactMaxRows read: answers from them exactly (recall 1.0);
//   - more: walks the HNSW index with iterative scan (relaxed order,
//     re-sorted) and a raised ef_search.
//
// The bounded read and both paths are one statement (searchSQL), and a
// user found large is remembered for a while (Sizes), so that their next
// searches skip the read.
//
// Traps handled here: the statement cache of pgx makes Postgres switch to a
// generic plan after five executions, which picks one plan for every user
// (design.md measured 5 ms become 414 ms for a big user), so the transaction sets
// plan_cache_mode = force_custom_plan; the index serves only the form
// `ORDER BY embedding <=> $v LIMIT k`, and raising ef_search can flip the
// planner to a sequential scan, so the search disables sorts (every plan
// but the index walk needs one; the exact path's sort is its only plan);
// the exact path materializes the user's
// distances, which no index can serve, so the planner cannot pick HNSW for it;
// JIT is off (disabling sorts inflates cost estimates past jit_above_cost,
// and compiling took 50–110 ms of a 1 ms query).
package vecsearch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/internal/db"
)

// ExactMaxRows is the largest number of a user's rows searched exactly. An
// exact scan costs 4-6 µs a row here (vectors stored PLAIN, in the row:
// see the migration embedding_storage_plain), so 2,000 rows take ~8-12 ms,
// about what the index takes at 5,000 rows with recall 0.97; below that,
// exactness is nearly free.
const ExactMaxRows = 2000

// Dims is the width of the searched vectors.
const Dims = 1536

// EFSearch is the HNSW candidate list size of the approximate path
// (pgvector's default is 40). Measured with data written through the API
// (the index built row by row, no VACUUM) for one user of 100k rows among
// 200k, queries whose 10 nearest rows are 60% other users'
// (docs/benchmarks.md, 2026-12-06): recall@10 0.888 at 40, 0.925 at 100,
// 0.955 at 150, 0.969 at 200, 0.978 at 400, raw p95 2.7 / 3.6 / 5.0 / 5.7 /
// 7.4 ms. 200 is the smallest with a margin over the 0.95 goal; the earlier
// 100 came from an index built after a bulk load, which is denser than one
// grown insert by insert.
const EFSearch = 200

// Querier is a transaction: *ent.Tx or *sql.Tx. The transaction-local
// settings below need one; outside a transaction they would leak into the
// pooled connection. In a unit of work (internal/db) it must be the unit's
// own *ent.Tx: the settings are queued on the unit that ctx names.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Table names a searchable table. Its columns are fixed: id, user_id,
// embedding, embedding_model.
type Table string

const (
	Memories   Table = "memories"
	KGEntities Table = "kg_entities"
)

// Cond is an extra filter: SQL is a constant of the caller's code with one
// `$?` standing for Arg (never user input in SQL).
type Cond struct {
	SQL string
	Arg any
}

// Request is one user's top-K query.
type Request struct {
	UserID uuid.UUID
	Vector pgvector.Vector
	Model  string
	K      int
	// MaxDistance drops hits farther than this (cosine distance, 0..2).
	MaxDistance float64
	Where       []Cond
	// CountOtherModels has the search also count the user's rows embedded
	// with another model (Result.OtherModels): a search compares vectors
	// of one model only, and the caller says how many rows it could not.
	CountOtherModels bool
	// Sizes remembers users found large, whose searches then skip the
	// count (nil: count every time).
	Sizes *Sizes
}

// Result is a search's answer.
type Result struct {
	Hits []Hit
	Path Path
	// OtherModels is the user's rows of other models (without an
	// embedding: not counted), with Request.CountOtherModels.
	OtherModels int
	// walked is the rows the index walk returned before the distance
	// threshold: fewer than K means it ran out (see nearest).
	walked int
}

// Hit is one row and its cosine distance.
type Hit struct {
	ID       uuid.UUID
	Distance float64
}

// Path is how a query was answered.
type Path string

const (
	PathExact Path = "exact"
	PathHNSW  Path = "hnsw"
)

// nearest is Nearest, unmeasured. In a unit of work (internal/db) it costs
// the search statement's round trip and nothing else: the settings go to
// Postgres in that statement's pipeline and the reset in the next one's
// (db.ExecWithNext); on a plain transaction each is a round trip of its own.
// On a loaded machine every round trip waits for the backend and then the
// caller to be scheduled, and that showed in the p95 (seven round trips
// before: identity, other models, settings, count-and-exact, settings,
// HNSW, reset).
func nearest(ctx context.Context, q Querier, t Table, r Request) (Result, error) {
	large := r.Sizes.large(t, r.UserID, r.Model)
	if err := settle(ctx, q, searchSettings, fmt.Sprint(EFSearch)); err != nil {
		return Result{}, fmt.Errorf("vector search: settings: %w", err)
	}
	query, args := searchSQL(t, r, large)
	res, err := search(ctx, q, query, args)
	if err != nil {
		return Result{}, err
	}
	// Later statements of the transaction plan normally (hybrid search's
	// full-text query needs a bitmap scan of its GIN index).
	if err := settle(ctx, q, resetSettings); err != nil {
		return Result{}, fmt.Errorf("vector search: reset settings: %w", err)
	}
	switch {
	case !large:
		r.Sizes.note(t, r.UserID, r.Model, res.Path == PathHNSW)
	case res.walked < r.K:
		// The walk ran out before K rows of the user (hnsw.max_scan_tuples):
		// the user may have shrunk since counted large. Count next time.
		r.Sizes.note(t, r.UserID, r.Model, false)
	}
	return res, nil
}

// settle runs a statement whose rows nobody reads: in a unit of work it
// travels with the next statement (db.ExecWithNext), on any other
// transaction it runs now.
func settle(ctx context.Context, q Querier, query string, args ...any) error {
	err := db.ExecWithNext(ctx, query, args...)
	if errors.Is(err, db.ErrNoUnit) {
		_, err = q.ExecContext(ctx, query, args...)
	}
	return err
}

// search runs searchSQL's statement: the hits, and one row without an id
// saying which path answered, how many rows the index walk found and how
// many rows of other models the user has.
func search(ctx context.Context, q Querier, query string, args []any) (Result, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return Result{}, fmt.Errorf("vector search: %w", err)
	}
	defer rows.Close()
	var (
		res    Result
		marked bool
	)
	for rows.Next() {
		var (
			id       *uuid.UUID
			distance *float64
			large    *bool
			others   *int64
			walked   *int64
		)
		if err := rows.Scan(&id, &distance, &large, &others, &walked); err != nil {
			return Result{}, fmt.Errorf("vector search: scan: %w", err)
		}
		if id != nil {
			res.Hits = append(res.Hits, Hit{ID: *id, Distance: *distance})
			continue
		}
		marked = true
		res.Path = PathExact
		if large != nil && *large {
			res.Path = PathHNSW
		}
		if others != nil {
			res.OtherModels = int(*others)
		}
		if walked != nil {
			res.walked = int(*walked)
		}
	}
	if err := rows.Err(); err != nil {
		return Result{}, fmt.Errorf("vector search: %w", err)
	}
	if !marked {
		return Result{}, errors.New("vector search: the statement returned no path row")
	}
	return res, nil
}

// searchSQL is the search as one statement. Unless the user is known to be
// large, CTE mine reads the user's rows of the model through the btree,
// at most ExactMaxRows+1 of them (an index scan that stops there, vacuumed
// or not: see baseSettings), with each row's distance and whether it
// passes the request's other conditions. At most ExactMaxRows rows read
// means that was all of them, and the answer is mine's best (recall 1.0,
// the rows read once); more, and the HNSW path answers: its one form,
// `ORDER BY embedding <=> $v LIMIT k`, with iterative scan. The gate,
// `(SELECT count(*) FROM mine)`, holds no column of the scanned table, so
// Postgres plans it as a one-time filter above the index walk, which never
// runs for a small user (a test checks the plan). The last row carries the
// path taken, the rows the index walk found, and, with
// Request.CountOtherModels, the user's rows of other models (two range
// counts on (user_id, embedding_model): what those rows cost, usually
// nothing; a `<>` filter would walk all of the user's rows).
func searchSQL(t Table, r Request, large bool) (string, []any) {
	w, keep, args := where(r)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	maxDist, k := arg(r.MaxDistance), arg(r.K)
	others := "NULL::bigint"
	if r.CountOtherModels {
		others = fmt.Sprintf("(SELECT count(*) FROM %[1]s WHERE user_id = $1 AND embedding_model < $3) + "+
			"(SELECT count(*) FROM %[1]s WHERE user_id = $1 AND embedding_model > $3)", t)
	}
	if large {
		return fmt.Sprintf(`WITH near AS MATERIALIZED (
	SELECT id, embedding <=> $2 AS distance FROM %[1]s WHERE %[2]s ORDER BY embedding <=> $2 LIMIT %[3]s)
(SELECT id, distance, NULL::boolean AS large, NULL::bigint AS others, NULL::bigint AS walked FROM near WHERE distance <= %[4]s ORDER BY distance, id)
UNION ALL
SELECT NULL, NULL, true, %[5]s, (SELECT count(*) FROM near)`, t, w, k, maxDist, others), args
	}
	if keep == "" {
		keep = "true"
	}
	maxRows := arg(ExactMaxRows)
	return fmt.Sprintf(`WITH mine AS MATERIALIZED (
	SELECT id, embedding <=> $2 AS distance, %[7]s AS keep FROM %[1]s WHERE %[8]s LIMIT %[6]s + 1),
near AS MATERIALIZED (
	SELECT id, embedding <=> $2 AS distance FROM %[1]s WHERE %[2]s AND (SELECT count(*) FROM mine) > %[6]s
	ORDER BY embedding <=> $2 LIMIT %[3]s)
(SELECT id, distance, NULL::boolean AS large, NULL::bigint AS others, NULL::bigint AS walked FROM mine
	WHERE keep AND distance <= %[4]s AND (SELECT count(*) FROM mine) <= %[6]s ORDER BY distance, id LIMIT %[3]s)
UNION ALL
(SELECT id, distance, NULL, NULL, NULL FROM near WHERE distance <= %[4]s ORDER BY distance, id)
UNION ALL
SELECT NULL, NULL, (SELECT count(*) FROM mine) > %[6]s, %[5]s, (SELECT count(*) FROM near)`, t, w, k, maxDist, others, maxRows, keep, userRows), args
}

// userRows selects the user's searchable rows of the model: where's start.
const userRows = "user_id = $1 AND embedding_model = $3 AND embedding IS NOT NULL"

// where builds the shared filter: userRows and the request's conditions
// (extra, "" without any); args start with user, vector, model.
func where(r Request) (all, extra string, args []any) {
	args = []any{r.UserID, r.Vector, r.Model}
	conds := make([]string, 0, len(r.Where))
	for _, c := range r.Where {
		args = append(args, c.Arg)
		conds = append(conds, strings.Replace(c.SQL, "$?", fmt.Sprintf("$%d", len(args)), 1))
	}
	extra = strings.Join(conds, " AND ")
	all = userRows
	if extra != "" {
		all += " AND " + extra
	}
	return all, extra, args
}

// Exact scans the user's rows: recall 1.0, cost linear in their number.
func Exact(ctx context.Context, q Querier, t Table, r Request) ([]Hit, error) {
	if _, err := q.ExecContext(ctx, baseSettings); err != nil {
		return nil, fmt.Errorf("vector search: settings: %w", err)
	}
	hits, err := exact(ctx, q, t, r)
	if err != nil {
		return nil, err
	}
	if _, err := q.ExecContext(ctx, resetSettings); err != nil {
		return nil, fmt.Errorf("vector search: reset settings: %w", err)
	}
	return hits, nil
}

// baseSettings hold for every search: custom plans (the statement cache
// would otherwise bring one generic plan for all users), no JIT (a big
// user's exact scan is estimated above jit_above_cost, and compiling costs
// more than it saves on these short queries), and neither bitmap nor
// sequential scans: the count of the user's rows must stop at
// ExactMaxRows+1, which only an index scan does. A bitmap scan reads every
// index entry of the user first, and the planner picks one whenever its
// statistics think the user small: with autovacuum off nothing analyzes
// the table after a bulk load, and a user of 8,000 rows believed to hold 5
// had all 8,000 read per search (TestCountBoundedUnvacuumed); a sequential
// scan, picked for a user believed large, reads the table until it meets
// enough of the user's rows. An index-only scan is no cure either: it
// visits the heap for every entry until VACUUM sets the visibility map.
//
// jarvis_set_local(name, value) is SET LOCAL as a function (a migration
// defines it): several settings in one statement (the unit of work may send
// the transaction's first statement prepared, where several commands are
// refused), and unlike set_config it reaches Citus's workers, where the
// index scan runs.
const baseSettings = "SELECT jarvis_set_local('plan_cache_mode', 'force_custom_plan'), jarvis_set_local('jit', 'off')" +
	", jarvis_set_local('enable_bitmapscan', 'off'), jarvis_set_local('enable_seqscan', 'off')"

// searchSettings are baseSettings and the index's: iterative scan, relaxed
// order (results may come slightly out of order and are re-sorted;
// strict_order stops early on filtered rows), ef_search ($1), and no
// sorts: every plan but the index scan needs one, and without it a large
// ef_search makes the planner cost the index above a sequential scan. It
// works by adding 1e10 to the cost of plans with a sort (the exact path's
// and the re-sorts too, which have no other plan), which pushes the
// estimate past jit_above_cost: Postgres then JIT-compiled a 1 ms query
// for 50–110 ms (measured), hence jit = off in baseSettings.
const searchSettings = baseSettings + ", jarvis_set_local('hnsw.ef_search', $1)" +
	", jarvis_set_local('hnsw.iterative_scan', 'relaxed_order'), jarvis_set_local('enable_sort', 'off')"

// resetSettings gives the transaction's later statements the planner's
// usual choices back.
const resetSettings = "SELECT jarvis_set_local('enable_bitmapscan', 'on'), jarvis_set_local('enable_seqscan', 'on'), jarvis_set_local('enable_sort', 'on')"

func exact(ctx context.Context, q Querier, t Table, r Request) ([]Hit, error) {
	w, _, args := where(r)
	args = append(args, r.MaxDistance, r.K)
	// MATERIALIZED: the distances of the user's rows (found through the
	// btree on user_id), then the top K of them; the HNSW index cannot
	// serve this form, so no plan choice can lose the user's rows.
	query := fmt.Sprintf(`WITH mine AS MATERIALIZED (
	SELECT id, embedding <=> $2 AS distance FROM %s WHERE %s)
SELECT id, distance FROM mine WHERE distance <= $%d ORDER BY distance, id LIMIT $%d`, t, w, len(args)-1, len(args))
	return scan(ctx, q, query, args)
}

// HNSW walks the index with iterative scan: it keeps fetching candidates
// until K rows pass the filters (or hnsw.max_scan_tuples is reached).
func HNSW(ctx context.Context, q Querier, t Table, r Request, efSearch int) ([]Hit, error) {
	if _, err := q.ExecContext(ctx, searchSettings, fmt.Sprint(efSearch)); err != nil {
		return nil, fmt.Errorf("vector search: settings: %w", err)
	}
	w, _, args := where(r)
	args = append(args, r.K, r.MaxDistance)
	query := fmt.Sprintf(`WITH near AS MATERIALIZED (
	SELECT id, embedding <=> $2 AS distance FROM %s WHERE %s ORDER BY embedding <=> $2 LIMIT $%d)
SELECT id, distance FROM near WHERE distance <= $%d ORDER BY distance, id`, t, w, len(args)-1, len(args))
	hits, err := scan(ctx, q, query, args)
	if err != nil {
		return nil, err
	}
	// Later statements of the transaction plan normally.
	if _, err := q.ExecContext(ctx, resetSettings); err != nil {
		return nil, fmt.Errorf("vector search: reset settings: %w", err)
	}
	return hits, nil
}

func scan(ctx context.Context, q Querier, query string, args []any) ([]Hit, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	defer rows.Close()
	var hits []Hit
	for rows.Next() {
		var h Hit
		if err := rows.Scan(&h.ID, &h.Distance); err != nil {
			return nil, fmt.Errorf("vector search: scan: %w", err)
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	return hits, nil
}
