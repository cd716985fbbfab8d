// Package textguard keeps text that Postgres cannot store, or that is not
// text at all, from reaching the services: request bodies and parameters
// must be valid UTF-8 without NUL (Postgres text refuses both, which used
// to surface as 500s), header values the service stores are cleaned rather
// than refused (a strange User-Agent is never a reason to fail a login),
// and emails are parsed as addresses.
//
// It checks; it does not decode. The generated server still decodes and
// validates against the schema (types, lengths, enums) after these checks.
package textguard

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jarvis-core/jarvis/internal/fault"
)

// Text reports why s is not storable text, or "" when it is.
func Text(s string) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8 text"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "must not contain NUL characters"
	}
	return ""
}

// CheckText is Text as an Invalid error naming field.
func CheckText(field, s string) error {
	if reason := Text(s); reason != "" {
		return fault.InvalidField(field, reason)
	}
	return nil
}

// Sanitize makes a header value storable: invalid UTF-8 becomes U+FFFD,
// control characters (NUL included) go, surrounding space is trimmed, and
// the result is cut to at most max bytes on a character boundary.
func Sanitize(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}

// Email limits (RFC 5321: 64 for the local part, 254 for a usable path).
const (
	MaxEmailLength = 254
	maxLocalLength = 64
)

var errEmail = fault.InvalidField("email", "must be an email address like ada@example.com")

// Email parses s as one bare email address (no display name, no comments,
// no angle brackets) and returns it normalized: trimmed and lower-cased, as
// accounts are unique regardless of case. Addresses net/mail refuses, or
// that it accepts only by rewriting them, are refused.
func Email(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fault.InvalidField("email", "is required")
	}
	if reason := Text(s); reason != "" {
		return "", fault.InvalidField("email", reason)
	}
	if len(s) > MaxEmailLength {
		return "", fault.InvalidField("email", fmt.Sprintf("must be at most %d characters", MaxEmailLength))
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", errEmail
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || len(local) > maxLocalLength || domain == "" ||
		strings.HasPrefix(domain, "[") || // address literals: no mail is sent to a bare IP
		strings.ContainsFunc(a.Address, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return "", errEmail
	}
	return strings.ToLower(a.Address), nil
}
