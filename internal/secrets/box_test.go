package secrets

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func newBox(t testing.TB) *Box {
	t.Helper()
	b, err := NewBox(2, key(2), map[int][]byte{1: key(1)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := newBox(t)
	ad := Binding(uuid.New(), uuid.New())
	for _, plain := range []string{"", "sk-live-123", strings.Repeat("x", 10000)} {
		s, err := b.Seal([]byte(plain), ad)
		if err != nil {
			t.Fatal(err)
		}
		if s.KeyVersion != 2 || len(s.Nonce) != 12 || len(s.Tag) != 16 || len(s.Ciphertext) != len(plain) {
			t.Fatalf("sealed shape: v%d nonce %d tag %d ct %d", s.KeyVersion, len(s.Nonce), len(s.Tag), len(s.Ciphertext))
		}
		if len(plain) > 4 && bytes.Contains(s.Ciphertext, []byte(plain)) {
			t.Fatal("ciphertext contains the plaintext")
		}
		got, err := b.Open(s, ad)
		if err != nil || string(got) != plain {
			t.Fatalf("open = %q, %v", got, err)
		}
	}
}

func TestOpenRefusesAnythingAltered(t *testing.T) {
	b := newBox(t)
	user, id := uuid.New(), uuid.New()
	ad := Binding(user, id)
	s, err := b.Seal([]byte("sk-live-123"), ad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(p []byte) []byte { c := bytes.Clone(p); c[0] ^= 1; return c }
	cases := map[string]struct {
		s  Sealed
		ad []byte
	}{
		"other secret row": {s, Binding(user, uuid.New())},
		"other user":       {s, Binding(uuid.New(), id)},
		"no binding":       {s, nil},
		"ciphertext":       {Sealed{flip(s.Ciphertext), s.Nonce, s.Tag, s.KeyVersion}, ad},
		"nonce":            {Sealed{s.Ciphertext, flip(s.Nonce), s.Tag, s.KeyVersion}, ad},
		"tag":              {Sealed{s.Ciphertext, s.Nonce, flip(s.Tag), s.KeyVersion}, ad},
		"short tag":        {Sealed{s.Ciphertext, s.Nonce, s.Tag[:8], s.KeyVersion}, ad},
		"other key":        {Sealed{s.Ciphertext, s.Nonce, s.Tag, 1}, ad},
	}
	for name, c := range cases {
		if got, err := b.Open(c.s, c.ad); !errors.Is(err, ErrOpen) || got != nil {
			t.Errorf("%s: open = %q, %v; want ErrOpen", name, got, err)
		}
	}
	if _, err := b.Open(Sealed{s.Ciphertext, s.Nonce, s.Tag, 9}, ad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown version: %v", err)
	}
}

func TestErrorsNeverCarryTheValue(t *testing.T) {
	b := newBox(t)
	s, _ := b.Seal([]byte("sk-live-very-secret"), Binding(uuid.New(), uuid.New()))
	_, err := b.Open(s, nil)
	if err == nil || strings.Contains(err.Error(), "sk-live") {
		t.Fatalf("err = %v", err)
	}
}

func TestNoncesDoNotRepeat(t *testing.T) {
	b := newBox(t)
	seen := make(map[string]bool, 20000)
	for range 20000 {
		s, err := b.Seal([]byte("v"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(s.Nonce)] {
			t.Fatal("nonce repeated")
		}
		seen[string(s.Nonce)] = true
	}
}

func TestResealMovesToTheCurrentKey(t *testing.T) {
	old, err := NewBox(1, key(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	ad := Binding(uuid.New(), uuid.New())
	s1, _ := old.Seal([]byte("sk-old"), ad)
	b := newBox(t) // current 2, still holds 1
	s2, changed, err := b.Reseal(s1, ad)
	if err != nil || !changed || s2.KeyVersion != 2 {
		t.Fatalf("reseal: v%d changed=%v err=%v", s2.KeyVersion, changed, err)
	}
	if got, err := b.Open(s2, ad); err != nil || string(got) != "sk-old" {
		t.Fatalf("open resealed: %q %v", got, err)
	}
	if _, changed, _ := b.Reseal(s2, ad); changed {
		t.Fatal("resealing a current ciphertext changed it")
	}
	onlyNew, _ := NewBox(2, key(2), nil)
	if _, err := onlyNew.Open(s1, ad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a box without the old key opened an old ciphertext: %v", err)
	}
}

func TestNewBoxValidatesKeys(t *testing.T) {
	for name, f := range map[string]func() (*Box, error){
		"short key":       func() (*Box, error) { return NewBox(1, key(1)[:16], nil) },
		"version zero":    func() (*Box, error) { return NewBox(0, key(1), nil) },
		"duplicate":       func() (*Box, error) { return NewBox(1, key(1), map[int][]byte{1: key(2)}) },
		"short older key": func() (*Box, error) { return NewBox(2, key(1), map[int][]byte{1: key(2)[:31]}) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// FuzzSealOpen: whatever the value and binding, a seal opens to the same
// bytes with its binding and not with another.
func FuzzSealOpen(f *testing.F) {
	f.Add([]byte("sk-live-123"), []byte("ad"), []byte("other"))
	f.Add([]byte{}, []byte{}, []byte{0})
	b := newBox(f)
	f.Fuzz(func(t *testing.T, plain, ad, other []byte) {
		s, err := b.Seal(plain, ad)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Open(s, ad)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("round trip: %v", err)
		}
		if !bytes.Equal(ad, other) {
			if _, err := b.Open(s, other); !errors.Is(err, ErrOpen) {
				t.Fatalf("opened under another binding: %v", err)
			}
		}
	})
}

// FuzzOpenGarbage: arbitrary stored bytes never panic and never open.
func FuzzOpenGarbage(f *testing.F) {
	f.Add([]byte("ct"), make([]byte, 12), make([]byte, 16), 2)
	b := newBox(f)
	f.Fuzz(func(t *testing.T, ct, nonce, tag []byte, version int) {
		if _, err := b.Open(Sealed{ct, nonce, tag, version}, nil); err == nil {
			t.Fatal("random bytes opened")
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	box := newBox(b)
	plain := make([]byte, 64)
	rand.Read(plain) //nolint:errcheck
	ad := Binding(uuid.New(), uuid.New())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := box.Seal(plain, ad); err != nil {
			b.Fatal(err)
		}
	}
}
