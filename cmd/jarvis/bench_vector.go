package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	migrate "github.com/jarvis-core/jarvis/internal/pgmigrate"
	"github.com/jarvis-core/jarvis/internal/vecsearch"
)

func init() {
	registerBench("vector", "per-user top-10 memory search through the API on clustered 1536-d vectors loaded through the API: load rate, recall@10, latency beside raw pgvector", benchVector)
}

// vectorBench is one run's parameters.
type vectorBench struct {
	rows, users     int
	queries, topics int
	subtopics       int
	userTopics      int
	clients         int
	truthSample     int
	rateRows        int
	seed            uint64
	shapes          []string
	serviceBin      string
	baselineBin     string
	out             io.Writer
}

const benchModel = "bench-clustered"

func benchVector(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench vector", flag.ContinueOnError)
	fs.SetOutput(stdout)
	b := vectorBench{out: stdout}
	fs.IntVar(&b.rows, "rows", 100_000, "memories of the spread shape; the single shape's user holds as many, among twice as many")
	fs.IntVar(&b.users, "users", 100, "users of the spread shape, and the other users of the single shape")
	fs.IntVar(&b.queries, "queries", 200, "timed queries per strategy")
	fs.IntVar(&b.topics, "topics", 200, "topics the vectors are drawn around")
	fs.IntVar(&b.subtopics, "subtopics", 50, "subtopics of each topic")
	fs.IntVar(&b.userTopics, "user-topics", 8, "topics each user's memories come from (the single shape's user has all)")
	fs.IntVar(&b.clients, "clients", 8, "concurrent API clients loading memories")
	fs.IntVar(&b.truthSample, "neighbour-sample", 20, "queries whose 10 nearest rows of the whole table are counted by owner (exact scans of the table)")
	fs.IntVar(&b.rateRows, "rate-rows", 5000, "memories loaded by each of -baseline-bin and this build to compare load rates (0: skip)")
	fs.Uint64Var(&b.seed, "seed", 42, "random seed (vectors, users, queries)")
	fs.StringVar(&b.serviceBin, "service-bin", "", "jarvis binary whose serve is measured (default: this one)")
	fs.StringVar(&b.baselineBin, "baseline-bin", "", "another jarvis build (e.g. main's) whose load rate is measured beside this one's, alternated")
	shapes := fs.String("shapes", "spread,single", "spread: -rows over -users users; single: one user with -rows among 2×-rows (the others over -users users); none: only the load rates of -baseline-bin")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *shapes != "none" {
		b.shapes = strings.Split(*shapes, ",")
	} else if b.baselineBin == "" || b.rateRows <= 0 {
		return usageError("-shapes none measures only the load rates: give -baseline-bin and -rate-rows")
	}
	for _, s := range b.shapes {
		if s != "spread" && s != "single" {
			return usageError("-shapes: spread and/or single, or none")
		}
	}
	if b.serviceBin == "" {
		var err error
		if b.serviceBin, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
	}
	fmt.Fprintf(stdout, "# jarvis bench vector: %d dims, %d topics × %d subtopics, seed %d, %d loading clients; load average %s\n\n",
		vecsearch.Dims, b.topics, b.subtopics, b.seed, b.clients, loadavg())
	if b.baselineBin != "" && b.rateRows > 0 {
		if err := b.compareRates(ctx); err != nil {
			return fmt.Errorf("load rates: %w", err)
		}
	}
	for _, shape := range b.shapes {
		if err := b.runShape(ctx, shape); err != nil {
			return fmt.Errorf("shape %s: %w", shape, err)
		}
	}
	return nil
}

// benchService is a database and a service process serving it.
type benchService struct {
	db    *dbtest.Database
	proc  *benchProcess
	drop  func(context.Context) error
	users []benchUser
	http  *http.Client
}

func (s *benchService) close() {
	if s.proc != nil {
		s.proc.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.drop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "jarvis bench vector:", err)
	}
}

// startVectorService creates a migrated database, starts bin's serve on it
// (production settings, rate limits off, tokens valid for the whole run)
// and registers n users through the API.
func (b vectorBench) startVectorService(ctx context.Context, bin string, n int) (*benchService, error) {
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	d, drop, err := dbtest.Create(setupCtx, "bench_vector")
	if err != nil {
		return nil, fmt.Errorf("bench database: %w", err)
	}
	s := &benchService{db: d, drop: drop, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.clients + 1}}}
	s.proc, err = startBenchService(ctx, bin, d.AppURL, map[string]string{"JWT_ACCESS_EXPIRY": "12h"})
	if err != nil {
		s.close()
		return nil, err
	}
	for i := range n {
		var tok struct {
			AccessToken string    `json:"access_token"`
			UserID      uuid.UUID `json:"user_id"`
		}
		err := postJSON(ctx, s.proc.url+"/v1/auth/register", "", map[string]string{
			"email": fmt.Sprintf("bench-vector-%d@example.com", i), "password": "correct horse battery staple",
		}, &tok)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("register: %w", err)
		}
		s.users = append(s.users, benchUser{id: tok.UserID, token: tok.AccessToken})
	}
	return s, nil
}

// post sends one JSON request as a user and decodes the answer.
func (s *benchService) post(ctx context.Context, path string, u benchUser, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.proc.url+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", path, resp.Status, got)
	}
	if out != nil {
		return json.Unmarshal(got, out)
	}
	return nil
}

// data is how a shape's rows and queries are drawn.
type vectorData struct {
	b         vectorBench
	subtopics [][][]float32
	topics    [][]int // each user's topics
	owner     func(i int) int
}

// vec is row i's vector: a point around a subtopic of its owner's topics,
// from a generator of its own, so that rows need not be held in memory
// and any loader draws the same row i.
func (v *vectorData) vec(i int) (int, []float32) {
	rng := mrand.New(mrand.NewPCG(v.b.seed, uint64(i)+1))
	u := v.owner(i)
	return u, point(rng, v.pick(rng, u))
}

func (v *vectorData) pick(rng *mrand.Rand, u int) []float32 {
	t := v.topics[u][rng.IntN(len(v.topics[u]))]
	return v.subtopics[t][rng.IntN(v.b.subtopics)]
}

// load POSTs rows [0, n) through the API from b.clients clients, row i as
// user owner(i), and returns the rate in memories a second.
func (b vectorBench) load(ctx context.Context, s *benchService, v *vectorData, n int) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, b.clients)
	start := time.Now()
	for range b.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				u, vec := v.vec(i)
				err := s.post(ctx, "/v1/memories", s.users[u], map[string]any{
					"content": fmt.Sprintf("bench memory %d", i), "embedding": vec, "embedding_model": benchModel,
				}, nil)
				if err != nil {
					errs <- fmt.Errorf("memory %d: %w", i, err)
					next.Store(int64(n)) // the others stop too
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// heapStats are the table's size and its dead row versions, read from the
// heap itself (pgstattuple), not from statistics that lag.
func heapStats(ctx context.Context, d *dbtest.Database) (size string, dead int64, err error) {
	url, err := migrate.WithDatabase(dbtest.AdminURL(), d.Name)
	if err != nil {
		return "", 0, err
	}
	admin, err := db.OpenSQL(ctx, url)
	if err != nil {
		return "", 0, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pgstattuple"); err != nil {
		return "", 0, err
	}
	err = admin.QueryRowContext(ctx, `SELECT pg_size_pretty(pg_total_relation_size('memories')), dead_tuple_count FROM pgstattuple('memories')`).Scan(&size, &dead)
	return size, dead, err
}

// compareRates loads b.rateRows memories over b.users users into a fresh
// database with each build, twice, alternated: the rate the service takes
// writes at, before and after a change, on the same machine at the same time.
func (b vectorBench) compareRates(ctx context.Context) error {
	rng := mrand.New(mrand.NewPCG(b.seed, 0x5eed))
	v := &vectorData{b: b, subtopics: b.vocabulary(rng), topics: make([][]int, b.users)}
	for u := range v.topics {
		v.topics[u] = rng.Perm(b.topics)[:min(b.userTopics, b.topics)]
	}
	v.owner = func(i int) int { return i % b.users }
	fmt.Fprintf(b.out, "## load rate: %d memories over %d users through POST /v1/memories, %d clients, HNSW index in place\n\n", b.rateRows, b.users, b.clients)
	fmt.Fprintln(b.out, "| build | round | memories/s | dead row versions after | table with indexes | load average |")
	fmt.Fprintln(b.out, "| --- | --- | --- | --- | --- | --- |")
	for round := 1; round <= 2; round++ {
		for _, build := range []struct{ name, bin string }{{"baseline", b.baselineBin}, {"this", b.serviceBin}} {
			s, err := b.startVectorService(ctx, build.bin, b.users)
			if err != nil {
				return err
			}
			rate, err := b.load(ctx, s, v, b.rateRows)
			if err != nil {
				s.close()
				return err
			}
			size, dead, err := heapStats(ctx, s.db)
			s.close()
			if err != nil {
				return err
			}
			fmt.Fprintf(b.out, "| %s | %d | %.0f | %d | %s | %s |\n", build.name, round, rate, dead, size, loadavg())
		}
	}
	fmt.Fprintln(b.out)
	return nil
}

// runShape loads a shape through the API into a fresh database (no VACUUM:
// autovacuum may be off, and a fresh load must perform), then times the
// service's search as a client sees it beside raw pgvector strategies.
func (b vectorBench) runShape(ctx context.Context, shape string) error {
	rng := mrand.New(mrand.NewPCG(b.seed, 0x5eed))
	v := &vectorData{b: b, subtopics: b.vocabulary(rng)}
	var total, users int
	switch shape {
	case "spread":
		users, total = b.users, b.rows
		v.topics = make([][]int, users)
		for u := range v.topics {
			v.topics[u] = rng.Perm(b.topics)[:min(b.userTopics, b.topics)]
		}
		v.owner = func(i int) int { return i % users }
	case "single":
		// User 0 writes about every topic; the others only about the first
		// half, where the queries are: most of a query's nearest rows are
		// then the others' (two of three per subtopic), which a per-user
		// search must skip.
		users, total = b.users+1, 2*b.rows
		v.topics = make([][]int, users)
		v.topics[0] = rng.Perm(b.topics)
		half := max(b.topics/2, 1)
		for u := 1; u < users; u++ {
			v.topics[u] = rng.Perm(half)[:min(b.userTopics, half)]
		}
		v.owner = func(i int) int {
			if i%2 == 0 {
				return 0
			}
			return 1 + (i/2)%b.users
		}
	}
	s, err := b.startVectorService(ctx, b.serviceBin, users)
	if err != nil {
		return err
	}
	defer s.close()
	rate, err := b.load(ctx, s, v, total)
	if err != nil {
		return err
	}
	size, dead, err := heapStats(ctx, s.db)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "## shape %s: %d memories over %d user(s), loaded through POST /v1/memories (%d clients, HNSW index in place, no VACUUM)\n\n", shape, total, users, b.clients)
	fmt.Fprintf(b.out, "load %.0f memories/s; dead row versions %d; table with indexes %s; load average %s\n\n", rate, dead, size, loadavg())

	// Queries: a user and a point near one of its subtopics (for the single
	// shape, the big user, in the topics the others share).
	type query struct {
		user int
		vec  pgvector.Vector
	}
	qs := make([]query, b.queries)
	for i := range qs {
		u := 0
		t := 0
		if shape == "spread" {
			u = rng.IntN(users)
			t = v.topics[u][rng.IntN(len(v.topics[u]))]
		} else {
			t = rng.IntN(max(b.topics/2, 1))
		}
		qs[i] = query{u, pgvector.NewVector(point(rng, v.subtopics[t][rng.IntN(b.subtopics)]))}
	}

	owner, err := db.OpenSQL(ctx, s.db.OwnerURL)
	if err != nil {
		return err
	}
	defer owner.Close()
	app, err := db.OpenSQL(ctx, s.db.AppURL)
	if err != nil {
		return err
	}
	defer app.Close()
	req := func(q query) vecsearch.Request {
		return vecsearch.Request{UserID: s.users[q.user].id, Vector: q.vec, Model: benchModel, K: 10, MaxDistance: 2}
	}
	// Ground truth: the exact top 10 of the user's rows.
	truth := make([][]vecsearch.Hit, len(qs))
	for i, q := range qs {
		err := asUser(ctx, app, s.users[q.user].id, func(tx *sql.Tx) error {
			var err error
			truth[i], err = vecsearch.Exact(ctx, tx, vecsearch.Memories, req(q))
			return err
		})
		if err != nil {
			return fmt.Errorf("exact: %w", err)
		}
	}
	// How much of each query's neighbourhood is other users' rows: the
	// exact 10 nearest of the whole table (sequential scan) for a sample.
	var others, seen int
	for i := range min(b.truthSample, len(qs)) {
		n, err := othersNearest(ctx, owner, qs[i].vec, s.users[qs[i].user].id)
		if err != nil {
			return err
		}
		others, seen = others+n, seen+10
	}
	fmt.Fprintf(b.out, "other users' rows among each query's 10 nearest of the table: %.0f%% (%d queries)\n\n", 100*float64(others)/float64(max(seen, 1)), min(b.truthSample, len(qs)))

	type strategy struct {
		name string
		run  func(ctx context.Context, q query) ([]vecsearch.Hit, time.Duration, error)
	}
	service := strategy{"**service: POST /v1/memories/search over HTTP**", func(ctx context.Context, q query) ([]vecsearch.Hit, time.Duration, error) {
		var res struct {
			Items []struct {
				Memory struct {
					ID uuid.UUID `json:"id"`
				} `json:"memory"`
				Similarity float64 `json:"similarity"`
			} `json:"items"`
		}
		start := time.Now()
		err := s.post(ctx, "/v1/memories/search", s.users[q.user], map[string]any{
			"vector": q.vec.Slice(), "model": benchModel, "limit": 10, "threshold": -1,
		}, &res)
		d := time.Since(start)
		hits := make([]vecsearch.Hit, len(res.Items))
		for i, it := range res.Items {
			hits[i] = vecsearch.Hit{ID: it.Memory.ID, Distance: 1 - it.Similarity}
		}
		return hits, d, err
	}}
	// The service's unit of work in this process: the same driver, pool
	// and pipelining, acting as the user (no session to check).
	unit, err := db.Open(ctx, s.db.AppURL)
	if err != nil {
		return err
	}
	defer unit.Close()
	sizes := vecsearch.NewSizes()
	strategies := []strategy{service,
		{"service's SQL in process (vecsearch.Nearest in a unit of work as the user)", func(ctx context.Context, q query) ([]vecsearch.Hit, time.Duration, error) {
			r := req(q)
			r.Sizes, r.CountOtherModels = sizes, true // as the service asks
			start := time.Now()
			res, err := db.Query(viewer.NewContext(ctx, viewer.User(s.users[q.user].id)), unit,
				func(ctx context.Context, tx *ent.Tx) (vecsearch.Result, error) {
					return vecsearch.Nearest(ctx, tx, vecsearch.Memories, r)
				})
			return res.Hits, time.Since(start), err
		}},
	}
	raw := func(name string, settings []string, stmt string) strategy {
		return strategy{name, func(ctx context.Context, q query) ([]vecsearch.Hit, time.Duration, error) {
			return rawSearch(ctx, owner, settings, stmt, req(q))
		}}
	}
	const (
		exactSQL = `WITH mine AS MATERIALIZED (SELECT id, embedding <=> $2 AS d FROM memories WHERE user_id = $1 AND embedding_model = $3)
SELECT id, d FROM mine ORDER BY d LIMIT 10`
		hnswSQL = `WITH near AS MATERIALIZED (SELECT id, embedding <=> $2 AS d FROM memories WHERE user_id = $1 AND embedding_model = $3 ORDER BY embedding <=> $2 LIMIT 10)
SELECT id, d FROM near ORDER BY d`
	)
	if shape == "spread" { // a 100k-row user's exact scan takes ~0.2 s a query
		strategies = append(strategies, raw("raw: exact (btree on user_id)", nil, exactSQL))
	}
	strategies = append(strategies, raw("raw: HNSW + user filter, no iterative scan (ef 40)",
		[]string{"SET hnsw.iterative_scan = off", "SET hnsw.ef_search = 40", "SET enable_sort = off"}, hnswSQL))
	efs := []int{40, 100, 150, 200, 400}
	if !slices.Contains(efs, vecsearch.EFSearch) {
		efs = append(efs, vecsearch.EFSearch)
		slices.Sort(efs)
	}
	for _, ef := range efs {
		strategies = append(strategies, raw(fmt.Sprintf("raw: HNSW iterative scan, ef_search %d", ef),
			// enable_sort = off: the index, not the planner's btree path.
			[]string{"SET hnsw.iterative_scan = relaxed_order", fmt.Sprintf("SET hnsw.ef_search = %d", ef), "SET enable_sort = off"}, hnswSQL))
	}

	// Each query runs every strategy in turn, so that the machine's load
	// weighs on all of them alike, starting from a different one each
	// time: the first to visit a query's part of the index reads its pages
	// into shared buffers for the others (at 200k rows the index is ten
	// times shared_buffers), and a fixed order charged that to the service.
	lat := make([][]time.Duration, len(strategies))
	found := make([]int, len(strategies))
	short := make([]int, len(strategies))
	for i, q := range qs {
		for k := range strategies {
			j := (i + k) % len(strategies)
			st := strategies[j]
			hits, d, err := st.run(ctx, q)
			if err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
			lat[j] = append(lat[j], d)
			found[j] += overlap(truth[i], hits)
			if len(hits) < 10 {
				short[j]++
			}
		}
	}
	fmt.Fprintf(b.out, "load average before the queries: %s\n\n", loadavg())
	fmt.Fprintln(b.out, "| strategy | recall@10 | queries with < 10 rows | p50 | p95 | p99 |")
	fmt.Fprintln(b.out, "| --- | --- | --- | --- | --- | --- |")
	recall := make([]float64, len(strategies))
	for j, st := range strategies {
		recall[j] = float64(found[j]) / float64(10*len(qs))
		fmt.Fprintf(b.out, "| %s | %.3f | %d of %d | %s | %s | %s |\n", st.name, recall[j], short[j], len(qs),
			ms(lat[j], 50), ms(lat[j], 95), ms(lat[j], 99))
	}
	// The fastest raw strategy at least as accurate as the service.
	best := -1
	for j := 2; j < len(strategies); j++ {
		if recall[j] >= recall[0]-0.0005 && (best < 0 || pct(lat[j], 95) < pct(lat[best], 95)) {
			best = j
		}
	}
	if best >= 0 {
		fmt.Fprintf(b.out, "\nservice p95 / best raw strategy at the same recall (%s): %.2f×\n",
			strategies[best].name, float64(pct(lat[0], 95))/float64(pct(lat[best], 95)))
	}
	fmt.Fprintf(b.out, "\nload average after: %s\n\n", loadavg())
	return nil
}

// rawSearch is a raw pgvector query: the table owner's connection (no
// row-level security, no transaction), settings for the session
// (untimed), then one round trip timed.
func rawSearch(ctx context.Context, d *sql.DB, settings []string, query string, r vecsearch.Request) ([]vecsearch.Hit, time.Duration, error) {
	conn, err := d.Conn(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	for _, s := range append([]string{"RESET ALL", "SET jit = off"}, settings...) {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", s, err)
		}
	}
	start := time.Now()
	rows, err := conn.QueryContext(ctx, query, r.UserID, r.Vector, r.Model)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var hits []vecsearch.Hit
	for rows.Next() {
		var h vecsearch.Hit
		if err := rows.Scan(&h.ID, &h.Distance); err != nil {
			return nil, 0, err
		}
		hits = append(hits, h)
	}
	took := time.Since(start)
	return hits, took, rows.Err()
}

// othersNearest counts the rows of users other than user among the exact
// 10 nearest rows of the whole table to v.
func othersNearest(ctx context.Context, d *sql.DB, v pgvector.Vector, user uuid.UUID) (int, error) {
	conn, err := d.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET enable_indexscan = off"); err != nil {
		return 0, err
	}
	defer conn.ExecContext(context.Background(), "RESET enable_indexscan") //nolint:errcheck // the connection is pooled: best effort
	var n int
	err = conn.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE user_id <> $2) FROM (
	SELECT user_id FROM memories ORDER BY embedding <=> $1 LIMIT 10) t`, v, user).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("nearest of the table: %w", err)
	}
	return n, nil
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

// asUser runs fn as the service does: in a transaction on the service's
// role (no BYPASSRLS) with the user's row-level security identity.
func asUser(ctx context.Context, d *sql.DB, userID uuid.UUID, fn func(tx *sql.Tx) error) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.ExecContext(ctx, "SELECT set_config($1, $2, true)", migrate.CurrentUserSetting, userID.String()); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
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
