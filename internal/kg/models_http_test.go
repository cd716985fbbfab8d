package kg_test

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

// Entities of two models: each search runs over its model's entities and
// counts the others (issue 16, item 1).
func TestEntitySearchOverMixedModelsHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "mixed@example.com")
	ctx := context.Background()
	if _, err := c.CreateEntity(ctx, &openapi.EntityCreate{Type: "drink", Name: "Tea",
		Embedding: axis(0), EmbeddingModel: openapi.NewOptString("m1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateEntity(ctx, &openapi.EntityCreate{Type: "drink", Name: "Coffee"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.SearchEntities(ctx, &openapi.EntitySearch{Vector: axis(0), Model: openapi.NewOptString("m1")})
	if err != nil || len(res.Items) != 1 || res.Items[0].Entity.Name != "Tea" || res.OtherModels != 1 {
		t.Fatalf("m1 search = %+v, %v", res, err)
	}
	res, err = c.SearchEntities(ctx, &openapi.EntitySearch{Query: openapi.NewOptString("drink: Coffee"), Threshold: openapi.NewOptFloat64(-1)})
	if err != nil || len(res.Items) != 1 || res.Items[0].Entity.Name != "Coffee" || res.OtherModels != 1 {
		t.Fatalf("service-model search = %+v, %v", res, err)
	}
}
