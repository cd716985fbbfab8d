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
	"sync"
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
//
// It runs for every string attribute of every log line (the message
// included), so each expression runs only on text that could match it: a
// scheme word for the first, "://" and "@" for the second.
func RedactString(s string) string {
	if mayHoldScheme(s) {
		s = bearerRE.ReplaceAllString(s, "$1 "+Redacted)
	}
	if strings.Contains(s, "://") && strings.IndexByte(s, '@') >= 0 {
		s = urlPasswordRE.ReplaceAllString(s, "${1}"+Redacted+"@")
	}
	return s
}

// mayHoldScheme reports whether bearerRE could match s: s holds "bearer" or
// "basic" in any ASCII case, or any non-ASCII byte (the expression folds
// case the Unicode way: "ſ" matches "s").
func mayHoldScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return true
		}
		if c|0x20 == 'b' && (hasFoldPrefix(s[i:], "bearer") || hasFoldPrefix(s[i:], "basic")) {
			return true
		}
	}
	return false
}

// hasFoldPrefix reports whether s starts with the lowercase ASCII word w, in
// any ASCII case.
func hasFoldPrefix(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if s[i]|0x20 != w[i] {
			return false
		}
	}
	return true
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

// ctxLogger is the logger a context carries, made when first asked for:
// most requests log nothing but their request line, which the middleware
// writes without it, and a child logger costs a copy of its handler with
// its attributes formatted (With).
type ctxLogger struct {
	once   sync.Once
	parent *ctxLogger   // the context's logger before With, or
	base   *slog.Logger // the logger it was made from
	attrs  []any
	log    *slog.Logger
}

func (l *ctxLogger) logger() *slog.Logger {
	l.once.Do(func() {
		p := l.base
		if l.parent != nil {
			p = l.parent.logger()
		}
		if len(l.attrs) > 0 {
			p = p.With(l.attrs...)
		}
		l.log = p
	})
	return l.log
}

// NewContext returns ctx carrying log, a child logger of one request or job.
func NewContext(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, &ctxLogger{base: log})
}

// With returns ctx carrying a child of its logger (fallback when it has
// none) with attrs, made only if someone logs through it.
func With(ctx context.Context, fallback *slog.Logger, attrs ...slog.Attr) context.Context {
	l := &ctxLogger{base: fallback, attrs: make([]any, len(attrs))}
	for i, a := range attrs {
		l.attrs[i] = a
	}
	if p, ok := ctx.Value(loggerKey{}).(*ctxLogger); ok {
		l.parent = p
	}
	return context.WithValue(ctx, loggerKey{}, l)
}

// FromContext returns the logger in ctx, or fallback when there is none.
func FromContext(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*ctxLogger); ok {
		return l.logger()
	}
	return fallback
}
