// Package password hashes and checks account passwords with argon2id,
// stored in the PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash)
// so parameters can be raised later: hashes made with older parameters still
// verify and report that they need a rehash at the next login.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// Default follows OWASP's argon2id recommendation (19 MiB, 2 passes, 1
// lane): about 20-30 ms per hash on one core of a small server, which keeps
// logins quick and offline guessing expensive. Raise MemoryKiB first when
// the hardware allows; stored hashes upgrade at their next login.
var Default = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits of what a stored hash may ask for, so a corrupted or hostile row
// cannot make one verification take the server's memory.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 16
	maxThreads   = 16
)

// Policy limits.
const (
	MinLength = 12
	MaxLength = 256  // characters
	maxBytes  = 1024 // a cap on hashing work, whatever the characters
)

var (
	// ErrMismatch is returned when the password does not match.
	ErrMismatch = errors.New("password does not match")
	// ErrMalformed is returned for a stored hash that is not argon2id PHC.
	ErrMalformed = errors.New("stored password hash is malformed")
)

// PolicyError explains why a new password is refused; its message is meant
// for the person choosing it.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return e.Reason }

// CheckPolicy refuses passwords that are too short, too long, blank, or the
// account's own email.
func CheckPolicy(pw, email string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return &PolicyError{"password must be valid UTF-8 text"}
	case n < MinLength:
		return &PolicyError{fmt.Sprintf("password must be at least %d characters", MinLength)}
	case n > MaxLength || len(pw) > maxBytes:
		return &PolicyError{fmt.Sprintf("password must be at most %d characters", MaxLength)}
	case strings.TrimFunc(pw, unicode.IsSpace) == "":
		return &PolicyError{"password must not be only spaces"}
	case email != "" && strings.EqualFold(strings.TrimSpace(pw), strings.TrimSpace(email)):
		return &PolicyError{"password must not be your email address"}
	}
	return nil
}

// Hasher hashes with its Params, at most a Bound's worth at once.
type Hasher struct {
	Params Params
	dummy  string // a hash of no password, verified against for unknown accounts
	gate   *gate
}

// New returns a Hasher for p under DefaultBound.
func New(p Params) (*Hasher, error) { return NewBounded(p, DefaultBound()) }

// NewBounded returns a Hasher for p under b.
func NewBounded(p Params, b Bound) (*Hasher, error) {
	h := &Hasher{Params: p, gate: newGate(b)}
	// The dummy only has to cost what a real hash costs to verify: a random
	// salt and key under h's parameters (no password hashes to it). Hashing
	// a password for it instead ran Argon2 at every start: tens of
	// milliseconds before the service was ready, and its memory (19 MiB by
	// default) in the idle process's resident set.
	salt, key := make([]byte, max(p.SaltLen, 0)), make([]byte, p.KeyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("salt: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("dummy key: %w", err)
	}
	h.dummy = encode(p, salt, key)
	if _, _, _, err := parse(h.dummy); err != nil {
		return nil, fmt.Errorf("password parameters %+v are out of bounds: %w", p, err)
	}
	return h, nil
}

// encode is the PHC string of an Argon2id key.
func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of pw with a new random salt. It waits for a
// slot under the Hasher's bound and returns ErrBusy (or ctx's error) when
// none frees up in time.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > maxBytes {
		return "", &PolicyError{fmt.Sprintf("password must be at most %d characters", MaxLength)}
	}
	salt := make([]byte, h.Params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	leave, err := h.gate.enter(ctx)
	if err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, h.Params.Time, h.Params.MemoryKiB, h.Params.Threads, h.Params.KeyLen)
	leave()
	return encode(h.Params, salt, key), nil
}

// Verify checks pw against a stored PHC hash. It returns ErrMismatch for a
// wrong password, and reports whether the hash should be replaced because it
// was made with other parameters than h's. Like Hash it runs under the
// bound and may return ErrBusy: callers must not read that as a mismatch.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (needsRehash bool, err error) {
	p, salt, want, err := parse(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > maxBytes {
		return false, ErrMismatch
	}
	leave, err := h.gate.enter(ctx)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	leave()
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, ErrMismatch
	}
	return p.MemoryKiB != h.Params.MemoryKiB || p.Time != h.Params.Time || p.Threads != h.Params.Threads ||
		len(salt) != h.Params.SaltLen || uint32(len(want)) != h.Params.KeyLen, nil
}

// VerifyDummy spends the time of one verification and always fails: login
// calls it for unknown emails, so timing does not tell which emails exist.
// It goes through the same bound as real verifications, so it is refused
// (ErrBusy) exactly when they are, and a refusal says nothing either.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	if _, err := h.Verify(ctx, pw, h.dummy); err != nil && !errors.Is(err, ErrMismatch) {
		return err
	}
	return ErrMismatch
}

func parse(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var (
		p       Params
		threads uint32
	)
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil || n != 3 {
		return Params{}, nil, nil, ErrMalformed
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > maxMemoryKiB || p.Time < 1 || p.Time > maxTime || threads < 1 || threads > maxThreads {
		return Params{}, nil, nil, ErrMalformed
	}
	p.Threads = uint8(threads)
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
