package memory_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-faster/jx"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/embed"
	"github.com/jarvis-core/jarvis/openapi"
)

// axis is a unit vector along dimension i.
func axis(i int) []float32 {
	v := make([]float32, embed.Dims)
	v[i] = 1
	return v
}

// A user whose memories came with their own vectors stores one without: each
// search runs over its own model's rows and says how many others it left
// out, instead of refusing every search (issue 16, item 1).
func TestSearchOverMixedModelsHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "mixed@example.com")
	ctx := context.Background()
	for i, content := range []string{"green tea at dawn", "black coffee at noon"} {
		if _, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: content,
			Embedding: axis(i), EmbeddingModel: openapi.NewOptString("m1")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: "green tea with mint"}); err != nil {
		t.Fatal(err)
	}

	// The client's model: its two rows are searched, the service's one is counted.
	res, err := c.SearchMemories(ctx, &openapi.MemorySearch{Vector: axis(0), Model: openapi.NewOptString("m1")})
	if err != nil || len(res.Items) != 1 || res.Items[0].Memory.Content != "green tea at dawn" || res.OtherModels != 1 {
		t.Fatalf("m1 search = %+v, %v", res, err)
	}
	// The service's model, both modes.
	for _, mode := range []openapi.MemorySearchMode{openapi.MemorySearchModeVector, openapi.MemorySearchModeHybrid} {
		res, err = c.SearchMemories(ctx, &openapi.MemorySearch{Query: openapi.NewOptString("green tea"),
			Mode: openapi.NewOptMemorySearchMode(mode), Threshold: openapi.NewOptFloat64(-1)})
		if err != nil || len(res.Items) != 1 || res.Items[0].Memory.Content != "green tea with mint" || res.OtherModels != 2 {
			t.Fatalf("%s search = %+v, %v", mode, res, err)
		}
	}
	// A model nobody used: nothing found, everything counted.
	res, err = c.SearchMemories(ctx, &openapi.MemorySearch{Vector: axis(0), Model: openapi.NewOptString("m2")})
	if err != nil || len(res.Items) != 0 || res.OtherModels != 3 {
		t.Fatalf("m2 search = %+v, %v", res, err)
	}
	// Another user's rows are not counted.
	other, _ := s.SignUp(t, "other@example.com")
	res, err = other.SearchMemories(ctx, &openapi.MemorySearch{Query: openapi.NewOptString("tea")})
	if err != nil || res.OtherModels != 0 {
		t.Fatalf("other user = %+v, %v", res, err)
	}
}

// fill is a vector of n copies of x, as JSON.
func fill(x string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(x+",", embed.Dims), ",") + "]"
}

// Vectors finite and non-zero in float64 whose squared length overflows or
// underflows in pgvector's float32 can never be found: they are refused, as
// memories, as updates and as queries (issue 16, item 3).
func TestVectorsPgvectorCannotCompareHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, tok := s.SignUp(t, "floats@example.com")
	ctx := context.Background()
	m, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: "green tea", Embedding: axis(0), EmbeddingModel: openapi.NewOptString("m1")})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []string{"3e38", "1e20", "1e-45", "1e-23"} {
		for _, req := range []struct{ method, path, body, field string }{
			{http.MethodPost, "/v1/memories", `{"content":"tea","embedding_model":"m1","embedding":` + fill(x) + `}`, "embedding"},
			{http.MethodPatch, "/v1/memories/" + m.ID.String(), `{"embedding_model":"m1","embedding":` + fill(x) + `}`, "embedding"},
			{http.MethodPost, "/v1/memories/search", `{"model":"m1","vector":` + fill(x) + `}`, "vector"},
			{http.MethodPost, "/v1/kg/entities", `{"type":"drink","name":"Tea","embedding_model":"m1","embedding":` + fill(x) + `}`, "embedding"},
			{http.MethodPost, "/v1/kg/entities/search", `{"model":"m1","vector":` + fill(x) + `}`, "vector"},
		} {
			resp := s.Do(t, req.method, req.path, tok.AccessToken, req.body)
			var body struct {
				Error struct {
					Code    string
					Details []struct{ Field string }
				}
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || len(body.Error.Details) != 1 || body.Error.Details[0].Field != req.field {
				t.Errorf("%s %s with %s: %d %+v", req.method, req.path, x, resp.StatusCode, body.Error)
			}
		}
	}
	// Vectors of ordinary scale, tiny or large, are fine and found.
	for _, x := range []string{"1e-15", "1e15"} {
		resp := s.Do(t, http.MethodPost, "/v1/memories/search", tok.AccessToken, `{"model":"m1","vector":`+fill(x)+`,"threshold":-1}`)
		var res openapi.MemorySearchResult
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK || len(res.Items) != 1 {
			t.Fatalf("search with %s: %d %+v %v", x, resp.StatusCode, res, err)
		}
	}

	// A row stored before the check (written here as a migration would
	// find it) still answers hybrid search with a number.
	owner, err := sql.Open("pgx", s.DB.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := owner.Exec(`UPDATE memories SET embedding = $1::vector, embedding_model = $2 WHERE id = $3`,
		fill("3e38"), embed.LocalModel, m.ID); err != nil {
		t.Fatal(err)
	}
	resp := s.Do(t, http.MethodPost, "/v1/memories/search", tok.AccessToken, `{"query":"green tea","mode":"hybrid"}`)
	raw, _ := io.ReadAll(resp.Body)
	var hits struct {
		Items []struct {
			Similarity *float64
			Score      *float64
		}
	}
	if err := json.Unmarshal(raw, &hits); err != nil || resp.StatusCode != http.StatusOK || len(hits.Items) != 1 {
		t.Fatalf("hybrid search: %d %s %v", resp.StatusCode, raw, err)
	}
	if h := hits.Items[0]; h.Similarity == nil || *h.Similarity != 0 || h.Score == nil {
		t.Fatalf("hybrid hit of an incomparable vector: %s", raw)
	}
}

// Fixing a typo in a memory that came with the client's vector needs the
// new content's vector: the service's would silently move it to another
// model (issue 16, item 2).
func TestUpdateKeepsTheClientsModelHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "typo@example.com")
	ctx := context.Background()
	m, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: "gren tea", Embedding: axis(0), EmbeddingModel: openapi.NewOptString("m1")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateMemory(ctx, &openapi.MemoryUpdate{Content: openapi.NewOptString("green tea")}, openapi.UpdateMemoryParams{ID: m.ID})
	if e := apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR); len(e.Details) != 1 || e.Details[0].Field.Or("") != "embedding" || !strings.Contains(e.Message+e.Details[0].Message, `"m1"`) {
		t.Fatalf("content without vector: %+v", e)
	}
	got, err := c.GetMemory(ctx, openapi.GetMemoryParams{ID: m.ID})
	if err != nil || got.Content != "gren tea" || got.EmbeddingModel != "m1" {
		t.Fatalf("refused update changed the memory: %+v, %v", got, err)
	}
	// With its vector the fix keeps the model, and m1's search finds it.
	up, err := c.UpdateMemory(ctx, &openapi.MemoryUpdate{Content: openapi.NewOptString("green tea"),
		Embedding: axis(1), EmbeddingModel: openapi.NewOptString("m1")}, openapi.UpdateMemoryParams{ID: m.ID})
	if err != nil || up.Content != "green tea" || up.EmbeddingModel != "m1" {
		t.Fatalf("update with vector = %+v, %v", up, err)
	}
	res, err := c.SearchMemories(ctx, &openapi.MemorySearch{Vector: axis(1), Model: openapi.NewOptString("m1")})
	if err != nil || len(res.Items) != 1 || res.OtherModels != 0 {
		t.Fatalf("m1 search after the fix = %+v, %v", res, err)
	}
	// Metadata alone needs no vector.
	if _, err := c.UpdateMemory(ctx, &openapi.MemoryUpdate{Metadata: openapi.NewOptMemoryUpdateMetadata(openapi.MemoryUpdateMetadata{"k": jx.Raw(`"v"`)})},
		openapi.UpdateMemoryParams{ID: m.ID}); err != nil {
		t.Fatal(err)
	}
	// Naming the service's model alone moves the memory to it, on purpose.
	up, err = c.UpdateMemory(ctx, &openapi.MemoryUpdate{EmbeddingModel: openapi.NewOptString(embed.LocalModel)}, openapi.UpdateMemoryParams{ID: m.ID})
	if err != nil || up.EmbeddingModel != embed.LocalModel || up.Content != "green tea" {
		t.Fatalf("re-embed by the service = %+v, %v", up, err)
	}
	res, err = c.SearchMemories(ctx, &openapi.MemorySearch{Query: openapi.NewOptString("green tea")})
	if err != nil || len(res.Items) != 1 || res.Items[0].Similarity < 0.99 {
		t.Fatalf("service search after re-embedding = %+v, %v", res, err)
	}
	// Now the service's own: new content is embedded by the service.
	up, err = c.UpdateMemory(ctx, &openapi.MemoryUpdate{Content: openapi.NewOptString("green tea, no sugar")}, openapi.UpdateMemoryParams{ID: m.ID})
	if err != nil || up.EmbeddingModel != embed.LocalModel {
		t.Fatalf("service-embedded update = %+v, %v", up, err)
	}
	// Another model's name alone names no vector.
	_, err = c.UpdateMemory(ctx, &openapi.MemoryUpdate{EmbeddingModel: openapi.NewOptString("m2")}, openapi.UpdateMemoryParams{ID: m.ID})
	apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
}
