// Package token issues and verifies access tokens: HS256 JWTs (the algorithm
// is pinned, never read from the token) carrying the user (sub), the session
// (sid), iat, exp, iss, aud, a unique jti and typ "access", checked with a
// small leeway for clock skew. Refresh tokens are not JWTs: see the session
// service.
package token

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-faster/jx"
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
	scratch  sync.Pool // of *scratch, with an HMAC-SHA256 keyed with secret
}

// NewIssuer needs a secret of at least 32 bytes.
func NewIssuer(secret []byte, issuer, audience string, ttl time.Duration) (*Issuer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("jwt secret must be at least 32 bytes, got %d", len(secret))
	}
	if issuer == "" || audience == "" || ttl <= 0 {
		return nil, errors.New("jwt issuer, audience and a positive lifetime are required")
	}
	i := &Issuer{secret: secret, issuer: issuer, audience: audience, ttl: ttl, now: time.Now}
	i.scratch.New = func() any { return &scratch{mac: hmac.New(sha256.New, secret)} }
	return i, nil
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
//
// It runs on every authenticated request, so it is written for that: the
// signature is checked first, over the token's bytes as they came, so that
// nothing a caller wrote is parsed before it is known to be ours; the header
// Issue writes is recognised by its bytes; and the claims are read in one
// pass with jx, in pooled buffers. golang-jwt's parser (which still signs)
// took a tenth of a read request's CPU time and 69 allocations for the same
// checks; reference_test holds it as the answer Verify must agree with.
func (i *Issuer) Verify(raw string) (Claims, error) {
	if len(raw) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, maxTokenLen)
	}
	header, rest, ok := strings.Cut(raw, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return Claims{}, fmt.Errorf("%w: not a signed JWT", ErrInvalid)
	}
	s := i.scratch.Get().(*scratch)
	defer s.release(&i.scratch)
	if !s.signed(raw[:len(header)+1+len(payload)], sig) {
		return Claims{}, fmt.Errorf("%w: signature is invalid", ErrInvalid)
	}
	if err := checkHeader(header); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c := claims{wantIss: i.issuer, wantAud: i.audience}
	if err := s.decode(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %w", ErrInvalid, err)
	}
	return i.validate(&c)
}

// maxTokenLen bounds what Verify hashes: the tokens Issue writes are about
// 400 bytes, and a megabyte of header (net/http's limit) would otherwise be
// MACed and decoded for nothing.
const maxTokenLen = 4 << 10

// scratch is one verification's working memory, pooled by the Issuer: its
// keyed MAC, a copy of the bytes it reads, the decoded payload and the JSON
// decoder.
type scratch struct {
	mac     hash.Hash
	in, out []byte
	dec     jx.Decoder
}

// release returns s to pool, unless an outsized token grew its buffers.
func (s *scratch) release(pool *sync.Pool) {
	if cap(s.in)+cap(s.out) > 4*maxTokenLen {
		return
	}
	pool.Put(s)
}

// signed reports whether sig is the HS256 MAC of input under the secret.
func (s *scratch) signed(input, sig string) bool {
	var want [sha256.Size]byte
	if base64.RawURLEncoding.EncodedLen(len(want)) != len(sig) {
		return false
	}
	s.in = append(s.in[:0], sig...)
	if n, err := base64.RawURLEncoding.Strict().Decode(want[:], s.in); err != nil || n != len(want) {
		return false
	}
	s.in = append(s.in[:0], input...)
	s.mac.Reset()
	s.mac.Write(s.in) //nolint:errcheck // a hash.Hash never fails to write
	var got [sha256.Size]byte
	return hmac.Equal(s.mac.Sum(got[:0]), want[:])
}

// ourHeader is the header Issue writes (golang-jwt's, keys in order).
var ourHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// checkHeader refuses any algorithm but HS256. A header spelled otherwise
// than ours is decoded; it is already known to be signed with our secret.
func checkHeader(seg string) error {
	if seg == ourHeader {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("header is not base64url")
	}
	// A map, as golang-jwt reads it: "alg" exactly, the last one winning.
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		return errors.New("header is not a JSON object")
	}
	if alg, _ := h["alg"].(string); alg != jwt.SigningMethodHS256.Alg() {
		return fmt.Errorf("alg %q is not HS256", alg)
	}
	return nil
}

// claims are what decode read from a payload: iss, aud and typ only as
// whether they are what this service wants, sub and sid as ids, and the
// dates with whether they were there.
type claims struct {
	wantIss, wantAud       string
	issOK, audOK, typOK    bool
	sub, sid               uuid.UUID
	subOK, sidOK           bool
	jti                    string
	exp, nbf, iat          time.Time
	hasExp, hasNbf, hasIat bool
}

// decode reads a base64url payload segment into c, with golang-jwt's
// (encoding/json's) reading of it: keys match in any case ("SUB" is sub), a
// later duplicate wins, null leaves a string claim as it was and makes a
// date absent, unknown keys are skipped, nothing may follow the object.
func (s *scratch) decode(seg string, c *claims) error {
	s.in = append(s.in[:0], seg...)
	var err error
	if s.out, err = base64.RawURLEncoding.AppendDecode(s.out[:0], s.in); err != nil {
		return errors.New("not base64url")
	}
	// encoding/json's own syntax check first (one value, nothing after it):
	// jx is laxer on some numbers ("179+0" reads as 179), and golang-jwt
	// refused what this refuses.
	if !json.Valid(s.out) {
		return errors.New("not JSON")
	}
	d := &s.dec
	d.ResetBytes(s.out)
	err = d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if d.Next() == jx.Null {
			c.clear(key)
			return d.Null()
		}
		var err error
		switch claimName(key) {
		case "sub":
			c.sub, c.subOK, err = id(d)
		case "sid":
			c.sid, c.sidOK, err = id(d)
		case "iss":
			c.issOK, err = is(d, c.wantIss)
		case "typ":
			c.typOK, err = is(d, typeAccess)
		case "jti":
			c.jti, err = str(d)
		case "aud":
			c.audOK, err = namesAudience(d, c.wantAud)
		case "exp":
			c.exp, c.hasExp, err = numericDate(d)
		case "nbf":
			c.nbf, c.hasNbf, err = numericDate(d)
		case "iat":
			c.iat, c.hasIat, err = numericDate(d)
		default:
			err = d.Skip()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	return err
}

// claimNames are the claims decode reads.
var claimNames = []string{"sub", "sid", "iss", "typ", "jti", "aud", "exp", "nbf", "iat"}

// claimName is the claim key names, matched as encoding/json matches a
// struct field: exactly, else under Unicode case folding; "" for others.
func claimName(key []byte) string {
	for _, n := range claimNames {
		if string(key) == n {
			return n
		}
	}
	for _, n := range claimNames {
		if bytes.EqualFold(key, []byte(n)) {
			return n
		}
	}
	return ""
}

// str reads a string as encoding/json does: each byte that is not UTF-8
// becomes U+FFFD.
func str(d *jx.Decoder) (string, error) {
	s, err := d.Str()
	if err != nil || utf8.ValidString(s) {
		return s, err
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		b.WriteRune(r) // utf8.RuneError for an invalid byte, n == 1
		s = s[n:]
	}
	return b.String(), nil
}

// clear forgets the date claim key names, for a null: encoding/json sets
// golang-jwt's date pointers to nil there, and leaves strings and aud as
// they were.
func (c *claims) clear(key []byte) {
	switch claimName(key) {
	case "exp":
		c.hasExp = false
	case "nbf":
		c.hasNbf = false
	case "iat":
		c.hasIat = false
	}
}

// id reads a string claim that must be a non-nil UUID; ok is false (and no
// error) for a string that is not one, so that the claim is refused as such.
func id(d *jx.Decoder) (uuid.UUID, bool, error) {
	b, err := d.StrBytes()
	if err != nil {
		return uuid.Nil, false, err
	}
	u, err := uuid.ParseBytes(b)
	return u, err == nil && u != uuid.Nil, nil
}

// is reads a string claim and reports whether it is want.
func is(d *jx.Decoder, want string) (bool, error) {
	b, err := d.StrBytes()
	return err == nil && string(b) == want, err
}

// namesAudience reads aud, a string or an array of strings, and reports
// whether it names audience.
func namesAudience(d *jx.Decoder, audience string) (bool, error) {
	named := false
	one := func(d *jx.Decoder) error {
		ok, err := is(d, audience)
		named = named || ok
		return err
	}
	var err error
	if d.Next() == jx.Array {
		err = d.Arr(one)
	} else {
		err = one(d)
	}
	return named, err
}

// errDateRange is a date no token carries; golang-jwt took it as whatever
// the overflowing conversion made of it.
var errDateRange = errors.New("date out of range")

// numericDate reads a JWT NumericDate (seconds since the epoch, possibly
// fractional), to the second as golang-jwt keeps it.
func numericDate(d *jx.Decoder) (time.Time, bool, error) {
	var (
		f   float64
		err error
	)
	if d.Next() == jx.String {
		// A number in quotes, as golang-jwt (json.Number) also takes it.
		var s []byte
		if s, err = d.StrBytes(); err == nil {
			n := jx.DecodeBytes(s)
			if f, err = n.Float64(); err == nil && (n.Skip() != io.EOF || len(bytes.TrimSpace(s)) != len(s)) {
				err = errors.New("not a number")
			}
		}
	} else {
		f, err = d.Float64()
	}
	if err != nil {
		return time.Time{}, false, err
	}
	// Beyond any date a token of ours carries, and where float seconds stop
	// converting exactly to int64.
	if math.Abs(f) > 1e12 {
		return time.Time{}, false, errDateRange
	}
	return time.Unix(int64(math.Floor(f)), 0), true, nil
}

// validate checks decoded claims as golang-jwt's validator did with the
// options Issue's tokens need, plus this package's own rules.
func (i *Issuer) validate(c *claims) (Claims, error) {
	now := i.now()
	switch {
	case c.hasExp && !now.Add(-Leeway).Before(c.exp):
		// First, as in golang-jwt (whose joined errors made expiry win):
		// a client refreshes on it, whatever else is wrong.
		return Claims{}, ErrExpired
	case !c.issOK:
		return Claims{}, fmt.Errorf("%w: iss is not %q", ErrInvalid, i.issuer)
	case !c.audOK:
		return Claims{}, fmt.Errorf("%w: aud does not name %q", ErrInvalid, i.audience)
	case !c.typOK:
		return Claims{}, fmt.Errorf("%w: typ is not %q", ErrInvalid, typeAccess)
	case !c.hasExp:
		return Claims{}, fmt.Errorf("%w: exp is required", ErrInvalid)
	case !c.hasIat || c.jti == "":
		return Claims{}, fmt.Errorf("%w: iat and jti are required", ErrInvalid)
	case now.Add(Leeway).Before(c.iat):
		return Claims{}, fmt.Errorf("%w: issued in the future", ErrInvalid)
	case c.hasNbf && now.Add(Leeway).Before(c.nbf):
		return Claims{}, fmt.Errorf("%w: not valid yet", ErrInvalid)
	case c.exp.Sub(c.iat) > i.ttl:
		// Correctly signed but longer-lived than this service issues: a
		// leaked secret's forgery, or a token from before the lifetime was
		// shortened. Either way not one to honour for its whole length.
		return Claims{}, fmt.Errorf("%w: lifetime %s exceeds %s", ErrInvalid, c.exp.Sub(c.iat), i.ttl)
	case !c.subOK:
		return Claims{}, fmt.Errorf("%w: sub is not a user id", ErrInvalid)
	case !c.sidOK:
		return Claims{}, fmt.Errorf("%w: sid is not a session id", ErrInvalid)
	}
	return Claims{UserID: c.sub, SessionID: c.sid, ID: c.jti, IssuedAt: c.iat, ExpiresAt: c.exp}, nil
}
