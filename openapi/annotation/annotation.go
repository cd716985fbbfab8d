// Package annotation is what ent/schema says about the API: which entities
// it exposes and how (Entity, Expose), and which fields it shows, hides or
// types otherwise (Skip, ReadOnly, Schema).
//
// It is apart from openapi/spec, which turns these into the OpenAPI
// document at generation time, because ent/schema is also part of the
// running service (its hooks, policies and defaults): a schema that
// imported entoas would link ent's code generator (entc, go/types,
// x/tools) into every binary, whose package initialisation alone cost
// several milliseconds of each start. The field annotations here are
// entoas's own, byte for byte on the wire (the name "EntOAS" and its JSON),
// so entoas reads them as if it had written them.
package annotation

import (
	"entgo.io/ent/schema"
	"github.com/ogen-go/ogen"
)

// Op is a CRUD operation of an entity.
type Op string

// The CRUD operations an entity can expose.
const (
	OpList   Op = "list"
	OpRead   Op = "read"
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Entity is the schema annotation that puts an entity in the API: its view
// (every field entoas shows: not skipped, not sensitive) under the name View,
// and the CRUD operations Ops under Path, in the operation group Group.
// spec.Mutate reads it from the graph; the entc template apiview generates
// the ent → API conversion from it. An entity with a View and no Ops only
// lends its view to a module's own operations (the signed-in user).
type Entity struct {
	View   string // the API's schema name: "Secret"
	Plural string // names list operations and pages: "Secrets" (default View+"s")
	Path   string // the collection: "/v1/secrets"; items are Path+"/{id}"
	Group  string // the ogen operation group (one handler interface per module) and tag
	Ops    []Op
	// Docs are the operations' summaries, when entoas's are not what people
	// should read.
	Docs map[Op]string
}

// Name implements schema.Annotation.
func (Entity) Name() string { return "API" }

// PluralName is Plural, or View+"s" when Plural is empty.
func (e Entity) PluralName() string {
	if e.Plural != "" {
		return e.Plural
	}
	return e.View + "s"
}

// Serves reports whether e exposes op.
func (e Entity) Serves(op Op) bool {
	for _, o := range e.Ops {
		if o == op {
			return true
		}
	}
	return false
}

// Lists reports whether e has a list operation (apiview builds its page).
func (e *Entity) Lists() bool { return e.Serves(OpList) }

// Expose returns the annotations that put an entity in the API: e itself,
// and entoas's operation policies (the read operation always, for the view).
func Expose(e Entity) []schema.Annotation {
	out := []schema.Annotation{e, oas{Read: exposed}}
	for _, op := range e.Ops {
		switch op {
		case OpList:
			out = append(out, oas{List: exposed})
		case OpCreate:
			out = append(out, oas{Create: exposed})
		case OpUpdate:
			out = append(out, oas{Update: exposed})
		case OpDelete:
			out = append(out, oas{Delete: exposed})
		}
	}
	return out
}

// Skip leaves a field out of the API (entoas.Skip).
func Skip() schema.Annotation { return oas{Skip: true} }

// ReadOnly shows a field in the API's reads only (entoas.ReadOnly).
func ReadOnly() schema.Annotation { return oas{ReadOnly: true} }

// Schema is a field's JSON schema in the API, where entoas's own mapping of
// its Go type is not the one (entoas.Schema).
func Schema(s *ogen.Schema) schema.Annotation { return oas{Schema: s} }

// oas is entoas.Annotation as it travels from the schema to the generator:
// the same name and the same JSON, so that entoas decodes it as its own.
type oas struct {
	Groups   []string
	Example  any
	Schema   *ogen.Schema
	Create   operation
	Read     operation
	Update   operation
	Delete   operation
	List     operation
	ReadOnly bool
	Skip     bool
}

// operation is entoas.OperationConfig; Policy is entoas.Policy.
type operation struct {
	Policy uint
	Groups []string
}

// exposed is entoas.OperationPolicy(entoas.PolicyExpose) (PolicyNone,
// PolicyExclude, PolicyExpose are 0, 1, 2).
var exposed = operation{Policy: 2}

// Name implements schema.Annotation as entoas.Annotation does.
func (oas) Name() string { return "EntOAS" }

// Merge implements schema.Merger as entoas.Annotation does, so that a field
// with several of these (ReadOnly and Schema) keeps them all.
func (a oas) Merge(o schema.Annotation) schema.Annotation {
	b, ok := o.(oas)
	if !ok {
		return a
	}
	if b.Example != nil {
		a.Example = b.Example
	}
	if b.Schema != nil {
		a.Schema = b.Schema
	}
	for _, p := range []struct{ dst, src *operation }{
		{&a.Create, &b.Create}, {&a.Read, &b.Read}, {&a.Update, &b.Update}, {&a.Delete, &b.Delete}, {&a.List, &b.List},
	} {
		if p.src.Policy != 0 {
			p.dst.Policy = p.src.Policy
		}
		if p.src.Groups != nil {
			p.dst.Groups = p.src.Groups
		}
	}
	a.ReadOnly = a.ReadOnly || b.ReadOnly
	a.Skip = a.Skip || b.Skip
	return a
}

var (
	_ schema.Annotation = oas{}
	_ schema.Merger     = oas{}
)
