package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/ent/kgentity"
	"github.com/jarvis-core/jarvis/ent/memory"
	"github.com/jarvis-core/jarvis/internal/admin"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/internal/embed"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeEmbeddings is an OpenAI-compatible /v1/embeddings endpoint whose
// vector of a text has a 1 at len(text); from call failFrom on (0 based;
// negative: never) it answers 503, as a provider going down.
type fakeEmbeddings struct {
	mu       sync.Mutex
	calls    int
	failFrom int
	inputs   []string // every text it embedded
}

func (f *fakeEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" || r.Header.Get("Authorization") != "Bearer sk-operator" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "model-b" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	n := f.calls
	f.calls++
	if f.failFrom >= 0 && n >= f.failFrom {
		f.mu.Unlock()
		http.Error(w, `{"error":{"message":"down"}}`, http.StatusServiceUnavailable)
		return
	}
	f.inputs = append(f.inputs, req.Input...)
	f.mu.Unlock()
	type item struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	var out struct {
		Data []item `json:"data"`
	}
	for i, text := range req.Input {
		v := make([]float32, embed.Dims)
		v[len(text)%embed.Dims] = 1
		out.Data = append(out.Data, item{i, v})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeEmbeddings) embedder(t *testing.T) embed.Embedder {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	e, err := embed.NewOpenAI(embed.Config{Provider: embed.ProviderOpenAI, URL: srv.URL + "/v1", Model: "model-b",
		APIKey: "sk-operator", MaxRetries: 0, Timeout: 5 * time.Second, BatchSize: 96}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A re-embedding that the provider interrupts mid-way keeps the batches it
// finished; the next run embeds only the rest, and touches nothing but
// the embedding and its model (content, full-text column, updated_at stay).
func TestReembedResumesWithoutRedoingDoneRows(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	sys := viewer.NewContext(context.Background(), viewer.System())
	alice := dbtest.Seed(t, owner, "alice@example.com")
	bob := dbtest.Seed(t, owner, "bob@example.com")
	owner.AuditEvent.Delete().ExecX(sys)
	// Every text differs, so what the provider saw tells which rows it was.
	owner.Memory.UpdateOneID(alice.Memory.ID).SetContent("likes tea, says alice").ExecX(sys)
	for i, f := range []*dbtest.Fixture{alice, bob, alice, bob, alice, alice, bob, alice} {
		owner.Memory.Create().SetUserID(f.User.ID).SetContent(fmt.Sprintf("memory %d of %s", i, f.User.Email)).
			SetEmbedding(dbtest.Embedding(0)).SetEmbeddingModel("model-a").ExecX(sys)
	}
	// One row already of the new model: not pending, never sent.
	owner.Memory.Create().SetUserID(bob.User.ID).SetContent("already new").SetEmbedding(dbtest.Embedding(3)).
		SetEmbeddingModel("model-b").ExecX(sys)
	if _, err := owner.ExecContext(sys, `UPDATE memories SET search_vector = to_tsvector('simple', content)`); err != nil {
		t.Fatal(err)
	}
	before := map[string]*ent.Memory{}
	for _, m := range owner.Memory.Query().AllX(sys) {
		before[m.ID.String()] = m
	}
	ctx := context.Background()
	ops := admin.Ops{Client: owner}
	op := admin.Operator{Name: "carol", Reason: "moved to model-b"}

	// 10 pending rows (8 + the two seeds' "likes tea"), batches of 3: the
	// provider goes down at its third call, after 6 rows.
	down := &fakeEmbeddings{failFrom: 2}
	var progress [][2]int
	res, err := ops.Reembed(ctx, op, down.embedder(t), admin.ReembedOptions{What: admin.ReembedMemories, Batch: 3,
		Progress: func(done, total int) { progress = append(progress, [2]int{done, total}) }})
	if err == nil {
		t.Fatal("the interrupted run reported success")
	}
	if res.Pending != 10 || res.Reembedded != 6 || res.Batches != 2 || fmt.Sprint(progress) != "[[3 10] [6 10]]" {
		t.Fatalf("interrupted run: %+v, progress %v, %v", res, progress, err)
	}
	if n := owner.Memory.Query().Where(memory.EmbeddingModel("model-b")).CountX(sys); n != 7 {
		t.Fatalf("%d rows of model-b after the interruption, want 6 + 1", n)
	}

	up := &fakeEmbeddings{failFrom: -1}
	res, err = ops.Reembed(ctx, op, up.embedder(t), admin.ReembedOptions{What: admin.ReembedMemories, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending != 4 || res.Reembedded != 4 || res.Skipped != 0 || len(up.inputs) != 4 {
		t.Fatalf("resumed run: %+v, %d texts sent", res, len(up.inputs))
	}
	done := map[string]bool{}
	for _, in := range down.inputs {
		done[in] = true
	}
	for _, in := range up.inputs {
		if done[in] {
			t.Fatalf("the resumed run embedded %q again", in)
		}
	}
	for _, m := range owner.Memory.Query().AllX(sys) {
		b := before[m.ID.String()]
		if m.EmbeddingModel != "model-b" {
			t.Fatalf("memory %q still of %s", m.Content, m.EmbeddingModel)
		}
		if m.Content != b.Content || !m.UpdatedAt.Equal(b.UpdatedAt) || m.SearchVector == nil || *m.SearchVector != *b.SearchVector {
			t.Fatalf("memory %q: more than its embedding changed", m.Content)
		}
		if m.Content != "already new" && m.Embedding.Slice()[len(m.Content)] != 1 {
			t.Fatalf("memory %q does not hold the new model's vector", m.Content)
		}
	}
	// Every re-embedded row is in its user's audit log, with the operator.
	rows := map[string]float64{}
	for _, e := range owner.AuditEvent.Query().Where(auditevent.TypeEQ(auditevent.TypeAdminAction)).AllX(sys) {
		if e.Actor != "operator:carol" || e.Reason != "moved to model-b" || e.Data["action"] != "reembed" || e.Data["model"] != "model-b" {
			t.Fatalf("event %+v", e)
		}
		rows[e.UserID.String()] += e.Data["rows"].(float64)
	}
	if rows[alice.User.ID.String()] != 6 || rows[bob.User.ID.String()] != 4 {
		t.Fatalf("audited rows per user: %v", rows)
	}

	// Entities of one user: bob's two (one without any vector), not alice's.
	res, err = ops.Reembed(ctx, op, up.embedder(t), admin.ReembedOptions{What: admin.ReembedEntities, User: "bob@example.com", Batch: 10})
	if err != nil || res.Reembedded != 2 || res.Users != 1 {
		t.Fatalf("bob's entities: %+v %v", res, err)
	}
	for _, e := range owner.KGEntity.Query().AllX(sys) {
		isBob := e.UserID == bob.User.ID
		if isBob != (e.EmbeddingModel != nil && *e.EmbeddingModel == "model-b") {
			t.Fatalf("entity %s of %s: model %v", e.Name, e.UserID, e.EmbeddingModel)
		}
		if isBob && e.Embedding.Slice()[len(e.Type+": "+e.Name)] != 1 {
			t.Fatalf("entity %s: not embedded from its type and name", e.Name)
		}
	}
	if n := owner.KGEntity.Query().Where(kgentity.UserID(alice.User.ID), kgentity.EmbeddingModelIsNil()).CountX(sys); n != 2 {
		t.Fatalf("alice's entities changed: %d without a model", n)
	}

	// Refused: no reason, an unknown account, a bad batch.
	for name, c := range map[string]struct {
		op  admin.Operator
		opt admin.ReembedOptions
	}{
		"no reason": {admin.Operator{Name: "carol"}, admin.ReembedOptions{What: admin.ReembedMemories, Batch: 3}},
		"unknown":   {op, admin.ReembedOptions{What: admin.ReembedMemories, User: "nobody@example.com", Batch: 3}},
		"batch":     {op, admin.ReembedOptions{What: admin.ReembedMemories, Batch: 0}},
		"what":      {op, admin.ReembedOptions{What: "runs", Batch: 3}},
	} {
		if _, err := ops.Reembed(ctx, c.op, up.embedder(t), c.opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
