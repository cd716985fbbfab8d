package connections

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/oauthconnection"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// errRevokeUnavailable: the revocation endpoint timed out or answered 5xx.
var errRevokeUnavailable = errors.New("revocation endpoint unavailable")

// Delete revokes the connection's tokens at the provider (RFC 7009, when it
// has a revocation endpoint and the service holds client credentials), then
// forgets the connection. When the provider cannot be reached the
// connection is marked revoked (no token is handed out any more) and the
// answer is 503: deleting again retries the revocation.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	uid, err := db.UserID(ctx)
	if err != nil {
		return err
	}
	var unreachable bool
	err = s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		// The lock keeps a refresh from rotating the refresh token between
		// its revocation and the row's deletion.
		c, err := tx.OAuthConnection.Query().Where(oauthconnection.UserID(uid), oauthconnection.ID(id)).
			ForUpdate().Only(ctx)
		if err != nil {
			return err
		}
		p, ok := s.providers.Get(c.Provider)
		if ok && p.Configured && p.RevokeURL != "" {
			if err := s.revokeAll(ctx, p, uid, c); err != nil {
				if !errors.Is(err, errRevokeUnavailable) {
					return err
				}
				unreachable = true
				s.log.WarnContext(ctx, "revocation endpoint unreachable; connection marked revoked",
					slog.String("connection_id", c.ID.String()), slog.String("provider", p.Name))
				if err := tx.OAuthConnection.UpdateOneID(c.ID).Where(oauthconnection.UserID(uid)).
					SetStatus(oauthconnection.StatusRevoked).Exec(ctx); err != nil {
					return err
				}
				return audit.Record(ctx, tx, connectionEvent(audit.ConnectionRevoked, c, map[string]any{"at_provider": false}))
			}
			if err := audit.Record(ctx, tx, connectionEvent(audit.ConnectionRevoked, c, map[string]any{"at_provider": true})); err != nil {
				return err
			}
		}
		if _, err = tx.OAuthConnection.Delete().Where(oauthconnection.UserID(uid), oauthconnection.ID(c.ID)).Exec(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, tx, connectionEvent(audit.ConnectionDeleted, c, nil))
	})
	if fault.Is(err, fault.NotFound) {
		return ErrNotFound.Wrap(err)
	}
	if err != nil {
		return err
	}
	if unreachable {
		return s.unavailable()
	}
	return nil
}

// connectionEvent is an audit event about c: its id, provider and account
// label, and extra facts; never a token.
func connectionEvent(typ audit.Type, c *ent.OAuthConnection, extra map[string]any) audit.Event {
	data := map[string]any{"connection_id": c.ID.String(), "provider": c.Provider, "account": c.Account}
	for k, v := range extra {
		data[k] = v
	}
	return audit.Event{Type: typ, User: c.UserID, Data: data}
}

// revokeAll revokes the refresh token (which ends the grant at most
// providers) and the access token.
func (s *Service) revokeAll(ctx context.Context, p *Provider, uid uuid.UUID, c *ent.OAuthConnection) error {
	sl := sealer{s.box, uid, c.ID}
	if hasRefresh(c) {
		rt, err := sl.open(refreshToken, *c.RefreshToken, c.KeyVersion)
		if err != nil {
			return fmt.Errorf("open refresh token of connection %s: %w", c.ID, err)
		}
		if err := s.revoke(ctx, p, rt, "refresh_token"); err != nil {
			return err
		}
	}
	at, err := sl.open(accessToken, c.AccessToken, c.KeyVersion)
	if err != nil {
		return fmt.Errorf("open access token of connection %s: %w", c.ID, err)
	}
	return s.revoke(ctx, p, at, "access_token")
}

// revoke is one RFC 7009 request. 200 is success, and so is 400: per the
// RFC an invalid token needs no revocation (and unsupported_token_type
// leaves nothing we can do); 5xx, 503 and timeouts are unavailable.
func (s *Service) revoke(ctx context.Context, p *Provider, token, hint string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	inParams := p.OAuth.Endpoint.AuthStyle == oauth2.AuthStyleInParams
	if inParams {
		form.Set("client_id", p.OAuth.ClientID)
		form.Set("client_secret", p.OAuth.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.RevokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("revocation request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !inParams { // HTTP Basic with form-encoded credentials (RFC 6749 2.3.1)
		req.SetBasicAuth(url.QueryEscape(p.OAuth.ClientID), url.QueryEscape(p.OAuth.ClientSecret))
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return errRevokeUnavailable
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300, resp.StatusCode == http.StatusBadRequest:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return errRevokeUnavailable
	default:
		return fmt.Errorf("revocation endpoint of %s answered %s", p.Name, resp.Status)
	}
}
