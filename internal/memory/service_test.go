package memory

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/embed"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
	"github.com/jarvis-core/jarvis/internal/pii"
	"github.com/jarvis-core/jarvis/internal/vecsearch"
)

type env struct {
	svc        *Service
	app        *db.DB
	owner      *ent.Client
	alice, bob context.Context
	aliceID    uuid.UUID
	bobID      uuid.UUID
}

func setup(t *testing.T) env {
	t.Helper()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	a := dbtest.Seed(t, owner, "alice@example.com")
	b := dbtest.Seed(t, owner, "bob@example.com")
	// The seeds' memories carry a test model; these tests start empty.
	sys := viewer.NewContext(context.Background(), viewer.System())
	if _, err := owner.Memory.Delete().Exec(sys); err != nil {
		t.Fatal(err)
	}
	app := d.App(t)
	return env{
		svc: NewService(app, embed.Local{}, pii.Default, slog.New(slog.NewTextHandler(io.Discard, nil))),
		app: app, owner: owner,
		alice: viewer.NewContext(context.Background(), viewer.User(a.User.ID)), aliceID: a.User.ID,
		bob: viewer.NewContext(context.Background(), viewer.User(b.User.ID)), bobID: b.User.ID,
	}
}

// redacted reads a redaction count: an int as the service set it, a float64
// once it has been through JSON.
func redacted(m map[string]any, kind string) int {
	switch v := m[kind].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return 0
}

// hitsOf is a search's hits, for tests that look at nothing else.
func hitsOf(r Result, err error) ([]Hit, error) { return r.Hits, err }

func isKind(err error, k fault.Kind) bool {
	fe, ok := fault.As(err)
	return ok && fe.Kind == k
}

func (e env) count(t *testing.T) int {
	t.Helper()
	n, err := e.owner.Memory.Query().Count(viewer.NewContext(context.Background(), viewer.System()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e env) searchVector(t *testing.T, id uuid.UUID) string {
	t.Helper()
	m, err := e.owner.Memory.Get(viewer.NewContext(context.Background(), viewer.System()), id)
	if err != nil {
		t.Fatal(err)
	}
	if m.SearchVector == nil {
		return ""
	}
	return string(*m.SearchVector)
}

func TestMemoryLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m, err := e.svc.Create(e.alice, CreateInput{
		Content:  "Ada's email is ada@example.com and her phone is +44 20 7946 0958; she drinks green tea",
		Metadata: map[string]any{"source": "chat"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Content, "ada@example.com") || !strings.Contains(m.Content, "[EMAIL]") || !strings.Contains(m.Content, "[PHONE]") {
		t.Fatalf("content not redacted: %q", m.Content)
	}
	if redacted(m.Redactions, "email") != 1 || redacted(m.Redactions, "phone") != 1 || len(m.Redactions) != 2 {
		t.Errorf("redactions = %v", m.Redactions)
	}
	if m.EmbeddingModel != embed.LocalModel || len(m.Embedding.Slice()) != embed.Dims || m.UserID != e.aliceID {
		t.Errorf("model %q, %d dims, user %s", m.EmbeddingModel, len(m.Embedding.Slice()), m.UserID)
	}
	// The stored vector is the embedding of the redacted text: the address
	// never reached the embedder.
	want, _ := embed.Local{}.Embed(context.Background(), []string{m.Content})
	for i, x := range m.Embedding.Slice() {
		if x != want[0][i] {
			t.Fatalf("embedding is not the redacted content's (component %d)", i)
		}
	}
	if sv := e.searchVector(t, m.ID); !strings.Contains(sv, "'tea'") || strings.Contains(sv, "example") {
		t.Errorf("search_vector = %q", sv)
	}

	got, err := e.svc.Get(e.alice, m.ID)
	if err != nil || got.Content != m.Content || got.Metadata["source"] != "chat" || len(got.Embedding.Slice()) != embed.Dims {
		t.Fatalf("get = %+v, %v", got, err)
	}

	newContent := "Ada switched to coffee, SSN 123-45-6789"
	up, err := e.svc.Update(e.alice, m.ID, UpdateInput{Content: &newContent})
	if err != nil {
		t.Fatal(err)
	}
	if up.Content != "Ada switched to coffee, SSN [SSN]" || redacted(up.Redactions, "ssn") != 1 || redacted(up.Redactions, "email") != 0 {
		t.Errorf("updated = %q %v", up.Content, up.Redactions)
	}
	if up.Metadata["source"] != "chat" {
		t.Errorf("metadata lost on content update: %v", up.Metadata)
	}
	reembedded, _ := embed.Local{}.Embed(context.Background(), []string{up.Content})
	for i, x := range up.Embedding.Slice() {
		if x != reembedded[0][i] {
			t.Fatalf("update did not re-embed: component %d is %v, want %v", i, x, reembedded[0][i])
		}
	}
	if sv := e.searchVector(t, m.ID); !strings.Contains(sv, "'coffe'") || strings.Contains(sv, "'tea'") {
		t.Errorf("search_vector after update = %q", sv)
	}
	md := map[string]any{"source": "import", "n": 2}
	if up, err = e.svc.Update(e.alice, m.ID, UpdateInput{Metadata: &md}); err != nil || up.Metadata["source"] != "import" || up.Content != "Ada switched to coffee, SSN [SSN]" {
		t.Fatalf("metadata update = %+v, %v", up, err)
	}

	if err := e.svc.Delete(e.alice, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(e.alice, m.ID); !isKind(err, fault.NotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := e.svc.Delete(e.alice, m.ID); !isKind(err, fault.NotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// TestEmbeddingsStayInTheRow: the migration keeps vectors out of TOAST
// (exact per-user scans touch a fifth of the buffers); a re-planned
// migration directory must not lose it.
func TestEmbeddingsStayInTheRow(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, table := range []string{"memories", "kg_entities"} {
		var storage string
		err := e.app.SQL.QueryRow(`SELECT attstorage FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'`, table).Scan(&storage)
		if err != nil || storage != "p" {
			t.Errorf("%s.embedding storage = %q, %v; want p (PLAIN)", table, storage, err)
		}
	}
}

func TestMemoryListPages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var ids []uuid.UUID
	for i := range 5 {
		m, err := e.svc.Create(e.alice, CreateInput{Content: fmt.Sprintf("fact %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if _, err := e.svc.Create(e.bob, CreateInput{Content: "bob's fact"}); err != nil {
		t.Fatal(err)
	}
	var seen []uuid.UUID
	page := db.Page{Size: 2}
	for {
		rows, err := e.svc.List(e.alice, page)
		if err != nil {
			t.Fatal(err)
		}
		more := len(rows) > page.Size
		rows = rows[:min(len(rows), page.Size)]
		for _, r := range rows {
			if len(r.Embedding.Slice()) != 0 {
				t.Error("lists should not carry embeddings")
			}
			seen = append(seen, r.ID)
		}
		if !more {
			break
		}
		page.Before = rows[len(rows)-1].ID
	}
	if len(seen) != 5 {
		t.Fatalf("listed %d memories, want alice's 5", len(seen))
	}
	for i, id := range seen {
		if id != ids[4-i] {
			t.Fatalf("list order: position %d is %s, want newest first", i, id)
		}
	}
}

func unit(axis int) []float32 {
	v := make([]float32, embed.Dims)
	v[axis] = 1
	return v
}

func TestMemoryRejectsBadInputAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	nan := unit(0)
	nan[3] = float32(math.NaN())
	two := 2.0
	for _, tt := range []struct {
		name  string
		run   func() error
		field string
	}{
		{"empty content", func() error { _, err := e.svc.Create(e.alice, CreateInput{Content: "  "}); return err }, "content"},
		{"huge content", func() error {
			_, err := e.svc.Create(e.alice, CreateInput{Content: strings.Repeat("a", MaxContentBytes+1)})
			return err
		}, "content"},
		{"short vector", func() error {
			_, err := e.svc.Create(e.alice, CreateInput{Content: "x", Embedding: &Vector{Values: []float32{1, 2, 3}, Model: "m"}})
			return err
		}, "embedding"},
		{"nan vector", func() error {
			_, err := e.svc.Create(e.alice, CreateInput{Content: "x", Embedding: &Vector{Values: nan, Model: "m"}})
			return err
		}, "embedding"},
		{"zero vector", func() error {
			_, err := e.svc.Create(e.alice, CreateInput{Content: "x", Embedding: &Vector{Values: make([]float32, embed.Dims), Model: "m"}})
			return err
		}, "embedding"},
		{"vector without model", func() error {
			_, err := e.svc.Create(e.alice, CreateInput{Content: "x", Embedding: &Vector{Values: unit(1)}})
			return err
		}, "embedding_model"},
		{"search vector dims", func() error {
			_, err := hitsOf(e.svc.Search(e.alice, SearchInput{Vector: &Vector{Values: []float32{1}, Model: embed.LocalModel}}))
			return err
		}, "vector"},
		{"search limit", func() error { _, err := hitsOf(e.svc.Search(e.alice, SearchInput{Query: "x", Limit: 101})); return err }, "limit"},
		{"search threshold", func() error {
			_, err := hitsOf(e.svc.Search(e.alice, SearchInput{Query: "x", Threshold: &two}))
			return err
		}, "threshold"},
		{"search mode", func() error {
			_, err := hitsOf(e.svc.Search(e.alice, SearchInput{Query: "x", Mode: "magic"}))
			return err
		}, "mode"},
		{"hybrid without text", func() error {
			_, err := hitsOf(e.svc.Search(e.alice, SearchInput{Mode: ModeHybrid, Vector: &Vector{Values: unit(1), Model: "m"}}))
			return err
		}, "query"},
		{"search nothing", func() error { _, err := hitsOf(e.svc.Search(e.alice, SearchInput{})); return err }, "query"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			fe, ok := fault.As(err)
			if !ok || fe.Kind != fault.Invalid || len(fe.Fields) == 0 || fe.Fields[0].Name != tt.field {
				t.Fatalf("err = %v, want Invalid on %s", err, tt.field)
			}
		})
	}
	if n := e.count(t); n != 0 {
		t.Fatalf("%d memories stored by refused requests", n)
	}
}

type failingEmbedder struct{ embed.Local }

func (failingEmbedder) Embed(context.Context, []string) ([][]float32, error) {
	return nil, fault.New(fault.Unavailable, "embedding provider is down")
}

func TestMemoryEmbedderFailureStoresNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	svc := NewService(e.app, failingEmbedder{}, pii.Default, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := svc.Create(e.alice, CreateInput{Content: "remember this"}); !isKind(err, fault.Unavailable) {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	if n := e.count(t); n != 0 {
		t.Fatalf("%d memories stored", n)
	}
}

func seedFacts(t *testing.T, e env, ctx context.Context, facts map[string]map[string]any) map[string]uuid.UUID {
	t.Helper()
	out := map[string]uuid.UUID{}
	for content, md := range facts {
		m, err := e.svc.Create(ctx, CreateInput{Content: content, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		out[content] = m.ID
	}
	return out
}

var facts = map[string]map[string]any{
	"Ada drinks green tea every morning":           {"topic": "food"},
	"Ada is allergic to peanuts":                   {"topic": "health"},
	"The quarterly report is due on Friday":        {"topic": "work"},
	"Ada's sister lives in Lisbon":                 {"topic": "family"},
	"Ada prefers jasmine green tea over black tea": {"topic": "food"},
}

func TestMemorySearchVector(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := seedFacts(t, e, e.alice, facts)
	low := 0.2
	hits, err := hitsOf(e.svc.Search(e.alice, SearchInput{Query: "Ada drinks green tea every morning", Threshold: &low}))
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].Memory.ID != ids["Ada drinks green tea every morning"] || hits[0].Similarity < 0.999 {
		t.Fatalf("best hit = %+v", hits)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Similarity > hits[i-1].Similarity || hits[i].Similarity < low {
			t.Fatalf("hits not best first above the threshold: %v then %v", hits[i-1].Similarity, hits[i].Similarity)
		}
	}
	// Default threshold 0.7 keeps only close matches.
	hits, err = hitsOf(e.svc.Search(e.alice, SearchInput{Query: "Ada drinks green tea every morning"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.Similarity < DefaultThreshold {
			t.Fatalf("hit below the default threshold: %v", h.Similarity)
		}
	}
	// Limit, and the metadata filter.
	zero := -1.0
	if hits, err = hitsOf(e.svc.Search(e.alice, SearchInput{Query: "tea", Threshold: &zero, Limit: 2})); err != nil || len(hits) != 2 {
		t.Fatalf("limit 2: %d hits, %v", len(hits), err)
	}
	hits, err = hitsOf(e.svc.Search(e.alice, SearchInput{Query: "tea", Threshold: &zero, Metadata: map[string]any{"topic": "food"}}))
	if err != nil || len(hits) != 2 {
		t.Fatalf("metadata filter: %d hits, %v", len(hits), err)
	}
	for _, h := range hits {
		if h.Memory.Metadata["topic"] != "food" {
			t.Fatalf("metadata filter let through %v", h.Memory.Metadata)
		}
	}
	// A client's vector of the same model.
	v, _ := embed.Local{}.Embed(context.Background(), []string{"Ada is allergic to peanuts"})
	hits, err = hitsOf(e.svc.Search(e.alice, SearchInput{Vector: &Vector{Values: v[0], Model: embed.LocalModel}}))
	if err != nil || len(hits) != 1 || hits[0].Memory.ID != ids["Ada is allergic to peanuts"] {
		t.Fatalf("vector search = %+v, %v", hits, err)
	}
}

func TestMemorySearchHybrid(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := seedFacts(t, e, e.alice, facts)
	// "Lisbon" shares a word with one memory but little of its vector.
	hits, err := hitsOf(e.svc.Search(e.alice, SearchInput{Query: "where is Lisbon"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 0 {
		t.Fatalf("vector mode at 0.7 found %d hits; the test needs a weak vector match", len(hits))
	}
	hits, err = hitsOf(e.svc.Search(e.alice, SearchInput{Query: "where is Lisbon", Mode: ModeHybrid}))
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Memory.ID != ids["Ada's sister lives in Lisbon"] || hits[0].Similarity >= DefaultThreshold || hits[0].Score <= 0 {
		t.Fatalf("hybrid = %+v", hits)
	}
	// Both lists agree on the tea memories: fusion ranks them first, and
	// stemming matches "drinking" with "drinks".
	low := 0.1
	hits, err = hitsOf(e.svc.Search(e.alice, SearchInput{Query: "drinking green tea", Mode: ModeHybrid, Threshold: &low}))
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) < 2 || hits[0].Memory.ID != ids["Ada drinks green tea every morning"] {
		t.Fatalf("hybrid tea = %+v", hits)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Fatal("hybrid hits not ordered by fused score")
		}
	}
}

func TestMemorySearchOverMixedModels(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if _, err := e.svc.Create(e.alice, CreateInput{Content: "tea", Embedding: &Vector{Values: unit(5), Model: "text-embedding-3-small"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Create(e.alice, CreateInput{Content: "green tea"}); err != nil {
		t.Fatal(err)
	}
	// Each search runs over its model's rows and counts the others.
	low := -1.0
	res, err := e.svc.Search(e.alice, SearchInput{Query: "tea", Threshold: &low})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Memory.Content != "green tea" || res.OtherModels != 1 {
		t.Fatalf("service-model search = %+v, %v", res, err)
	}
	res, err = e.svc.Search(e.alice, SearchInput{Vector: &Vector{Values: unit(5), Model: "text-embedding-3-small"}})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].Memory.Content != "tea" || res.OtherModels != 1 {
		t.Fatalf("client-model search = %+v, %v", res, err)
	}
	// Bob's rows of another model don't concern alice, and the reverse.
	if res, err := e.svc.Search(e.bob, SearchInput{Query: "tea"}); err != nil || res.OtherModels != 0 {
		t.Fatalf("bob: %+v, %v", res, err)
	}
}

func TestMemoryCrossUser(t *testing.T) {
	t.Parallel()
	e := setup(t)
	aliceIDs := seedFacts(t, e, e.alice, facts)
	if _, err := e.svc.Create(e.bob, CreateInput{Content: "Bob likes chess"}); err != nil {
		t.Fatal(err)
	}
	low := -1.0
	for _, mode := range []string{ModeVector, ModeHybrid} {
		hits, err := hitsOf(e.svc.Search(e.bob, SearchInput{Query: "Ada drinks green tea every morning", Mode: mode, Threshold: &low, Limit: 100}))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.Memory.UserID != e.bobID {
				t.Fatalf("%s search: bob found alice's memory %q", mode, h.Memory.Content)
			}
		}
	}
	some := aliceIDs["Ada is allergic to peanuts"]
	if _, err := e.svc.Get(e.bob, some); !isKind(err, fault.NotFound) {
		t.Errorf("bob get: %v", err)
	}
	c := "mine now"
	if _, err := e.svc.Update(e.bob, some, UpdateInput{Content: &c}); !isKind(err, fault.NotFound) {
		t.Errorf("bob update: %v", err)
	}
	if err := e.svc.Delete(e.bob, some); !isKind(err, fault.NotFound) {
		t.Errorf("bob delete: %v", err)
	}
	if m, err := e.svc.Get(e.alice, some); err != nil || m.Content != "Ada is allergic to peanuts" {
		t.Fatalf("alice's memory changed: %v %v", m, err)
	}
}

// TestMemorySearchRLSOnly runs the search SQL as the service role with
// bob's identity but asking for alice's rows, as a bug that lost the
// privacy layer would: row-level security alone must return nothing.
func TestMemorySearchRLSOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	seedFacts(t, e, e.alice, facts)
	v, _ := embed.Local{}.Embed(context.Background(), []string{"green tea"})
	req := vecsearch.Request{UserID: e.aliceID, Vector: pgvector.NewVector(v[0]), Model: embed.LocalModel, K: 10, MaxDistance: 2}

	tx, err := e.app.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// jarvis_set_local, as the service does: on Citus it reaches the shards.
	if _, err := tx.Exec("SELECT jarvis_set_local('app.current_user_id', $1)", e.bobID.String()); err != nil {
		t.Fatal(err)
	}
	if dbtest.Citus() {
		// The full-text probe below names no user on purpose (a lost
		// privacy layer would not): let it look at every shard.
		if _, err := tx.Exec("SET LOCAL citus.multi_task_query_log_level = 'off'"); err != nil {
			t.Fatal(err)
		}
	}
	for name, search := range map[string]func() ([]vecsearch.Hit, error){
		"exact": func() ([]vecsearch.Hit, error) {
			return vecsearch.Exact(context.Background(), tx, vecsearch.Memories, req)
		},
		"hnsw": func() ([]vecsearch.Hit, error) {
			return vecsearch.HNSW(context.Background(), tx, vecsearch.Memories, req, 100)
		},
	} {
		hits, err := search()
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 0 {
			t.Fatalf("%s: RLS let bob's transaction see %d of alice's memories", name, len(hits))
		}
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM memories WHERE search_vector @@ to_tsquery('english', 'tea')").Scan(&n); err != nil || n != 0 {
		t.Fatalf("full-text as bob: %d rows, %v", n, err)
	}

	// The same queries with alice's identity do find them: the test above
	// is not empty for another reason.
	tx2, err := e.app.SQL.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback()
	if _, err := tx2.Exec("SELECT jarvis_set_local('app.current_user_id', $1)", e.aliceID.String()); err != nil {
		t.Fatal(err)
	}
	hits, err := vecsearch.Exact(context.Background(), tx2, vecsearch.Memories, req)
	if err != nil || len(hits) != len(facts) {
		t.Fatalf("alice: %d hits, %v", len(hits), err)
	}
}

// TestExactAndHNSWAgree checks the approximate path against the exact one
// on several users, with a filter, and that Nearest picks the exact path
// for a small user.
func TestExactAndHNSWAgree(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for u, ctx := range []context.Context{e.alice, e.bob} {
		for i := range 60 {
			v := unit((u*7 + i) % 50)
			v[100+i] = 0.5 // distinct rows
			md := map[string]any{"even": i%2 == 0}
			if _, err := e.svc.Create(ctx, CreateInput{Content: fmt.Sprintf("row %d", i), Metadata: md, Embedding: &Vector{Values: v, Model: "m"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	q := unit(3)
	q[120] = 0.3
	req := vecsearch.Request{UserID: e.aliceID, Vector: pgvector.NewVector(q), Model: "m", K: 10, MaxDistance: 2,
		Where: []vecsearch.Cond{{SQL: "metadata @> $?::jsonb", Arg: `{"even": true}`}}}
	_, err := db.Query(e.alice, e.app, func(ctx context.Context, tx *ent.Tx) (any, error) {
		res, err := vecsearch.Nearest(ctx, tx, vecsearch.Memories, req)
		if err != nil {
			return nil, err
		}
		exact, path := res.Hits, res.Path
		if path != vecsearch.PathExact || len(exact) != 10 {
			return nil, fmt.Errorf("nearest: path %s, %d hits", path, len(exact))
		}
		approx, err := vecsearch.HNSW(ctx, tx, vecsearch.Memories, req, 200)
		if err != nil {
			return nil, err
		}
		if len(approx) != 10 {
			return nil, fmt.Errorf("hnsw returned %d hits, want 10 (iterative scan past the filter)", len(approx))
		}
		for i := range exact {
			if math.Abs(exact[i].Distance-approx[i].Distance) > 1e-6 {
				return nil, fmt.Errorf("rank %d: exact %v, hnsw %v", i, exact[i].Distance, approx[i].Distance)
			}
		}
		// After the approximate path, the transaction plans normally again.
		rows, err := tx.QueryContext(ctx, "SHOW enable_sort")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var setting string
		if !rows.Next() || rows.Scan(&setting) != nil || setting != "on" {
			return nil, fmt.Errorf("enable_sort = %q after the approximate path", setting)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMetadataIsRedactedToo: personal data in metadata (values and keys) is
// redacted like content and counted, and a filter naming it still matches.
func TestMetadataIsRedactedToo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m, err := e.svc.Create(e.alice, CreateInput{
		Content:  "prefers tea",
		Metadata: map[string]any{"from": "alice@example.com", "bob@example.com": "cc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Metadata["from"] != "[EMAIL]" || m.Metadata["[EMAIL]"] != "cc" || redacted(m.Redactions, "email") != 2 {
		t.Fatalf("metadata %v, redactions %v", m.Metadata, m.Redactions)
	}
	zero := float64(-1)
	hits, err := hitsOf(e.svc.Search(e.alice, SearchInput{Query: "tea", Threshold: &zero,
		Metadata: map[string]any{"from": "alice@example.com"}}))
	if err != nil || len(hits) != 1 || hits[0].Memory.ID != m.ID {
		t.Fatalf("filter by the redacted value: %d hits, %v", len(hits), err)
	}
}

// TestMemoryWrittenOnce: a memory's full-text column comes with the INSERT
// that stores it, and an edit of its content is one UPDATE. A second write
// per row (as a follow-up UPDATE of search_vector was) leaves a dead row
// version and a second entry in every index, HNSW included. pgstattuple
// reads the heap itself, so the count does not wait for statistics.
func TestMemoryWrittenOnce(t *testing.T) {
	t.Parallel()
	if dbtest.Citus() {
		t.Skip("pgstattuple reads the coordinator's empty shell of a distributed table")
	}
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	a := dbtest.Seed(t, owner, "alice@example.com")
	svc := NewService(d.App(t), embed.Local{}, pii.Default, slog.New(slog.NewTextHandler(io.Discard, nil)))
	alice := viewer.NewContext(context.Background(), viewer.User(a.User.ID))

	adminURL, err := pgmigrate.WithDatabase(dbtest.AdminURL(), d.Name)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := db.OpenSQL(context.Background(), adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE EXTENSION IF NOT EXISTS pgstattuple"); err != nil {
		t.Fatal(err)
	}
	dead := func() int {
		t.Helper()
		var n int
		if err := admin.QueryRow("SELECT dead_tuple_count FROM pgstattuple('memories')").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := dead()
	const n = 20
	ids := make([]uuid.UUID, n)
	for i := range ids {
		m, err := svc.Create(alice, CreateInput{Content: fmt.Sprintf("memory %d: Ada drinks green tea", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = m.ID
	}
	if got := dead(); got != before {
		t.Fatalf("%d inserts left %d dead row versions (want none): the row was written twice", n, got-before)
	}
	// Every row has its tsvector all the same.
	for _, id := range ids {
		var sv string
		if err := admin.QueryRow("SELECT search_vector::text FROM memories WHERE id = $1", id).Scan(&sv); err != nil || !strings.Contains(sv, "'tea'") {
			t.Fatalf("search_vector of %s = %q, %v", id, sv, err)
		}
	}
	content := "Ada switched to coffee"
	if _, err := svc.Update(alice, ids[0], UpdateInput{Content: &content}); err != nil {
		t.Fatal(err)
	}
	if got := dead(); got != before+1 {
		t.Fatalf("an edit of content left %d dead row versions, want 1 (one UPDATE)", got-before)
	}
	var sv string
	if err := admin.QueryRow("SELECT search_vector::text FROM memories WHERE id = $1", ids[0]).Scan(&sv); err != nil || !strings.Contains(sv, "'coffe'") || strings.Contains(sv, "'tea'") {
		t.Fatalf("search_vector after the edit = %q, %v", sv, err)
	}
}
