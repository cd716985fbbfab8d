package connections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/oauthconnection"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

// RotateKeys re-seals every connection's tokens not under the box's current
// key, in batches of batch rows, each batch in its own transaction holding
// the rows' locks (a refresh waits, then sees the re-sealed row). c must see
// every user's rows (the owner role, as admin scripts use). It returns how
// many connections it re-sealed. `jarvis admin secrets rotate-key` runs it
// after the secrets' rotation.
func RotateKeys(ctx context.Context, c *ent.Client, box *secrets.Box, batch int, log *slog.Logger) (int, error) {
	ctx = rule.Bypass(ctx, "key rotation re-seals every user's connection tokens, as the owner role")
	if batch < 1 {
		batch = 100
	}
	total := 0
	after := uuid.Nil
	for {
		n, last, err := rotateBatch(ctx, c, box, after, batch)
		total += n
		if err != nil {
			return total, err
		}
		if last == uuid.Nil {
			return total, nil
		}
		after = last
		log.InfoContext(ctx, "connections re-sealed", slog.Int("so_far", total), slog.Int("key_version", box.CurrentVersion()))
	}
}

func rotateBatch(ctx context.Context, c *ent.Client, box *secrets.Box, after uuid.UUID, batch int) (int, uuid.UUID, error) {
	tx, err := c.Tx(ctx)
	if err != nil {
		return 0, uuid.Nil, fmt.Errorf("begin: %w", err)
	}
	fail := func(err error) (int, uuid.UUID, error) { return 0, uuid.Nil, errors.Join(err, tx.Rollback()) }
	rows, err := tx.OAuthConnection.Query().
		Where(oauthconnection.IDGT(after), oauthconnection.KeyVersionNEQ(box.CurrentVersion())).
		Order(ent.Asc(oauthconnection.FieldID)).Limit(batch).ForUpdate().All(ctx)
	if err != nil {
		return fail(fmt.Errorf("read batch: %w", err))
	}
	n := 0
	perUser := map[uuid.UUID]int{}
	for _, r := range rows {
		sl := sealer{box, r.UserID, r.ID}
		at, err := sl.open(accessToken, r.AccessToken, r.KeyVersion)
		if err != nil {
			return fail(fmt.Errorf("open access token of connection %s: %w", r.ID, err))
		}
		access, err := sl.seal(accessToken, at)
		if err != nil {
			return fail(fmt.Errorf("seal connection %s: %w", r.ID, err))
		}
		upd := tx.OAuthConnection.UpdateOneID(r.ID).Where(oauthconnection.UserID(r.UserID)).
			SetAccessToken(access).SetKeyVersion(box.CurrentVersion())
		if hasRefresh(r) {
			rt, err := sl.open(refreshToken, *r.RefreshToken, r.KeyVersion)
			if err != nil {
				return fail(fmt.Errorf("open refresh token of connection %s: %w", r.ID, err))
			}
			refresh, err := sl.seal(refreshToken, rt)
			if err != nil {
				return fail(fmt.Errorf("seal connection %s: %w", r.ID, err))
			}
			upd.SetRefreshToken(refresh)
		}
		// token_version stays: the tokens are the same, only their seal changed.
		if err := upd.Exec(ctx); err != nil {
			return fail(fmt.Errorf("store connection %s: %w", r.ID, err))
		}
		n++
		perUser[r.UserID]++
	}
	// Each user's log says an operator re-sealed their connections (the
	// operator and reason from ctx).
	for uid, k := range perUser {
		if err := audit.Record(ctx, tx, audit.Event{Type: audit.AdminAction, User: uid, Data: map[string]any{
			"action": "rotate_key", "table": oauthconnection.Table, "rows": k, "key_version": box.CurrentVersion()}}); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, uuid.Nil, fmt.Errorf("commit batch: %w", err)
	}
	if len(rows) < batch {
		return n, uuid.Nil, nil
	}
	return n, rows[len(rows)-1].ID, nil
}
