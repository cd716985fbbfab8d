// Package token issues and verifies access tokens: HS256 JWTs (the algorithm
// is pinned, never read from the token) carrying the user (sub), the session
// (sid), iat, exp, iss, aud, a unique jti and typ "access", checked with a
// small leeway for clock skew. Refresh tokens are not JWTs: see the session
// service.
package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Type of the tokens this package issues; a token of another type (a
// refresh token presented as access, an ID token) is refused.
const typeAccess = "access"

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

var (
	// ErrExpired is returned for a well-formed, correctly signed token past exp.
	ErrExpired = errors.New("access token expired")
	// ErrInvalid is returned for every other failure; the reason stays in logs.
	ErrInvalid = errors.New("access token invalid")
)

// Claims are what a verified access token says.
type Claims struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	ID        string // jti
	IssuedAt  time.Time
	ExpiresAt time.Time
}

type jwtClaims struct {
	jwt.RegisteredClaims
	Type      string `json:"typ"`
	SessionID string `json:"sid"`
}

// Issuer signs and verifies access tokens with one secret.
type Issuer struct {
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewIssuer needs a secret of at least 32 bytes.
func NewIssuer(secret []byte, issuer, audience string, ttl time.Duration) (*Issuer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("jwt secret must be at least 32 bytes, got %d", len(secret))
	}
	if issuer == "" || audience == "" || ttl <= 0 {
		return nil, errors.New("jwt issuer, audience and a positive lifetime are required")
	}
	return &Issuer{secret: secret, issuer: issuer, audience: audience, ttl: ttl, now: time.Now}, nil
}

// TTL is how long issued tokens live.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue signs a token for a user's session.
func (i *Issuer) Issue(userID, sessionID uuid.UUID) (string, Claims, error) {
	now := i.now().Truncate(time.Second)
	c := Claims{UserID: userID, SessionID: sessionID, ID: uuid.NewString(), IssuedAt: now, ExpiresAt: now.Add(i.ttl)}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID.String(),
			Issuer:    i.issuer,
			Audience:  jwt.ClaimStrings{i.audience},
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			NotBefore: jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			ID:        c.ID,
		},
		Type:      typeAccess,
		SessionID: sessionID.String(),
	})
	s, err := tok.SignedString(i.secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign access token: %w", err)
	}
	return s, c, nil
}

// Verify checks signature (HS256 only), iss, aud, exp, nbf, iat, typ, and the
// ids; it returns ErrExpired or ErrInvalid, wrapped with the reason.
func (i *Issuer) Verify(raw string) (Claims, error) {
	var jc jwtClaims
	_, err := jwt.ParseWithClaims(raw, &jc, func(*jwt.Token) (any, error) { return i.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(i.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(i.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, ErrExpired
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	case jc.Type != typeAccess:
		return Claims{}, fmt.Errorf("%w: typ %q", ErrInvalid, jc.Type)
	case jc.IssuedAt == nil || jc.ID == "":
		return Claims{}, fmt.Errorf("%w: iat and jti are required", ErrInvalid)
	case jc.ExpiresAt.Sub(jc.IssuedAt.Time) > i.ttl:
		// Correctly signed but longer-lived than this service issues: a
		// leaked secret's forgery, or a token from before the lifetime was
		// shortened. Either way not one to honour for its whole length.
		return Claims{}, fmt.Errorf("%w: lifetime %s exceeds %s", ErrInvalid, jc.ExpiresAt.Sub(jc.IssuedAt.Time), i.ttl)
	}
	uid, err := uuid.Parse(jc.Subject)
	if err != nil || uid == uuid.Nil {
		return Claims{}, fmt.Errorf("%w: sub is not a user id", ErrInvalid)
	}
	sid, err := uuid.Parse(jc.SessionID)
	if err != nil || sid == uuid.Nil {
		return Claims{}, fmt.Errorf("%w: sid is not a session id", ErrInvalid)
	}
	return Claims{UserID: uid, SessionID: sid, ID: jc.ID, IssuedAt: jc.IssuedAt.Time, ExpiresAt: jc.ExpiresAt.Time}, nil
}
