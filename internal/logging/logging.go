// Package logging owns the service's structured logs: slog JSON on one writer,
// a redaction layer that keeps secrets out of every line, child loggers
// carried in the request context, and X-Correlation-ID handling.
package logging

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// Redacted replaces every value the redaction layer hides.
const Redacted = "[REDACTED]"

// New returns a JSON logger writing to w at level, with redaction.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: redactAttr,
	}))
}

// SensitiveKey reports whether a log attribute's key names something secret:
// passwords, secrets, API keys, authorization headers, cookies and tokens
// (but not token counts such as total_tokens).
//
// It runs for every attribute of every log line, so it does not allocate
// for keys of up to 64 bytes.
func SensitiveKey(key string) bool {
	var buf [64]byte
	k := buf[:0]
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 0x80: // not ASCII: Unicode case folding, the slow way
			return sensitiveNormalized(keySeparators.Replace(strings.ToLower(key)))
		case c == '_' || c == '-' || c == '.' || c == ' ':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		k = append(k, c)
	}
	return sensitiveNormalized(string(k)) // no allocation: the compiler sees the conversion does not escape
}

// keySeparators are what SensitiveKey ignores between words.
var keySeparators = strings.NewReplacer("_", "", "-", "", ".", "", " ", "")

// sensitiveWords are what a key names when it holds a secret.
var sensitiveWords = []string{"password", "passwd", "secret", "authorization", "apikey", "cookie",
	"privatekey", "masterkey", "credential", "nonce", "ciphertext", "encryptedvalue", "authtag"}

// sensitiveNormalized is SensitiveKey on a key lowercased without separators.
func sensitiveNormalized(k string) bool {
	for _, s := range sensitiveWords {
		if strings.Contains(k, s) {
			return true
		}
	}
	return strings.Contains(k, "token") && !strings.HasSuffix(k, "tokens")
}

var (
	// "Bearer <token>" anywhere in a string value.
	bearerRE = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+`)
	// The password of a URL: scheme://user:password@host.
	urlPasswordRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]+@`)
)

// RedactString hides credentials embedded in free text (bearer tokens, URL passwords).
func RedactString(s string) string {
	if !strings.ContainsAny(s, "@ ") {
		return s
	}
	s = bearerRE.ReplaceAllString(s, "$1 "+Redacted)
	return urlPasswordRE.ReplaceAllString(s, "${1}"+Redacted+"@")
}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	if SensitiveKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	a.Value = redactValue(a.Value)
	return a
}

func redactValue(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(RedactString(v.String()))
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.StringValue(RedactString(x.Error()))
		case map[string]any:
			return slog.AnyValue(redactMap(x))
		case map[string]string:
			m := make(map[string]any, len(x))
			for k, s := range x {
				m[k] = s
			}
			return slog.AnyValue(redactMap(m))
		case []byte:
			return slog.StringValue(RedactString(string(x)))
		}
	}
	return v
}

func redactMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			out[k] = redactMap(x)
		case string:
			out[k] = RedactString(x)
		default:
			out[k] = v
		}
		if SensitiveKey(k) {
			out[k] = Redacted
		}
	}
	return out
}

type loggerKey struct{}

// NewContext returns ctx carrying log, a child logger of one request or job.
func NewContext(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, log)
}

// FromContext returns the logger in ctx, or fallback when there is none.
func FromContext(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}
