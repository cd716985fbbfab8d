package secrets_test

import (
	"strings"
	"testing"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

func load(vars map[string]string) (secrets.Config, error) {
	return config.Load[secrets.Config](config.Map(vars))
}

func TestConfigDefaults(t *testing.T) {
	c, err := load(map[string]string{"SECRETS_MASTER_KEY": strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MasterKey) != 32 || c.MasterKey[0] != 0xab || c.KeyVersion != 1 || len(c.OldKeys) != 0 {
		t.Fatalf("config = %+v", c)
	}
}

func TestMasterKeyMustBeExactly64Hex(t *testing.T) {
	for _, k := range []string{"", strings.Repeat("a", 62), strings.Repeat("a", 66), strings.Repeat("g", 64)} {
		_, err := load(map[string]string{"SECRETS_MASTER_KEY": k})
		if err == nil || !strings.Contains(err.Error(), "SECRETS_MASTER_KEY") {
			t.Errorf("key of %d chars accepted: %v", len(k), err)
		}
		if k != "" && strings.Contains(err.Error(), k) {
			t.Errorf("the error echoes the key: %v", err)
		}
	}
}

func TestOldKeysForRotation(t *testing.T) {
	m := map[string]string{
		"SECRETS_MASTER_KEY":  strings.Repeat("03", 32),
		"SECRETS_KEY_VERSION": "3",
		"SECRETS_OLD_KEYS":    "1:" + strings.Repeat("01", 32) + ", 2:" + strings.Repeat("02", 32),
	}
	c, err := load(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.OldKeys) != 2 || c.OldKeys[2][0] != 2 {
		t.Fatalf("old keys = %v", c.OldKeys)
	}
	if _, err := secrets.BoxFromConfig(c); err != nil {
		t.Fatalf("box from a rotation config: %v", err)
	}
	for name, old := range map[string]string{
		"reuses the current version": "3:" + strings.Repeat("03", 32),
		"a version twice":            "1:" + strings.Repeat("01", 32) + ",1:" + strings.Repeat("02", 32),
		"no version":                 strings.Repeat("01", 32),
		"a short key":                "1:abcd",
	} {
		m["SECRETS_OLD_KEYS"] = old
		_, err := load(m)
		if err == nil || !strings.Contains(err.Error(), "SECRETS_OLD_KEYS") {
			t.Errorf("%s: accepted (%v)", name, err)
		} else if strings.Contains(err.Error(), "0101") || strings.Contains(err.Error(), "abcd") {
			t.Errorf("%s: the error echoes a key: %v", name, err)
		}
	}
	m["SECRETS_OLD_KEYS"] = ""
	m["SECRETS_KEY_VERSION"] = "0"
	if _, err := load(m); err == nil || !strings.Contains(err.Error(), "SECRETS_KEY_VERSION") {
		t.Errorf("version 0 accepted: %v", err)
	}
}
