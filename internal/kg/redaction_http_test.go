package kg_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-faster/jx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/openapi"
)

// Entity and relation types are text like names: redacted before they are
// stored or embedded, and filters by type are redacted the same way so they
// still find them (issue 16, item 4).
func TestTypesAreRedactedHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, tok := s.SignUp(t, "types@example.com")
	ctx := context.Background()
	e, err := c.CreateEntity(ctx, &openapi.EntityCreate{Type: "person alice@example.com", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "person [EMAIL]" || string(e.Redactions["email"]) != "1" {
		t.Fatalf("entity = %+v", e)
	}
	// Embedded from the redacted type: the redacted query is the same text.
	res, err := c.SearchEntities(ctx, &openapi.EntitySearch{Query: openapi.NewOptString("person alice@example.com: Ada"),
		Type: openapi.NewOptString("person alice@example.com")})
	if err != nil || len(res.Items) != 1 || res.Items[0].Similarity < 0.999 {
		t.Fatalf("search = %+v, %v", res, err)
	}
	up, err := c.UpdateEntity(ctx, &openapi.EntityUpdate{Type: openapi.NewOptString("friend of 415-555-2671")}, openapi.UpdateEntityParams{ID: e.ID})
	if err != nil || up.Type != "friend of [PHONE]" || string(up.Redactions["phone"]) != "1" {
		t.Fatalf("update = %+v, %v", up, err)
	}
	u, err := c.UpsertEntity(ctx, &openapi.EntityCreate{Type: "friend of 415-555-2671", Name: "Ada"})
	if err != nil || u.Created || u.Entity.ID != e.ID {
		t.Fatalf("upsert under the redacted type = %+v, %v", u, err)
	}

	other, err := c.CreateEntity(ctx, &openapi.EntityCreate{Type: "person", Name: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRelation(ctx, &openapi.RelationCreate{SourceID: e.ID, TargetID: other.ID, Type: "emails bob@example.com"})
	if err != nil || r.Type != "emails [EMAIL]" {
		t.Fatalf("relation = %+v, %v", r, err)
	}
	rels, err := c.ListEntityRelations(ctx, openapi.ListEntityRelationsParams{ID: e.ID, Types: []string{"emails bob@example.com"}})
	if err != nil || len(rels.Items) != 1 {
		t.Fatalf("relations by the raw type = %+v, %v", rels, err)
	}
	resp := s.Do(t, http.MethodGet, "/v1/kg/entities/"+e.ID.String()+"/neighbors?types=emails%20bob@example.com", tok.AccessToken, "")
	body := new(strings.Builder)
	if _, err := io.Copy(body, resp.Body); err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), other.ID.String()) || strings.Contains(body.String(), "bob@") {
		t.Fatalf("neighbors by the raw type: %d %s", resp.StatusCode, body)
	}
	// A type whose placeholders pass the length limit is refused, not cut.
	_, err = c.CreateEntity(ctx, &openapi.EntityCreate{Type: strings.TrimSpace(strings.Repeat("a@b.co ", 14)), Name: "x"})
	apptest.APIError(t, err, http.StatusBadRequest, openapi.ErrorResponseErrorCodeVALIDATIONERROR)
}

// redactions describe the stored entity after an update of one part and
// after an upsert that merges properties (issue 16, item 7).
func TestEntityRedactionCountsFollowWritesHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "entcounts@example.com")
	ctx := context.Background()
	count := func(m map[string]jx.Raw, kind string) string {
		if v, ok := m[kind]; ok {
			return string(v)
		}
		return "0"
	}
	e, err := c.CreateEntity(ctx, &openapi.EntityCreate{Type: "person", Name: "ada@example.com",
		Properties: openapi.NewOptEntityCreateProperties(openapi.EntityCreateProperties{"ip": jx.Raw(`"10.0.0.1"`)})})
	if err != nil || count(e.Redactions, "email") != "1" || count(e.Redactions, "ip") != "1" {
		t.Fatalf("created = %+v, %v", e, err)
	}
	// An upsert merging a new key keeps the old key's IP counted.
	u, err := c.UpsertEntity(ctx, &openapi.EntityCreate{Type: "person", Name: "ada@example.com",
		Properties: openapi.NewOptEntityCreateProperties(openapi.EntityCreateProperties{"phone": jx.Raw(`"415-555-2671"`)})})
	if err != nil || u.Created || count(u.Entity.Redactions, "email") != "1" || count(u.Entity.Redactions, "ip") != "1" || count(u.Entity.Redactions, "phone") != "1" {
		t.Fatalf("merge = %+v, %v", u.Entity.Redactions, err)
	}
	// An upsert replacing the key drops what it held.
	u, err = c.UpsertEntity(ctx, &openapi.EntityCreate{Type: "person", Name: "ada@example.com",
		Properties: openapi.NewOptEntityCreateProperties(openapi.EntityCreateProperties{"ip": jx.Raw(`"unknown"`)})})
	if err != nil || count(u.Entity.Redactions, "ip") != "0" || count(u.Entity.Redactions, "phone") != "1" || count(u.Entity.Redactions, "email") != "1" {
		t.Fatalf("replace = %+v, %v", u.Entity.Redactions, err)
	}
	// Properties alone: the name's email stays counted.
	up, err := c.UpdateEntity(ctx, &openapi.EntityUpdate{Properties: openapi.NewOptEntityUpdateProperties(openapi.EntityUpdateProperties{})}, openapi.UpdateEntityParams{ID: e.ID})
	if err != nil || len(up.Redactions) != 1 || count(up.Redactions, "email") != "1" {
		t.Fatalf("properties update: %s, %v", up.Redactions, err)
	}
	// The name alone: the properties' counts (none now) and the new name's.
	up, err = c.UpdateEntity(ctx, &openapi.EntityUpdate{Name: openapi.NewOptString("Ada")}, openapi.UpdateEntityParams{ID: e.ID})
	if err != nil || len(up.Redactions) != 0 {
		t.Fatalf("name update: %s, %v", up.Redactions, err)
	}
}

// Entity properties redact numbers that are personal data (issue 16, item 5).
func TestNumbersInPropertiesAreRedactedHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "propnumbers@example.com")
	e, err := c.CreateEntity(context.Background(), &openapi.EntityCreate{Type: "person", Name: "Ada",
		Properties: openapi.NewOptEntityCreateProperties(openapi.EntityCreateProperties{
			"card": jx.Raw(`4111111111111111`), "phone": jx.Raw(`15551234567`), "born": jx.Raw(`1815`)})})
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Properties["card"]) != `"[CARD]"` || string(e.Properties["phone"]) != `"[PHONE]"` || string(e.Properties["born"]) != `1815` ||
		string(e.Redactions["card"]) != "1" || string(e.Redactions["phone"]) != "1" {
		t.Fatalf("entity = %+v", e)
	}
}
