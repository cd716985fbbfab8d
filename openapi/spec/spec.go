// Package spec is the post-processing step of the generated contract.
// entoas builds entity views and CRUD operations from ent/schema; Mutate
// turns them into the API generically, from the graph and each entity's
// Entity annotation (which operations, path, view name, group), then adds
// the operations modules declare with Register (auth, secrets writes, ...).
// Every operation gets its module's x-ogen-operation-group, so ogen gives
// each module its own handler interface. Nothing here names an entity, and
// nothing in openapi.json is edited by hand.
package spec

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"entgo.io/ent/entc/gen"
	"github.com/go-faster/yaml"
	"github.com/ogen-go/ogen"

	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// ErrorCodes are the stable codes of the error body.
var ErrorCodes = []string{
	"VALIDATION_ERROR", "UNAUTHORIZED", "INVALID_CREDENTIALS", "TOKEN_EXPIRED", "FORBIDDEN",
	"NOT_FOUND", "METHOD_NOT_ALLOWED", "EMAIL_EXISTS", "CONFLICT", "NEEDS_REAUTH", "BUDGET_EXCEEDED", "UNPRICED_MODEL",
	"PAYLOAD_TOO_LARGE", "RATE_LIMITED", "UNAVAILABLE", "INTERNAL",
}

const bearer = "bearerAuth"

// Operation is a module's operation that is not CRUD.
type Operation struct {
	Method       string // http.MethodPost ...
	Path         string // "/v1/auth/login"
	ID           string // operationId: the Go method name, camel case
	Summary      string
	Description  string
	Public       bool              // no bearer token needed
	Params       []*ogen.Parameter // path and query parameters
	Body         string            // component name of the JSON body; "" for none
	BodyOptional bool              // the body may be left out
	Status       int               // success status; 0 is 200
	Result       string            // component name of the JSON response; "" for no content
	// ResultMedia is the media type of a streamed response (a binary body
	// of that type, which ogen hands over as an io.Reader), instead of Result.
	ResultMedia string
	Errors      []int // statuses it can answer besides 401 (private) and 500
}

// Module is what a module declares: its operation group, operations and the
// schemas they use.
type Module struct {
	Group      string
	Operations []Operation
	Schemas    map[string]*ogen.Schema
}

var modules = map[string]Module{}

// Register declares a module's operations; each module's file calls it from
// init, so Mutate lists no module.
func Register(m Module) {
	if _, dup := modules[m.Group]; dup {
		panic("spec: module " + m.Group + " registered twice")
	}
	modules[m.Group] = m
}

// doc is the API being built.
type doc struct {
	paths    ogen.Paths
	schemas  map[string]*ogen.Schema
	groups   map[string]bool
	statuses map[int]bool // documented error statuses
}

func (d *doc) add(method, path, group string, op *ogen.Operation) error {
	item, ok := d.paths[path]
	if !ok {
		item = ogen.NewPathItem()
		d.paths[path] = item
	}
	slot := map[string]**ogen.Operation{
		http.MethodGet: &item.Get, http.MethodPost: &item.Post, http.MethodPut: &item.Put,
		http.MethodPatch: &item.Patch, http.MethodDelete: &item.Delete,
	}[method]
	if slot == nil {
		return fmt.Errorf("spec: %s %s: unsupported method", method, path)
	}
	if *slot != nil {
		return fmt.Errorf("spec: %s %s declared twice (%s and %s)", method, path, (*slot).OperationID, op.OperationID)
	}
	setGroup(op, group)
	op.SetTags([]string{group})
	for code := range op.Responses {
		var st int
		if _, err := fmt.Sscan(code, &st); err == nil && st >= 400 {
			d.statuses[st] = true
		}
	}
	*slot = op
	d.groups[group] = true
	return nil
}

// setGroup gives op its module's ogen operation group.
func setGroup(op *ogen.Operation, group string) { setExtension(op, "x-ogen-operation-group", group) }

func setExtension(op *ogen.Operation, key, value string) {
	if op.Common.Extensions == nil {
		op.Common.Extensions = map[string]yaml.Node{}
	}
	tag := "!!str"
	if value == "true" {
		tag = "!!bool"
	}
	op.Common.Extensions[key] = yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// publicMark marks operations that need no token until PublicSecurity
// turns it into an explicit empty security list.
const publicMark = "x-jarvis-public"

// PublicSecurity rewrites the marshalled spec so that public operations say
// "security": [] (linters and readers then know they are public on purpose),
// which ogen's types cannot express. The output is indented JSON with
// sorted keys, stable from run to run.
func PublicSecurity(raw []byte) ([]byte, error) {
	return RewriteOperations(raw, func(op map[string]any) {
		if _, public := op[publicMark]; public {
			delete(op, publicMark)
			op["security"] = []any{}
		}
	})
}

// RewriteOperations decodes a marshalled spec, lets fn change every
// operation object, and encodes it again (indented, keys sorted).
func RewriteOperations(raw []byte, fn func(op map[string]any)) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, item := range paths {
		ops, _ := item.(map[string]any)
		for _, op := range ops {
			if o, ok := op.(map[string]any); ok {
				fn(o)
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// Mutate is an entoas.MutateFunc.
func Mutate(g *gen.Graph, s *ogen.Spec) error {
	d := &doc{paths: ogen.Paths{}, schemas: map[string]*ogen.Schema{}, groups: map[string]bool{}, statuses: map[int]bool{}}
	entoasOps := map[string]*ogen.Operation{}
	for _, item := range s.Paths {
		for _, op := range []*ogen.Operation{item.Get, item.Post, item.Patch, item.Delete, item.Put} {
			if op != nil {
				entoasOps[op.OperationID] = op
			}
		}
	}
	for _, n := range g.Nodes {
		e, ok, err := entityOf(n)
		if err != nil {
			return err
		}
		if ok {
			if err := d.entity(n, e, s, entoasOps); err != nil {
				return err
			}
		}
	}
	groups := make([]string, 0, len(modules))
	for name := range modules {
		groups = append(groups, name)
	}
	sort.Strings(groups)
	for _, name := range groups {
		if err := d.module(modules[name]); err != nil {
			return err
		}
	}
	for name, sc := range commonSchemas() {
		d.schemas[name] = sc
	}
	if err := d.check(); err != nil {
		return err
	}
	s.Info = *ogen.NewInfo().SetTitle("Jarvis core API").SetVersion("1.0.0").
		SetDescription("Accounts, secrets and agent infrastructure. Generated from ent/schema; do not edit.")
	s.Servers = []ogen.Server{{URL: "http://localhost:8080", Description: "Local development (jarvis dev)"}}
	s.Paths = d.paths
	s.Tags = nil
	for _, name := range sortedKeys(d.groups) {
		s.Tags = append(s.Tags, ogen.Tag{Name: name, Description: name + " operations"})
	}
	s.Components = &ogen.Components{
		Schemas:   d.schemas,
		Responses: errorResponses(d.statuses),
		SecuritySchemes: map[string]*ogen.SecurityScheme{
			bearer: {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
				Description: "Access token from /v1/auth/login, /register or /refresh."},
		},
	}
	return nil
}

// entityOf decodes the node's Entity annotation.
func entityOf(n *gen.Type) (annotation.Entity, bool, error) {
	raw, ok := n.Annotations[annotation.Entity{}.Name()]
	if !ok {
		return annotation.Entity{}, false, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return annotation.Entity{}, false, fmt.Errorf("spec: %s: API annotation: %w", n.Name, err)
	}
	var e annotation.Entity
	if err := json.Unmarshal(b, &e); err != nil {
		return annotation.Entity{}, false, fmt.Errorf("spec: %s: API annotation: %w", n.Name, err)
	}
	if e.View == "" {
		return annotation.Entity{}, false, fmt.Errorf("spec: %s: API annotation needs a View name", n.Name)
	}
	if len(e.Ops) > 0 && (e.Path == "" || e.Group == "") {
		return annotation.Entity{}, false, fmt.Errorf("spec: %s: an entity with operations needs a Path and a Group", n.Name)
	}
	return e, true, nil
}

// entity adds an entity's view and its CRUD operations, taken from entoas's
// output and reshaped: /v1 paths, our operation ids, keyset pages, bearer
// security, documented errors.
func (d *doc) entity(n *gen.Type, e annotation.Entity, s *ogen.Spec, entoasOps map[string]*ogen.Operation) error {
	view, ok := s.Components.Schemas[n.Name+"Read"]
	if !ok {
		return fmt.Errorf("spec: entoas did not generate the %sRead view: is the entity annotated with annotation.Expose?", n.Name)
	}
	d.schemas[e.View] = view
	// An enum is defined once, in the schema: each becomes one component
	// (SecretProvider) that the view, the bodies and modules' schemas share.
	enums := map[string]string{}
	for i, p := range view.Properties {
		if len(p.Schema.Enum) > 0 {
			name := e.View + GoName(p.Name)
			// The type is shared (filters, bodies); the column's default is
			// not the type's: a status filter must not default to "pending".
			enum := *p.Schema
			enum.Default = nil
			d.schemas[name] = &enum
			enums[p.Name] = name
			view.Properties[i].Schema = Ref(name)
		}
	}
	shareEnums := func(body *ogen.Schema) {
		for i, p := range body.Properties {
			if name, ok := enums[p.Name]; ok {
				body.Properties[i].Schema = Ref(name)
			}
		}
	}
	take := func(id string) (*ogen.Operation, error) {
		op, ok := entoasOps[id+n.Name]
		if !ok {
			return nil, fmt.Errorf("spec: entoas did not generate %s%s: annotate the entity with annotation.Expose", id, n.Name)
		}
		return op, nil
	}
	item := e.Path + "/{id}"
	what := strings.ToLower(e.View)
	for _, o := range e.Ops {
		op, err := take(string(o))
		if err != nil {
			return err
		}
		op.SetDescription("")
		if doc, ok := e.Docs[o]; ok {
			op.SetSummary(doc)
		}
		var method, path string
		switch o {
		case annotation.OpList:
			method, path = http.MethodGet, e.Path
			page := e.View + "Page"
			d.schemas[page] = pageOf(e.View)
			op.SetOperationID("list" + e.PluralName())
			paginate(op, page)
			if _, ok := e.Docs[o]; !ok {
				op.SetSummary("List " + strings.ToLower(e.PluralName()) + ", newest first")
			}
			document(op, http.StatusBadRequest)
		case annotation.OpRead:
			method, path = http.MethodGet, item
			op.SetOperationID("get" + e.View).SetParameters([]*ogen.Parameter{idParam(what)}).
				SetResponses(ogen.Responses{"200": jsonResponse("The "+what, e.View)})
			document(op, http.StatusNotFound)
		case annotation.OpCreate:
			method, path = http.MethodPost, e.Path
			body := e.View + "Create"
			d.schemas[body] = op.RequestBody.Content["application/json"].Schema
			shareEnums(d.schemas[body])
			op.SetOperationID("create" + e.View).SetRequestBody(bodyOf(body, false)).
				SetResponses(ogen.Responses{"201": jsonResponse("Created", e.View)})
			document(op, http.StatusBadRequest, http.StatusConflict)
		case annotation.OpUpdate:
			method, path = http.MethodPatch, item
			body := e.View + "Update"
			d.schemas[body] = op.RequestBody.Content["application/json"].Schema
			shareEnums(d.schemas[body])
			op.SetOperationID("update" + e.View).SetParameters([]*ogen.Parameter{idParam(what)}).
				SetRequestBody(bodyOf(body, false)).
				SetResponses(ogen.Responses{"200": jsonResponse("Updated", e.View)})
			document(op, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict)
		case annotation.OpDelete:
			method, path = http.MethodDelete, item
			op.SetOperationID("delete" + e.View).SetParameters([]*ogen.Parameter{idParam(what)}).
				SetResponses(ogen.Responses{"204": ogen.NewResponse().SetDescription("Deleted")})
			document(op, http.StatusNotFound)
		default:
			return fmt.Errorf("spec: %s: unknown operation %q", n.Name, o)
		}
		private(op)
		if err := d.add(method, path, e.Group, op); err != nil {
			return err
		}
	}
	return nil
}

// module adds a module's own operations and schemas.
func (d *doc) module(m Module) error {
	for name, sc := range m.Schemas {
		if _, dup := d.schemas[name]; dup {
			return fmt.Errorf("spec: module %s: schema %s already exists", m.Group, name)
		}
		d.schemas[name] = sc
	}
	for _, o := range m.Operations {
		op := ogen.NewOperation().SetOperationID(o.ID).SetSummary(o.Summary).SetDescription(o.Description).
			SetParameters(o.Params)
		if o.Body != "" {
			op.SetRequestBody(bodyOf(o.Body, o.BodyOptional))
		}
		status := o.Status
		if status == 0 {
			status = http.StatusOK
		}
		code := fmt.Sprint(status)
		switch {
		case o.ResultMedia != "":
			op.AddResponse(code, ogen.NewResponse().SetDescription(http.StatusText(status)).
				SetContent(map[string]ogen.Media{o.ResultMedia: {Schema: ogen.Binary()}}))
		case o.Result != "":
			op.AddResponse(code, jsonResponse(http.StatusText(status), o.Result))
		default:
			op.AddResponse(code, ogen.NewResponse().SetDescription(http.StatusText(status)))
		}
		if o.Public {
			// An explicit "security": [] (no token needed) is written by
			// PublicSecurity after marshalling: ogen's types omit it.
			setExtension(op, publicMark, "true")
		} else {
			private(op)
		}
		document(op, o.Errors...)
		if err := d.add(o.Method, o.Path, m.Group, op); err != nil {
			return err
		}
	}
	return nil
}

// check fails on references to schemas nobody declared, so a typo in a
// module's declaration fails generation rather than ogen's parse.
func (d *doc) check() error {
	var missing []string
	var visit func(*ogen.Schema)
	visit = func(sc *ogen.Schema) {
		if sc == nil {
			return
		}
		if name, ok := strings.CutPrefix(sc.Ref, "#/components/schemas/"); ok {
			if _, ok := d.schemas[name]; !ok {
				missing = append(missing, name)
			}
		}
		if sc.Items != nil {
			visit(sc.Items.Item)
		}
		for _, p := range sc.Properties {
			visit(p.Schema)
		}
	}
	for _, sc := range d.schemas {
		visit(sc)
	}
	for _, item := range d.paths {
		for _, op := range []*ogen.Operation{item.Get, item.Post, item.Patch, item.Delete, item.Put} {
			if op == nil {
				continue
			}
			if op.RequestBody != nil {
				for _, m := range op.RequestBody.Content {
					visit(m.Schema)
				}
			}
			for _, r := range op.Responses {
				for _, m := range r.Content {
					visit(m.Schema)
				}
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("spec: schemas referenced but not declared: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Ref is a reference to a component schema.
func Ref(name string) *ogen.Schema { return ogen.NewSchema().SetRef("#/components/schemas/" + name) }

func bodyOf(name string, optional bool) *ogen.RequestBody {
	return ogen.NewRequestBody().SetRequired(!optional).SetJSONContent(Ref(name))
}

func jsonResponse(desc, name string) *ogen.Response {
	return ogen.NewResponse().SetDescription(desc).SetJSONContent(Ref(name))
}

func private(op *ogen.Operation) {
	op.Security = ogen.SecurityRequirements{{bearer: []string{}}}
}

// errorStatuses names the documented error responses.
var errorStatuses = map[int]string{
	http.StatusBadRequest:            "BadRequest",
	http.StatusUnauthorized:          "Unauthorized",
	http.StatusPaymentRequired:       "BudgetExceeded",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "NotFound",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "PayloadTooLarge",
	http.StatusTooManyRequests:       "RateLimited",
	http.StatusServiceUnavailable:    "Unavailable",
}

// document lists the error responses op can give: those given, 401 when it
// needs a token, 413 when it takes a body, 429 always (rate limits), and our
// error body as the default for the rest.
func document(op *ogen.Operation, statuses ...int) {
	all := append([]int{http.StatusTooManyRequests}, statuses...)
	if op.RequestBody != nil {
		all = append(all, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
	}
	if len(op.Security) > 0 && len(op.Security[0]) > 0 {
		all = append(all, http.StatusUnauthorized)
	}
	for _, st := range all {
		op.AddResponse(fmt.Sprint(st), ogen.NewResponse().SetRef("#/components/responses/"+errorStatuses[st]))
	}
	op.AddResponse("default", ogen.NewResponse().SetRef("#/components/responses/Error"))
}

func errorResponses(used map[int]bool) map[string]*ogen.Response {
	out := map[string]*ogen.Response{
		"Error": jsonResponse("An error: the code is stable, the message is for people", "ErrorResponse"),
	}
	for st, name := range errorStatuses {
		if !used[st] {
			continue
		}
		r := jsonResponse(http.StatusText(st), "ErrorResponse")
		if st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable {
			r.Headers = map[string]*ogen.Header{"Retry-After": {
				Description: "Seconds to wait before trying again",
				Schema:      ogen.Int(),
			}}
		}
		out[name] = r
	}
	return out
}

// IDParam is the {id} path parameter of an item.
func idParam(what string) *ogen.Parameter {
	return ogen.NewParameter().SetName("id").SetIn("path").SetRequired(true).
		SetDescription("ID of the " + what).SetSchema(ogen.UUID())
}

// IDParam is the {id} path parameter, for modules' operations on an item.
func IDParam(what string) *ogen.Parameter { return idParam(what) }

// PageParams are the keyset page parameters of a list.
func PageParams() []*ogen.Parameter {
	one, hundred := int64(1), int64(100)
	maxCursor := uint64(200)
	return []*ogen.Parameter{
		ogen.NewParameter().SetName("limit").SetIn("query").SetDescription("Items per page (1-100, default 20)").
			SetSchema(ogen.Int().SetMinimum(&one).SetMaximum(&hundred).SetDefault(json.RawMessage("20"))),
		ogen.NewParameter().SetName("cursor").SetIn("query").SetDescription("next_cursor of the previous page").
			SetSchema(ogen.String().SetMaxLength(&maxCursor)),
	}
}

// paginate replaces entoas's page/itemsPerPage with keyset pagination on id.
func paginate(op *ogen.Operation, page string) {
	op.SetParameters(PageParams()).SetResponses(ogen.Responses{"200": jsonResponse("A page", page)})
}

// pageOf is the page schema of a list of item.
func pageOf(item string) *ogen.Schema {
	return ogen.NewSchema().SetType("object").
		AddRequiredProperties(Ref(item).AsArray().ToProperty("items")).
		AddOptionalProperties(ogen.String().SetDescription("Absent on the last page").ToProperty("next_cursor"))
}

// PageOf is the page schema of a list of item, for modules' own lists.
func PageOf(item string) *ogen.Schema { return pageOf(item) }

// Str is a string of min to max characters.
func Str(min, max uint64) *ogen.Schema {
	return ogen.String().SetMinLength(&min).SetMaxLength(&max)
}

// Enum is a string schema of the given values.
func Enum(values ...string) *ogen.Schema {
	vs := make([]json.RawMessage, len(values))
	for i, v := range values {
		vs[i], _ = json.Marshal(v)
	}
	return ogen.String().AsEnum(nil, vs...)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// commonSchemas are the error body's schemas.
func commonSchemas() map[string]*ogen.Schema {
	return map[string]*ogen.Schema{
		"ErrorResponse": ogen.NewSchema().SetType("object").AddRequiredProperties(
			ogen.NewSchema().SetType("object").AddRequiredProperties(
				Enum(ErrorCodes...).ToProperty("code"),
				ogen.String().ToProperty("message"),
				ogen.String().ToProperty("correlation_id"),
			).AddOptionalProperties(
				Ref("ErrorDetail").AsArray().ToProperty("details"),
			).ToProperty("error")),
		"ErrorDetail": ogen.NewSchema().SetType("object").AddRequiredProperties(
			ogen.String().ToProperty("message"),
		).AddOptionalProperties(ogen.String().SetDescription("The input field, when one is at fault").ToProperty("field")),
	}
}
