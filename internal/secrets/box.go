// Package secrets seals users' third-party API keys: AES-256-GCM with a
// random 96-bit nonce per encryption, the tag stored apart from the
// ciphertext, additional authenticated data binding each ciphertext to its
// user and secret row, and versioned master keys so a new key can be added
// and old ciphertexts re-sealed to it. Values are opened only server side.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

const (
	keySize   = 32 // AES-256
	nonceSize = 12 // the GCM standard nonce: random, never reused under one key
	tagSize   = 16
)

// ErrOpen is returned for any ciphertext that does not open: wrong key, wrong
// binding, tampering. It says nothing more on purpose.
var ErrOpen = errors.New("secret does not decrypt")

// ErrUnknownKey is returned for a key version this process does not hold.
var ErrUnknownKey = errors.New("secret sealed with an unknown key version")

// Sealed is what is stored for one secret value.
type Sealed struct {
	Ciphertext []byte
	Nonce      []byte
	Tag        []byte
	KeyVersion int
}

// Box seals with the current key and opens with any key it holds.
type Box struct {
	current int
	aeads   map[int]cipher.AEAD
}

// NewBox holds the current key (its version seals) and older keys (they only open).
func NewBox(currentVersion int, current []byte, older map[int][]byte) (*Box, error) {
	b := &Box{current: currentVersion, aeads: make(map[int]cipher.AEAD, len(older)+1)}
	add := func(v int, key []byte) error {
		if v < 1 {
			return fmt.Errorf("key version %d: versions start at 1", v)
		}
		if len(key) != keySize {
			return fmt.Errorf("key version %d: need %d bytes, got %d", v, keySize, len(key))
		}
		if _, dup := b.aeads[v]; dup {
			return fmt.Errorf("key version %d given twice", v)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return fmt.Errorf("key version %d: %w", v, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return fmt.Errorf("key version %d: %w", v, err)
		}
		b.aeads[v] = aead
		return nil
	}
	if err := add(currentVersion, current); err != nil {
		return nil, err
	}
	for v, k := range older {
		if err := add(v, k); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// CurrentVersion is the version new seals use.
func (b *Box) CurrentVersion() int { return b.current }

// Binding is the additional authenticated data of a user's secret: a
// ciphertext copied to another row or user does not open there.
func Binding(userID, secretID uuid.UUID) []byte {
	ad := make([]byte, 0, len("jarvis/user_secret/v1/")+32)
	ad = append(ad, "jarvis/user_secret/v1/"...)
	ad = append(ad, userID[:]...)
	return append(ad, secretID[:]...)
}

// Seal encrypts plaintext under the current key, bound to ad.
func (b *Box) Seal(plaintext, ad []byte) (Sealed, error) {
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("nonce: %w", err)
	}
	out := b.aeads[b.current].Seal(nil, nonce, plaintext, ad)
	n := len(out) - tagSize
	return Sealed{
		Ciphertext: out[:n:n],
		Tag:        out[n:],
		Nonce:      nonce,
		KeyVersion: b.current,
	}, nil
}

// Open decrypts s, which must have been sealed with the same ad.
func (b *Box) Open(s Sealed, ad []byte) ([]byte, error) {
	aead, ok := b.aeads[s.KeyVersion]
	if !ok {
		return nil, fmt.Errorf("%w (%d)", ErrUnknownKey, s.KeyVersion)
	}
	if len(s.Nonce) != nonceSize || len(s.Tag) != tagSize {
		return nil, ErrOpen
	}
	msg := make([]byte, 0, len(s.Ciphertext)+tagSize)
	msg = append(append(msg, s.Ciphertext...), s.Tag...)
	plain, err := aead.Open(nil, s.Nonce, msg, ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Reseal opens s and seals it again under the current key (key rotation).
// It returns s unchanged, and false, when s already uses the current key.
func (b *Box) Reseal(s Sealed, ad []byte) (Sealed, bool, error) {
	if s.KeyVersion == b.current {
		return s, false, nil
	}
	plain, err := b.Open(s, ad)
	if err != nil {
		return Sealed{}, false, err
	}
	defer clear(plain)
	out, err := b.Seal(plain, ad)
	return out, err == nil, err
}
