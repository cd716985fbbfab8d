package password

import (
	"context"
	"errors"
	"strings"
	"testing"
)

var ctx = context.Background()

// fast keeps unit tests quick; Default's cost is measured by the benchmarks.
var fast = Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func hasher(t testing.TB, p Params) *Hasher {
	t.Helper()
	h, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashAndVerify(t *testing.T) {
	h := hasher(t, fast)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(enc, "correct horse") {
		t.Fatalf("hash = %q", enc)
	}
	if rehash, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil || rehash {
		t.Fatalf("verify = %v, %v", rehash, err)
	}
	if _, err := h.Verify(ctx, "correct horse battery stapler", enc); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	other, _ := h.Hash(ctx, "correct horse battery staple")
	if other == enc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestOlderParametersVerifyAndAskForRehash(t *testing.T) {
	old := hasher(t, fast)
	enc, _ := old.Hash(ctx, "correct horse battery staple")
	stronger := fast
	stronger.MemoryKiB = 128
	rehash, err := hasher(t, stronger).Verify(ctx, "correct horse battery staple", enc)
	if err != nil || !rehash {
		t.Fatalf("verify with newer params = %v, %v; want ok and rehash", rehash, err)
	}
}

func TestMalformedHashes(t *testing.T) {
	h := hasher(t, fast)
	good, _ := h.Hash(ctx, "correct horse battery staple")
	parts := strings.Split(good, "$")
	for name, enc := range map[string]string{
		"empty":        "",
		"bcrypt":       "$2a$12$abcdefghijklmnopqrstuv",
		"argon2i":      strings.Replace(good, "argon2id", "argon2i", 1),
		"version":      strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":  strings.Replace(good, "m=64", "m=99999999", 1),
		"zero time":    strings.Replace(good, "t=1", "t=0", 1),
		"bad salt":     strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"),
		"short key":    strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra fields": good + "$x",
	} {
		if _, err := h.Verify(ctx, "correct horse battery staple", enc); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestDummyVerificationFails(t *testing.T) {
	h := hasher(t, fast)
	if err := h.VerifyDummy(ctx, "anything at all here"); !errors.Is(err, ErrMismatch) {
		t.Fatal(err)
	}
}

func TestPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                         false,
		"            ":                  false,
		strings.Repeat("a", 257):        false,
		"ada@example.com":               false,
		"correct horse battery staple":  true,
		"пароль-пароль-12":              true,
		"exactly12chr":                  true,
		string([]byte{0xff, 0xfe, 'a'}): false,
	} {
		err := CheckPolicy(pw, "Ada@Example.com")
		var pe *PolicyError
		if ok != (err == nil) || (err != nil && !errors.As(err, &pe)) {
			t.Errorf("CheckPolicy(%q) = %v", pw, err)
		}
		if err != nil && strings.Contains(err.Error(), pw) && len(pw) > 3 {
			t.Errorf("policy message echoes the password: %v", err)
		}
	}
}

// FuzzVerify: stored hashes of any shape never panic, and whatever verifies
// is the one password the corpus holds a hash of.
func FuzzVerify(f *testing.F) {
	const secret = "correct horse battery staple"
	h := hasher(f, fast)
	good, _ := h.Hash(ctx, secret)
	f.Add(secret, good)
	f.Add("x", "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, pw, enc string) {
		if _, err := h.Verify(ctx, pw, enc); err == nil && pw != secret {
			t.Fatalf("verified %q against %q", pw, enc)
		}
	})
}

func BenchmarkHashDefault(b *testing.B) {
	h := hasher(b, Default)
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h := hasher(b, Default)
	enc, _ := h.Hash(ctx, "correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil {
			b.Fatal(err)
		}
	}
}

// The dummy an unknown account is verified against costs what a real hash
// of h costs (the same parameters, salt and key sizes), matches no
// password, and differs between hashers; parameters out of bounds are
// refused when the hasher is built, not at the first login.
func TestDummyCostsWhatARealHashCosts(t *testing.T) {
	h, err := New(Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	real, err := h.Hash(context.Background(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	rp, rsalt, rkey, err := parse(real)
	if err != nil {
		t.Fatal(err)
	}
	dp, dsalt, dkey, err := parse(h.dummy)
	if err != nil {
		t.Fatal(err)
	}
	if dp != rp || len(dsalt) != len(rsalt) || len(dkey) != len(rkey) {
		t.Fatalf("dummy %+v salt %d key %d, real %+v salt %d key %d", dp, len(dsalt), len(dkey), rp, len(rsalt), len(rkey))
	}
	if _, err := h.Verify(context.Background(), "correct horse battery", h.dummy); !errors.Is(err, ErrMismatch) {
		t.Fatalf("a password verified against the dummy: %v", err)
	}
	other, err := New(h.Params)
	if err != nil {
		t.Fatal(err)
	}
	if other.dummy == h.dummy {
		t.Fatal("two hashers share a dummy")
	}
	if _, err := New(Params{MemoryKiB: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}); err == nil {
		t.Fatal("a hasher with 0 passes was built")
	}
}
