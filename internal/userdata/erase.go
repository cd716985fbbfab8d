package userdata

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	entaudit "github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	entuser "github.com/jarvis-core/jarvis/ent/user"
	"github.com/jarvis-core/jarvis/ent/useremail"
	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/audit"
)

// Erase removes account uid and every row of every owned table that names
// it (ent.OwnedTables: a table added to the model is covered without a
// change here) in tx, which is the user's own shard on Citus. Both paths
// use it: the user's own DELETE /v1/me (service role, under the user's
// row-level security identity) and `jarvis admin users erase` (owner role).
// It writes one tombstone (account_erased) holding the user id, the actor,
// the reason and the row counts, and no personal data; the user's other
// audit events, which hold addresses and user agents, go with
// EraseAuditEvents after it. It returns the rows erased per table.
//
// What lives outside Postgres (sockets, the realtime stream in Redis, the
// grants at OAuth providers) is the caller's to end after the commit: see
// Aftermath.
func Erase(ctx context.Context, tx *ent.Tx, uid uuid.UUID, reason string) (map[string]int, error) {
	ctx = rule.Bypass(ctx, "erasure deletes every row of one account; RLS or the owner role confines it")
	tables := make([]string, 0, len(ent.OwnedTables))
	for t := range ent.OwnedTables {
		if t != entuser.Table {
			tables = append(tables, t)
		}
	}
	sort.Strings(tables)
	counts := map[string]int{}
	// Count first (the tombstone says what went), then delete the account:
	// every owned table references users with ON DELETE CASCADE. Then check
	// every owned table: a table added later that keeps the user's rows
	// fails the erasure (and rolls it back) instead of leaving data behind.
	for _, t := range tables {
		n, err := countRows(ctx, tx, t, uid)
		if err != nil {
			return nil, err
		}
		counts[t] = n
	}
	// The e-mail lookup is a reference table on Citus, where it keeps no
	// key to users (docs/scale-out.md): it goes by hand.
	if _, err := tx.UserEmail.Delete().Where(useremail.UserID(uid)).Exec(ctx); err != nil {
		return nil, fmt.Errorf("erase e-mail: %w", err)
	}
	if err := tx.User.DeleteOneID(uid).Exec(ctx); err != nil {
		return nil, fmt.Errorf("erase account: %w", err)
	}
	counts[entuser.Table] = 1
	for _, t := range tables {
		if t == entaudit.Table {
			continue // EraseAuditEvents' part
		}
		n, err := countRows(ctx, tx, t, uid)
		if err != nil {
			return nil, err
		}
		if n != 0 {
			return nil, fmt.Errorf("erase: %d row(s) of %s survive the account's deletion: give its owner edge ON DELETE CASCADE", n, t)
		}
	}
	rows := map[string]any{}
	for t, n := range counts {
		rows[t] = n
	}
	// No address or user agent: the tombstone holds no personal data.
	if err := audit.Record(api.WithClient(ctx, api.Client{}), tx, audit.Event{Type: audit.AccountErased, User: uid, Reason: reason,
		Data: map[string]any{"rows": rows}}); err != nil {
		return nil, err
	}
	return counts, nil
}

// EraseAuditEvents deletes the erased account uid's audit events but its
// tombstone, through jarvis_erase_audit_events (the service role may not
// delete audit events; the function lets it for an account that is gone,
// as its acting user). Run it after Erase: in Erase's transaction as the
// owner role, in a transaction of its own after Erase's commits as the
// service role, because Citus refuses a transaction whose shard
// placements were modified by one role and then queried by another (the
// function runs as the owner).
func EraseAuditEvents(ctx context.Context, tx *ent.Tx, uid uuid.UUID) error {
	ctx = rule.Bypass(ctx, "erasure deletes every audit event of one erased account but its tombstone")
	if err := exec(ctx, tx, `SELECT jarvis_set_local('app.current_user_id', $1)`, uid.String()); err != nil {
		return fmt.Errorf("erase audit events: identify: %w", err)
	}
	if err := exec(ctx, tx, `SELECT jarvis_erase_audit_events($1)`, uid); err != nil {
		return fmt.Errorf("erase audit events: %w", err)
	}
	return nil
}

// exec runs a statement that returns rows nobody reads (a function call).
func exec(ctx context.Context, tx *ent.Tx, query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
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
