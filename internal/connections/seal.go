package connections

import (
	"errors"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

// Which token a sealed value is: part of its binding, so an access token's
// ciphertext copied into the refresh column does not open there.
const (
	accessToken  = "access"
	refreshToken = "refresh"
	pkceVerifier = "verifier"
)

// binding is the additional authenticated data of one token of one
// connection (or of one flow's verifier): user, row and which token.
func binding(userID, rowID uuid.UUID, which string) []byte {
	const prefix = "jarvis/oauth_connection/v1/"
	ad := make([]byte, 0, len(prefix)+32+len(which)+1)
	ad = append(ad, prefix...)
	ad = append(ad, userID[:]...)
	ad = append(ad, rowID[:]...)
	ad = append(ad, '/')
	return append(ad, which...)
}

// nonce | ciphertext | tag, in one column; the key version is the row's.
const nonceLen, tagLen = 12, 16

var errPacked = errors.New("sealed token is malformed")

func pack(s secrets.Sealed) []byte {
	out := make([]byte, 0, nonceLen+len(s.Ciphertext)+tagLen)
	out = append(out, s.Nonce...)
	out = append(out, s.Ciphertext...)
	return append(out, s.Tag...)
}

func unpack(b []byte, version int) (secrets.Sealed, error) {
	if len(b) < nonceLen+tagLen {
		return secrets.Sealed{}, errPacked
	}
	return secrets.Sealed{Nonce: b[:nonceLen], Ciphertext: b[nonceLen : len(b)-tagLen],
		Tag: b[len(b)-tagLen:], KeyVersion: version}, nil
}

// sealer seals and opens one user's row's tokens.
type sealer struct {
	box         *secrets.Box
	user, rowID uuid.UUID
}

func (s sealer) seal(which, value string) ([]byte, error) {
	out, err := s.box.Seal([]byte(value), binding(s.user, s.rowID, which))
	if err != nil {
		return nil, err
	}
	return pack(out), nil
}

func (s sealer) open(which string, b []byte, version int) (string, error) {
	sealed, err := unpack(b, version)
	if err != nil {
		return "", err
	}
	plain, err := s.box.Open(sealed, binding(s.user, s.rowID, which))
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// hasRefresh says whether c holds a refresh token. ent scans a NULL bytea
// into a non-nil pointer to an empty slice, so nil alone does not tell.
func hasRefresh(c *ent.OAuthConnection) bool {
	return c.RefreshToken != nil && len(*c.RefreshToken) > 0
}
