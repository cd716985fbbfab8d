package userdata

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/migrate"
	entuser "github.com/jarvis-core/jarvis/ent/user"
	"github.com/jarvis-core/jarvis/internal/db"
)

// Export format (docs/operations.md): NDJSON, one JSON object per line.
//
//	{"type":"header","format":"jarvis.export","version":1,"user_id":...,"exported_at":...,"embeddings":false,"tables":[...]}
//	{"type":"row","table":"users","data":{...}}         one line per row, tables in the header's order
//	{"type":"end","counts":{"users":1,"memories":...}}  the last line: an export without it is incomplete
const (
	Format        = "jarvis.export"
	FormatVersion = 1
	// MediaType is the export's content type.
	MediaType = "application/x-ndjson"
)

// pageSize is how many rows one keyset page reads: memory stays at one
// page, whatever the user holds.
const pageSize = 500

// neverExported are columns of text type that hold a credential; columns
// of binary type (sealed values, nonces, token hashes) are never exported
// either, whatever their name (see exportColumns).
var neverExported = map[string]bool{"password_hash": true}

// Options are what the user asked for.
type Options struct {
	// Embeddings includes the vector columns (memories, entities): large,
	// and derived from the content by the embedding model.
	Embeddings bool
}

// table is one owned table as the export reads it.
type table struct {
	name, owner string
	columns     []string
}

// exportTables are the owned tables (ent.OwnedTables: a table added to the
// model is exported without a change here), account first, with the
// columns each exports under opts.
func exportTables(opts Options) []table {
	var out []table
	for _, t := range migrate.Tables {
		owner, ok := ent.OwnedTables[t.Name]
		if !ok {
			continue
		}
		out = append(out, table{name: t.Name, owner: owner, columns: exportColumns(t, opts)})
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].name == entuser.Table) != (out[j].name == entuser.Table) {
			return out[i].name == entuser.Table
		}
		return out[i].name < out[j].name
	})
	return out
}

// exportColumns leaves out what is not the user's data to read: binary
// columns (sealed secret and token values, nonces, token hashes), password
// hashes, full-text search vectors (derived from the content), and the
// embeddings unless asked for.
func exportColumns(t *schema.Table, opts Options) []string {
	var cols []string
	for _, c := range t.Columns {
		st := strings.ToLower(c.SchemaType["postgres"])
		switch {
		case c.Type == field.TypeBytes, neverExported[c.Name], st == "tsvector":
			continue
		case strings.HasPrefix(st, "vector") || strings.HasPrefix(st, "halfvec"):
			if !opts.Embeddings {
				continue
			}
		}
		cols = append(cols, c.Name)
	}
	return cols
}

type header struct {
	Type       string    `json:"type"`
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	UserID     uuid.UUID `json:"user_id"`
	ExportedAt time.Time `json:"exported_at"`
	Embeddings bool      `json:"embeddings"`
	Tables     []string  `json:"tables"`
}

// Export writes everything held about the viewer to w, in one REPEATABLE
// READ read-only transaction under the viewer's row-level security
// identity (one consistent snapshot), each table read in keyset pages on
// id. started is called once the snapshot is taken and the session checked,
// before anything is written: an error before it is the request's answer,
// one after it cuts the stream short (no end line).
func (s *Service) Export(ctx context.Context, w io.Writer, opts Options, started func()) error {
	uid, err := db.UserID(ctx)
	if err != nil {
		return err
	}
	if err := s.recordExport(ctx, opts); err != nil {
		return err
	}
	tables := exportTables(opts)
	return s.db.Snapshot(ctx, func(ctx context.Context, tx *ent.Tx) error {
		// The first statement takes the snapshot and checks the session.
		var at time.Time
		rows, err := db.QueryRows(ctx, `SELECT now()`)
		if err != nil {
			return fmt.Errorf("export: start: %w", err)
		}
		for rows.Next() {
			if err := rows.Scan(&at); err != nil {
				rows.Close()
				return fmt.Errorf("export: start: %w", err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("export: start: %w", err)
		}
		started()
		bw := bufio.NewWriterSize(w, 64<<10)
		h := header{Type: "header", Format: Format, Version: FormatVersion, UserID: uid,
			ExportedAt: at.UTC(), Embeddings: opts.Embeddings}
		for _, t := range tables {
			h.Tables = append(h.Tables, t.name)
		}
		if err := writeJSON(bw, h); err != nil {
			return err
		}
		counts := map[string]int{}
		for _, t := range tables {
			n, err := exportTable(ctx, bw, t, uid)
			if err != nil {
				return err
			}
			counts[t.name] = n
		}
		if err := writeJSON(bw, struct {
			Type   string         `json:"type"`
			Counts map[string]int `json:"counts"`
		}{"end", counts}); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// exportTable writes t's rows of uid, a page at a time: each page is one
// statement in the snapshot, keyed on id, so rows are neither repeated nor
// skipped, and memory holds one page.
func exportTable(ctx context.Context, w *bufio.Writer, t table, uid uuid.UUID) (int, error) {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = fmt.Sprintf("%q", c)
	}
	// to_jsonb keeps Postgres's own rendering: exact numerics, RFC 3339
	// times, JSON columns as JSON, vectors as their text.
	q := fmt.Sprintf(`SELECT r.id, to_jsonb(r)::text FROM (SELECT %s FROM %q WHERE %q = $1 AND id > $2 ORDER BY id LIMIT %d) r`,
		strings.Join(cols, ", "), t.name, t.owner, pageSize)
	prefix := []byte(`{"type":"row","table":` + quote(t.name) + `,"data":`)
	after := uuid.Nil
	total := 0
	for {
		rows, err := db.QueryRows(ctx, q, uid, after)
		if err != nil {
			return total, fmt.Errorf("export %s: %w", t.name, err)
		}
		n := 0
		for rows.Next() {
			var id uuid.UUID
			var data []byte
			// RawValues: the JSON text is written as Postgres sent it.
			raw := rows.RawValues()
			if err := rows.Scan(&id, nil); err != nil {
				rows.Close()
				return total, fmt.Errorf("export %s: %w", t.name, err)
			}
			data = raw[1]
			if _, err := w.Write(prefix); err != nil {
				rows.Close()
				return total, err
			}
			if _, err := w.Write(data); err != nil {
				rows.Close()
				return total, err
			}
			if _, err := w.Write([]byte("}\n")); err != nil {
				rows.Close()
				return total, err
			}
			after = id
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("export %s: %w", t.name, err)
		}
		total += n
		if n < pageSize {
			return total, nil
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
