package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/embed"
	"github.com/jarvis-core/jarvis/internal/kg"
)

// What `reembed` re-embeds.
const (
	ReembedMemories = "memories"
	ReembedEntities = "entities"
)

// reembedTable is how one kind of row is re-embedded: its table, the
// columns its text is made of, the text, and the guard of its UPDATE (the
// same columns, unchanged since they were read).
type reembedTable struct {
	table string
	cols  string // after user_id, id
	guard string // $5.. compare with the columns read
	text  func(vals []string) string
}

var reembedTables = map[string]reembedTable{
	ReembedMemories: {table: "memories", cols: "content", guard: "content = $5",
		text: func(v []string) string { return v[0] }},
	ReembedEntities: {table: "kg_entities", cols: "type, name", guard: "type = $5 AND name = $6",
		text: func(v []string) string { return kg.EntityText(v[0], v[1]) }},
}

// ReembedOptions choose the rows and the pace.
type ReembedOptions struct {
	What  string // ReembedMemories or ReembedEntities
	User  string // an account (e-mail or id); empty: every user
	Batch int    // rows per embedding call and per transaction
	// Progress, if set, is told after each batch how many rows are done
	// (re-embedded or skipped) of the total pending at the start.
	Progress func(done, total int)
}

// ReembedResult is what a run did.
type ReembedResult struct {
	Model string
	// Pending is how many rows were of another model (or none) at the start.
	Pending int
	// Reembedded rows now carry Model's vector; Skipped rows changed (or
	// went) between their read and their update: whoever changed them
	// embedded them anew.
	Reembedded, Skipped int
	Users               int // distinct users whose rows were re-embedded
	Batches             int
}

// Reembed recomputes the embeddings of every row whose embedding_model is
// not emb's model (or is none), with emb, after a change of model.
//
// Resumable by design: a row is done when its embedding_model names emb's
// model, and that is written with its vector, so a run that stops (an
// interruption, a provider failure) leaves finished rows finished and the
// next run starts with the rest; nothing else is stored. Within a run a
// keyset cursor on (user_id, id) moves forward, so a row that cannot be
// updated (it changed meanwhile) is not read again.
//
// Each batch is one embedding call and then one transaction that updates
// only embedding and embedding_model of each row (the full-text column and
// the content are the memory service's and stay as they are), guarded by
// the text it embedded, and records an admin_action event per user
// (operator, reason, table, model, rows) in the same transaction. With
// --all, the scan runs over every shard on Citus and each batch's
// transaction spans the shards of its users.
func (a Ops) Reembed(ctx context.Context, op Operator, emb embed.Embedder, opt ReembedOptions) (ReembedResult, error) {
	res := ReembedResult{Model: emb.Model()}
	if err := op.Validate(); err != nil {
		return res, err
	}
	spec, ok := reembedTables[opt.What]
	if !ok {
		return res, fmt.Errorf("reembed %q: want %s or %s", opt.What, ReembedMemories, ReembedEntities)
	}
	if opt.Batch < 1 || opt.Batch > 1000 {
		return res, fmt.Errorf("--batch must be between 1 and 1000")
	}
	ctx = op.Context(ctx, "operator re-embeds rows after a change of embedding model")
	scope, args := "", []any{res.Model}
	if opt.User != "" {
		u, err := a.lookup(ctx, a.Client, opt.User)
		if err != nil {
			return res, err
		}
		scope, args = " AND user_id = $2", append(args, u.ID)
	}
	pending := `embedding_model IS DISTINCT FROM $1` + scope
	var err error
	if res.Pending, err = a.count(ctx, `SELECT count(*) FROM `+spec.table+` WHERE `+pending, args...); err != nil {
		return res, fmt.Errorf("count rows to re-embed: %w", err)
	}
	users := map[uuid.UUID]bool{}
	var cursorUser, cursorID uuid.UUID
	n := len(args)
	page := fmt.Sprintf(`SELECT user_id, id, %s FROM %s WHERE %s AND (user_id, id) > ($%d, $%d)
		ORDER BY user_id, id LIMIT $%d`, spec.cols, spec.table, pending, n+1, n+2, n+3)
	update := `UPDATE ` + spec.table + ` SET embedding = $1, embedding_model = $2
		WHERE user_id = $3 AND id = $4 AND ` + spec.guard
	for {
		rows, err := a.page(ctx, page, append(args, cursorUser, cursorID, opt.Batch)...)
		if err != nil {
			return res, fmt.Errorf("read rows to re-embed: %w", err)
		}
		if len(rows) == 0 {
			return res, nil
		}
		texts := make([]string, len(rows))
		for i, r := range rows {
			texts[i] = spec.text(r.vals)
		}
		vecs, err := emb.Embed(ctx, texts)
		if err != nil {
			return res, fmt.Errorf("embed batch %d (%d of %d row(s) re-embedded; run the command again to resume): %w",
				res.Batches+1, res.Reembedded, res.Pending, err)
		}
		if len(vecs) != len(rows) {
			return res, fmt.Errorf("embedder answered %d vector(s) for %d text(s)", len(vecs), len(rows))
		}
		done := map[uuid.UUID]int{}
		err = a.tx(ctx, func(tx *ent.Tx) error {
			for i, r := range rows {
				uargs := []any{pgvector.NewVector(vecs[i]), res.Model, r.user, r.id}
				for _, v := range r.vals {
					uargs = append(uargs, v)
				}
				out, err := tx.ExecContext(ctx, update, uargs...)
				if err != nil {
					return fmt.Errorf("update %s %s: %w", spec.table, r.id, err)
				}
				if k, err := out.RowsAffected(); err != nil {
					return fmt.Errorf("update %s %s: %w", spec.table, r.id, err)
				} else if k == 1 {
					done[r.user]++
				}
			}
			for uid, k := range done {
				if err := audit.Record(ctx, tx, audit.Event{Type: audit.AdminAction, User: uid, Reason: op.Reason,
					Data: map[string]any{"action": "reembed", "table": spec.table, "model": res.Model, "rows": k}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("store batch %d (%d of %d row(s) re-embedded; run the command again to resume): %w",
				res.Batches+1, res.Reembedded, res.Pending, err)
		}
		res.Batches++
		for uid, k := range done {
			res.Reembedded += k
			if !users[uid] {
				users[uid] = true
				res.Users++
			}
		}
		res.Skipped += len(rows) - sum(done)
		last := rows[len(rows)-1]
		cursorUser, cursorID = last.user, last.id
		if opt.Progress != nil {
			opt.Progress(res.Reembedded+res.Skipped, res.Pending)
		}
	}
}

type reembedRow struct {
	user, id uuid.UUID
	vals     []string
}

// page reads one page of rows to re-embed.
func (a Ops) page(ctx context.Context, query string, args ...any) ([]reembedRow, error) {
	rows, err := a.Client.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []reembedRow
	for rows.Next() {
		r := reembedRow{vals: make([]string, len(cols)-2)}
		dest := []any{&r.user, &r.id}
		for i := range r.vals {
			dest = append(dest, &r.vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (a Ops) count(ctx context.Context, query string, args ...any) (int, error) {
	rows, err := a.Client.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

func sum(m map[uuid.UUID]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// ReembedSummary is the line a run prints when done (or stopped).
func ReembedSummary(what string, r ReembedResult, took time.Duration) string {
	return fmt.Sprintf("re-embedded %d of %d %s with model %q for %d user(s) in %d batch(es), %s; %d skipped (changed meanwhile)",
		r.Reembedded, r.Pending, what, r.Model, r.Users, r.Batches, took.Round(time.Millisecond), r.Skipped)
}
