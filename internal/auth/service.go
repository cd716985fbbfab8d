package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/ent/refreshtoken"
	"github.com/jarvis-core/jarvis/ent/schema"
	"github.com/jarvis-core/jarvis/ent/session"
	"github.com/jarvis-core/jarvis/ent/user"
	"github.com/jarvis-core/jarvis/ent/useremail"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/auth/password"
	"github.com/jarvis-core/jarvis/internal/auth/token"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/textguard"
)

// Errors of sign-in, in the fault vocabulary with their specific codes.
// Messages never say which part of a credential was wrong.
var (
	ErrEmailExists        = fault.Conflictf("an account with this email already exists").WithCode("EMAIL_EXISTS")
	ErrInvalidCredentials = fault.New(fault.Unauthorized, "invalid email or password").WithCode("INVALID_CREDENTIALS")
	ErrInvalidRefresh     = fault.New(fault.Unauthorized, "refresh token is invalid, expired or revoked")
	ErrUnauthorized       = fault.New(fault.Unauthorized, "sign in first: a valid bearer access token is required")
	ErrTokenExpired       = fault.New(fault.Unauthorized, "access token expired: refresh it").WithCode("TOKEN_EXPIRED")
)

// GraceWindow is how long a refresh token just rotated still returns its
// successor: browser tabs that refresh at the same moment all stay signed in.
const GraceWindow = 10 * time.Second

// Meta describes the client a session belongs to.
type Meta struct {
	UserAgent string
	IP        string
}

// Tokens are what sign-in and refresh return.
type Tokens struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	UserID           uuid.UUID
	SessionID        uuid.UUID
}

// Service runs accounts and sessions on the service role, under RLS.
type Service struct {
	db         *db.DB
	hasher     *password.Hasher
	issuer     *token.Issuer
	successor  []byte // HMAC key deriving a refresh token's successor from it
	refreshTTL time.Duration
	log        *slog.Logger
	now        func() time.Time
}

// NewService needs the JWT secret only to derive the successor key from it
// (a separate key by construction: HMAC of a fixed label).
func NewService(d *db.DB, h *password.Hasher, iss *token.Issuer, jwtSecret []byte, refreshTTL time.Duration, log *slog.Logger) *Service {
	mac := hmac.New(sha256.New, jwtSecret)
	mac.Write([]byte("jarvis refresh-token successor v1"))
	return &Service{db: d, hasher: h, issuer: iss, successor: mac.Sum(nil), refreshTTL: refreshTTL, log: log, now: time.Now}
}

// newRefreshToken is its user's id and 32 random bytes, URL-safe:
// <user id>.<secret>. The user id routes the refresh to the user's rows
// (on Citus, the user's shard) without a lookup over every user; it is not
// a secret (the access token carries it too) and changing it only makes
// the token unknown.
func newRefreshToken(userID uuid.UUID) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return tokenPrefix(userID) + base64.RawURLEncoding.EncodeToString(b)
}

func tokenPrefix(userID uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString(userID[:]) + "."
}

// tokenOwner reads the user id a refresh token carries; ok is false for a
// token issued before tokens carried it (a bare secret), which refresh still
// accepts through the lookup by hash.
func tokenOwner(raw string) (_ uuid.UUID, ok bool) {
	prefix, _, found := strings.Cut(raw, ".")
	if !found {
		return uuid.Nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(prefix)
	if err != nil || len(b) != 16 {
		return uuid.Nil, false
	}
	id, err := uuid.FromBytes(b)
	return id, err == nil && id != uuid.Nil
}

// successorOf derives the token that replaces raw, for the same user.
// Derived, not stored: the database keeps only hashes, yet a repeat of raw
// within the grace window can be answered with the same successor.
func (s *Service) successorOf(raw string, userID uuid.UUID) string {
	mac := hmac.New(sha256.New, s.successor)
	mac.Write([]byte(raw))
	return tokenPrefix(userID) + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func hashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// Register creates an account and signs it in.
func (s *Service) Register(ctx context.Context, email, pw, displayName string, meta Meta) (Tokens, error) {
	// Parsed as an address, not only lower-cased: what is stored is an
	// address mail can reach, and nothing Postgres would refuse.
	email, err := textguard.Email(email)
	if err != nil {
		return Tokens{}, err
	}
	if err := textguard.CheckText("display_name", displayName); err != nil {
		return Tokens{}, err
	}
	if err := password.CheckPolicy(pw, email); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			return Tokens{}, fault.InvalidField("password", pe.Reason)
		}
		return Tokens{}, err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return Tokens{}, fmt.Errorf("hash password: %w", err)
	}
	id := uuid.Must(uuid.NewV7())
	var out Tokens
	err = s.db.Run(viewer.NewContext(ctx, viewer.User(id)), func(ctx context.Context, tx *ent.Tx) error {
		// Accounts are created by registration acting as the system (ent
		// privacy); RLS accepts the row because its id is this transaction's.
		sys := rule.Bypass(ctx, "registration creates the account it then acts as")
		create := tx.User.Create().SetID(id).SetEmail(email).SetPasswordHash(hash).SetLastLoginAt(s.now())
		if displayName != "" {
			create.SetDisplayName(displayName)
		}
		if err := create.Exec(sys); err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		// The global e-mail index (a reference table on Citus): its unique
		// key is what refuses a second account with this address.
		if err := tx.UserEmail.Create().SetUserID(id).SetEmail(email).Exec(ctx); err != nil {
			if ent.IsConstraintError(err) {
				return ErrEmailExists.Wrap(err)
			}
			return fmt.Errorf("record email: %w", err)
		}
		if out, err = s.startSession(ctx, tx, id, meta); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.UserRegistered, Data: sessionData(out.SessionID)})
	})
	return out, err
}

func sessionData(id uuid.UUID) map[string]any { return map[string]any{"session_id": id.String()} }

// loginFailed records a refused sign-in in a transaction of its own (the
// refusal changed nothing else): about the account when there is one, else
// about audit.UnknownUser, without the e-mail that was tried.
func (s *Service) loginFailed(ctx context.Context, userID uuid.UUID, why string) {
	record := func(ctx context.Context, tx *ent.Tx) error {
		return audit.Record(ctx, tx, audit.Event{Type: audit.LoginFailed, User: userID, Data: map[string]any{"why": why}})
	}
	var err error
	if userID == audit.UnknownUser {
		// Nobody to act for (a viewer needs a real user): the unknown
		// account's events are written under its own RLS identity.
		err = s.db.RunUnowned(ctx, userID, "audit: a failed login for an unknown account", record)
	} else {
		err = s.db.Run(viewer.NewContext(ctx, viewer.User(userID)), record)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "audit: record failed login", slog.Any("error", err))
	}
}

// Login checks the password and opens a session. Unknown emails, wrong
// passwords and disabled accounts fail alike, after the same hashing work.
func (s *Service) Login(ctx context.Context, email, pw string, meta Meta) (Tokens, error) {
	email = schema.NormalizeEmail(email)
	// The hashing slot first: under a flood, the excess is refused before
	// it costs a database lookup.
	ctx, release, err := s.hasher.Reserve(ctx)
	if err != nil {
		return Tokens{}, fmt.Errorf("sign in: %w", err)
	}
	defer release()
	var u *ent.User
	// The e-mail resolves to the user first (user_emails, a reference table
	// on Citus), then the account is read by its id: on the user's shard.
	err = s.db.Lookup(ctx, useremail.Table, email, func(ctx context.Context, tx *ent.Tx) error {
		e, err := tx.UserEmail.Query().Where(useremail.Email(email)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "SELECT jarvis_set_local($1, $2)", db.CurrentUserSetting, e.UserID.String()); err != nil {
			return fmt.Errorf("identify account: %w", err)
		}
		u, err = tx.User.Query().Where(user.ID(e.UserID)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return Tokens{}, fmt.Errorf("look up account: %w", err)
	}
	if u == nil {
		// Busy (the hashing bound is full) is answered as for a real
		// account, so the refusal says nothing about the email either.
		if err := s.hasher.VerifyDummy(ctx, pw); !errors.Is(err, password.ErrMismatch) {
			return Tokens{}, fmt.Errorf("verify password: %w", err)
		}
		s.loginFailed(ctx, audit.UnknownUser, "unknown_account")
		return Tokens{}, ErrInvalidCredentials
	}
	rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil && !errors.Is(err, password.ErrMismatch) && !errors.Is(err, password.ErrMalformed) {
		return Tokens{}, fmt.Errorf("verify password: %w", err)
	}
	if err != nil || u.Status != user.StatusActive {
		if err != nil && !errors.Is(err, password.ErrMismatch) {
			s.log.ErrorContext(ctx, "stored password hash unusable", slog.String("user_id", u.ID.String()), slog.Any("error", err))
		}
		why := "wrong_password"
		if err == nil {
			why = "account_disabled"
		}
		s.loginFailed(ctx, u.ID, why)
		return Tokens{}, ErrInvalidCredentials
	}
	var newHash string
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, pw); err != nil {
			return Tokens{}, fmt.Errorf("rehash password: %w", err)
		}
	}
	release()
	var out Tokens
	err = s.db.Run(viewer.NewContext(ctx, viewer.User(u.ID)), func(ctx context.Context, tx *ent.Tx) error {
		upd := tx.User.UpdateOneID(u.ID).SetLastLoginAt(s.now())
		if newHash != "" {
			upd.SetPasswordHash(newHash)
		}
		if err := upd.Exec(ctx); err != nil {
			return fmt.Errorf("record login: %w", err)
		}
		if out, err = s.startSession(ctx, tx, u.ID, meta); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.LoginSucceeded, Data: sessionData(out.SessionID)})
	})
	return out, err
}

func (s *Service) startSession(ctx context.Context, tx *ent.Tx, userID uuid.UUID, meta Meta) (Tokens, error) {
	now := s.now()
	sess, err := tx.Session.Create().SetUserID(userID).SetUserAgent(textguard.Sanitize(meta.UserAgent, 512)).
		SetIP(textguard.Sanitize(meta.IP, 64)).SetLastUsedAt(now).Save(ctx)
	if err != nil {
		return Tokens{}, fmt.Errorf("create session: %w", err)
	}
	raw := newRefreshToken(userID)
	rt, err := tx.RefreshToken.Create().SetUserID(userID).SetSessionID(sess.ID).
		SetTokenHash(hashToken(raw)).SetExpiresAt(now.Add(s.refreshTTL)).Save(ctx)
	if err != nil {
		return Tokens{}, fmt.Errorf("create refresh token: %w", err)
	}
	return s.tokens(userID, sess.ID, raw, rt.ExpiresAt)
}

func (s *Service) tokens(userID, sessionID uuid.UUID, refresh string, refreshExp time.Time) (Tokens, error) {
	access, claims, err := s.issuer.Issue(userID, sessionID)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, AccessExpiresAt: claims.ExpiresAt, RefreshToken: refresh,
		RefreshExpiresAt: refreshExp, UserID: userID, SessionID: sessionID}, nil
}

// Refresh rotates a refresh token: the presented one stops working and a
// successor is returned. A repeat within GraceWindow of the rotation gets
// the same successor; a repeat after it is reuse of a stolen or leaked token,
// and revokes the whole session.
func (s *Service) Refresh(ctx context.Context, raw string, meta Meta) (Tokens, error) {
	if raw == "" || len(raw) > 256 {
		return Tokens{}, ErrInvalidRefresh
	}
	hash := hashToken(raw)
	owner, ok := tokenOwner(raw)
	if !ok {
		// A token issued before tokens carried their user: found by its
		// hash over every user (on Citus, every shard). They expire with
		// the refresh lifetime; their successors carry the user.
		err := s.db.Lookup(ctx, refreshtoken.Table, hex.EncodeToString(hash), func(ctx context.Context, tx *ent.Tx) error {
			rt, err := tx.RefreshToken.Query().Where(refreshtoken.TokenHash(hash)).Only(ctx)
			if err == nil {
				owner = rt.UserID
			}
			if ent.IsNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return Tokens{}, fmt.Errorf("look up refresh token: %w", err)
		}
		if owner == uuid.Nil {
			return Tokens{}, ErrInvalidRefresh
		}
	}
	var (
		out    Tokens
		reused bool
	)
	err := s.db.Run(viewer.NewContext(ctx, viewer.User(owner)), func(ctx context.Context, tx *ent.Tx) error {
		// The row lock serializes concurrent refreshes of one token: the
		// first rotates, the others see the rotation and take the grace path.
		// The viewer's filter names the user: one shard on Citus.
		rt, err := tx.RefreshToken.Query().Where(refreshtoken.TokenHash(hash)).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return ErrInvalidRefresh
		}
		if err != nil {
			return fmt.Errorf("lock refresh token: %w", err)
		}
		sess, err := tx.Session.Get(ctx, rt.SessionID)
		if err != nil {
			return fmt.Errorf("load session: %w", err)
		}
		u, err := tx.User.Get(ctx, owner)
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		now := s.now()
		switch {
		case sess.RevokedAt != nil || rt.RevokedAt != nil || u.Status != user.StatusActive:
			return ErrInvalidRefresh
		case rt.RotatedAt != nil:
			if now.Sub(*rt.RotatedAt) <= GraceWindow && rt.ReplacedBy != nil {
				var live bool
				out, live, err = s.repeatSuccessor(ctx, tx, raw, rt)
				if err != nil || live {
					return err
				}
			}
			// Past the window, or its successor has moved on: whoever
			// presents it now is not the client that rotated it.
			reused = true
			if err := s.revokeSession(ctx, tx, sess.ID, now); err != nil {
				return err
			}
			return audit.Record(ctx, tx, audit.Event{Type: audit.RefreshTokenReused, Data: sessionData(sess.ID)})
		case !now.Before(rt.ExpiresAt):
			return ErrInvalidRefresh
		}
		next := s.successorOf(raw, owner)
		succ, err := tx.RefreshToken.Create().SetUserID(owner).SetSessionID(sess.ID).
			SetTokenHash(hashToken(next)).SetExpiresAt(now.Add(s.refreshTTL)).Save(ctx)
		if err != nil {
			return fmt.Errorf("create successor: %w", err)
		}
		// Update().Where(id), not UpdateOne: UpdateOne re-reads the row by
		// id alone, which Citus sends to every shard; the viewer's filter
		// adds the user to these.
		if err := tx.RefreshToken.Update().Where(refreshtoken.ID(rt.ID)).SetRotatedAt(now).SetReplacedBy(succ.ID).Exec(ctx); err != nil {
			return fmt.Errorf("retire refresh token: %w", err)
		}
		upd := tx.Session.Update().Where(session.ID(sess.ID)).SetLastUsedAt(now)
		if meta.IP != "" {
			upd.SetIP(textguard.Sanitize(meta.IP, 64))
		}
		if err := upd.Exec(ctx); err != nil {
			return fmt.Errorf("touch session: %w", err)
		}
		out, err = s.tokens(owner, sess.ID, next, succ.ExpiresAt)
		return err
	})
	if reused {
		// A security event: the token was used again after its rotation.
		s.log.WarnContext(ctx, "security: refresh token reuse, session revoked",
			slog.String("event", "refresh_token_reuse"), slog.String("user_id", owner.String()))
		return Tokens{}, ErrInvalidRefresh
	}
	return out, err
}

// repeatSuccessor answers a repeat of a just-rotated token with the successor
// it already has. Only the token just rotated qualifies (as in GoTrue): when
// its successor has itself been rotated (or revoked, or is not the one
// derived from it), live is false and the caller treats the repeat as reuse.
func (s *Service) repeatSuccessor(ctx context.Context, tx *ent.Tx, raw string, rt *ent.RefreshToken) (_ Tokens, live bool, _ error) {
	next := s.successorOf(raw, rt.UserID)
	succ, err := tx.RefreshToken.Get(ctx, *rt.ReplacedBy)
	if err != nil {
		return Tokens{}, false, fmt.Errorf("load successor: %w", err)
	}
	if succ.RevokedAt != nil || succ.RotatedAt != nil || !hmac.Equal(succ.TokenHash, hashToken(next)) {
		return Tokens{}, false, nil
	}
	t, err := s.tokens(rt.UserID, rt.SessionID, next, succ.ExpiresAt)
	return t, err == nil, err
}

func (s *Service) revokeSession(ctx context.Context, tx *ent.Tx, id uuid.UUID, now time.Time) error {
	if err := tx.Session.Update().Where(session.ID(id)).SetRevokedAt(now).Exec(ctx); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if err := tx.RefreshToken.Update().Where(refreshtoken.SessionID(id), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).Exec(ctx); err != nil {
		return fmt.Errorf("revoke session tokens: %w", err)
	}
	return nil
}

// Logout revokes the caller's session, or every session of the user.
func (s *Service) Logout(ctx context.Context, all bool) error {
	v, _ := viewer.FromContext(ctx)
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		q := tx.Session.Query().Where(session.RevokedAtIsNil())
		if !all {
			q = q.Where(session.ID(v.SessionID))
		}
		ids, err := q.IDs(ctx)
		if err != nil {
			return fmt.Errorf("find sessions: %w", err)
		}
		now := s.now()
		for _, id := range ids {
			if err := s.revokeSession(ctx, tx, id, now); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.Logout, Data: map[string]any{"all": all, "sessions": len(ids)}})
	})
}

// RevokeSession ends one of the viewer's sessions; another user's session
// is not found.
func (s *Service) RevokeSession(ctx context.Context, sessionID uuid.UUID) error {
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		sess, err := tx.Session.Get(ctx, sessionID)
		if err != nil {
			return err
		}
		if sess.RevokedAt != nil {
			return nil
		}
		if err := s.revokeSession(ctx, tx, sess.ID, s.now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.SessionRevoked, Data: sessionData(sess.ID)})
	})
}

// Sessions lists a page of the viewer's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, p db.Page) ([]*ent.Session, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.Session, error) {
		q := tx.Session.Query().Where(session.RevokedAtIsNil()).Order(ent.Desc(session.FieldID)).Limit(p.Fetch())
		if p.Before != uuid.Nil {
			q = q.Where(session.IDLT(p.Before))
		}
		return q.All(ctx)
	})
}

// Me returns the signed-in user.
func (s *Service) Me(ctx context.Context) (*ent.User, error) {
	v, _ := viewer.FromContext(ctx)
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.User, error) {
		return tx.User.Get(ctx, v.UserID)
	})
}

// Verify checks an access token's signature and claims, without the
// database, and returns ctx carrying the token's session as its viewer
// (and a logger naming the user): the request's unit of work then checks
// the session in its own transaction, so an authenticated request is one
// transaction. A token an earlier step of the request verified (the rate
// limiter, token.NewContext) is not verified again.
func (s *Service) Verify(ctx context.Context, access string) (context.Context, error) {
	c, ok := token.FromContext(ctx, access)
	var err error
	if !ok {
		c, err = s.issuer.Verify(access)
	}
	switch {
	case errors.Is(err, token.ErrExpired):
		return ctx, ErrTokenExpired
	case err != nil:
		return ctx, ErrUnauthorized.Wrap(err)
	}
	ctx = viewer.NewContext(ctx, viewer.Session(c.UserID, c.SessionID))
	return logging.With(ctx, s.log, slog.String("user_id", c.UserID.String())), nil
}

// Authenticate is Verify plus the session check at once, for callers that
// have no unit of work to fold it into (a WebSocket handshake): a disabled
// or deleted user, or a revoked session, is refused at once rather than when
// the token expires.
func (s *Service) Authenticate(ctx context.Context, access string) (context.Context, error) {
	ctx, err := s.Verify(ctx, access)
	if err != nil {
		return ctx, err
	}
	if err := s.db.Run(ctx, func(context.Context, *ent.Tx) error { return nil }); err != nil {
		return ctx, err
	}
	return ctx, nil
}
