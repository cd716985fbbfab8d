//go:build ignore

// entc.go generates the ent client from ent/schema, and with it the API's
// contract (openapi.json through entoas and openapi/spec) and the ent → API
// views (template/apiview.tmpl). The feature list is the only generator
// configuration; it lives here, not in shell history.
package main

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"text/template"

	"entgo.io/contrib/entoas"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/jarvis-core/jarvis/openapi/annotation"
	"github.com/jarvis-core/jarvis/openapi/spec"
)

const specPath = "../openapi/openapi.json"

func main() {
	// The spec is written only once the whole generation succeeded: a schema
	// that does not compile yet leaves the previous openapi.json in place.
	var oasOut bytes.Buffer
	oas, err := entoas.NewExtension(
		// Only what the API serves is exposed; the rest of the model stays out.
		entoas.DefaultPolicy(entoas.PolicyExclude),
		entoas.Mutations(spec.Mutate),
		entoas.WriteTo(&oasOut),
	)
	if err != nil {
		log.Fatalf("entoas: %v", err)
	}
	funcs := template.FuncMap{
		"apiEntity": func(n *gen.Type) (*annotation.Entity, error) { return spec.EntityOf(n) },
		"apiLists":  func(e *annotation.Entity) bool { return e.Lists() },
		"apiViewBody": func(n *gen.Type, e *annotation.Entity) (string, error) {
			return spec.ViewBody(n, e)
		},
	}
	err = entc.Generate("./schema", &gen.Config{
		Templates: []*gen.Template{
			gen.MustParse(gen.NewTemplate("owned").ParseFiles("template/owned.tmpl")),
			gen.MustParse(gen.NewTemplate("apiview").Funcs(funcs).ParseFiles("template/apiview.tmpl")),
			gen.MustParse(gen.NewTemplate("entitytest").ParseFiles("template/entitytest.tmpl")),
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
	if oasOut.Len() == 0 {
		log.Fatal("entoas wrote no spec")
	}
	out, err := spec.PublicSecurity(oasOut.Bytes())
	if err != nil {
		log.Fatalf("openapi.json: %v", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(specPath), ".openapi-*.json")
	if err != nil {
		log.Fatalf("write openapi.json: %v", err)
	}
	if _, err := tmp.Write(append(out, '\n')); err != nil {
		log.Fatalf("write openapi.json: %v", err)
	}
	if err := tmp.Close(); err != nil {
		log.Fatalf("write openapi.json: %v", err)
	}
	if err := os.Rename(tmp.Name(), specPath); err != nil {
		log.Fatalf("write openapi.json: %v", err)
	}
}
