package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// referenceVerify is Verify as it was first written, on golang-jwt's parser
// and validator. Verify's own parser must never accept what this refuses,
// nor read different claims from the same token.
func referenceVerify(i *Issuer, raw string) (Claims, error) {
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
		return Claims{}, fmt.Errorf("%w: lifetime exceeds %s", ErrInvalid, i.ttl)
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

// signPayload signs payload, as is, under header with the test secret: the
// way to hand Verify claims no JSON encoder would write.
func signPayload(header, payload string) string {
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// agree fails t when Verify accepts what the reference refuses, reads other
// claims, or refuses what it accepts.
func agree(t *testing.T, i *Issuer, raw string) {
	t.Helper()
	got, err := i.Verify(raw)
	want, refErr := referenceVerify(i, raw)
	switch {
	case err == nil && refErr != nil:
		t.Fatalf("Verify accepted %q, which golang-jwt refuses: %v", raw, refErr)
	case err == nil && (got.UserID != want.UserID || got.SessionID != want.SessionID || got.ID != want.ID ||
		!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt)):
		t.Fatalf("Verify read %+v from %q, golang-jwt %+v", got, raw, want)
	case err != nil && refErr == nil:
		t.Fatalf("Verify refused %q, which golang-jwt accepts: %v", raw, err)
	case err != nil && !errors.Is(err, errDateRange) && errors.Is(err, ErrExpired) != errors.Is(refErr, ErrExpired):
		// A client refreshes on ErrExpired and signs out on ErrInvalid.
		t.Fatalf("Verify refused %q with %v, golang-jwt with %v", raw, err, refErr)
	}
}

const header = `{"alg":"HS256","typ":"JWT"}`

// payloads are claims as a JSON encoder would not all write them: numbers as
// floats, aud as a string, nulls, unknown keys, escapes, duplicates.
func payloads(now time.Time) []string {
	iat, exp := now.Unix(), now.Add(10*time.Minute).Unix()
	sub, sid := uuid.NewString(), uuid.NewString()
	base := fmt.Sprintf(`"sub":%q,"sid":%q,"iss":"jarvis-core","typ":"access","jti":"j1"`, sub, sid)
	return []string{
		fmt.Sprintf(`{%s,"aud":["jarvis-api"],"iat":%d,"exp":%d}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d.75,"exp":%d.25}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":["other","jarvis-api"],"iat":%d,"exp":%d,"nbf":%d}`, base, iat, exp, iat),
		fmt.Sprintf(`{%s,"aud":["other"],"iat":%d,"exp":%d}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":null}`, base, iat),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":null,"exp":%d}`, base, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","aud":null,"iat":%d,"exp":%d}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":"%d","exp":%d}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":[1],"iat":%d,"exp":%d}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":" %d","exp":"%d.5"}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":"%d","exp":"0x%x"}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"x":{"y":[1,2,{"z":null}]}}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"typ":"refresh"}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d} x`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d}  `, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"jti":"\u006a\n"}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%de0,"exp":%d}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":1e300}`, base, iat),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d`, base, iat, exp),
		// Keys in any case, as encoding/json matches struct fields.
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"Typ":"refresh"}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"EXP":null}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"ISS":"evil"}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"AUD":"evil"}`, base, iat, exp),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"SUB":%q}`, base, iat, exp, uuid.NewString()),
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"ſub":%q,"JTI":"j2"}`, base, iat, exp, uuid.NewString()),
		// A jti that is not UTF-8 reads as encoding/json reads it.
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"jti":"a%sb%s"}`, base, iat, exp, "\xff", "\xc3"),
		// Expired and wrong otherwise: expired, as golang-jwt says.
		fmt.Sprintf(`{%s,"aud":"jarvis-api","iat":%d,"exp":%d,"iss":"evil","typ":"refresh"}`, base, iat-7200, exp-7200),
		fmt.Sprintf(`{%s,"aud":"other","iat":%d,"exp":%d,"jti":""}`, base, iat-7200, exp-7200),
		`[]`, `null`, `{}`, ``, `"x"`,
	}
}

func TestVerifyAgreesWithGolangJWT(t *testing.T) {
	now := time.Now()
	i := issuer(t, now)
	for _, p := range payloads(now) {
		agree(t, i, signPayload(header, p))
	}
	ok := payloads(now)[0]
	for _, h := range []string{`{"typ":"JWT","alg":"HS256"}`, `{"alg":"HS256"}`, `{"alg":"none"}`, `{"alg":"HS512"}`, `{"alg":"hs256"}`,
		`{"ALG":"HS256"}`, `{"alg":"HS256","ALG":"none"}`, `{"alg":"none","alg":"HS256"}`, `{"alg":["HS256"]}`, `{}`, `x`} {
		agree(t, i, signPayload(h, ok))
	}
	good := signPayload(header, ok)
	for _, raw := range []string{good + "=", good + ".", strings.TrimSuffix(good, good[len(good)-1:]), "." + good, good[:len(good)-2] + "xx"} {
		agree(t, i, raw)
	}
	// Past maxTokenLen nothing is hashed: refused, however well signed.
	huge := signPayload(header, strings.TrimSuffix(ok, "}")+`,"pad":"`+strings.Repeat("x", maxTokenLen)+`"}`)
	if _, err := i.Verify(huge); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a %d-byte token: %v, want ErrInvalid", len(huge), err)
	}
}

// FuzzVerifyClaims signs whatever payload the fuzzer makes, so that the
// claims parser, not the signature check, is what it explores, and holds
// Verify to golang-jwt's answer on it.
func FuzzVerifyClaims(f *testing.F) {
	now := time.Now()
	for _, p := range payloads(now) {
		f.Add(p)
	}
	i, err := NewIssuer(secret, "jarvis-core", "jarvis-api", 15*time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	i.now = func() time.Time { return now }
	f.Fuzz(func(t *testing.T, payload string) {
		raw := signPayload(header, payload)
		got, err := i.Verify(raw)
		want, refErr := referenceVerify(i, raw)
		switch {
		case err == nil && (refErr != nil || got != want):
			t.Fatalf("Verify accepted %q as %+v; golang-jwt: %+v, %v", payload, got, want, refErr)
		case err != nil && refErr == nil && len(raw) <= maxTokenLen:
			t.Fatalf("Verify refused %q (%v); golang-jwt accepts it", payload, err)
		case err != nil && refErr != nil && !errors.Is(err, errDateRange) && errors.Is(err, ErrExpired) != errors.Is(refErr, ErrExpired):
			t.Fatalf("Verify refused %q with %v, golang-jwt with %v", payload, err, refErr)
		}
	})
}

// BenchmarkVerify sets Verify beside the golang-jwt reference on a token
// Issue wrote.
func BenchmarkVerify(b *testing.B) {
	i := issuer(b, time.Now())
	raw, _, err := i.Issue(uuid.New(), uuid.New())
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		verify func(*Issuer, string) (Claims, error)
	}{{"jx", (*Issuer).Verify}, {"golang-jwt", referenceVerify}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.verify(i, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
