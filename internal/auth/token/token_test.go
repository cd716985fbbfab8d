package token

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

var secret = []byte(strings.Repeat("k", 32))

func issuer(t testing.TB, now time.Time) *Issuer {
	t.Helper()
	i, err := NewIssuer(secret, "jarvis-core", "jarvis-api", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	i.now = func() time.Time { return now }
	return i
}

func TestIssueAndVerify(t *testing.T) {
	now := time.Now()
	i := issuer(t, now)
	user, session := uuid.New(), uuid.New()
	raw, c, err := i.Issue(user, session)
	if err != nil {
		t.Fatal(err)
	}
	got, err := i.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != user || got.SessionID != session || got.ID != c.ID || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("claims = %+v, want %+v", got, c)
	}
	_, c2, _ := i.Issue(user, session)
	if c2.ID == c.ID {
		t.Fatal("two tokens share a jti")
	}
}

// forge signs arbitrary claims, the way an attacker or a buggy client would.
func forge(t *testing.T, method jwt.SigningMethod, key any, mutate func(*jwtClaims)) string {
	t.Helper()
	s, err := sign(method, key, mutate)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(method jwt.SigningMethod, key any, mutate func(*jwtClaims)) (string, error) {
	now := time.Now()
	c := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: uuid.NewString(), Issuer: "jarvis-core", Audience: jwt.ClaimStrings{"jarvis-api"},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: uuid.NewString(),
		},
		Type: typeAccess, SessionID: uuid.NewString(),
	}
	if mutate != nil {
		mutate(&c)
	}
	return jwt.NewWithClaims(method, c).SignedString(key)
}

func TestVerifyRefuses(t *testing.T) {
	i := issuer(t, time.Now())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Hour
	cases := map[string]struct {
		token string
		want  error
	}{
		"valid control": {forge(t, jwt.SigningMethodHS256, secret, nil), nil},
		"alg none":      {forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), ErrInvalid},
		"HS512":         {forge(t, jwt.SigningMethodHS512, secret, nil), ErrInvalid},
		"RS256":         {forge(t, jwt.SigningMethodRS256, rsaKey, nil), ErrInvalid},
		"other secret":  {forge(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), nil), ErrInvalid},
		"expired": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * hour))
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-hour))
		}), ErrExpired},
		"no exp": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.ExpiresAt = nil }), ErrInvalid},
		"not yet valid": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) {
			c.NotBefore = jwt.NewNumericDate(time.Now().Add(hour))
		}), ErrInvalid},
		"issued in the future": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(hour))
		}), ErrInvalid},
		"lifetime over the configured one": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) {
			c.ExpiresAt = jwt.NewNumericDate(c.IssuedAt.Add(15*time.Minute + time.Second))
		}), ErrInvalid},
		"lifetime of a year, backdated iat": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(365 * 24 * hour))
		}), ErrInvalid},
		"lifetime exactly the configured one": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) {
			c.ExpiresAt = jwt.NewNumericDate(c.IssuedAt.Add(15 * time.Minute))
		}), nil},
		"no iat":       {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.IssuedAt = nil }), ErrInvalid},
		"wrong issuer": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.Issuer = "evil" }), ErrInvalid},
		"wrong aud":    {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.Audience = jwt.ClaimStrings{"other"} }), ErrInvalid},
		"refresh typ":  {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.Type = "refresh" }), ErrInvalid},
		"no typ":       {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.Type = "" }), ErrInvalid},
		"sub not uuid": {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.Subject = "admin" }), ErrInvalid},
		"nil sub":      {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.Subject = uuid.Nil.String() }), ErrInvalid},
		"no sid":       {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.SessionID = "" }), ErrInvalid},
		"no jti":       {forge(t, jwt.SigningMethodHS256, secret, func(c *jwtClaims) { c.ID = "" }), ErrInvalid},
		"garbage":      {"not.a.jwt", ErrInvalid},
		"empty":        {"", ErrInvalid},
	}
	for name, c := range cases {
		_, err := i.Verify(c.token)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
}

func TestLeewayToleratesSmallSkew(t *testing.T) {
	now := time.Now()
	raw, _, err := issuer(t, now).Issue(uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	// A verifier whose clock is 20 s behind accepts a token issued "in its future".
	if _, err := issuer(t, now.Add(-20*time.Second)).Verify(raw); err != nil {
		t.Fatalf("20 s skew: %v", err)
	}
	// 15 min + 20 s later: expired by 20 s, within leeway.
	if _, err := issuer(t, now.Add(15*time.Minute+20*time.Second)).Verify(raw); err != nil {
		t.Fatalf("expired within leeway: %v", err)
	}
	if _, err := issuer(t, now.Add(16*time.Minute)).Verify(raw); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired beyond leeway: %v", err)
	}
}

func TestNewIssuerRefusesAShortSecret(t *testing.T) {
	if _, err := NewIssuer([]byte("short"), "i", "a", time.Minute); err == nil {
		t.Fatal("short secret accepted")
	}
}

// FuzzVerify: any input is refused without panicking, unless it carries
// exactly the claims this process signed (each fuzz process has its own key).
func FuzzVerify(f *testing.F) {
	key := make([]byte, 32)
	rand.Read(key) //nolint:errcheck
	i, err := NewIssuer(key, "jarvis-core", "jarvis-api", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	good, issued, _ := i.Issue(uuid.New(), uuid.New())
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	if other, err := sign(jwt.SigningMethodHS256, secret, nil); err == nil {
		f.Add(other)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := i.Verify(raw)
		if err == nil && (c.ID != issued.ID || c.UserID != issued.UserID || c.SessionID != issued.SessionID) {
			t.Fatalf("verified a token this process did not sign: %q", raw)
		}
	})
}

func TestContextCarriesOnlyTheTokenItVerified(t *testing.T) {
	c := Claims{UserID: uuid.New(), SessionID: uuid.New(), ID: "j"}
	ctx := NewContext(context.Background(), "tok-a", c)
	if got, ok := FromContext(ctx, "tok-a"); !ok || got != c {
		t.Fatalf("FromContext(tok-a) = %v, %v; want the recorded claims", got, ok)
	}
	for _, raw := range []string{"tok-b", ""} {
		if _, ok := FromContext(ctx, raw); ok {
			t.Fatalf("FromContext(%q) found claims recorded for another token", raw)
		}
	}
	if _, ok := FromContext(context.Background(), "tok-a"); ok {
		t.Fatal("FromContext found claims in an empty context")
	}
}
