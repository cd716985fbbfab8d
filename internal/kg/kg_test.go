package kg

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/embed"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pii"
	"github.com/jarvis-core/jarvis/internal/vecsearch"
)

type env struct {
	svc            *Service
	app            *db.DB
	owner          *ent.Client
	alice, bob     context.Context
	aliceID, bobID uuid.UUID
	bobEntity      uuid.UUID
}

func setup(t *testing.T) env {
	t.Helper()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	a := dbtest.Seed(t, owner, "alice@example.com")
	b := dbtest.Seed(t, owner, "bob@example.com")
	// The seeds' graphs (test vectors without a model) are not these tests'.
	sys := viewer.NewContext(context.Background(), viewer.System())
	if _, err := owner.KGEntity.Delete().Exec(sys); err != nil {
		t.Fatal(err)
	}
	app := d.App(t)
	e := env{
		svc: NewService(app, embed.Local{}, pii.Default, slog.New(slog.NewTextHandler(io.Discard, nil))),
		app: app, owner: owner,
		alice: viewer.NewContext(context.Background(), viewer.User(a.User.ID)), aliceID: a.User.ID,
		bob: viewer.NewContext(context.Background(), viewer.User(b.User.ID)), bobID: b.User.ID,
	}
	be, err := e.svc.CreateEntity(e.bob, EntityInput{Type: "person", Name: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	e.bobEntity = be.ID
	return e
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
func hitsOf(r EntityResult, err error) ([]EntityHit, error) { return r.Hits, err }

func isKind(err error, k fault.Kind) bool {
	fe, ok := fault.As(err)
	return ok && fe.Kind == k
}

func (e env) entity(t *testing.T, ctx context.Context, typ, name string) *ent.KGEntity {
	t.Helper()
	x, err := e.svc.CreateEntity(ctx, EntityInput{Type: typ, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func (e env) relate(t *testing.T, from, to uuid.UUID, typ string) *ent.KGRelation {
	t.Helper()
	r, err := e.svc.CreateRelation(e.alice, RelationInput{SourceID: from, TargetID: to, Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEntityLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	x, err := e.svc.CreateEntity(e.alice, EntityInput{Type: "person", Name: "Ada Lovelace",
		Properties: map[string]any{"contact": "ada@example.com, +44 20 7946 0958", "born": 1815, "tags": []any{"math", "10.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if x.Properties["contact"] != "[EMAIL], [PHONE]" || x.Properties["born"] != 1815 || x.Properties["tags"].([]any)[1] != "[IP]" {
		t.Errorf("properties = %v", x.Properties)
	}
	if redacted(x.Redactions, "email") != 1 || redacted(x.Redactions, "phone") != 1 || redacted(x.Redactions, "ip") != 1 {
		t.Errorf("redactions = %v", x.Redactions)
	}
	if x.Embedding == nil || x.EmbeddingModel == nil || *x.EmbeddingModel != embed.LocalModel {
		t.Fatalf("entity not embedded: %+v", x)
	}
	if _, err := e.svc.CreateEntity(e.alice, EntityInput{Type: "person", Name: "Ada Lovelace"}); !isKind(err, fault.Conflict) {
		t.Fatalf("duplicate create: %v", err)
	}
	// Same name, another type: another entity. Bob's "Ada Lovelace" too.
	e.entity(t, e.alice, "ship", "Ada Lovelace")
	e.entity(t, e.bob, "person", "Ada Lovelace")

	got, err := e.svc.GetEntity(e.alice, x.ID)
	if err != nil || got.Name != "Ada Lovelace" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	people, err := e.svc.ListEntities(e.alice, "person", db.Page{Size: 10})
	if err != nil || len(people) != 1 || people[0].ID != x.ID {
		t.Fatalf("list persons = %v, %v", people, err)
	}
	all, err := e.svc.ListEntities(e.alice, "", db.Page{Size: 1})
	if err != nil || len(all) != 2 {
		t.Fatalf("list page of 1 fetches 2 (one to tell more follow): %d, %v", len(all), err)
	}

	name := "Augusta Ada King"
	up, err := e.svc.UpdateEntity(e.alice, x.ID, EntityUpdate{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := embed.Local{}.Embed(context.Background(), []string{entityText("person", name)})
	for i, v := range up.Embedding.Slice() {
		if v != want[0][i] {
			t.Fatalf("rename did not re-embed (component %d)", i)
		}
	}
	if up.Properties["contact"] != "[EMAIL], [PHONE]" {
		t.Errorf("properties lost on rename: %v", up.Properties)
	}
	ship := "ship"
	if _, err := e.svc.UpdateEntity(e.alice, x.ID, EntityUpdate{Type: &ship, Name: ptr("Ada Lovelace")}); !isKind(err, fault.Conflict) {
		t.Fatalf("rename onto an existing entity: %v", err)
	}
	if _, err := e.svc.UpdateEntity(e.bob, x.ID, EntityUpdate{Name: ptr("mine")}); !isKind(err, fault.NotFound) {
		t.Fatalf("bob renames alice's entity: %v", err)
	}
	if _, err := e.svc.GetEntity(e.bob, x.ID); !isKind(err, fault.NotFound) {
		t.Fatalf("bob reads alice's entity: %v", err)
	}
	if err := e.svc.DeleteEntity(e.bob, x.ID); !isKind(err, fault.NotFound) {
		t.Fatalf("bob deletes alice's entity: %v", err)
	}
	if err := e.svc.DeleteEntity(e.alice, x.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetEntity(e.alice, x.ID); !isKind(err, fault.NotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestEntityRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tt := range []struct {
		name  string
		in    EntityInput
		field string
	}{
		{"no type", EntityInput{Name: "x"}, "type"},
		{"no name", EntityInput{Type: "x", Name: " "}, "name"},
		{"long name", EntityInput{Type: "x", Name: strings.Repeat("n", MaxNameLen+1)}, "name"},
		{"short vector", EntityInput{Type: "x", Name: "y", Embedding: &Vector{Values: []float32{1}, Model: "m"}}, "embedding"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range []func() error{
				func() error { _, err := e.svc.CreateEntity(e.alice, tt.in); return err },
				func() error { _, _, err := e.svc.UpsertEntity(e.alice, tt.in); return err },
			} {
				fe, ok := fault.As(op())
				if !ok || fe.Kind != fault.Invalid || fe.Fields[0].Name != tt.field {
					t.Fatalf("err = %v, want Invalid on %s", fe, tt.field)
				}
			}
		})
	}
	n, err := e.owner.KGEntity.Query().Count(viewer.NewContext(context.Background(), viewer.System()))
	if err != nil || n != 1 { // bob's
		t.Fatalf("%d entities after refused requests, %v", n, err)
	}
}

func TestEntityUpsert(t *testing.T) {
	t.Parallel()
	e := setup(t)
	first, created, err := e.svc.UpsertEntity(e.alice, EntityInput{Type: "project", Name: "Jarvis", Properties: map[string]any{"lang": "Go", "stage": "alpha"}})
	if err != nil || !created {
		t.Fatalf("first upsert: created %v, %v", created, err)
	}
	second, created, err := e.svc.UpsertEntity(e.alice, EntityInput{Type: "project", Name: " Jarvis ", Properties: map[string]any{"stage": "beta", "owner": "ada@example.com"}})
	if err != nil || created {
		t.Fatalf("second upsert: created %v, %v", created, err)
	}
	if second.ID != first.ID {
		t.Fatal("upsert stored the entity twice")
	}
	want := map[string]any{"lang": "Go", "stage": "beta", "owner": "[EMAIL]"}
	for k, v := range want {
		if second.Properties[k] != v {
			t.Errorf("merged properties = %v, want %v", second.Properties, want)
		}
	}
	if redacted(second.Redactions, "email") != 1 || !second.UpdatedAt.After(first.UpdatedAt) || !second.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("second = %+v", second)
	}
	// Concurrent upserts of one new name: one row, one of them created it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids, creators := map[uuid.UUID]bool{}, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, c, err := e.svc.UpsertEntity(e.alice, EntityInput{Type: "city", Name: "Lisbon", Properties: map[string]any{fmt.Sprint("k", i): i}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[x.ID] = true
			if c {
				creators++
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 || creators != 1 {
		t.Fatalf("concurrent upserts: %d ids, %d creators; want 1 and 1", len(ids), creators)
	}
	lisbon, err := e.svc.GetEntity(e.alice, func() uuid.UUID {
		for id := range ids {
			return id
		}
		return uuid.Nil
	}())
	if err != nil || len(lisbon.Properties) != 8 {
		t.Fatalf("lisbon = %v, %v; want all 8 writers' keys merged", lisbon, err)
	}
	// Bob's upsert of the same name is bob's own entity.
	b, created, err := e.svc.UpsertEntity(e.bob, EntityInput{Type: "project", Name: "Jarvis"})
	if err != nil || !created || b.ID == first.ID || b.UserID != e.bobID {
		t.Fatalf("bob's upsert: %+v, %v, %v", b, created, err)
	}
}

func TestEntitySearch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, x := range [][2]string{{"person", "Ada Lovelace"}, {"person", "Charles Babbage"}, {"machine", "Analytical Engine"}, {"machine", "Difference Engine"}} {
		e.entity(t, e.alice, x[0], x[1])
	}
	low := 0.1
	hits, err := hitsOf(e.svc.SearchEntities(e.alice, EntitySearch{Query: "person: Ada Lovelace"}))
	if err != nil || len(hits) != 1 || hits[0].Entity.Name != "Ada Lovelace" || hits[0].Similarity < 0.999 {
		t.Fatalf("search = %+v, %v", hits, err)
	}
	hits, err = hitsOf(e.svc.SearchEntities(e.alice, EntitySearch{Query: "engine", Type: "machine", Threshold: &low}))
	if err != nil || len(hits) != 2 {
		t.Fatalf("typed search: %d hits, %v", len(hits), err)
	}
	for i, h := range hits {
		if h.Entity.Type != "machine" || (i > 0 && h.Similarity > hits[i-1].Similarity) {
			t.Fatalf("typed search hits = %+v", hits)
		}
	}
	neg := -1.0
	hits, err = hitsOf(e.svc.SearchEntities(e.bob, EntitySearch{Query: "Ada Lovelace", Threshold: &neg, Limit: 100}))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.Entity.UserID != e.bobID {
			t.Fatalf("bob's search found alice's %q", h.Entity.Name)
		}
	}
	if _, err := hitsOf(e.svc.SearchEntities(e.alice, EntitySearch{Vector: &Vector{Values: make([]float32, 3), Model: "m"}})); !isKind(err, fault.Invalid) {
		t.Fatalf("bad vector: %v", err)
	}
	// A vector of another model searches that model's entities (none)
	// and counts the others, never comparing across models.
	v := make([]float32, embed.Dims)
	v[0] = 1
	if res, err := e.svc.SearchEntities(e.alice, EntitySearch{Vector: &Vector{Values: v, Model: "other"}, Threshold: &neg}); err != nil || len(res.Hits) != 0 || res.OtherModels == 0 {
		t.Fatalf("other model: %+v, %v", res, err)
	}
}

func TestRelations(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ada, go_, tea := e.entity(t, e.alice, "person", "Ada"), e.entity(t, e.alice, "language", "Go"), e.entity(t, e.alice, "drink", "Tea")
	likes := e.relate(t, ada.ID, tea.ID, "likes")
	writes := e.relate(t, ada.ID, go_.ID, "writes")
	knows := e.relate(t, go_.ID, ada.ID, "mentions")
	if _, err := e.svc.CreateRelation(e.alice, RelationInput{SourceID: ada.ID, TargetID: tea.ID, Type: "likes"}); !isKind(err, fault.Conflict) {
		t.Fatalf("duplicate relation: %v", err)
	}
	for name, in := range map[string]RelationInput{
		"to bob's entity":   {SourceID: ada.ID, TargetID: e.bobEntity, Type: "knows"},
		"from bob's entity": {SourceID: e.bobEntity, TargetID: ada.ID, Type: "knows"},
		"to nothing":        {SourceID: ada.ID, TargetID: uuid.Must(uuid.NewV7()), Type: "knows"},
	} {
		if _, err := e.svc.CreateRelation(e.alice, in); !isKind(err, fault.NotFound) {
			t.Errorf("%s: %v, want NotFound", name, err)
		}
	}
	if _, err := e.svc.CreateRelation(e.bob, RelationInput{SourceID: e.bobEntity, TargetID: ada.ID, Type: "knows"}); !isKind(err, fault.NotFound) {
		t.Errorf("bob links to alice's entity: %v", err)
	}
	if _, err := e.svc.CreateRelation(e.alice, RelationInput{SourceID: ada.ID, TargetID: tea.ID}); !isKind(err, fault.Invalid) {
		t.Errorf("no type: %v", err)
	}

	list := func(f RelationFilter) []uuid.UUID {
		t.Helper()
		rs, err := e.svc.ListRelations(e.alice, ada.ID, f, db.Page{Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]uuid.UUID, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		return ids
	}
	same := func(got []uuid.UUID, want ...uuid.UUID) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	if got := list(RelationFilter{Direction: Out}); !same(got, writes.ID, likes.ID) {
		t.Errorf("out = %v", got)
	}
	if got := list(RelationFilter{Direction: In}); !same(got, knows.ID) {
		t.Errorf("in = %v", got)
	}
	if got := list(RelationFilter{}); !same(got, knows.ID, writes.ID, likes.ID) {
		t.Errorf("both = %v", got)
	}
	if got := list(RelationFilter{Types: []string{"likes", "mentions"}}); !same(got, knows.ID, likes.ID) {
		t.Errorf("by type = %v", got)
	}
	if _, err := e.svc.ListRelations(e.alice, ada.ID, RelationFilter{Direction: "sideways"}, db.Page{Size: 10}); !isKind(err, fault.Invalid) {
		t.Errorf("bad direction: %v", err)
	}
	if _, err := e.svc.ListRelations(e.bob, ada.ID, RelationFilter{}, db.Page{Size: 10}); !isKind(err, fault.NotFound) {
		t.Errorf("bob lists alice's entity's relations: %v", err)
	}
	if err := e.svc.DeleteRelation(e.bob, likes.ID); !isKind(err, fault.NotFound) {
		t.Errorf("bob deletes alice's relation: %v", err)
	}
	if err := e.svc.DeleteRelation(e.alice, likes.ID); err != nil {
		t.Fatal(err)
	}
	if got := list(RelationFilter{}); !same(got, knows.ID, writes.ID) {
		t.Errorf("after delete = %v", got)
	}
	// Deleting an entity takes its relations with it.
	if err := e.svc.DeleteEntity(e.alice, go_.ID); err != nil {
		t.Fatal(err)
	}
	if got := list(RelationFilter{}); len(got) != 0 {
		t.Errorf("relations of a deleted entity remain: %v", got)
	}
}

// graph builds, for alice:
//
//	A → B → C → A          (a cycle)
//	A → D → F, A → E → F   (a diamond), F → G → H → I → J → K (a chain)
//	A -cites→ X            (another relation type)
func graph(t *testing.T, e env) map[string]uuid.UUID {
	t.Helper()
	ids := map[string]uuid.UUID{}
	for _, n := range strings.Split("A B C D E F G H I J K X", " ") {
		ids[n] = e.entity(t, e.alice, "node", n).ID
	}
	for _, r := range []string{"A B", "B C", "C A", "A D", "A E", "D F", "E F", "F G", "G H", "H I", "I J", "J K"} {
		p := strings.Fields(r)
		e.relate(t, ids[p[0]], ids[p[1]], "link")
	}
	e.relate(t, ids["A"], ids["X"], "cites")
	return ids
}

func TestNeighbors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := graph(t, e)
	name := map[uuid.UUID]string{}
	for n, id := range ids {
		name[id] = n
	}
	walk := func(start string, q NeighborQuery) (map[string]int, Neighbors) {
		t.Helper()
		res, err := e.svc.Neighbors(e.alice, ids[start], q)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for i, n := range res.Items {
			got[n.Entity.Name] = n.Distance
			// Paths are real: they start at the start, end at the
			// entity, have Distance hops and no repeated entity.
			if len(n.Path) != n.Distance+1 || len(n.Relations) != n.Distance || n.Path[0] != ids[start] || n.Path[n.Distance] != n.Entity.ID {
				t.Fatalf("%s: bad path %v / %v", n.Entity.Name, n.Path, n.Relations)
			}
			seen := map[uuid.UUID]bool{}
			for _, p := range n.Path {
				if seen[p] {
					t.Fatalf("%s: path repeats an entity", n.Entity.Name)
				}
				seen[p] = true
			}
			if i > 0 && n.Distance < res.Items[i-1].Distance {
				t.Fatal("neighbours not nearest first")
			}
		}
		return got, res
	}
	eq := func(got, want map[string]int) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}

	got, _ := walk("A", NeighborQuery{})
	eq(got, map[string]int{"B": 1, "C": 1, "D": 1, "E": 1, "X": 1})
	got, _ = walk("A", NeighborQuery{Depth: 3})
	eq(got, map[string]int{"B": 1, "C": 1, "D": 1, "E": 1, "X": 1, "F": 2, "G": 3})
	got, _ = walk("A", NeighborQuery{Depth: 3, Direction: Out, Types: []string{"link"}})
	eq(got, map[string]int{"B": 1, "C": 2, "D": 1, "E": 1, "F": 2, "G": 3})
	got, _ = walk("F", NeighborQuery{Depth: 2, Direction: In})
	eq(got, map[string]int{"D": 1, "E": 1, "A": 2})
	got, _ = walk("A", NeighborQuery{Depth: MaxDepth})
	eq(got, map[string]int{"B": 1, "C": 1, "D": 1, "E": 1, "X": 1, "F": 2, "G": 3, "H": 4, "I": 5})
	got, _ = walk("A", NeighborQuery{Depth: 2, Types: []string{"cites"}})
	eq(got, map[string]int{"X": 1})

	// The diamond's F has one shortest path, through D or E.
	_, res := walk("A", NeighborQuery{Depth: 2, Direction: Out})
	for _, n := range res.Items {
		if n.Entity.Name == "F" {
			mid := name[n.Path[1]]
			if mid != "D" && mid != "E" {
				t.Fatalf("F's path goes through %s", mid)
			}
		}
	}
	_, res = walk("A", NeighborQuery{Depth: 5, Limit: 3})
	if len(res.Items) != 3 || !res.Truncated {
		t.Fatalf("limit 3: %d items, truncated %v", len(res.Items), res.Truncated)
	}
	for _, n := range res.Items {
		if n.Distance != 1 {
			t.Fatal("a limited walk must keep the nearest")
		}
	}

	for _, q := range []NeighborQuery{{Depth: 6}, {Depth: -1}, {Limit: MaxNeighbors + 1}, {Direction: "up"}, {Types: []string{""}}} {
		if _, err := e.svc.Neighbors(e.alice, ids["A"], q); !isKind(err, fault.Invalid) {
			t.Errorf("%+v: %v, want Invalid", q, err)
		}
	}
	if _, err := e.svc.Neighbors(e.bob, ids["A"], NeighborQuery{}); !isKind(err, fault.NotFound) {
		t.Errorf("bob walks alice's graph: %v", err)
	}
	if _, err := e.svc.Neighbors(e.alice, uuid.Must(uuid.NewV7()), NeighborQuery{}); !isKind(err, fault.NotFound) {
		t.Errorf("unknown start: %v", err)
	}
}

// TestDenseGraphWalkIsBounded: a complete graph has factorially many paths;
// the walk must stop at its bound and still return every entity at the
// shallow levels.
func TestDenseGraphWalkIsBounded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var ids []uuid.UUID
	for i := range 14 {
		ids = append(ids, e.entity(t, e.alice, "node", fmt.Sprint(i)).ID)
	}
	for _, a := range ids {
		for _, b := range ids {
			if a != b {
				e.relate(t, a, b, "link")
			}
		}
	}
	res, err := e.svc.Neighbors(e.alice, ids[0], NeighborQuery{Depth: 5, Direction: Out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 13 || !res.Truncated {
		t.Fatalf("%d neighbours, truncated %v; want all 13 at distance 1 and the cut reported", len(res.Items), res.Truncated)
	}
	for _, n := range res.Items {
		if n.Distance != 1 {
			t.Fatalf("distance %d in a complete graph", n.Distance)
		}
	}
}

// TestKGRLSOnly runs the traversal and the entity search SQL as the service
// role with bob's identity asking for alice's rows: RLS alone must hide them.
func TestKGRLSOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ids := graph(t, e)
	v, _ := embed.Local{}.Embed(context.Background(), []string{"node: A"})
	req := vecsearch.Request{UserID: e.aliceID, Vector: pgvector.NewVector(v[0]), Model: embed.LocalModel, K: 10, MaxDistance: 2}
	for _, who := range []struct {
		id   uuid.UUID
		want bool
	}{{e.bobID, false}, {e.aliceID, true}} {
		tx, err := e.app.SQL.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("SELECT jarvis_set_local('app.current_user_id', $1)", who.id.String()); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow("SELECT count(*) FROM ("+walkSQL+") w", e.aliceID, ids["A"], 5, []string{}, true, true, maxWalkRows).Scan(&n); err != nil {
			t.Fatal(err)
		}
		hits, err := vecsearch.Exact(context.Background(), tx, vecsearch.KGEntities, req)
		if err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		if got := n > 0 && len(hits) > 0; got != who.want {
			t.Fatalf("identity %s: %d reachable, %d search hits; want found=%v", who.id, n, len(hits), who.want)
		}
	}
}

// TestUpsertCannotGrowPropertiesWithoutBound: each upsert adds new keys
// within the per-request cap; the merged object is held to the same cap, so
// the row stops growing with a clear 400 and keeps what it had.
func TestUpsertCannotGrowPropertiesWithoutBound(t *testing.T) {
	t.Parallel()
	e := setup(t)
	chunk := strings.Repeat("x", 4000)
	var last error
	for i := range 10 {
		_, _, last = e.svc.UpsertEntity(e.alice, EntityInput{Type: "note", Name: "big",
			Properties: map[string]any{fmt.Sprintf("k%d", i): chunk}})
		if last != nil {
			break
		}
	}
	if !fault.Is(last, fault.Invalid) {
		t.Fatalf("ten upserts of 4 KB each: last error %v, want Invalid once past %d bytes", last, MaxPropertiesBytes)
	}
	got, _, err := e.svc.UpsertEntity(e.alice, EntityInput{Type: "note", Name: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(got.Properties); len(b) > MaxPropertiesBytes || len(got.Properties) < 3 {
		t.Fatalf("properties after the refusal: %d keys, %d bytes", len(got.Properties), len(b))
	}
}
