package memory_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-faster/jx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/openapi"
)

// TestMemoriesHTTP drives every memory operation through the real service
// and the generated client.
func TestMemoriesHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "ada@example.com")
	ctx := context.Background()

	m, err := c.CreateMemory(ctx, &openapi.MemoryCreate{
		Content:  "Ada drinks green tea; her card is 4111 1111 1111 1111",
		Metadata: openapi.NewOptMemoryCreateMetadata(openapi.MemoryCreateMetadata{"topic": jx.Raw(`"food"`)}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Content != "Ada drinks green tea; her card is [CARD]" || string(m.Redactions["card"]) != "1" || string(m.Metadata["topic"]) != `"food"` {
		t.Fatalf("created = %+v", m)
	}
	if _, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: "The report is due on Friday"}); err != nil {
		t.Fatal(err)
	}

	got, err := c.GetMemory(ctx, openapi.GetMemoryParams{ID: m.ID})
	if err != nil || got.Content != m.Content {
		t.Fatalf("get = %+v, %v", got, err)
	}
	page, err := c.ListMemories(ctx, openapi.ListMemoriesParams{Limit: openapi.NewOptInt(1)})
	if err != nil || len(page.Items) != 1 || !page.NextCursor.Set {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	page, err = c.ListMemories(ctx, openapi.ListMemoriesParams{Limit: openapi.NewOptInt(1), Cursor: page.NextCursor})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != m.ID || page.NextCursor.Set {
		t.Fatalf("second page = %+v, %v", page, err)
	}

	res, err := c.SearchMemories(ctx, &openapi.MemorySearch{Query: openapi.NewOptString("Ada drinks green tea"), Threshold: openapi.NewOptFloat64(0.3)})
	if err != nil || len(res.Items) != 1 || res.Items[0].Memory.ID != m.ID || res.Items[0].Similarity < 0.3 {
		t.Fatalf("search = %+v, %v", res, err)
	}
	res, err = c.SearchMemories(ctx, &openapi.MemorySearch{Query: openapi.NewOptString("Friday"),
		Mode: openapi.NewOptMemorySearchMode(openapi.MemorySearchModeHybrid)})
	if err != nil || len(res.Items) != 1 || res.Items[0].Memory.Content != "The report is due on Friday" || res.Items[0].Score <= 0 {
		t.Fatalf("hybrid search = %+v, %v", res, err)
	}
	res, err = c.SearchMemories(ctx, &openapi.MemorySearch{Query: openapi.NewOptString("tea"), Threshold: openapi.NewOptFloat64(-1),
		Metadata: openapi.NewOptMemorySearchMetadata(openapi.MemorySearchMetadata{"topic": jx.Raw(`"work"`)})})
	if err != nil || len(res.Items) != 0 {
		t.Fatalf("filtered search = %+v, %v", res, err)
	}

	_, err = c.SearchMemories(ctx, &openapi.MemorySearch{Mode: openapi.NewOptMemorySearchMode(openapi.MemorySearchModeHybrid)})
	if e := apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR); len(e.Details) == 0 || e.Details[0].Field.Or("") != "query" {
		t.Fatalf("hybrid without query: %+v", e)
	}
	// A vector of the wrong width never reaches the service: the contract
	// says 1536 items.
	resp := s.Do(t, http.MethodPost, "/v1/memories/search", tokenOf(t, s), `{"vector":[1,2,3]}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("short vector: %d", resp.StatusCode)
	}

	up, err := c.UpdateMemory(ctx, &openapi.MemoryUpdate{Content: openapi.NewOptString("Ada prefers coffee now")}, openapi.UpdateMemoryParams{ID: m.ID})
	if err != nil || up.Content != "Ada prefers coffee now" || len(up.Redactions) != 0 || string(up.Metadata["topic"]) != `"food"` {
		t.Fatalf("update = %+v, %v", up, err)
	}
	if err := c.DeleteMemory(ctx, openapi.DeleteMemoryParams{ID: m.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetMemory(ctx, openapi.GetMemoryParams{ID: m.ID})
	apptest.APIError(t, err, http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
}

// tokenOf signs up another user for raw requests.
func tokenOf(t *testing.T, s *apptest.Server) string {
	t.Helper()
	_, tok := s.SignUp(t, "raw@example.com")
	return tok.AccessToken
}
