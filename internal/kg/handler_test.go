package kg_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-faster/jx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/openapi"
)

// TestKnowledgeGraphHTTP drives every knowledge-graph operation through the
// real service and the generated client.
func TestKnowledgeGraphHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "ada@example.com")
	ctx := context.Background()

	ada, err := c.CreateEntity(ctx, &openapi.EntityCreate{Type: "person", Name: "Ada",
		Properties: openapi.NewOptEntityCreateProperties(openapi.EntityCreateProperties{"email": jx.Raw(`"ada@example.com"`)})})
	if err != nil {
		t.Fatal(err)
	}
	if string(ada.Properties["email"]) != `"[EMAIL]"` || string(ada.Redactions["email"]) != "1" || ada.EmbeddingModel.Or("") == "" {
		t.Fatalf("created = %+v", ada)
	}
	_, err = c.CreateEntity(ctx, &openapi.EntityCreate{Type: "person", Name: "Ada"})
	apptest.APIError(t, err, http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT)

	up, err := c.UpsertEntity(ctx, &openapi.EntityCreate{Type: "person", Name: "Ada",
		Properties: openapi.NewOptEntityCreateProperties(openapi.EntityCreateProperties{"born": jx.Raw(`1815`)})})
	if err != nil || up.Created || up.Entity.ID != ada.ID || string(up.Entity.Properties["born"]) != "1815" || string(up.Entity.Properties["email"]) != `"[EMAIL]"` {
		t.Fatalf("upsert = %+v, %v", up, err)
	}
	tea, err := c.UpsertEntity(ctx, &openapi.EntityCreate{Type: "drink", Name: "Tea"})
	if err != nil || !tea.Created {
		t.Fatalf("upsert new = %+v, %v", tea, err)
	}
	china, err := c.CreateEntity(ctx, &openapi.EntityCreate{Type: "country", Name: "China"})
	if err != nil {
		t.Fatal(err)
	}

	got, err := c.GetEntity(ctx, openapi.GetEntityParams{ID: ada.ID})
	if err != nil || got.Name != "Ada" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	page, err := c.ListEntities(ctx, openapi.ListEntitiesParams{Limit: openapi.NewOptInt(2)})
	if err != nil || len(page.Items) != 2 || !page.NextCursor.Set {
		t.Fatalf("entities page = %+v, %v", page, err)
	}
	renamed, err := c.UpdateEntity(ctx, &openapi.EntityUpdate{Name: openapi.NewOptString("Green tea")}, openapi.UpdateEntityParams{ID: tea.Entity.ID})
	if err != nil || renamed.Name != "Green tea" {
		t.Fatalf("rename = %+v, %v", renamed, err)
	}
	found, err := c.SearchEntities(ctx, &openapi.EntitySearch{Query: openapi.NewOptString("drink: Green tea")})
	if err != nil || len(found.Items) != 1 || found.Items[0].Entity.ID != tea.Entity.ID {
		t.Fatalf("search = %+v, %v", found, err)
	}

	drinks, err := c.CreateRelation(ctx, &openapi.RelationCreate{SourceID: ada.ID, TargetID: tea.Entity.ID, Type: "drinks"})
	if err != nil || drinks.SourceID != ada.ID || drinks.TargetID != tea.Entity.ID {
		t.Fatalf("relation = %+v, %v", drinks, err)
	}
	from, err := c.CreateRelation(ctx, &openapi.RelationCreate{SourceID: tea.Entity.ID, TargetID: china.ID, Type: "comes_from"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRelation(ctx, &openapi.RelationCreate{SourceID: ada.ID, TargetID: tea.Entity.ID, Type: "drinks"})
	apptest.APIError(t, err, http.StatusConflict, openapi.ErrorResponseErrorCodeCONFLICT)
	if r, err := c.GetRelation(ctx, openapi.GetRelationParams{ID: drinks.ID}); err != nil || r.Type != "drinks" {
		t.Fatalf("get relation = %+v, %v", r, err)
	}

	rels, err := c.ListEntityRelations(ctx, openapi.ListEntityRelationsParams{ID: tea.Entity.ID,
		Direction: openapi.NewOptListEntityRelationsDirection(openapi.ListEntityRelationsDirectionIn)})
	if err != nil || len(rels.Items) != 1 || rels.Items[0].ID != drinks.ID {
		t.Fatalf("incoming relations = %+v, %v", rels, err)
	}
	rels, err = c.ListEntityRelations(ctx, openapi.ListEntityRelationsParams{ID: tea.Entity.ID, Limit: openapi.NewOptInt(1)})
	if err != nil || len(rels.Items) != 1 || !rels.NextCursor.Set || rels.Items[0].ID != from.ID {
		t.Fatalf("relations page = %+v, %v", rels, err)
	}

	near, err := c.ListNeighbors(ctx, openapi.ListNeighborsParams{ID: ada.ID, Depth: openapi.NewOptInt(2)})
	if err != nil || len(near.Items) != 2 || near.Truncated {
		t.Fatalf("neighbours = %+v, %v", near, err)
	}
	if n := near.Items[1]; n.Entity.ID != china.ID || n.Distance != 2 || len(n.Path) != 3 || n.Relations[1] != from.ID {
		t.Fatalf("china = %+v", n)
	}
	near, err = c.ListNeighbors(ctx, openapi.ListNeighborsParams{ID: ada.ID, Depth: openapi.NewOptInt(5), Types: []string{"drinks"}})
	if err != nil || len(near.Items) != 1 {
		t.Fatalf("neighbours by type = %+v, %v", near, err)
	}
	resp := s.Do(t, http.MethodGet, "/v1/kg/entities/"+ada.ID.String()+"/neighbors?depth=6", tokenOf(t, s), "")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("depth 6: %d", resp.StatusCode)
	}

	if err := c.DeleteRelation(ctx, openapi.DeleteRelationParams{ID: drinks.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRelation(ctx, openapi.GetRelationParams{ID: drinks.ID})
	apptest.APIError(t, err, http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
	if err := c.DeleteEntity(ctx, openapi.DeleteEntityParams{ID: china.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRelation(ctx, openapi.GetRelationParams{ID: from.ID})
	apptest.APIError(t, err, http.StatusNotFound, openapi.ErrorResponseErrorCodeNOTFOUND)
}

func tokenOf(t *testing.T, s *apptest.Server) string {
	t.Helper()
	_, tok := s.SignUp(t, "raw@example.com")
	return tok.AccessToken
}
