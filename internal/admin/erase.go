package admin

import (
	"context"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/userdata"
)

// Erase removes one account and every row of every owned table that names
// it (ent.OwnedTables: a table added to the model is covered without a
// change here), in one transaction: the user's own shard on Citus. Its
// audit events, which hold addresses and user agents, are replaced by one
// tombstone (account_erased) holding the user id, the operator, the reason
// and the row counts, and no personal data.
//
// The rows go through userdata.Erase, the path of the user's own DELETE
// /v1/me, so both stay complete. Not covered by the command: the user's
// realtime stream in Redis, open sockets (they end at their next session
// check, as the sessions are gone) and grants at OAuth providers, which
// the service's self-erasure ends (userdata.Aftermath).
func (a Ops) Erase(ctx context.Context, op Operator, ref string) (map[string]int, error) {
	if err := op.Validate(); err != nil {
		return nil, err
	}
	ctx = op.Context(ctx, "operator erases an account")
	var counts map[string]int
	err := a.tx(ctx, func(tx *ent.Tx) error {
		u, err := a.lookup(ctx, tx.Client(), ref)
		if err != nil {
			return err
		}
		// The same erasure as the user's own DELETE /v1/me.
		counts, err = userdata.Erase(ctx, tx, u.ID, op.Reason)
		return err
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}
