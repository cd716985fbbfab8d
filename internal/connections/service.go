package connections

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/oauthconnection"
	"github.com/jarvis-core/jarvis/ent/oauthstate"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/events"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

var (
	// ErrNotFound: no such connection for this user (another user's included).
	ErrNotFound = fault.NotFoundf("connection not found")
	// ErrNeedsReauth: the provider no longer accepts the grant; the user
	// must connect the account again.
	ErrNeedsReauth = fault.New(fault.Conflict, "the provider no longer accepts this connection: connect the account again").
			WithCode("NEEDS_REAUTH")
	// ErrRevoked: the connection was revoked (its deletion is pending).
	ErrRevoked = fault.New(fault.Conflict, "this connection was revoked").WithCode("NEEDS_REAUTH")
	// ErrState: the callback's state is not one this user started, was used,
	// expired, or was started for another redirect_uri.
	ErrState = fault.InvalidField("state", "unknown, already used, expired, or for another redirect_uri: start again")
)

// NeedsReauth is the realtime event sent to the user's sockets when a
// connection stops working: the app asks the user to connect again.
const NeedsReauth = events.ConnectionNeedsReauth

// MaxTokenBytes caps a token value given to import.
const MaxTokenBytes = 8 << 10

// viewFields are the columns reads return: never the sealed tokens.
var viewFields = []string{
	oauthconnection.FieldID, oauthconnection.FieldCreatedAt, oauthconnection.FieldUpdatedAt,
	oauthconnection.FieldUserID, oauthconnection.FieldProvider, oauthconnection.FieldAccount,
	oauthconnection.FieldScopes, oauthconnection.FieldExpiresAt, oauthconnection.FieldStatus,
	oauthconnection.FieldLastRefreshedAt, oauthconnection.FieldKeyVersion, oauthconnection.FieldTokenVersion,
}

// Service stores users' OAuth connections and hands out valid access tokens.
type Service struct {
	db        *db.DB
	box       *secrets.Box
	providers *Registry
	cfg       Config
	pub       events.Publisher // nil: events are dropped
	log       *slog.Logger
	http      *http.Client
	now       func() time.Time
	flights   singleflight.Group // refreshes in progress on this instance, by user and connection
}

// NewService returns the connections service. pub may be nil.
func NewService(d *db.DB, box *secrets.Box, cfg Config, pub events.Publisher, log *slog.Logger) *Service {
	return &Service{db: d, box: box, providers: NewRegistry(cfg), cfg: cfg, pub: pub, log: log,
		http: &http.Client{Timeout: cfg.ProviderTimeout}, now: time.Now}
}

// Providers lists the providers this service knows.
func (s *Service) Providers() []*Provider { return s.providers.All() }

func (s *Service) provider(name string) (*Provider, error) {
	p, ok := s.providers.Get(name)
	if !ok {
		return nil, fault.InvalidField("provider", "unknown provider: see GET /v1/connection-providers")
	}
	return p, nil
}

func (s *Service) httpContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, s.http)
}

// List returns a page of the viewer's connections without tokens, newest first.
func (s *Service) List(ctx context.Context, p db.Page) ([]*ent.OAuthConnection, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.OAuthConnection, error) {
		q := tx.OAuthConnection.Query().Where(oauthconnection.UserID(uid)).Select(viewFields...).
			Order(ent.Desc(oauthconnection.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(oauthconnection.IDLT(p.Before))
		}
		return q.All(ctx)
	})
}

// Get returns one of the viewer's connections without its tokens.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.OAuthConnection, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	c, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.OAuthConnection, error) {
		return tx.OAuthConnection.Query().Where(oauthconnection.UserID(uid), oauthconnection.ID(id)).
			Select(viewFields...).Only(ctx)
	})
	if fault.Is(err, fault.NotFound) {
		return nil, ErrNotFound.Wrap(err)
	}
	return c, err
}

// Tokens are what a grant or an import brings.
type Tokens struct {
	Access, Refresh, Type string
	Expiry                time.Time // zero: does not expire
	Scopes                []string
}

func validToken(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return fault.InvalidField(field, "must not be empty")
	case len(v) > MaxTokenBytes:
		return fault.InvalidField(field, fmt.Sprintf("must be at most %d bytes", MaxTokenBytes))
	case !utf8.ValidString(v) || strings.ContainsAny(v, " \t\r\n"):
		return fault.InvalidField(field, "must be a token: text without spaces")
	}
	return nil
}

func validAccount(a string) error {
	switch {
	case strings.TrimSpace(a) == "":
		return fault.InvalidField("account", "must not be empty")
	case utf8.RuneCountInString(a) > 255:
		return fault.InvalidField("account", "must be at most 255 characters")
	}
	return nil
}

func validScopes(scopes []string) error {
	if len(scopes) > 50 {
		return fault.InvalidField("scopes", "at most 50")
	}
	for _, sc := range scopes {
		if sc == "" || len(sc) > 255 || strings.ContainsAny(sc, " \t\r\n") {
			return fault.InvalidField("scopes", "each scope is 1-255 characters without spaces")
		}
	}
	return nil
}

// Import stores tokens obtained elsewhere (a Composio connected account) for
// the viewer. An account already connected gets the new tokens and is
// active again.
func (s *Service) Import(ctx context.Context, provider, account string, t Tokens) (*ent.OAuthConnection, error) {
	var errs []error
	if _, ok := s.providers.Get(provider); !ok {
		errs = append(errs, fault.InvalidField("provider", "unknown provider: see GET /v1/connection-providers"))
	}
	errs = append(errs, validAccount(account), validToken("access_token", t.Access, true),
		validToken("refresh_token", t.Refresh, false), validScopes(t.Scopes))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s.store(ctx, audit.ConnectionImported, provider, strings.TrimSpace(account), t)
}

// store creates the viewer's connection to (provider, account) or replaces
// its tokens. Two first connections of the same account at once both insert;
// the loser's unique violation means the row now exists, so it runs once
// more and replaces the winner's tokens, as a second import would.
// how is the audit event recorded with it (created by the flow, imported).
func (s *Service) store(ctx context.Context, how audit.Type, provider, account string, t Tokens) (*ent.OAuthConnection, error) {
	c, err := s.storeOnce(ctx, how, provider, account, t)
	if fault.Is(err, fault.Conflict) {
		c, err = s.storeOnce(ctx, how, provider, account, t)
	}
	return c, err
}

func (s *Service) storeOnce(ctx context.Context, how audit.Type, provider, account string, t Tokens) (*ent.OAuthConnection, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if t.Type == "" {
		t.Type = "Bearer"
	}
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.OAuthConnection, error) {
		cur, err := tx.OAuthConnection.Query().Where(oauthconnection.UserID(uid),
			oauthconnection.Provider(provider), oauthconnection.Account(account)).ForUpdate().Only(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return nil, fmt.Errorf("find connection: %w", err)
		}
		id := uuid.Must(uuid.NewV7())
		if cur != nil {
			id = cur.ID
		}
		sl := sealer{s.box, uid, id}
		access, err := sl.seal(accessToken, t.Access)
		if err != nil {
			return nil, fmt.Errorf("seal access token: %w", err)
		}
		var refresh []byte
		if t.Refresh != "" {
			if refresh, err = sl.seal(refreshToken, t.Refresh); err != nil {
				return nil, fmt.Errorf("seal refresh token: %w", err)
			}
		}
		var expiry *time.Time
		if !t.Expiry.IsZero() {
			e := t.Expiry
			expiry = &e
		}
		var saved *ent.OAuthConnection
		if cur == nil {
			create := tx.OAuthConnection.Create().SetID(id).SetUserID(uid).SetProvider(provider).
				SetAccount(account).SetScopes(t.Scopes).SetAccessToken(access).
				SetTokenType(t.Type).SetKeyVersion(s.box.CurrentVersion()).SetNillableExpiresAt(expiry)
			if refresh != nil {
				create.SetRefreshToken(refresh)
			}
			saved, err = create.Save(ctx)
		} else {
			upd := tx.OAuthConnection.UpdateOneID(id).Where(oauthconnection.UserID(uid)).
				SetScopes(t.Scopes).SetAccessToken(access).SetTokenType(t.Type).
				SetKeyVersion(s.box.CurrentVersion()).SetNillableExpiresAt(expiry).
				AddTokenVersion(1).SetStatus(oauthconnection.StatusActive)
			if refresh != nil {
				upd.SetRefreshToken(refresh)
			} else {
				upd.ClearRefreshToken()
			}
			if expiry == nil {
				upd.ClearExpiresAt()
			}
			saved, err = upd.Save(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("store connection: %w", err)
		}
		// Ids, names and scopes only: the tokens stay in the sealed columns.
		if err := audit.Record(ctx, tx, audit.Event{Type: how, Data: map[string]any{
			"connection_id": id.String(), "provider": provider, "account": account,
			"scopes": t.Scopes, "replaced": cur != nil}}); err != nil {
			return nil, err
		}
		return withoutTokens(saved), nil
	})
}

func withoutTokens(c *ent.OAuthConnection) *ent.OAuthConnection {
	out := *c
	out.AccessToken, out.RefreshToken = nil, nil
	return &out
}

// Authorization is where to send the user to connect an account.
type Authorization struct {
	URL, State string
	ExpiresAt  time.Time
}

// Start begins the authorization-code flow with PKCE for the viewer: it
// stores the state's hash and the sealed verifier, bound to the user and
// redirectURI, and returns the provider's URL.
func (s *Service) Start(ctx context.Context, providerName, redirectURI string, scopes []string) (*Authorization, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	p, perr := s.provider(providerName)
	var errs []error
	if perr != nil {
		errs = append(errs, perr)
	} else if !p.Configured {
		errs = append(errs, fault.InvalidField("provider", "this service holds no client credentials for it: import tokens instead"))
	}
	if !slices.Contains(s.cfg.RedirectURLs, redirectURI) {
		errs = append(errs, fault.InvalidField("redirect_uri", "must be one of the service's configured redirect URLs"))
	}
	errs = append(errs, validScopes(scopes))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		scopes = p.OAuth.Scopes
	}
	state := randomToken()
	verifier := oauth2.GenerateVerifier()
	id := uuid.Must(uuid.NewV7())
	sealedVerifier, err := sealer{s.box, uid, id}.seal(pkceVerifier, verifier)
	if err != nil {
		return nil, fmt.Errorf("seal verifier: %w", err)
	}
	expires := s.now().Add(s.cfg.StateTTL)
	err = s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		// Expired flows of this user go as new ones come.
		if _, err := tx.OAuthState.Delete().Where(oauthstate.UserID(uid), oauthstate.ExpiresAtLT(s.now())).Exec(ctx); err != nil {
			return fmt.Errorf("drop expired states: %w", err)
		}
		return tx.OAuthState.Create().SetID(id).SetUserID(uid).SetProvider(p.Name).SetStateHash(hashState(state)).
			SetVerifier(sealedVerifier).SetKeyVersion(s.box.CurrentVersion()).SetRedirectURI(redirectURI).
			SetScopes(scopes).SetExpiresAt(expires).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	cfg := p.OAuth
	cfg.RedirectURL = redirectURI
	cfg.Scopes = scopes
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	for k, v := range p.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return &Authorization{URL: cfg.AuthCodeURL(state, opts...), State: state, ExpiresAt: expires}, nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashState(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return h[:]
}

// Complete finishes the flow: it consumes the viewer's state (whatever
// follows, it works once), checks its expiry and redirect, exchanges the
// code with the PKCE verifier and stores the tokens.
func (s *Service) Complete(ctx context.Context, state, code, redirectURI, account string) (*ent.OAuthConnection, error) {
	uid, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(validToken("code", code, true), func() error {
		if account == "" {
			return nil
		}
		return validAccount(account)
	}()); err != nil {
		return nil, err
	}
	if state == "" || len(state) > 512 {
		return nil, ErrState
	}
	st, err := db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.OAuthState, error) {
		st, err := tx.OAuthState.Query().Where(oauthstate.UserID(uid), oauthstate.StateHash(hashState(state))).
			ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return nil, ErrState
		}
		if err != nil {
			return nil, fmt.Errorf("find state: %w", err)
		}
		if _, err := tx.OAuthState.Delete().Where(oauthstate.UserID(uid), oauthstate.ID(st.ID)).Exec(ctx); err != nil {
			return nil, fmt.Errorf("consume state: %w", err)
		}
		return st, nil
	})
	if err != nil {
		return nil, err
	}
	if !s.now().Before(st.ExpiresAt) || st.RedirectURI != redirectURI {
		return nil, ErrState
	}
	p, err := s.provider(st.Provider)
	if err != nil || !p.Configured {
		return nil, ErrState // the provider left the configuration since
	}
	verifier, err := sealer{s.box, uid, st.ID}.open(pkceVerifier, st.Verifier, st.KeyVersion)
	if err != nil {
		return nil, fmt.Errorf("open verifier of state %s: %w", st.ID, err)
	}
	cfg := p.OAuth
	cfg.RedirectURL = redirectURI
	tctx, cancel := context.WithTimeout(s.httpContext(ctx), s.cfg.ProviderTimeout)
	defer cancel()
	tok, err := cfg.Exchange(tctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		if kind, _ := classify(err); kind == outcomeTerminal {
			s.log.InfoContext(ctx, "provider refused the authorization code", slog.String("provider", p.Name),
				slog.String("oauth_error", oauthErrorCode(err)))
			return nil, fault.InvalidField("code", "the provider refused the code (wrong, used, expired, or the PKCE check failed)")
		}
		s.log.WarnContext(ctx, "provider unreachable at code exchange", slog.String("provider", p.Name),
			slog.String("oauth_error", oauthErrorCode(err)))
		return nil, s.unavailable()
	}
	if account == "" {
		account = accountOf(tok)
	}
	scopes := st.Scopes
	if sc, ok := tok.Extra("scope").(string); ok && sc != "" {
		scopes = strings.Fields(strings.ReplaceAll(sc, ",", " "))
	}
	return s.store(ctx, audit.ConnectionCreated, p.Name, strings.TrimSpace(account), Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken,
		Type: tok.Type(), Expiry: tok.Expiry, Scopes: scopes})
}

// accountOf finds a label for the account in what the token endpoint said:
// Notion's workspace_name, Slack's team name, the email of Google's ID
// token (it came straight from the token endpoint over TLS, which OpenID
// Connect accepts without checking its signature); else "default".
func accountOf(tok *oauth2.Token) string {
	if v, ok := tok.Extra("workspace_name").(string); ok && v != "" {
		return truncate(v)
	}
	if team, ok := tok.Extra("team").(map[string]any); ok {
		if v, ok := team["name"].(string); ok && v != "" {
			return truncate(v)
		}
	}
	if idt, ok := tok.Extra("id_token").(string); ok {
		if parts := strings.Split(idt, "."); len(parts) == 3 {
			if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
				var claims struct {
					Email string `json:"email"`
				}
				if json.Unmarshal(raw, &claims) == nil && claims.Email != "" {
					return truncate(claims.Email)
				}
			}
		}
	}
	return "default"
}

func truncate(v string) string {
	v = strings.TrimSpace(v)
	if r := []rune(v); len(r) > 255 {
		return string(r[:255])
	}
	if v == "" {
		return "default"
	}
	return v
}

func (s *Service) unavailable() error {
	e := fault.New(fault.Unavailable, "the provider is unreachable: try again later")
	e.RetryAfter = s.cfg.RetryAfter
	return e
}
