package token

import "context"

// verified is a token already checked in this request, with what it said.
type verified struct {
	raw    string
	claims Claims
}

type ctxKey struct{}

// NewContext records that raw verified to c, so that a later step of the
// same request (the rate limiter verifies before the API's security handler
// does) reuses the claims instead of checking the signature again.
func NewContext(ctx context.Context, raw string, c Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, verified{raw: raw, claims: c})
}

// FromContext returns the claims NewContext recorded for exactly raw: a
// request that presents another token than the one checked (a handler
// reading a different header, say) gets nothing and verifies its own.
func FromContext(ctx context.Context, raw string) (Claims, bool) {
	v, ok := ctx.Value(ctxKey{}).(verified)
	if !ok || v.raw != raw || raw == "" {
		return Claims{}, false
	}
	return v.claims, true
}
