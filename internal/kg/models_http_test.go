package kg_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-faster/jx"

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

// Renaming an entity the client embedded needs the client's new vector; an
// upsert without one keeps the entity's vector and model (issue 16, item 2).
func TestEntityEditsKeepTheClientsModelHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "rename@example.com")
	ctx := context.Background()
	e, err := c.CreateEntity(ctx, &openapi.EntityCreate{Type: "drink", Name: "Gren tea", Embedding: axis(0), EmbeddingModel: openapi.NewOptString("m1")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateEntity(ctx, &openapi.EntityUpdate{Name: openapi.NewOptString("Green tea")}, openapi.UpdateEntityParams{ID: e.ID})
	if apiErr := apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR); len(apiErr.Details) != 1 || apiErr.Details[0].Field.Or("") != "embedding" {
		t.Fatalf("rename without vector: %+v", apiErr)
	}
	up, err := c.UpdateEntity(ctx, &openapi.EntityUpdate{Name: openapi.NewOptString("Green tea"), Embedding: axis(1), EmbeddingModel: openapi.NewOptString("m1")},
		openapi.UpdateEntityParams{ID: e.ID})
	if err != nil || up.Name != "Green tea" || up.EmbeddingModel.Or("") != "m1" {
		t.Fatalf("rename with vector = %+v, %v", up, err)
	}
	// Properties alone need no vector.
	if _, err := c.UpdateEntity(ctx, &openapi.EntityUpdate{Properties: openapi.NewOptEntityUpdateProperties(openapi.EntityUpdateProperties{"hot": jx.Raw(`true`)})},
		openapi.UpdateEntityParams{ID: e.ID}); err != nil {
		t.Fatal(err)
	}
	// An upsert merging facts without a vector keeps the client's.
	u, err := c.UpsertEntity(ctx, &openapi.EntityCreate{Type: "drink", Name: "Green tea",
		Properties: openapi.NewOptEntityCreateProperties(openapi.EntityCreateProperties{"origin": jx.Raw(`"China"`)})})
	if err != nil || u.Created || u.Entity.EmbeddingModel.Or("") != "m1" {
		t.Fatalf("upsert without vector = %+v, %v", u, err)
	}
	res, err := c.SearchEntities(ctx, &openapi.EntitySearch{Vector: axis(1), Model: openapi.NewOptString("m1")})
	if err != nil || len(res.Items) != 1 || res.OtherModels != 0 {
		t.Fatalf("m1 search = %+v, %v", res, err)
	}
	// Naming the service's model alone moves it, on purpose.
	up, err = c.UpdateEntity(ctx, &openapi.EntityUpdate{EmbeddingModel: openapi.NewOptString(embed.LocalModel)}, openapi.UpdateEntityParams{ID: e.ID})
	if err != nil || up.EmbeddingModel.Or("") != embed.LocalModel {
		t.Fatalf("re-embed by the service = %+v, %v", up, err)
	}
	// A service-embedded entity is renamed and re-embedded by the service.
	up, err = c.UpdateEntity(ctx, &openapi.EntityUpdate{Name: openapi.NewOptString("Green tea, loose")}, openapi.UpdateEntityParams{ID: e.ID})
	if err != nil || up.EmbeddingModel.Or("") != embed.LocalModel {
		t.Fatalf("service rename = %+v, %v", up, err)
	}
}
