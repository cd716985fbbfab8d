package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/oauthconnection"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// AccessToken is what the token endpoint hands to agent workers.
type AccessToken struct {
	Value  string
	Type   string
	Expiry *time.Time
}

// fresh says whether c's access token is good for at least the skew.
func (s *Service) fresh(c *ent.OAuthConnection) bool {
	return c.ExpiresAt == nil || c.ExpiresAt.After(s.now().Add(s.cfg.RefreshSkew))
}

func (s *Service) usable(c *ent.OAuthConnection) error {
	switch c.Status {
	case oauthconnection.StatusNeedsReauth:
		return ErrNeedsReauth
	case oauthconnection.StatusRevoked:
		return ErrRevoked
	}
	return nil
}

func (s *Service) accessOf(uid uuid.UUID, c *ent.OAuthConnection) (*AccessToken, error) {
	v, err := sealer{s.box, uid, c.ID}.open(accessToken, c.AccessToken, c.KeyVersion)
	if err != nil {
		s.log.Error("connection token does not decrypt", slog.String("connection_id", c.ID.String()),
			slog.Int("key_version", c.KeyVersion), slog.Any("error", err))
		return nil, fmt.Errorf("open access token of connection %s: %w", c.ID, err)
	}
	return &AccessToken{Value: v, Type: c.TokenType, Expiry: c.ExpiresAt}, nil
}

// Token returns a valid access token of the viewer's connection id,
// refreshing it first when it expires within the skew. However many callers
// on however many instances ask at once, the provider sees one refresh:
// the refresh runs under the connection's row lock (SELECT ... FOR UPDATE
// on (user_id, id)), re-reads the row once it holds the lock (a sibling may
// have refreshed meanwhile), and stores the new tokens, rotated refresh
// token included, in the same transaction, before anyone sees the new
// access token.
func (s *Service) Token(ctx context.Context, id uuid.UUID) (*AccessToken, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	// Most calls need no refresh: one plain read.
	c, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.OAuthConnection, error) {
		return tx.OAuthConnection.Query().Where(oauthconnection.UserID(uid), oauthconnection.ID(id)).Only(ctx)
	})
	if fault.Is(err, fault.NotFound) {
		return nil, ErrNotFound.Wrap(err)
	}
	if err != nil {
		return nil, err
	}
	if err := s.usable(c); err != nil {
		return nil, err
	}
	if s.fresh(c) {
		return s.accessOf(uid, c)
	}
	// Callers on this instance share one attempt, so a crowd holds one
	// pool connection waiting on the row lock instead of all of them;
	// other instances meet at the lock. The attempt runs without the first
	// caller's cancellation: one caller leaving must not fail the others
	// (it is bounded by the provider timeout and attempts anyway).
	v, err, _ := s.flights.Do(uid.String()+"/"+id.String(), func() (any, error) {
		return s.refresh(context.WithoutCancel(ctx), uid, id)
	})
	if err != nil {
		return nil, err
	}
	return v.(*AccessToken), nil
}

// refreshResult is what happened under the lock.
type refreshResult struct {
	token       *AccessToken
	needsReauth *ent.OAuthConnection // set when the connection was just marked needs_reauth
}

func (s *Service) refresh(ctx context.Context, uid, id uuid.UUID) (*AccessToken, error) {
	// failed is a refresh the provider could not answer: the unit rolls
	// back, and the failure is recorded after it.
	var failed *audit.Event
	res, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (refreshResult, error) {
		lock := func() (*ent.OAuthConnection, error) {
			return tx.OAuthConnection.Query().Where(oauthconnection.UserID(uid), oauthconnection.ID(id)).
				ForUpdate().Only(ctx)
		}
		c, err := lock()
		if err != nil {
			return refreshResult{}, err
		}
		// Re-read under the lock: a sibling may have refreshed (or the
		// connection died) while this caller waited.
		if err := s.usable(c); err != nil {
			return refreshResult{}, err
		}
		if s.fresh(c) {
			t, err := s.accessOf(uid, c)
			return refreshResult{token: t}, err
		}
		p, ok := s.providers.Get(c.Provider)
		if !hasRefresh(c) || !ok || !p.Configured {
			// Nothing to refresh with: an imported token without a refresh
			// token, or no client credentials. Hand it out while it lasts.
			if c.ExpiresAt != nil && c.ExpiresAt.After(s.now()) {
				t, err := s.accessOf(uid, c)
				return refreshResult{token: t}, err
			}
			return s.markNeedsReauth(ctx, tx, c, "expired_without_refresh", "")
		}
		sl := sealer{s.box, uid, c.ID}
		rt, err := sl.open(refreshToken, *c.RefreshToken, c.KeyVersion)
		if err != nil {
			return refreshResult{}, fmt.Errorf("open refresh token of connection %s: %w", c.ID, err)
		}
		tok, err := s.callRefresh(ctx, p, rt)
		if err != nil {
			if kind, _ := classify(err); kind != outcomeTerminal {
				s.log.WarnContext(ctx, "provider unreachable at refresh; connection stays active",
					slog.String("connection_id", c.ID.String()), slog.String("provider", p.Name),
					slog.String("oauth_error", oauthErrorCode(err)))
				failed = refreshFailure(c, "unavailable", oauthErrorCode(err))
				return refreshResult{}, s.unavailable()
			}
			// Terminal: believe it only if the stored refresh token is still
			// the one refused. Under the lock nobody of ours changed it, but
			// re-reading costs one statement and also covers writers that
			// do not take the lock.
			again, rerr := lock()
			if rerr != nil {
				return refreshResult{}, rerr
			}
			if again.TokenVersion != c.TokenVersion {
				if s.fresh(again) {
					t, err := s.accessOf(uid, again)
					return refreshResult{token: t}, err
				}
				return refreshResult{}, s.unavailable()
			}
			s.log.WarnContext(ctx, "provider refused the refresh token; connection needs re-authorization",
				slog.String("connection_id", c.ID.String()), slog.String("provider", p.Name),
				slog.String("oauth_error", oauthErrorCode(err)))
			if err := audit.Record(ctx, tx, *refreshFailure(c, "refused", oauthErrorCode(err))); err != nil {
				return refreshResult{}, err
			}
			return s.markNeedsReauth(ctx, tx, c, "refresh_refused", oauthErrorCode(err))
		}
		access, err := sl.seal(accessToken, tok.AccessToken)
		if err != nil {
			return refreshResult{}, fmt.Errorf("seal access token: %w", err)
		}
		upd := tx.OAuthConnection.UpdateOneID(c.ID).Where(oauthconnection.UserID(uid)).
			SetAccessToken(access).SetTokenType(tok.Type()).AddTokenVersion(1).SetLastRefreshedAt(s.now())
		if tok.RefreshToken != "" && tok.RefreshToken != rt {
			refresh, err := sl.seal(refreshToken, tok.RefreshToken)
			if err != nil {
				return refreshResult{}, fmt.Errorf("seal refresh token: %w", err)
			}
			upd.SetRefreshToken(refresh)
		}
		// Both tokens now under the current key; the refresh token, if not
		// replaced, still under the row's old one: re-seal it too.
		if c.KeyVersion != s.box.CurrentVersion() && (tok.RefreshToken == "" || tok.RefreshToken == rt) {
			refresh, err := sl.seal(refreshToken, rt)
			if err != nil {
				return refreshResult{}, fmt.Errorf("seal refresh token: %w", err)
			}
			upd.SetRefreshToken(refresh)
		}
		upd.SetKeyVersion(s.box.CurrentVersion())
		var expiry *time.Time
		if !tok.Expiry.IsZero() {
			e := tok.Expiry
			expiry = &e
			upd.SetExpiresAt(e)
		} else {
			upd.ClearExpiresAt()
		}
		if err := upd.Exec(ctx); err != nil {
			return refreshResult{}, fmt.Errorf("store refreshed tokens: %w", err)
		}
		return refreshResult{token: &AccessToken{Value: tok.AccessToken, Type: tok.Type(), Expiry: expiry}}, nil
	})
	if fault.Is(err, fault.NotFound) {
		return nil, ErrNotFound.Wrap(err)
	}
	if failed != nil {
		// An unreachable provider changes nothing (the unit rolled back):
		// the failure is its own record, as a refusal is.
		if aerr := s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
			return audit.Record(ctx, tx, *failed)
		}); aerr != nil {
			s.log.ErrorContext(ctx, "audit: record connection refresh failure", slog.Any("error", aerr))
		}
	}
	if err != nil {
		return nil, err
	}
	if c := res.needsReauth; c != nil {
		s.emitNeedsReauth(ctx, uid, c)
		return nil, ErrNeedsReauth
	}
	return res.token, nil
}

// markNeedsReauth records, in the locked transaction, that the connection
// no longer works, and audits it there; the realtime event goes out after
// commit. cause says why (the provider refused the refresh token, or an
// expired token has nothing to refresh with); oauthError is the provider's
// error code, never a token.
func (s *Service) markNeedsReauth(ctx context.Context, tx *ent.Tx, c *ent.OAuthConnection, cause, oauthError string) (refreshResult, error) {
	if err := tx.OAuthConnection.UpdateOneID(c.ID).Where(oauthconnection.UserID(c.UserID)).
		SetStatus(oauthconnection.StatusNeedsReauth).Exec(ctx); err != nil {
		return refreshResult{}, fmt.Errorf("mark needs_reauth: %w", err)
	}
	data := map[string]any{"connection_id": c.ID.String(), "provider": c.Provider, "account": c.Account, "cause": cause}
	if oauthError != "" {
		data["oauth_error"] = oauthError
	}
	if err := audit.Record(ctx, tx, audit.Event{Type: audit.ConnectionNeedsReauth, User: c.UserID, Data: data}); err != nil {
		return refreshResult{}, err
	}
	return refreshResult{needsReauth: c}, nil
}

// refreshFailure is the audit event of a refresh the provider did not
// grant: outcome "refused" (terminal) or "unavailable" (timeout, 5xx).
func refreshFailure(c *ent.OAuthConnection, outcome, oauthError string) *audit.Event {
	return &audit.Event{Type: audit.ConnectionRefreshFailed, User: c.UserID, Data: map[string]any{
		"connection_id": c.ID.String(), "provider": c.Provider, "account": c.Account,
		"outcome": outcome, "oauth_error": oauthError}}
}

func (s *Service) emitNeedsReauth(ctx context.Context, uid uuid.UUID, c *ent.OAuthConnection) {
	if s.pub == nil {
		return
	}
	data, _ := json.Marshal(map[string]string{"connection_id": c.ID.String(), "provider": c.Provider, "account": c.Account})
	if err := s.pub.EmitToUser(ctx, uid, events.Event{Type: NeedsReauth, Data: data}); err != nil {
		s.log.WarnContext(ctx, "connection.needs_reauth not delivered", slog.String("connection_id", c.ID.String()),
			slog.Any("error", err))
	}
}

// callRefresh asks the provider for new tokens, retrying timeouts and 5xx
// with exponential backoff; a terminal answer returns at once.
func (s *Service) callRefresh(ctx context.Context, p *Provider, rt string) (*oauth2.Token, error) {
	backoff := 200 * time.Millisecond
	var last error
	for attempt := 1; attempt <= s.cfg.RefreshAttempts; attempt++ {
		tctx, cancel := context.WithTimeout(s.httpContext(ctx), s.cfg.ProviderTimeout)
		// An expired token with only the refresh token: the source refreshes.
		tok, err := p.OAuth.TokenSource(tctx, &oauth2.Token{RefreshToken: rt}).Token()
		cancel()
		if err == nil {
			return tok, nil
		}
		last = err
		if kind, _ := classify(err); kind == outcomeTerminal || ctx.Err() != nil {
			return nil, err
		}
		if attempt < s.cfg.RefreshAttempts {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, last
			}
			backoff *= 2
		}
	}
	return nil, last
}

type outcome int

const (
	outcomeTransient outcome = iota // timeouts, 5xx, unreadable answers: try again later
	outcomeTerminal                 // the provider refuses the grant itself
)

// terminalCodes are the RFC 6749 errors that no retry will fix.
var terminalCodes = map[string]bool{
	"invalid_grant": true, "invalid_client": true, "unauthorized_client": true, "access_denied": true,
}

// classify sorts a provider error. Only an answer that says the grant is
// dead is terminal; anything else (timeouts, 5xx, a 4xx without one of
// those codes, an unreadable answer) may be the provider's passing trouble,
// and marking a healthy connection dead is the failure this avoids.
func classify(err error) (outcome, int) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if terminalCodes[re.ErrorCode] {
			return outcomeTerminal, status
		}
		return outcomeTransient, status
	}
	return outcomeTransient, 0
}

// oauthErrorCode is what may be logged of a provider error: its RFC 6749
// code or HTTP status, never its body (which might echo a token).
func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return re.ErrorCode
		}
		if re.Response != nil {
			return re.Response.Status
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return "timeout"
		}
		return "network error"
	}
	return "unreadable answer"
}
