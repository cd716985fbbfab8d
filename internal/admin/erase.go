package admin

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	entuser "github.com/jarvis-core/jarvis/ent/user"
	"github.com/jarvis-core/jarvis/ent/useremail"
	"github.com/jarvis-core/jarvis/internal/audit"
)

// Erase removes one account and every row of every owned table that names
// it (ent.OwnedTables: a table added to the model is covered without a
// change here), in one transaction: the user's own shard on Citus. Its
// audit events, which hold addresses and user agents, are replaced by one
// tombstone (account_erased) holding the user id, the operator, the reason
// and the row counts, and no personal data.
//
// Not covered here: the user's realtime history in Redis and open sockets
// (they end at the next session check, as the sessions are gone).
func (a Ops) Erase(ctx context.Context, op Operator, ref string) (map[string]int, error) {
	if err := op.Validate(); err != nil {
		return nil, err
	}
	ctx = op.Context(ctx, "operator erases an account")
	counts := map[string]int{}
	err := a.tx(ctx, func(tx *ent.Tx) error {
		u, err := a.lookup(ctx, tx.Client(), ref)
		if err != nil {
			return err
		}
		tables := make([]string, 0, len(ent.OwnedTables))
		for t := range ent.OwnedTables {
			if t != entuser.Table {
				tables = append(tables, t)
			}
		}
		sort.Strings(tables)
		// Count first (the tombstone says what went), then delete the
		// account: every owned table references users with ON DELETE
		// CASCADE. Then check every owned table: a table added later that
		// keeps the user's rows fails the erasure (and rolls it back)
		// instead of leaving data behind silently.
		for _, t := range tables {
			n, err := countRows(ctx, tx, t, u.ID)
			if err != nil {
				return err
			}
			counts[t] = n
		}
		if _, err := tx.AuditEvent.Delete().Where(auditevent.UserID(u.ID)).Exec(ctx); err != nil {
			return fmt.Errorf("erase audit events: %w", err)
		}
		// The e-mail lookup is a reference table on Citus, where it keeps no
		// key to users (docs/scale-out.md): it goes by hand.
		if _, err := tx.UserEmail.Delete().Where(useremail.UserID(u.ID)).Exec(ctx); err != nil {
			return fmt.Errorf("erase e-mail: %w", err)
		}
		if err := tx.User.DeleteOneID(u.ID).Exec(ctx); err != nil {
			return fmt.Errorf("erase account: %w", err)
		}
		counts[entuser.Table] = 1
		for _, t := range tables {
			n, err := countRows(ctx, tx, t, u.ID)
			if err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("erase: %d row(s) of %s survive the account's deletion: give its owner edge ON DELETE CASCADE", n, t)
			}
		}
		rows := map[string]any{}
		for t, n := range counts {
			rows[t] = n
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.AccountErased, User: u.ID, Reason: op.Reason,
			Data: map[string]any{"rows": rows}})
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// countRows counts a user's rows of an owned table.
func countRows(ctx context.Context, tx *ent.Tx, table string, uid uuid.UUID) (int, error) {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %q WHERE %q = $1`, table, ent.OwnedTables[table]), uid)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("count %s: %w", table, err)
		}
	}
	return n, rows.Err()
}
