package secrets

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Config holds the master keys secrets are sealed under.
type Config struct {
	// MasterKey seals new secrets: 32 bytes, written as 64 hex characters
	// (openssl rand -hex 32).
	MasterKey Key `env:"SECRETS_MASTER_KEY,notEmpty"`
	// KeyVersion is MasterKey's version, stored beside each sealed secret.
	KeyVersion int `env:"SECRETS_KEY_VERSION" envDefault:"1"`
	// OldKeys are keys being rotated away ("version:hexkey,version:hexkey"),
	// still used to open secrets sealed under them.
	OldKeys OldKeys `env:"SECRETS_OLD_KEYS"`
}

// Validate checks the version against the old keys'.
func (c Config) Validate() error {
	var errs []error
	if c.KeyVersion < 1 {
		errs = append(errs, config.Invalid("SECRETS_KEY_VERSION", "must be a positive integer"))
	}
	if _, reused := c.OldKeys[c.KeyVersion]; reused {
		errs = append(errs, config.Invalid("SECRETS_OLD_KEYS",
			fmt.Sprintf("reuses SECRETS_KEY_VERSION %d", c.KeyVersion)))
	}
	return errors.Join(errs...)
}

// Key is a 32-byte key read from 64 hex characters.
type Key []byte

// UnmarshalText decodes 64 hex characters; its errors never hold the key.
func (k *Key) UnmarshalText(b []byte) error {
	v, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

func decodeKey(v string) ([]byte, error) {
	if len(v) != 64 {
		return nil, config.Reason(fmt.Sprintf("must be exactly 64 hex characters (it has %d)", len(v)))
	}
	k, err := hex.DecodeString(v)
	if err != nil {
		return nil, config.Reason("must be hex (0-9, a-f)")
	}
	return k, nil
}

// OldKeys are keys by version.
type OldKeys map[int][]byte

// UnmarshalText reads "version:hexkey,version:hexkey".
func (o *OldKeys) UnmarshalText(b []byte) error {
	out := OldKeys{}
	for i, part := range strings.Split(string(b), ",") {
		ver, key, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(ver)
		if !ok || err != nil || n < 1 {
			return config.Reason(fmt.Sprintf("entry %d must be version:hexkey with a positive version", i+1))
		}
		if _, dup := out[n]; dup {
			return config.Reason(fmt.Sprintf("version %d appears twice", n))
		}
		k, err := decodeKey(key)
		if err != nil {
			return config.Reason(fmt.Sprintf("entry %d key %s", i+1, err))
		}
		out[n] = k
	}
	*o = out
	return nil
}
