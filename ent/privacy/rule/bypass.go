package rule

import (
	"context"

	"github.com/jarvis-core/jarvis/ent/privacy"
)

type bypassKey struct{}

// Bypass is the one way past ent privacy: the returned context allows every
// query and mutation, for work that must act before or beyond a user's
// viewer (registration creating the account it then acts as, lookups before
// sign-in, operators' scripts). reason says why, beside the call; grep
// `rule.Bypass` to review them all. Row-level security still applies under
// it: a bypass never widens what the database role may see.
func Bypass(ctx context.Context, reason string) context.Context {
	return privacy.DecisionContext(context.WithValue(ctx, bypassKey{}, reason), privacy.Allow)
}

// BypassReason is the reason given to Bypass for ctx, if any.
func BypassReason(ctx context.Context) (string, bool) {
	r, ok := ctx.Value(bypassKey{}).(string)
	return r, ok
}
