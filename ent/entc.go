//go:build ignore

// entc.go generates the ent client from ent/schema. The feature list is the
// only generator configuration; it lives here, not in shell history.
package main

import (
	"log"
	"os"

	"entgo.io/contrib/entoas"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/jarvis-core/jarvis/openapi/spec"
)

func main() {
	out, err := os.Create("../openapi/openapi.json")
	if err != nil {
		log.Fatalf("open openapi.json: %v", err)
	}
	defer out.Close()
	oas, err := entoas.NewExtension(
		// Only what the API serves is exposed; the rest of the model stays out.
		entoas.DefaultPolicy(entoas.PolicyExclude),
		entoas.Mutations(spec.Mutate),
		entoas.WriteTo(out),
	)
	if err != nil {
		log.Fatalf("entoas: %v", err)
	}
	err = entc.Generate("./schema", &gen.Config{
		Templates: []*gen.Template{
			gen.MustParse(gen.NewTemplate("owned").ParseFiles("template/owned.tmpl")),
		},
		Features: []gen.Feature{
			gen.FeaturePrivacy,            // per-user policies in the schema
			gen.FeatureEntQL,              // generic owner filters (WhereUserID) for privacy rules
			gen.FeatureVersionedMigration, // `jarvis migrate diff` replays ent/migrate/migrations
			gen.FeatureExecQuery,          // set_config(...) on the request transaction
			gen.FeatureUpsert,             // ON CONFLICT for idempotent writes
			gen.FeatureLock,               // SELECT ... FOR UPDATE (refresh-token rotation)
			gen.FeatureIntercept,          // query interceptors for cross-cutting filters
		},
	}, entc.Extensions(oas))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
