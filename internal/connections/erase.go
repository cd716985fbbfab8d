package connections

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/oauthconnection"
)

// Grant is one OAuth connection's tokens, opened before an account's
// erasure so they can be revoked at the provider once the rows are gone.
// Its fields are unexported and it prints as its connection id only: a
// token must never reach a log line or an error.
type Grant struct {
	provider        *Provider
	connection      uuid.UUID
	access, refresh string
}

// String names the grant without its tokens.
func (g Grant) String() string { return "grant of connection " + g.connection.String() }

// LogValue keeps tokens out of structured logs.
func (g Grant) LogValue() slog.Value { return slog.StringValue(g.String()) }

// Grants opens, in tx (the erasure's transaction, before the rows go), the
// tokens of uid's connections whose provider has a revocation endpoint and
// is configured here. Connections of other providers have nothing to revoke.
func (s *Service) Grants(ctx context.Context, tx *ent.Tx, uid uuid.UUID) ([]Grant, error) {
	conns, err := tx.OAuthConnection.Query().Where(oauthconnection.UserID(uid)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read connections to revoke: %w", err)
	}
	var out []Grant
	for _, c := range conns {
		p, ok := s.providers.Get(c.Provider)
		if !ok || !p.Configured || p.RevokeURL == "" {
			continue
		}
		sl := sealer{s.box, uid, c.ID}
		g := Grant{provider: p, connection: c.ID}
		if g.access, err = sl.open(accessToken, c.AccessToken, c.KeyVersion); err != nil {
			return nil, fmt.Errorf("open access token of connection %s: %w", c.ID, err)
		}
		if hasRefresh(c) {
			if g.refresh, err = sl.open(refreshToken, *c.RefreshToken, c.KeyVersion); err != nil {
				return nil, fmt.Errorf("open refresh token of connection %s: %w", c.ID, err)
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// RevokeGrants revokes each grant at its provider (RFC 7009), best effort:
// the account is already erased, so a provider that cannot be reached is
// logged (connection id and provider, never a token) and skipped. It
// returns how many grants were revoked. It runs outside any transaction
// and is not cut short by the caller going away.
func (s *Service) RevokeGrants(ctx context.Context, grants []Grant) int {
	ctx = context.WithoutCancel(ctx)
	revoked := 0
	for _, g := range grants {
		var err error
		if g.refresh != "" {
			err = s.revoke(ctx, g.provider, g.refresh, "refresh_token")
		}
		if err == nil {
			err = s.revoke(ctx, g.provider, g.access, "access_token")
		}
		if err != nil {
			s.log.WarnContext(ctx, "revocation after account erasure failed; the provider keeps the grant",
				slog.String("connection_id", g.connection.String()), slog.String("provider", g.provider.Name),
				slog.String("error", err.Error()))
			continue
		}
		revoked++
	}
	return revoked
}
