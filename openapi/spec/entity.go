package spec

import (
	"entgo.io/contrib/entoas"
	"entgo.io/ent/schema"
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
// Mutate reads it from the graph; the entc template apiview generates the
// ent → API conversion from it. An entity with a View and no Ops only lends
// its view to a module's own operations (the signed-in user).
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

// Expose returns the annotations that put an entity in the API: e itself,
// and entoas's operation policies (the read operation always, for the view).
func Expose(e Entity) []schema.Annotation {
	out := []schema.Annotation{e, entoas.ReadOperation(entoas.OperationPolicy(entoas.PolicyExpose))}
	for _, op := range e.Ops {
		p := entoas.OperationPolicy(entoas.PolicyExpose)
		switch op {
		case OpList:
			out = append(out, entoas.ListOperation(p))
		case OpCreate:
			out = append(out, entoas.CreateOperation(p))
		case OpUpdate:
			out = append(out, entoas.UpdateOperation(p))
		case OpDelete:
			out = append(out, entoas.DeleteOperation(p))
		}
	}
	return out
}

func (e Entity) plural() string {
	if e.Plural != "" {
		return e.Plural
	}
	return e.View + "s"
}

func (e Entity) serves(op Op) bool {
	for _, o := range e.Ops {
		if o == op {
			return true
		}
	}
	return false
}
