// Package pii redacts personal data from text before it is stored or sent
// to an embedding provider: email addresses, phone numbers (international,
// tel: URIs, and the national formats of the configured regions, checked
// by libphonenumber's Go port), US social security numbers, payment card
// numbers (Luhn checked), IBANs (mod-97 checked) and IPv4/IPv6 addresses
// (with or without a port) become typed placeholders such as [EMAIL]. JSON
// values are redacted in keys, strings and integers. Checksums and boundaries keep ordinary
// numbers (order numbers, dates, versions) intact: a redactor that eats them
// would destroy the memories it protects.
//
// It does not detect names, postal addresses or free-form secrets; those
// need a model, not patterns.
package pii

import (
	"encoding/json"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Kind is a category of personal data; its placeholder is "[" + upper(kind) + "]".
type Kind string

const (
	Email Kind = "email"
	Phone Kind = "phone"
	SSN   Kind = "ssn"
	Card  Kind = "card"
	IBAN  Kind = "iban"
	IP    Kind = "ip"
)

// Placeholder is the text that replaces a match of k.
func (k Kind) Placeholder() string { return "[" + strings.ToUpper(string(k)) + "]" }

// Counts is how many matches of each kind were replaced; kinds without
// matches are absent.
type Counts map[Kind]int

// Total is the number of replacements.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Object is the counts as a JSON object ({"email": 1}), as rows store them.
func (c Counts) Object() map[string]any {
	out := make(map[string]any, len(c))
	for k, n := range c {
		out[string(k)] = n
	}
	return out
}

// detector finds candidates with a pattern and keeps those that pass valid
// and stand alone (not glued to letters or digits: "A4111..." is an id).
type detector struct {
	kind  Kind
	re    *regexp.Regexp
	valid func(match string) bool
	// dotted: a neighbouring ".<digit>" means the match is part of a longer
	// dotted number (1.2.3.4.5 is a version, not an address).
	dotted bool
	// shrink: patterns with optional trailing groups can swallow the next
	// word or number ("DE89 3704 0044 0532 0130 00 2024"); when the whole
	// candidate fails, its prefixes ending before a space are tried.
	shrink bool
}

// The order matters: emails first (their local parts hold digits), IBANs and
// cards before phones and SSNs (their digit groups look like phone numbers),
// addresses before phones (a dotted quad looks like a phone number too).
var detectors = []detector{
	{kind: Email, re: regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,63}`), valid: validEmail},
	// Groups of up to four, separated by a space or a hyphen (printed and
	// typed forms).
	{kind: IBAN, re: regexp.MustCompile(`[A-Za-z]{2}[0-9]{2}(?:[ \-]?[A-Za-z0-9]{1,4}){3,8}`), valid: validIBAN, shrink: true},
	// Groups separated by a space, two spaces, a hyphen or a dot.
	{kind: Card, re: regexp.MustCompile(`[0-9]{4}` + cardSep + `[0-9]{4}` + cardSep + `[0-9]{4}` + cardSep + `[0-9]{4}(?:` + cardSep + `[0-9]{3})?|[0-9]{4}` + cardSep + `[0-9]{6}` + cardSep + `[0-9]{5}|[0-9]{13,19}`), valid: validCard, shrink: true},
	{kind: SSN, re: regexp.MustCompile(`[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{3}\.[0-9]{2}\.[0-9]{4}`), valid: validSSN},
	// IPv6, the IPv4-mapped form (::ffff:192.0.2.1) first: Go's leftmost-first
	// alternation would otherwise stop at ":192".
	{kind: IP, re: regexp.MustCompile(`[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,6}:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}`), valid: validIPv6},
	{kind: IP, re: regexp.MustCompile(`[0-9]{1,3}(?:\.[0-9]{1,3}){3}`), valid: validIPv4, dotted: true},
	// International: "+" then 8 to 15 digits in groups (E.164).
	{kind: Phone, re: regexp.MustCompile(`\+[0-9]{1,3}(?:[ .\-]?\(?[0-9]{1,5}\)?){1,6}`), valid: validIntlPhone, dotted: true, shrink: true},
	// US (NANP): optional 1, area code and exchange starting 2-9, then 4 digits.
	{kind: Phone, re: regexp.MustCompile(`(?:1[ .\-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}`), valid: func(string) bool { return true }, dotted: true},
}

// cardSep separates a card number's groups.
const cardSep = `(?:[.\-]| {1,2})`

// Normalize is the form text is matched (and stored) in: NFKC, so
// full-width and other compatibility forms of letters and digits match as
// what they look like ("ａｌｉｃｅ＠example.com"), without the invisible
// characters that would otherwise split a match (zero-width space, word
// joiner, BOM, soft hyphen; zero-width (non-)joiners between ASCII
// characters, where no script needs them).
func Normalize(text string) string {
	text = norm.NFKC.String(text)
	if !strings.ContainsFunc(text, invisible) {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	prev := rune(0)
	rs := []rune(text)
	for i, r := range rs {
		switch r {
		case '\u200b', '\u2060', '\ufeff', '\u00ad':
			continue
		case '\u200c', '\u200d':
			if prev < 0x80 && i+1 < len(rs) && rs[i+1] < 0x80 {
				continue
			}
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

func invisible(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
		return true
	}
	return false
}

// kinds are every Kind, for Placeholders.
var kinds = []Kind{Email, Phone, SSN, Card, IBAN, IP}

// Placeholders counts the placeholders in a JSON value already redacted
// (strings and object keys): what redaction put into data kept from an
// earlier write, whose own counts were not kept apart. A client's literal
// "[EMAIL]" counts too.
func Placeholders(v any, counts Counts) {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "[") {
			return
		}
		for _, k := range kinds {
			if n := strings.Count(x, k.Placeholder()); n > 0 {
				counts[k] += n
			}
		}
	case map[string]any:
		for k, e := range x {
			Placeholders(k, counts)
			Placeholders(e, counts)
		}
	case []any:
		for _, e := range x {
			Placeholders(e, counts)
		}
	}
}

// Add adds other's counts to c.
func (c Counts) Add(other Counts) {
	for k, n := range other {
		c[k] += n
	}
}

// RedactJSON redacts every string of a JSON value, object keys included,
// and every integer that is personal data written as a number
// ({"card": 4111111111111111} becomes {"card": "[CARD]"}), adding what it
// found to counts. Decode with json.Decoder.UseNumber: a float64 holds
// integers exactly only up to 2^53, and card numbers have up to 19 digits.
// It uses the Default redactor.
func RedactJSON(v any, counts Counts) any { return Default.RedactJSON(v, counts) }

// RedactJSON is the package's RedactJSON with r's detectors.
func (r *Redactor) RedactJSON(v any, counts Counts) any {
	return r.redactJSON(v, "", counts)
}

// redactJSON redacts v, the value of key in its object ("" elsewhere).
func (r *Redactor) redactJSON(v any, key string, counts Counts) any {
	switch x := v.(type) {
	case string:
		out, c := r.Redact(x)
		counts.Add(c)
		return out
	case json.Number:
		return r.redactNumber(string(x), key, v, counts)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) >= 1e19 {
			return v
		}
		return r.redactNumber(strconv.FormatFloat(x, 'f', -1, 64), key, v, counts)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[r.redactJSON(k, "", counts).(string)] = r.redactJSON(e, k, counts)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = r.redactJSON(e, key, counts)
		}
		return s
	default:
		return v
	}
}

// phoneKey matches object keys that say their value is a phone number:
// there a bare number of a phone number's length is one, though without
// its "+" or separators no pattern could tell it from a count or an id.
var phoneKey = regexp.MustCompile(`(?i)(^|[^a-z])(phone|tel|telephone|mobile|cell|cellphone|fax|whatsapp|msisdn)($|[^a-z])|phone`)

// redactNumber redacts an integer literal that is personal data on its own
// (a Luhn-valid card number, an SSN, a phone number under a key that says
// so) into its placeholder; any other number (amounts, timestamps, ids)
// stays a number.
func (r *Redactor) redactNumber(lit, key string, orig any, counts Counts) any {
	if lit == "" || strings.Trim(lit, "0123456789") != "" {
		return orig // negative, fractional or exponent: not an identifier
	}
	if out, c := r.Redact(lit); out != lit {
		counts.Add(c)
		return out
	}
	if key != "" && len(lit) >= 7 && len(lit) <= 15 && phoneKey.MatchString(Normalize(key)) {
		counts[Phone]++
		return Phone.Placeholder()
	}
	return orig
}

// Redact returns text with every match replaced by its placeholder, and the
// counts. It repeats until a pass finds nothing, so its output never holds
// anything it would redact (a replacement can make a neighbour stand alone):
// each replacement removes a digit, '@' or ':' and adds none, so it ends.
// It uses the Default redactor.
func Redact(text string) (string, Counts) { return Default.Redact(text) }

// Redact is the package's Redact with r's detectors.
func (r *Redactor) Redact(text string) (string, Counts) {
	text = Normalize(text)
	counts := Counts{}
	for {
		changed := false
		for _, d := range r.detectors {
			var n int
			text, n = d.replace(text)
			if n > 0 {
				counts[d.kind] += n
				changed = true
			}
		}
		if !changed {
			return text, counts
		}
	}
}

func (d detector) replace(text string) (string, int) {
	locs := d.re.FindAllStringIndex(text, -1)
	if locs == nil {
		return text, 0
	}
	var b strings.Builder
	n, last := 0, 0
	for _, l := range locs {
		start, end := l[0], l[1]
		end = d.fit(text, start, end)
		if end < 0 {
			continue
		}
		b.WriteString(text[last:start])
		b.WriteString(d.kind.Placeholder())
		last = end
		n++
	}
	if n == 0 {
		return text, 0
	}
	b.WriteString(text[last:])
	return b.String(), n
}

// fit returns the end of the valid match at text[start:end], or -1.
func (d detector) fit(text string, start, end int) int {
	if d.standsAlone(text, start, end) && d.valid(text[start:end]) {
		return end
	}
	if !d.shrink {
		return -1
	}
	for cut := strings.LastIndexByte(text[start:end], ' '); cut > 0; cut = strings.LastIndexByte(text[start:start+cut], ' ') {
		e := start + cut
		if d.standsAlone(text, start, e) && d.valid(text[start:e]) {
			return e
		}
	}
	return -1
}

func (d detector) standsAlone(text string, start, end int) bool {
	if start > 0 && glued(text[start-1]) {
		return false
	}
	if end < len(text) && glued(text[end]) {
		return false
	}
	if d.kind == Email {
		// A local part cut short by the pattern ("a..b@" is not an address start).
		if start > 0 && strings.IndexByte("._%+-", text[start-1]) >= 0 {
			return false
		}
	}
	if d.dotted || d.kind == IP {
		if start >= 2 && (text[start-1] == '.' || text[start-1] == ':') && isDigit(text[start-2]) {
			return false
		}
		if end+1 < len(text) && (text[end] == '.' || text[end] == ':') && isHex(text[end+1]) &&
			!(d.kind == IP && d.dotted && text[end] == ':' && isPort(text[end+1:])) {
			return false
		}
	}
	return true
}

// isPort says s starts with a port number that ends there (1-5 digits, then
// no letter, digit, '.' or ':'): "10.1.2.3:5432" is an address and its port,
// "1.2.3.4:5:6" is not.
func isPort(s string) bool {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n == 0 || n > 5 {
		return false
	}
	return n == len(s) || !(glued(s[n]) || s[n] == '.' || s[n] == ':')
}

func glued(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func validEmail(m string) bool {
	at := strings.IndexByte(m, '@')
	local := m[:at]
	return local != "" && local[0] != '.' && local[len(local)-1] != '.' && !strings.Contains(local, "..")
}

// validCard is the Luhn check on 13 to 19 digits; a run of one digit
// (0000 0000 0000 0000) passes Luhn but is a placeholder, not a card.
func validCard(m string) bool {
	ds := digits(m)
	if len(ds) < 13 || len(ds) > 19 || strings.Count(ds, ds[:1]) == len(ds) {
		return false
	}
	sum := 0
	for i := len(ds) - 1; i >= 0; i-- {
		d := int(ds[i] - '0')
		if (len(ds)-1-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// validSSN applies the SSA's rules: no area 000, 666 or 9xx, no group 00, no
// serial 0000 (so 000-00-0000 placeholders and 9xx ITIN-like numbers stay).
func validSSN(m string) bool {
	ds := digits(m)
	area, group, serial := ds[:3], ds[3:5], ds[5:]
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

// ibanLengths is the IBAN length of each country that issues them (SWIFT's
// registry); a checksum alone would accept 1 in 97 random strings.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
	"BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
	"ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
	"HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
	"RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// validIBAN checks the country's length and the ISO 13616 mod-97 checksum.
func validIBAN(m string) bool {
	s := strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(m))
	if want, ok := ibanLengths[s[:2]]; !ok || len(s) != want {
		return false
	}
	rearranged := s[4:] + s[:4]
	rem := 0
	for i := 0; i < len(rearranged); i++ {
		c := rearranged[i]
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

func validIPv4(m string) bool {
	a, err := netip.ParseAddr(m)
	return err == nil && a.Is4()
}

// validIPv6 parses the candidate; it must hold a hex digit, so "::" in prose
// or "a::b" scopes in code rarely qualify (and C++ "std::x" is glued).
func validIPv6(m string) bool {
	if strings.Count(m, ":") < 2 || !strings.ContainsAny(m, "0123456789abcdefABCDEF") {
		return false
	}
	a, err := netip.ParseAddr(m)
	return err == nil && a.Is6()
}

// validIntlPhone wants E.164's 8 to 15 digits and balanced parentheses.
func validIntlPhone(m string) bool {
	n := len(digits(m))
	return n >= 8 && n <= 15 && strings.Count(m, "(") == strings.Count(m, ")")
}
