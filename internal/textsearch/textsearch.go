// Package textsearch is the full-text column of hybrid search as ent writes
// it: the text goes to Postgres as a parameter wrapped in to_tsvector, so a
// row's tsvector is computed by the same INSERT or UPDATE that stores its
// content. (A follow-up UPDATE wrote every row twice: a dead tuple and a
// second entry in each index, HNSW included, per write.)
package textsearch

import (
	"database/sql/driver"
	"fmt"

	entsql "entgo.io/ent/dialect/sql"
)

// Config is the Postgres text search configuration: English stemming
// ("running" finds "run"); words of other languages still match exactly.
// Queries must use the same one.
const Config = "english"

// Vector is a tsvector column's value. Written, it is the source text, sent
// as a parameter and turned into a tsvector by the statement itself
// (FormatParam); read back, it is the tsvector's text form ('tea':3 ...).
type Vector string

// FormatParam wraps the parameter's placeholder in to_tsvector: ent's
// builder calls it for every value it binds (INSERT values, UPDATE SET).
func (Vector) FormatParam(placeholder string, _ *entsql.StmtInfo) string {
	return "to_tsvector('" + Config + "', " + placeholder + "::text)"
}

// Value is the text to index.
func (v Vector) Value() (driver.Value, error) { return string(v), nil }

// Scan reads a tsvector's text form.
func (v *Vector) Scan(src any) error {
	switch s := src.(type) {
	case nil:
		*v = ""
	case string:
		*v = Vector(s)
	case []byte:
		*v = Vector(s)
	default:
		return fmt.Errorf("textsearch: cannot scan %T into a tsvector", src)
	}
	return nil
}
