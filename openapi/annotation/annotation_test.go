package annotation

import (
	"encoding/json"
	"testing"

	"entgo.io/contrib/entoas"
	"entgo.io/ent/schema"
	"github.com/ogen-go/ogen"
)

// The annotations here stand in for entoas's own in ent/schema; entoas
// reads them back by name and JSON, so both must be exactly entoas's, alone
// and merged as ent merges a field's annotations.
func TestAnnotationsAreEntoasOnTheWire(t *testing.T) {
	s := ogen.String().SetFormat("decimal")
	exposed := entoas.OperationPolicy(entoas.PolicyExpose)
	cases := map[string]struct {
		ours   []schema.Annotation
		theirs []schema.Annotation
	}{
		"skip":             {[]schema.Annotation{Skip()}, []schema.Annotation{entoas.Skip(true)}},
		"read only":        {[]schema.Annotation{ReadOnly()}, []schema.Annotation{entoas.ReadOnly(true)}},
		"schema":           {[]schema.Annotation{Schema(s)}, []schema.Annotation{entoas.Schema(s)}},
		"read only+schema": {[]schema.Annotation{ReadOnly(), Schema(s)}, []schema.Annotation{entoas.ReadOnly(true), entoas.Schema(s)}},
		"expose all": {
			Expose(Entity{View: "Thing", Path: "/v1/things", Group: "Things", Ops: []Op{OpList, OpRead, OpCreate, OpUpdate, OpDelete}})[1:],
			[]schema.Annotation{entoas.ReadOperation(exposed), entoas.ListOperation(exposed), entoas.ReadOperation(exposed),
				entoas.CreateOperation(exposed), entoas.UpdateOperation(exposed), entoas.DeleteOperation(exposed)},
		},
		"expose read": {
			Expose(Entity{View: "Thing"})[1:],
			[]schema.Annotation{entoas.ReadOperation(exposed)},
		},
	}
	for name, c := range cases {
		got, want := merged(t, c.ours), merged(t, c.theirs)
		if got != want {
			t.Errorf("%s:\n ours   %s\n entoas %s", name, got, want)
		}
	}
}

// merged is what entc records for a field's annotations: merged by name
// (schema.Merger), then JSON.
func merged(t *testing.T, as []schema.Annotation) string {
	t.Helper()
	var acc schema.Annotation
	for _, a := range as {
		if a.Name() != "EntOAS" {
			t.Fatalf("annotation named %q, want EntOAS", a.Name())
		}
		if acc == nil {
			acc = a
			continue
		}
		acc = acc.(schema.Merger).Merge(a)
	}
	b, err := json.Marshal(acc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExposeLeadsWithTheEntity(t *testing.T) {
	e := Entity{View: "Secret", Path: "/v1/secrets", Group: "Secrets", Ops: []Op{OpList}}
	as := Expose(e)
	if got, ok := as[0].(Entity); !ok || got.View != "Secret" || as[0].Name() != "API" {
		t.Fatalf("Expose(e)[0] = %#v, want e", as[0])
	}
	if !e.Lists() || e.Serves(OpDelete) || e.PluralName() != "Secrets" {
		t.Fatalf("Lists %v, Serves(delete) %v, PluralName %q", e.Lists(), e.Serves(OpDelete), e.PluralName())
	}
	if (Entity{View: "Memory", Plural: "Memories"}).PluralName() != "Memories" {
		t.Fatal("PluralName ignores Plural")
	}
}
