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
// /v1/me, so both stay complete. Erase leaves what lives outside Postgres
// alone; EraseWith ends it too.
func (a Ops) Erase(ctx context.Context, op Operator, ref string) (map[string]int, error) {
	counts, _, err := a.EraseWith(ctx, op, ref, userdata.Aftermath{})
	return counts, err
}

// EraseWith is Erase with its aftermath (userdata.Aftermath, as the user's
// own DELETE /v1/me): the user's OAuth grants opened in the transaction and
// revoked after it, the user's sockets closed on every instance and the
// realtime stream deleted from Redis, best effort, after the commit.
func (a Ops) EraseWith(ctx context.Context, op Operator, ref string, after userdata.Aftermath) (map[string]int, userdata.Outcome, error) {
	if err := op.Validate(); err != nil {
		return nil, userdata.Outcome{}, err
	}
	ctx = op.Context(ctx, "operator erases an account")
	var (
		counts  map[string]int
		pending *userdata.Pending
	)
	err := a.tx(ctx, func(tx *ent.Tx) error {
		u, err := a.lookup(ctx, tx.Client(), ref)
		if err != nil {
			return err
		}
		if pending, err = after.Prepare(ctx, tx, u.ID); err != nil {
			return err
		}
		// The same erasure as the user's own DELETE /v1/me.
		if counts, err = userdata.Erase(ctx, tx, u.ID, op.Reason); err != nil {
			return err
		}
		// The owner role: one role, one transaction, on Citus too.
		return userdata.EraseAuditEvents(ctx, tx, u.ID)
	})
	if err != nil {
		return nil, userdata.Outcome{}, err
	}
	return counts, pending.Finish(ctx), nil
}
