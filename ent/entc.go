//go:build ignore

// entc.go generates the ent client from ent/schema. The feature list is the
// only generator configuration; it lives here, not in shell history.
package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	err := entc.Generate("./schema", &gen.Config{
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
	})
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
