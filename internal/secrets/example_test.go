package secrets_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/secrets"
)

// A value is sealed bound to its user and row (the additional authenticated
// data), and opens only with that same binding: a ciphertext copied to
// another row or another user's account does not open.
func ExampleBox() {
	// In the service the key comes from SECRETS_MASTER_KEY (secrets.Config).
	box, err := secrets.NewBox(1, bytes.Repeat([]byte{0x42}, 32), nil)
	if err != nil {
		panic(err)
	}
	alice := uuid.MustParse("0190f2a0-0000-7000-8000-000000000001")
	mallory := uuid.MustParse("0190f2a0-0000-7000-8000-000000000002")
	secretID := uuid.MustParse("0190f2a0-0000-7000-8000-0000000000aa")

	sealed, err := box.Seal([]byte("sk-live-0123456789abcdef"), secrets.Binding(alice, secretID))
	if err != nil {
		panic(err)
	}
	// The nonce is random, so the ciphertext differs on every seal; its
	// length is the value's, the tag and nonce lengths are fixed.
	fmt.Println("stored:", len(sealed.Ciphertext), "bytes + tag", len(sealed.Tag), "+ nonce", len(sealed.Nonce), "under key", sealed.KeyVersion)

	plain, err := box.Open(sealed, secrets.Binding(alice, secretID))
	fmt.Printf("alice's row: %s %v\n", plain, err)

	_, err = box.Open(sealed, secrets.Binding(mallory, secretID))
	fmt.Println("copied to mallory:", errors.Is(err, secrets.ErrOpen))
	// Output:
	// stored: 24 bytes + tag 16 + nonce 12 under key 1
	// alice's row: sk-live-0123456789abcdef <nil>
	// copied to mallory: true
}

// Rotation: a box holding the new key (version 2) and the old one opens
// what version 1 sealed, and Reseal moves it to version 2; a box with only
// the new key can no longer open the old ciphertext.
func ExampleBox_Reseal() {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, _ := secrets.NewBox(1, k1, nil)
	ad := secrets.Binding(uuid.Max, uuid.Max)
	sealed, _ := old.Seal([]byte("sk-live-value"), ad)

	rotating, err := secrets.NewBox(2, k2, map[int][]byte{1: k1})
	if err != nil {
		panic(err)
	}
	resealed, changed, err := rotating.Reseal(sealed, ad)
	fmt.Println("resealed:", changed, "now under key", resealed.KeyVersion, err)

	newOnly, _ := secrets.NewBox(2, k2, nil)
	plain, err := newOnly.Open(resealed, ad)
	fmt.Printf("new key opens it: %s %v\n", plain, err)
	_, err = newOnly.Open(sealed, ad)
	fmt.Println("old ciphertext:", errors.Is(err, secrets.ErrUnknownKey))
	// Output:
	// resealed: true now under key 2 <nil>
	// new key opens it: sk-live-value <nil>
	// old ciphertext: true
}
