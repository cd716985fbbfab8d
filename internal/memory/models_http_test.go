package memory_test

import (
	"context"
	"testing"

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
