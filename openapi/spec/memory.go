package spec

import (
	"net/http"

	"github.com/ogen-go/ogen"
)

// The memory module's operations beyond list/read/delete: writes redact and
// embed (their bodies are not the entity's fields), and search.
func init() {
	vector := func() *ogen.Schema {
		n := uint64(1536)
		return ogen.Float().AsArray().SetMinItems(&n).SetMaxItems(&n)
	}
	Register(Module{
		Group: "Memories",
		Operations: []Operation{
			{Method: http.MethodPost, Path: "/v1/memories", ID: "createMemory",
				Summary:     "Remember something",
				Description: "Personal data in content (emails, phones, SSNs, card numbers, IBANs, IP addresses) is replaced by placeholders such as [EMAIL] before it is stored or embedded; redactions counts them. Without an embedding the service embeds the redacted content.",
				Body:        "MemoryCreate", Status: http.StatusCreated, Result: "Memory"},
			{Method: http.MethodPatch, Path: "/v1/memories/{id}", ID: "updateMemory",
				Summary:     "Change a memory's content (redacted and re-embedded), metadata or vector",
				Description: "New content is embedded by the service when the memory's vector is the service's model's; a memory embedded with another model needs the new content's vector in embedding (400 without it), so an edit never changes its model silently. redactions always describes the stored content and metadata.",
				Params:      []*ogen.Parameter{IDParam("memory")}, Body: "MemoryUpdate", Result: "Memory",
				Errors: []int{http.StatusNotFound}},
			{Method: http.MethodPost, Path: "/v1/memories/search", ID: "searchMemories",
				Summary:     "Find memories by meaning, best first",
				Description: "mode vector ranks by cosine similarity to the query text's embedding (or to vector) and keeps hits at or above threshold; mode hybrid fuses that ranking with Postgres full-text rank by reciprocal rank fusion (threshold then applies to the vector side, and score is the fused score). Only memories embedded with the search's model are searched (vectors of different models cannot be compared): other_models says how many were left out.",
				Body:        "MemorySearch", Result: "MemorySearchResult"},
		},
		Schemas: map[string]*ogen.Schema{
			"MemoryCreate": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Str(1, 32768).ToProperty("content"),
			).AddOptionalProperties(
				freeObject("Your own data, usable as a search filter. Personal data in it is redacted like content (keys, strings, and numbers such as card or phone numbers) and counted in redactions").ToProperty("metadata"),
				vector().SetDescription("Your own embedding of content (1536 numbers); embedding_model is then required").ToProperty("embedding"),
				Str(1, 128).SetDescription("The model of embedding").ToProperty("embedding_model"),
			),
			"MemoryUpdate": ogen.NewSchema().SetType("object").AddOptionalProperties(
				Str(1, 32768).ToProperty("content"),
				freeObject("Replaces the metadata (redacted like content)").ToProperty("metadata"),
				vector().SetDescription("Your own embedding (1536 numbers); embedding_model is then required. Required with new content when the memory's vector came from a model other than the service's").ToProperty("embedding"),
				Str(1, 128).SetDescription("The model of embedding; alone, naming the service's model, it has the service re-embed the content with it").ToProperty("embedding_model"),
			),
			"MemorySearch": ogen.NewSchema().SetType("object").AddOptionalProperties(
				Str(1, 4096).SetDescription("Text to search for (needed in hybrid mode)").ToProperty("query"),
				vector().SetDescription("Your own query vector, instead of query in vector mode").ToProperty("vector"),
				Str(1, 128).SetDescription("The model of vector (default: the service's embedding model)").ToProperty("model"),
				Enum("vector", "hybrid").SetDescription("Default vector").ToProperty("mode"),
				similarity().ToProperty("threshold"),
				ogen.Int().SetMinimum(ptrInt(1)).SetMaximum(ptrInt(100)).SetDescription("Default 10").ToProperty("limit"),
				freeObject("Only memories whose metadata contains this object").ToProperty("metadata"),
			),
			"MemoryHit": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("Memory").ToProperty("memory"),
				ogen.Double().SetDescription("Cosine similarity to the query").ToProperty("similarity"),
				ogen.Double().SetDescription("What orders the hits: the similarity, or the fused rank score in hybrid mode").ToProperty("score"),
			),
			"MemorySearchResult": ogen.NewSchema().SetType("object").AddRequiredProperties(
				Ref("MemoryHit").AsArray().ToProperty("items"),
				otherModels("memories"),
			),
		},
	})
}

// otherModels is the count of a search answer's rows left out for their model.
func otherModels(what string) *ogen.Property {
	return ogen.Int().SetMinimum(ptrInt(0)).SetDescription("How many of your " + what +
		" were not searched because another embedding model computed their vectors (search with a vector of that model to reach them)").
		ToProperty("other_models")
}

// freeObject is a JSON object of any properties.
func freeObject(desc string) *ogen.Schema {
	yes := true
	return &ogen.Schema{Type: "object", Description: desc, AdditionalProperties: &ogen.AdditionalProperties{Bool: &yes}}
}

func ptrInt(i int64) *int64 { return &i }

// similarity is a search's minimum cosine similarity. Bodies document
// defaults instead of declaring them: a declared default makes generated
// TypeScript types require the property.
func similarity() *ogen.Schema {
	s := ogen.Double().SetDescription("Minimum cosine similarity (-1 to 1), default 0.7")
	s.Minimum, s.Maximum = ogen.Num("-1"), ogen.Num("1")
	return s
}
