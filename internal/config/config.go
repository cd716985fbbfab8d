// Package config reads the service's configuration from the environment and
// validates all of it at once: a bad start-up names every bad variable and
// why, and never prints a value (any of them may be a secret).
package config

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Env is the deployment kind.
type Env string

const (
	Development Env = "development"
	Test        Env = "test"
	Production  Env = "production"
)

// Config is everything the service reads from the environment.
type Config struct {
	Env             Env
	Host            string
	Port            int
	LogLevel        string
	ShutdownTimeout time.Duration

	DatabaseURL        string // service role: no BYPASSRLS
	MigrateDatabaseURL string // owner role, for `jarvis migrate apply`; optional for serve
	RedisURL           string // optional: without it realtime and limits run in process

	JWTSecret         []byte
	JWTAccessExpiry   time.Duration
	JWTRefreshExpiry  time.Duration
	JWTIssuer         string
	JWTAudience       string
	SecretsMasterKey  []byte         // 32 bytes, seals new secrets
	SecretsKeyVersion int            // version of SecretsMasterKey
	SecretsOldKeys    map[int][]byte // older versions, still opened until rotated away

	OpenAIAPIKey    string
	AnthropicAPIKey string

	EmbeddingsProvider string // local | openai
	EmbeddingsURL      string
	EmbeddingsModel    string
	EmbeddingsAPIKey   string

	OTelEndpoint    string // OTEL_EXPORTER_OTLP_ENDPOINT; empty disables export
	OTelServiceName string
}

// Addr is the listen address.
func (c Config) Addr() string { return c.Host + ":" + strconv.Itoa(c.Port) }

// Problem is one bad variable.
type Problem struct {
	Var    string
	Reason string
}

// Error lists every bad variable.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Var, p.Reason)
	}
	return b.String()
}

// Load reads the configuration through getenv (os.Getenv in production; a map in tests).
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	var c Config
	c.Env = Env(r.oneOf("APP_ENV", "development", string(Development), string(Test), string(Production)))
	defaultHost := "0.0.0.0"
	if c.Env != Production {
		defaultHost = "127.0.0.1"
	}
	c.Host = r.str("HOST", defaultHost)
	c.Port = r.port("PORT", 8080)
	c.LogLevel = r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
	c.ShutdownTimeout = r.duration("SHUTDOWN_TIMEOUT", "15s")

	c.DatabaseURL = r.url("DATABASE_URL", true, "postgres", "postgresql")
	c.MigrateDatabaseURL = r.url("MIGRATE_DATABASE_URL", false, "postgres", "postgresql")
	c.RedisURL = r.url("REDIS_URL", false, "redis", "rediss")

	c.JWTSecret = r.secret("JWT_SECRET", 32)
	c.JWTAccessExpiry = r.duration("JWT_ACCESS_EXPIRY", "15m")
	c.JWTRefreshExpiry = r.duration("JWT_REFRESH_EXPIRY", "7d")
	c.JWTIssuer = r.str("JWT_ISSUER", "jarvis-core")
	c.JWTAudience = r.str("JWT_AUDIENCE", "jarvis-api")
	c.SecretsMasterKey = r.hexKey("SECRETS_MASTER_KEY", true)
	c.SecretsKeyVersion = r.positive("SECRETS_KEY_VERSION", 1)
	c.SecretsOldKeys = r.oldKeys("SECRETS_OLD_KEYS", c.SecretsKeyVersion)

	c.OpenAIAPIKey = r.str("OPENAI_API_KEY", "")
	c.AnthropicAPIKey = r.str("ANTHROPIC_API_KEY", "")

	c.EmbeddingsProvider = r.oneOf("EMBEDDINGS_PROVIDER", "local", "local", "openai")
	c.EmbeddingsURL = r.url("EMBEDDINGS_URL", false, "http", "https")
	c.EmbeddingsModel = r.str("EMBEDDINGS_MODEL", "text-embedding-3-small")
	c.EmbeddingsAPIKey = r.str("EMBEDDINGS_API_KEY", "")
	if c.EmbeddingsProvider == "openai" && c.EmbeddingsAPIKey == "" && c.OpenAIAPIKey == "" {
		r.bad("EMBEDDINGS_API_KEY", "required when EMBEDDINGS_PROVIDER=openai (or set OPENAI_API_KEY)")
	}

	c.OTelEndpoint = r.url("OTEL_EXPORTER_OTLP_ENDPOINT", false, "http", "https")
	c.OTelServiceName = r.str("OTEL_SERVICE_NAME", "jarvis-core")

	if c.JWTAccessExpiry > 0 && c.JWTRefreshExpiry > 0 && c.JWTRefreshExpiry <= c.JWTAccessExpiry {
		r.bad("JWT_REFRESH_EXPIRY", "must be longer than JWT_ACCESS_EXPIRY")
	}
	if len(r.problems) > 0 {
		sort.SliceStable(r.problems, func(i, j int) bool { return r.problems[i].Var < r.problems[j].Var })
		return Config{}, &Error{Problems: r.problems}
	}
	return c, nil
}

// reader collects problems instead of stopping at the first.
type reader struct {
	getenv   func(string) string
	problems []Problem
}

func (r *reader) bad(name, reason string) { r.problems = append(r.problems, Problem{name, reason}) }

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := r.str(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.bad(name, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (r *reader) port(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	// 0 asks the system for a free port (tests, several instances).
	if err != nil || n < 0 || n > 65535 {
		r.bad(name, "must be a port number (0-65535; 0 picks a free one)")
		return def
	}
	return n
}

func (r *reader) positive(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		r.bad(name, "must be a positive integer")
		return def
	}
	return n
}

func (r *reader) duration(name, def string) time.Duration {
	v := r.str(name, def)
	d, err := ParseDuration(v)
	if err != nil || d <= 0 {
		r.bad(name, "must be a positive duration such as 15m, 12h or 7d")
		return 0
	}
	return d
}

// ParseDuration is time.ParseDuration plus whole days ("7d"), the unit people
// write for refresh-token lifetimes.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func (r *reader) url(name string, required bool, schemes ...string) string {
	v := r.str(name, "")
	if v == "" {
		if required {
			r.bad(name, "is required")
		}
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		r.bad(name, "must be a URL like "+schemes[0]+"://host:port/...")
		return ""
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	r.bad(name, "scheme must be one of "+strings.Join(schemes, ", "))
	return ""
}

func (r *reader) secret(name string, minLen int) []byte {
	v := r.getenv(name)
	switch {
	case v == "":
		r.bad(name, "is required")
		return nil
	case len(v) < minLen:
		r.bad(name, fmt.Sprintf("must be at least %d bytes (it has %d)", minLen, len(v)))
		return nil
	}
	return []byte(v)
}

// hexKey reads a 32-byte key written as 64 hex characters.
func (r *reader) hexKey(name string, required bool) []byte {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		if required {
			r.bad(name, "is required (64 hex characters: openssl rand -hex 32)")
		}
		return nil
	}
	k, err := decodeKey(v)
	if err != nil {
		r.bad(name, err.Error())
		return nil
	}
	return k
}

func decodeKey(v string) ([]byte, error) {
	if len(v) != 64 {
		return nil, fmt.Errorf("must be exactly 64 hex characters (it has %d)", len(v))
	}
	k, err := hex.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("must be hex (0-9, a-f)")
	}
	return k, nil
}

// oldKeys reads "version:hexkey,version:hexkey" for keys being rotated away.
func (r *reader) oldKeys(name string, current int) map[int][]byte {
	v := strings.TrimSpace(r.getenv(name))
	out := map[int][]byte{}
	if v == "" {
		return out
	}
	for i, part := range strings.Split(v, ",") {
		ver, key, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(ver)
		if !ok || err != nil || n < 1 {
			r.bad(name, fmt.Sprintf("entry %d must be version:hexkey with a positive version", i+1))
			continue
		}
		if n == current {
			r.bad(name, fmt.Sprintf("entry %d reuses SECRETS_KEY_VERSION %d", i+1, n))
			continue
		}
		if _, dup := out[n]; dup {
			r.bad(name, fmt.Sprintf("version %d appears twice", n))
			continue
		}
		k, err := decodeKey(key)
		if err != nil {
			r.bad(name, fmt.Sprintf("entry %d key %s", i+1, err))
			continue
		}
		out[n] = k
	}
	return out
}
