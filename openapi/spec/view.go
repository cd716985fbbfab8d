package spec

import (
	"fmt"
	"strings"

	"entgo.io/contrib/entoas"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"

	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// EntityOf returns the node's Entity annotation, if it has one.
func EntityOf(n *gen.Type) (*annotation.Entity, error) {
	e, ok, err := entityOf(n)
	if err != nil || !ok {
		return nil, err
	}
	return &e, nil
}

// ViewBody is the Go body of the ent → API conversion of n (e in, v out):
// the template apiview lays out the functions, this says per field how
// ent's Go type becomes ogen's, by the same rules entoas and ogen apply
// (optional fields are Opt types; enums their own type; decimals strings).
func ViewBody(n *gen.Type, e *annotation.Entity) (string, error) {
	fields := append([]*gen.Field{n.ID}, n.Fields...)
	var req, opt strings.Builder
	for _, f := range fields {
		a, err := entoas.FieldAnnotation(f)
		if err != nil {
			return "", err
		}
		if a.Skip || f.Sensitive() {
			continue
		}
		prop := GoName(f.Name)
		src := "e." + f.StructField()
		typ := f.Type.String()
		var value, optType string
		switch {
		case f.IsEnum():
			value, optType = fmt.Sprintf("openapi.%s%s(%s)", e.View, prop, src), "Opt"+e.View+prop
		case typ == "decimal.Decimal":
			// ogen maps format decimal to decimal.Decimal, a JSON string.
			value, optType = src, "OptStringDecimal"
		case typ == "decimal.NullDecimal":
			// An unknown amount (NULL) is absent.
			fmt.Fprintf(&opt, "\tif %s.Valid {\n\t\tv.%s = openapi.NewOptStringDecimal(%s.Decimal)\n\t}\n", src, prop, src)
			continue
		case typ == "json.RawMessage":
			// Any JSON value, kept as it was sent; absent when there is none.
			fmt.Fprintf(&opt, "\tif len(%s) > 0 {\n\t\tv.%s = jx.Raw(%s)\n\t}\n", src, prop, src)
			continue
		case typ == "pgvector.Vector":
			value = src + ".Slice()"
		case typ == "[]string":
			// A JSON list of strings is ogen's []string, as is.
			value = src
		case f.IsJSON() && strings.HasPrefix(typ, "map[string]"):
			value, optType = "object("+src+")", "Opt"+e.View+prop
		case typ == "string":
			value, optType = src, "OptString"
		case typ == "time.Time":
			value, optType = src, "OptDateTime"
		case typ == "uuid.UUID":
			value, optType = src, "OptUUID"
		case typ == "int":
			value, optType = src, "OptInt"
		case typ == "int64":
			value, optType = src, "OptInt64"
		case typ == "bool":
			value, optType = src, "OptBool"
		case typ == "float64":
			value, optType = src, "OptFloat64"
		case f.Type.Type == field.TypeJSON:
			return "", fmt.Errorf("spec: %s.%s: JSON of type %s has no API view rule", n.Name, f.Name, typ)
		default:
			return "", fmt.Errorf("spec: %s.%s: type %s has no API view rule", n.Name, f.Name, typ)
		}
		required := !(f.Optional || f.Nillable)
		switch {
		case required:
			fmt.Fprintf(&req, "\t\t%s: %s,\n", prop, value)
		case typ == "pgvector.Vector" || typ == "[]string":
			// Arrays are not wrapped: a nil slice is left out.
			fmt.Fprintf(&opt, "\tif %s != nil {\n\t\tv.%s = %s\n\t}\n", src, prop, strings.Replace(value, src, "(*"+src+")", 1))
		case f.Nillable:
			fmt.Fprintf(&opt, "\tif %s != nil {\n\t\tv.%s = openapi.New%s(%s)\n\t}\n", src, prop, optType,
				strings.Replace(value, src, "(*"+src+")", 1))
		case typ == "string":
			// An optional string left empty is absent, not "".
			fmt.Fprintf(&opt, "\tif %s != \"\" {\n\t\tv.%s = openapi.New%s(%s)\n\t}\n", src, prop, optType, value)
		default:
			fmt.Fprintf(&opt, "\tv.%s = openapi.New%s(%s)\n", prop, optType, value)
		}
	}
	return fmt.Sprintf("\tv := &openapi.%s{\n%s\t}\n%s\treturn v", e.View, req.String(), opt.String()), nil
}
