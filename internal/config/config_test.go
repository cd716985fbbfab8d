package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func valid() map[string]string {
	return map[string]string{
		"DATABASE_URL":       "postgres://svc:pw@localhost:5432/jarvis",
		"JWT_SECRET":         strings.Repeat("s", 32),
		"SECRETS_MASTER_KEY": strings.Repeat("ab", 32),
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != Development || c.Addr() != "127.0.0.1:8080" || c.JWTAccessExpiry != 15*time.Minute ||
		c.JWTRefreshExpiry != 7*24*time.Hour || len(c.SecretsMasterKey) != 32 || c.SecretsKeyVersion != 1 ||
		c.RedisURL != "" || c.EmbeddingsProvider != "local" {
		t.Fatalf("defaults = %+v", c)
	}
	prod := valid()
	prod["APP_ENV"] = "production"
	if c, err := Load(env(prod)); err != nil || c.Host != "0.0.0.0" {
		t.Fatalf("production host = %q, %v", c.Host, err)
	}
}

func TestLoadListsEveryBadVariableWithoutValues(t *testing.T) {
	secretish := "hunter2-not-long-enough"
	bad := map[string]string{
		"APP_ENV":             "staging",
		"PORT":                "http",
		"DATABASE_URL":        "mysql://u:" + secretish + "@h/db",
		"REDIS_URL":           "::::",
		"JWT_SECRET":          secretish,
		"JWT_ACCESS_EXPIRY":   "soon",
		"SECRETS_MASTER_KEY":  strings.Repeat("zz", 32),
		"SECRETS_OLD_KEYS":    "1:" + strings.Repeat("ab", 32) + ",x:12",
		"EMBEDDINGS_PROVIDER": "openai",
	}
	_, err := Load(env(bad))
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	want := []string{"APP_ENV", "DATABASE_URL", "EMBEDDINGS_API_KEY", "JWT_ACCESS_EXPIRY", "JWT_SECRET",
		"PORT", "REDIS_URL", "SECRETS_MASTER_KEY", "SECRETS_OLD_KEYS"}
	got := map[string]bool{}
	for _, p := range cfgErr.Problems {
		got[p.Var] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no problem reported for %s; got %v", w, cfgErr.Problems)
		}
	}
	msg := err.Error()
	for _, k := range []string{"DATABASE_URL", "JWT_SECRET", "SECRETS_MASTER_KEY", "SECRETS_OLD_KEYS", "PORT", "JWT_ACCESS_EXPIRY"} {
		if strings.Contains(msg, bad[k]) {
			t.Errorf("error message echoes the value of %s:\n%s", k, msg)
		}
	}
	if strings.Contains(msg, secretish) || strings.Contains(msg, "abab") {
		t.Errorf("error message echoes a secret:\n%s", msg)
	}
}

func TestLoadRequiresSecrets(t *testing.T) {
	_, err := Load(env(map[string]string{}))
	for _, v := range []string{"DATABASE_URL", "JWT_SECRET", "SECRETS_MASTER_KEY"} {
		if err == nil || !strings.Contains(err.Error(), v+": is required") {
			t.Errorf("missing %s not reported: %v", v, err)
		}
	}
}

func TestMasterKeyMustBeExactly64Hex(t *testing.T) {
	for _, k := range []string{strings.Repeat("a", 62), strings.Repeat("a", 66), strings.Repeat("g", 64)} {
		m := valid()
		m["SECRETS_MASTER_KEY"] = k
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "SECRETS_MASTER_KEY") {
			t.Errorf("key of %d chars accepted: %v", len(k), err)
		}
	}
}

func TestOldKeysForRotation(t *testing.T) {
	m := valid()
	m["SECRETS_KEY_VERSION"] = "3"
	m["SECRETS_OLD_KEYS"] = "1:" + strings.Repeat("01", 32) + ", 2:" + strings.Repeat("02", 32)
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SecretsOldKeys) != 2 || c.SecretsOldKeys[2][0] != 2 {
		t.Fatalf("old keys = %v", c.SecretsOldKeys)
	}
	m["SECRETS_OLD_KEYS"] = "3:" + strings.Repeat("03", 32)
	if _, err := Load(env(m)); err == nil {
		t.Fatal("an old key reusing the current version was accepted")
	}
}

func TestRefreshMustOutliveAccess(t *testing.T) {
	m := valid()
	m["JWT_ACCESS_EXPIRY"] = "2h"
	m["JWT_REFRESH_EXPIRY"] = "1h"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "JWT_REFRESH_EXPIRY") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 168 * time.Hour, "15m": 15 * time.Minute, "1h30m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"d", "-1d", "7days", ""} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func TestEnvFileRoundTrip(t *testing.T) {
	path := t.TempDir() + "/.env"
	if err := WriteEnvFile(path, "# header\n", map[string]string{"B": "2", "A": "x=y"}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEnvFile(path)
	if err != nil || got["A"] != "x=y" || got["B"] != "2" || len(got) != 2 {
		t.Fatalf("read back %v, %v", got, err)
	}
	missing, err := ReadEnvFile(t.TempDir() + "/none")
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing file: %v, %v", missing, err)
	}
}

func TestEnvExampleListsEveryVariable(t *testing.T) {
	example, err := ReadEnvFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	Load(func(k string) string { read[k] = true; return "" }) //nolint:errcheck // only the names matter
	for k := range read {
		if _, ok := example[k]; !ok {
			t.Errorf(".env.example lacks %s", k)
		}
	}
	example["JWT_SECRET"] = strings.Repeat("s", 32)
	example["SECRETS_MASTER_KEY"] = strings.Repeat("ab", 32)
	if _, err := Load(env(example)); err != nil {
		t.Fatalf(".env.example with secrets filled does not load: %v", err)
	}
}
