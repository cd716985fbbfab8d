package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	migrate "github.com/jarvis-core/jarvis/internal/pgmigrate"
	"github.com/jarvis-core/jarvis/internal/vecsearch"
)

func init() {
	registerBench("vector", "per-user top-10 memory search on 100k clustered 1536-d vectors: recall@10, latency, HNSW build", benchVector)
}

// vectorBench is one run's parameters.
type vectorBench struct {
	adminURL        string
	rows, users     int
	queries, topics int
	subtopics       int
	userTopics      int
	seed            uint64
	shapes          []string
	keep            bool
	storage         string
	out             io.Writer
}

const benchModel = "bench-clustered"

func benchVector(ctx context.Context, args []string, stdout io.Writer) error {
	mc, err := config.Load[migrateConfig](config.Environ())
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("bench vector", flag.ContinueOnError)
	fs.SetOutput(stdout)
	b := vectorBench{out: stdout}
	fs.StringVar(&b.adminURL, "admin-url", mc.DevURL, "superuser URL of the Postgres server (a throw-away database is created and dropped)")
	fs.IntVar(&b.rows, "rows", 100_000, "memories per shape")
	fs.IntVar(&b.users, "users", 100, "users of the spread shape")
	fs.IntVar(&b.queries, "queries", 200, "timed queries per strategy")
	fs.IntVar(&b.topics, "topics", 200, "topics the vectors are drawn around")
	fs.IntVar(&b.subtopics, "subtopics", 50, "subtopics of each topic")
	fs.IntVar(&b.userTopics, "user-topics", 8, "topics each user's memories come from (the single user has all)")
	fs.Uint64Var(&b.seed, "seed", 42, "random seed (vectors, users, queries)")
	fs.StringVar(&b.storage, "storage", "", "set the embedding column's storage before loading (extended: TOAST, Postgres's default; the migrations make it plain)")
	fs.BoolVar(&b.keep, "keep", false, "keep the databases (to inspect plans); drop them yourself")
	shapes := fs.String("shapes", "spread,single", "spread: rows over -users users; mid: rows over 20 users (to place vecsearch.ExactMaxRows); single: one user holds every row")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	b.shapes = strings.Split(*shapes, ",")
	for _, s := range b.shapes {
		if s != "spread" && s != "mid" && s != "single" {
			return usageError("-shapes: spread, mid and/or single")
		}
	}
	fmt.Fprintf(stdout, "# jarvis bench vector: %d rows, %d dims, %d topics × %d subtopics, seed %d\n\n", b.rows, vecsearch.Dims, b.topics, b.subtopics, b.seed)
	for _, shape := range b.shapes {
		if err := b.runShape(ctx, shape); err != nil {
			return fmt.Errorf("shape %s: %w", shape, err)
		}
	}
	return nil
}

// runShape creates a database, loads it, builds the index, measures, drops it.
func (b vectorBench) runShape(ctx context.Context, shape string) (err error) {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "jarvis_bench_vector_" + hex.EncodeToString(suffix)
	admin, err := db.OpenSQL(ctx, b.adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %q", name)); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	defer func() {
		if b.keep {
			fmt.Fprintf(b.out, "kept database %s\n", name)
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, derr := admin.ExecContext(dctx, fmt.Sprintf("DROP DATABASE IF EXISTS %q WITH (FORCE)", name)); derr != nil {
			err = errors.Join(err, fmt.Errorf("drop database %s: %w", name, derr))
		}
	}()
	url, err := migrate.WithDatabase(b.adminURL, name)
	if err != nil {
		return err
	}
	sqlDB, err := db.OpenSQL(ctx, url)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	// The production schema, so the measured queries meet the real indexes.
	dir, err := migrate.FSDir(migrations.FS)
	if err != nil {
		return err
	}
	if _, err := migrate.Apply(ctx, sqlDB, dir, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	users := b.users
	switch shape {
	case "single":
		users = 1
	case "mid":
		users = 20
	}
	rng := mrand.New(mrand.NewPCG(b.seed, 0x5eed))
	subtopics := b.vocabulary(rng)
	userIDs := make([]uuid.UUID, users)
	topics := make([][]int, users) // each user's topics
	for u := range userIDs {
		userIDs[u] = uuid.Must(uuid.NewV7())
		if users == 1 {
			topics[u] = rng.Perm(b.topics)
		} else {
			topics[u] = rng.Perm(b.topics)[:min(b.userTopics, b.topics)]
		}
	}
	// pick is a subtopic of one of user u's topics.
	pick := func(u int) []float32 {
		t := topics[u][rng.IntN(len(topics[u]))]
		return subtopics[t][rng.IntN(b.subtopics)]
	}

	load := time.Now()
	if err := b.load(ctx, url, userIDs, func(u int) []float32 { return point(rng, pick(u)) }); err != nil {
		return err
	}
	loadTime := time.Since(load)
	if _, err := sqlDB.ExecContext(ctx, "VACUUM ANALYZE memories"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	// The index the migrations define, built after loading (as a restore
	// or a backfill would): one worker, since the machine's 2 cores are
	// shared, and memory enough to build the graph without spilling.
	build := time.Now()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	for _, stmt := range []string{
		"SET maintenance_work_mem = '2GB'",
		"SET max_parallel_maintenance_workers = 1",
		`CREATE INDEX "memory_embedding" ON "memories" USING hnsw ("embedding" vector_cosine_ops)`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			conn.Close()
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	conn.Close()
	buildTime := time.Since(build)
	var indexSize, tableSize string
	if err := sqlDB.QueryRowContext(ctx, `SELECT pg_size_pretty(pg_relation_size('memory_embedding')), pg_size_pretty(pg_total_relation_size('memories'))`).Scan(&indexSize, &tableSize); err != nil {
		return err
	}
	storage := "as migrated (PLAIN: in the row)"
	if b.storage != "" {
		storage = strings.ToUpper(b.storage)
	}
	fmt.Fprintf(b.out, "## shape %s: %d rows, %d user(s); embedding storage %s\n\nload (COPY) %s; HNSW build (m=16, ef_construction=64, 1 worker) %s; index %s; table with TOAST and indexes %s\n\n",
		shape, b.rows, users, storage, loadTime.Round(time.Second), buildTime.Round(time.Second), indexSize, tableSize)

	// Queries: a user, and a point near one of that user's topics.
	type query struct {
		user int
		vec  pgvector.Vector
	}
	qs := make([]query, b.queries)
	for i := range qs {
		u := rng.IntN(users)
		qs[i] = query{u, pgvector.NewVector(point(rng, pick(u)))}
	}
	req := func(q query) vecsearch.Request {
		return vecsearch.Request{UserID: userIDs[q.user], Vector: q.vec, Model: benchModel, K: 10, MaxDistance: 2}
	}
	// Ground truth (and a warm cache): exact search of each query.
	truth := make([][]vecsearch.Hit, len(qs))
	exactLat := make([]time.Duration, len(qs))
	for i, q := range qs {
		start := time.Now()
		err := asUser(ctx, sqlDB, userIDs[q.user], func(tx *sql.Tx) error {
			var err error
			truth[i], err = vecsearch.Exact(ctx, tx, vecsearch.Memories, req(q))
			return err
		})
		if err != nil {
			return fmt.Errorf("exact: %w", err)
		}
		exactLat[i] = time.Since(start)
	}

	type strategy struct {
		name string
		run  func(ctx context.Context, tx *sql.Tx, r vecsearch.Request) ([]vecsearch.Hit, error)
	}
	strategies := []strategy{
		{"exact (btree on user_id)", func(ctx context.Context, tx *sql.Tx, r vecsearch.Request) ([]vecsearch.Hit, error) {
			return vecsearch.Exact(ctx, tx, vecsearch.Memories, r)
		}},
		{"service path (vecsearch.Nearest)", func(ctx context.Context, tx *sql.Tx, r vecsearch.Request) ([]vecsearch.Hit, error) {
			hits, _, err := vecsearch.Nearest(ctx, tx, vecsearch.Memories, r)
			return hits, err
		}},
		{"HNSW + user filter, no iterative scan (ef 40)", plainHNSW},
	}
	efs := []int{40, 100, 150, 200}
	if !slices.Contains(efs, vecsearch.EFSearch) {
		efs = append(efs, vecsearch.EFSearch)
		slices.Sort(efs)
	}
	for _, ef := range efs {
		strategies = append(strategies, strategy{fmt.Sprintf("HNSW iterative scan, ef_search %d", ef),
			func(ctx context.Context, tx *sql.Tx, r vecsearch.Request) ([]vecsearch.Hit, error) {
				return vecsearch.HNSW(ctx, tx, vecsearch.Memories, r, ef)
			}})
	}
	fmt.Fprintf(b.out, "load average before the queries: %s\n\n", loadavg())
	fmt.Fprintln(b.out, "| strategy | recall@10 | queries with < 10 rows | p50 | p95 | p99 |")
	fmt.Fprintln(b.out, "| --- | --- | --- | --- | --- | --- |")
	for _, s := range strategies {
		if s.name == strategies[0].name && shape != "spread" {
			// Measured already by the ground-truth pass; skip a second
			// minute of exact scans.
			fmt.Fprintf(b.out, "| %s | 1.000 | 0 | %s | %s | %s |\n", s.name, ms(exactLat, 50), ms(exactLat, 95), ms(exactLat, 99))
			continue
		}
		lat := make([]time.Duration, len(qs))
		var found, short int
		for i, q := range qs {
			var hits []vecsearch.Hit
			err := asUser(ctx, sqlDB, userIDs[q.user], func(tx *sql.Tx) error {
				start := time.Now()
				var err error
				hits, err = s.run(ctx, tx, req(q))
				lat[i] = time.Since(start)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			found += overlap(truth[i], hits)
			if len(hits) < 10 {
				short++
			}
		}
		fmt.Fprintf(b.out, "| %s | %.3f | %d of %d | %s | %s | %s |\n", s.name, float64(found)/float64(10*len(qs)), short, len(qs),
			ms(lat, 50), ms(lat, 95), ms(lat, 99))
	}
	fmt.Fprintf(b.out, "\nload average after: %s\n\n", loadavg())
	return nil
}

// loadavg is the machine's 1, 5 and 15 minute load (the cores are shared:
// latency figures mean little without it), or "unknown" off Linux.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// load COPYs the rows: users first, then memories spread over them (row i
// is user i mod users', so a user's rows are spread over the table as
// years of writes spread them), with vectors from draw(user).
func (b vectorBench) load(ctx context.Context, url string, userIDs []uuid.UUID, draw func(u int) []float32) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
		return fmt.Errorf("register vector type: %w", err)
	}
	// The HNSW index is built after the load (inserting into a graph row
	// by row is several times slower than building it once).
	if _, err := conn.Exec(ctx, `DROP INDEX "memory_embedding"`); err != nil {
		return fmt.Errorf("drop index: %w", err)
	}
	switch b.storage {
	case "":
	case "plain", "main", "external", "extended":
		if _, err := conn.Exec(ctx, "ALTER TABLE memories ALTER COLUMN embedding SET STORAGE "+strings.ToUpper(b.storage)); err != nil {
			return fmt.Errorf("set storage: %w", err)
		}
	default:
		return usageError("-storage: plain, main, external or extended")
	}
	now := time.Now()
	urows := make([][]any, len(userIDs))
	for i, id := range userIDs {
		urows[i] = []any{id, now, now, fmt.Sprintf("bench-%d@example.com", i), "$argon2id$bench"}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "created_at", "updated_at", "email", "password_hash"}, pgx.CopyFromRows(urows)); err != nil {
		return fmt.Errorf("copy users: %w", err)
	}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == b.rows {
			return nil, nil
		}
		u := i % len(userIDs)
		row := []any{uuid.Must(uuid.NewV7()), now, now, userIDs[u], fmt.Sprintf("bench memory %d", i),
			pgvector.NewVector(draw(u)), benchModel, "{}", "{}"}
		i++
		return row, nil
	})
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"memories"},
		[]string{"id", "created_at", "updated_at", "user_id", "content", "embedding", "embedding_model", "metadata", "redactions"}, src)
	if err != nil {
		return fmt.Errorf("copy memories: %w", err)
	}
	return nil
}

// asUser runs fn as the service does: in a transaction, as the app role
// (no BYPASSRLS) with the user's row-level security identity.
func asUser(ctx context.Context, d *sql.DB, userID uuid.UUID, fn func(tx *sql.Tx) error) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, "SET LOCAL ROLE "+migrate.AppRole); err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT set_config($1, $2, true)", migrate.CurrentUserSetting, userID.String()); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// plainHNSW is the naive query: the index, then the user filter. It shows
// what the service avoids (short, wrong results for small users).
func plainHNSW(ctx context.Context, tx *sql.Tx, r vecsearch.Request) ([]vecsearch.Hit, error) {
	for _, s := range []string{"SET LOCAL plan_cache_mode = force_custom_plan", "SET LOCAL hnsw.iterative_scan = off", "SET LOCAL hnsw.ef_search = 40", "SET LOCAL enable_sort = off"} {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, embedding <=> $2 FROM memories WHERE user_id = $1 AND embedding_model = $3
ORDER BY embedding <=> $2 LIMIT $4`, r.UserID, r.Vector, r.Model, r.K)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []vecsearch.Hit
	for rows.Next() {
		var h vecsearch.Hit
		if err := rows.Scan(&h.ID, &h.Distance); err != nil {
			return nil, err
		}
		hits = append(hits, h)
	}
	if _, err := tx.ExecContext(ctx, "SET LOCAL enable_sort = on"); err != nil {
		return nil, err
	}
	return hits, rows.Err()
}

func overlap(truth, got []vecsearch.Hit) int {
	want := make(map[uuid.UUID]bool, len(truth))
	for _, h := range truth {
		want[h.ID] = true
	}
	n := 0
	for _, h := range got {
		if want[h.ID] {
			n++
		}
	}
	return n
}

func gaussian(rng *mrand.Rand, sigma float64) []float32 {
	v := make([]float32, vecsearch.Dims)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * sigma)
	}
	return v
}

// The vectors are clustered in two levels, as embeddings of texts are
// (topics, and subjects within them): a subtopic is its topic plus noise of
// subtopicNoise times its length (cosine to the topic ≈ 0.71, ≈ 0.5 between
// subtopics of a topic), a point its subtopic plus pointNoise (cosine ≈ 0.8
// to it, ≈ 0.64 between points of a subtopic, ≈ 0.3 within a topic, ≈ 0
// across topics). One level of clusters with noise as long as the
// centroid makes every point of a cluster nearly equidistant from a query
// (cosine ≈ 0.5 to all): no index finds "the" 10 nearest of 12,000 ties,
// and real embeddings do not look like that.
const (
	subtopicNoise = 1.0
	pointNoise    = 0.75
)

// vocabulary draws topics and their subtopics.
func (b vectorBench) vocabulary(rng *mrand.Rand) [][][]float32 {
	out := make([][][]float32, b.topics)
	for t := range out {
		topic := normalized(gaussian(rng, 1))
		out[t] = make([][]float32, b.subtopics)
		for s := range out[t] {
			out[t][s] = around(rng, topic, subtopicNoise)
		}
	}
	return out
}

// point is a memory (or a query) about subtopic c.
func point(rng *mrand.Rand, c []float32) []float32 { return around(rng, c, pointNoise) }

// around is c plus Gaussian noise of about scale times c's (unit) length,
// normalized.
func around(rng *mrand.Rand, c []float32, scale float64) []float32 {
	n := gaussian(rng, scale/math.Sqrt(float64(vecsearch.Dims)))
	for i := range n {
		n[i] += c[i]
	}
	return normalized(n)
}

func normalized(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	s = math.Sqrt(s)
	for i := range v {
		v[i] = float32(float64(v[i]) / s)
	}
	return v
}

// ms is the p-th percentile of d in milliseconds, one decimal.
func ms(d []time.Duration, p int) string {
	return fmt.Sprintf("%.1f ms", float64(pct(d, p).Microseconds())/1000)
}
