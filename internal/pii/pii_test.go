package pii

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		n    Counts
	}{
		// True positives.
		{"email", "write to ada.lovelace+notes@example.co.uk today", "write to [EMAIL] today", Counts{Email: 1}},
		{"full-width email", "ａｌｉｃｅ＠example.com", "[EMAIL]", Counts{Email: 1}},
		{"email split by a zero-width space", "alice@exa\u200bmple.com", "[EMAIL]", Counts{Email: 1}},
		{"full-width card", "４１１１１１１１１１１１１１１１", "[CARD]", Counts{Card: 1}},
		{"emoji joiners survive", "👩\u200d💻 at work", "👩\u200d💻 at work", Counts{}},
		{"two emails", "a@b.io, c_d@mail.example.org", "[EMAIL], [EMAIL]", Counts{Email: 2}},
		{"intl phone", "call +44 20 7946 0958 after six", "call [PHONE] after six", Counts{Phone: 1}},
		{"intl phone dashes", "+49-30-901820", "[PHONE]", Counts{Phone: 1}},
		{"intl phone parens", "+1 (415) 555-2671", "[PHONE]", Counts{Phone: 1}},
		{"intl phone then a year", "+44 20 7946 0958 2020", "[PHONE] 2020", Counts{Phone: 1}},
		{"us phone dashes", "cell 415-555-2671.", "cell [PHONE].", Counts{Phone: 1}},
		{"us phone parens", "(415) 555-2671", "[PHONE]", Counts{Phone: 1}},
		{"us phone dots", "415.555.2671", "[PHONE]", Counts{Phone: 1}},
		{"us phone with 1", "1-800-555-0199", "[PHONE]", Counts{Phone: 1}},
		{"ssn", "SSN 123-45-6789!", "SSN [SSN]!", Counts{SSN: 1}},
		{"ssn spaces", "ssn: 123 45 6789", "ssn: [SSN]", Counts{SSN: 1}},
		{"visa", "card 4111 1111 1111 1111 exp 12/27", "card [CARD] exp 12/27", Counts{Card: 1}},
		{"visa compact", "4012888888881881", "[CARD]", Counts{Card: 1}},
		{"mastercard dashes", "5555-5555-5555-4444", "[CARD]", Counts{Card: 1}},
		{"amex", "3782 822463 10005", "[CARD]", Counts{Card: 1}},
		{"iban de", "IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN [IBAN] thanks", Counts{IBAN: 1}},
		{"iban gb compact", "GB82WEST12345698765432", "[IBAN]", Counts{IBAN: 1}},
		{"iban then number", "DE89 3704 0044 0532 0130 00 2024", "[IBAN] 2024", Counts{IBAN: 1}},
		{"ipv4", "from 192.168.1.20, then 8.8.8.8", "from [IP], then [IP]", Counts{IP: 2}},
		{"ipv6", "host 2001:db8::8a2e:370:7334 up", "host [IP] up", Counts{IP: 1}},
		{"ipv6 full", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[IP]", Counts{IP: 1}},
		{"ipv6 loopback", "bind ::1 only", "bind [IP] only", Counts{IP: 1}},
		{"ipv4 mapped", "::ffff:192.0.2.1", "[IP]", Counts{IP: 1}},
		{"mixed", "ada@example.com / 415-555-2671 / 10.0.0.1",
			"[EMAIL] / [PHONE] / [IP]", Counts{Email: 1, Phone: 1, IP: 1}},

		// False positives that must survive.
		{"order number fails luhn", "order 4111 1111 1111 1112 shipped", "order 4111 1111 1111 1112 shipped", Counts{}},
		{"long order id", "order #1234567890123", "order #1234567890123", Counts{}},
		{"zeros card", "0000 0000 0000 0000", "0000 0000 0000 0000", Counts{}},
		{"iban bad checksum", "DE88 3704 0044 0532 0130 00", "DE88 3704 0044 0532 0130 00", Counts{}},
		{"iban wrong length", "DE89 3704 0044 0532 0130", "DE89 3704 0044 0532 0130", Counts{}},
		{"date", "on 2024-01-15 at 12:30:45", "on 2024-01-15 at 12:30:45", Counts{}},
		{"version", "upgrade to 1.2.3.4.5 or v10.0.0.1", "upgrade to 1.2.3.4.5 or v10.0.0.1", Counts{}},
		{"bad octet", "999.1.1.1", "999.1.1.1", Counts{}},
		{"time not ipv6", "meet 10:30", "meet 10:30", Counts{}},
		{"mac address", "00:1A:2B:3C:4D:5E", "00:1A:2B:3C:4D:5E", Counts{}},
		{"c++ scope", "use std::vector and Foo::Bar", "use std::vector and Foo::Bar", Counts{}},
		{"ssn invalid area", "000-12-3456 and 666-12-3456 and 912-34-5678", "000-12-3456 and 666-12-3456 and 912-34-5678", Counts{}},
		{"ssn zero group", "123-00-4567", "123-00-4567", Counts{}},
		{"phone bad area code", "123-555-2671", "123-555-2671", Counts{}},
		{"short intl", "+12 34", "+12 34", Counts{}},
		{"not an email", "user@localhost or @handle", "user@localhost or @handle", Counts{}},
		{"glued digits", "A4111111111111111", "A4111111111111111", Counts{}},
		{"math", "2+2=4 and 3-4-5", "2+2=4 and 3-4-5", Counts{}},
		{"empty", "", "", Counts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := Redact(tt.in)
			if got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(n) != len(tt.n) {
				t.Errorf("counts = %v, want %v", n, tt.n)
			}
			for k, v := range tt.n {
				if n[k] != v {
					t.Errorf("counts[%s] = %d, want %d (all: %v)", k, n[k], v, n)
				}
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	for k, want := range map[Kind]string{Email: "[EMAIL]", Phone: "[PHONE]", SSN: "[SSN]", Card: "[CARD]", IBAN: "[IBAN]", IP: "[IP]"} {
		if got := k.Placeholder(); got != want {
			t.Errorf("%s.Placeholder() = %q, want %q", k, got, want)
		}
	}
}

// FuzzRedact checks what must hold for any text: no panic, valid UTF-8 in
// gives valid UTF-8 out, the output holds nothing redactable (a second pass
// changes nothing), counts are zero exactly when nothing changed, and every
// count is matched by a new placeholder.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"ada@example.com", "+44 20 7946 0958", "415-555-2671", "123-45-6789", "4111 1111 1111 1111",
		"DE89 3704 0044 0532 0130 00", "192.168.0.1", "2001:db8::1", "a@b.co1.2.3.4", "1::a@b.co::2",
		"order 4111 1111 1111 1112", "std::vector 12:30:45", "[EMAIL]x@y.zz",
		"ａｌｉｃｅ＠example.com", "a\u200bb@c.de", "［EMAIL］", "👩\u200d💻",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, n := Redact(in)
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Fatalf("Redact(%q) = %q: invalid UTF-8", in, out)
		}
		if again, m := Redact(out); again != out || m.Total() != 0 {
			t.Fatalf("Redact is not stable: %q → %q → %q (%v)", in, out, again, m)
		}
		// Redact works on the normalized text: what it changes beyond that
		// is what it counted.
		norm := Normalize(in)
		if (n.Total() == 0) != (out == norm) {
			t.Fatalf("Redact(%q) = %q with counts %v", in, out, n)
		}
		for k, c := range n {
			if added := strings.Count(out, k.Placeholder()) - strings.Count(norm, k.Placeholder()); added < c {
				t.Fatalf("Redact(%q) = %q: %d %s counted, %d placeholders added", in, out, c, k, added)
			}
		}
	})
}

func TestRedactJSONCoversKeysAndValues(t *testing.T) {
	counts := Counts{}
	got := RedactJSON(map[string]any{"alice@example.com": "k", "n": []any{"bob@example.com", 3.0}}, counts).(map[string]any)
	if _, ok := got["[EMAIL]"]; !ok || got["n"].([]any)[0] != "[EMAIL]" || got["n"].([]any)[1] != 3.0 || counts[Email] != 2 {
		t.Fatalf("got %v, counts %v", got, counts)
	}
}

func TestRedactJSONNumbers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		n    Counts
	}{
		{"card", `{"card": 4111111111111111}`, `{"card":"[CARD]"}`, Counts{Card: 1}},
		{"19-digit card beyond float64", `{"x": 4000000000000000006}`, `{"x":"[CARD]"}`, Counts{Card: 1}},
		{"phone under a phone key", `{"phone": 15551234567}`, `{"phone":"[PHONE]"}`, Counts{Phone: 1}},
		{"phone key in an array", `{"fax_numbers": [4155550000]}`, `{"fax_numbers":["[PHONE]"]}`, Counts{Phone: 1}},
		// False positives that must survive.
		{"amount", `{"amount": 15551234567}`, `{"amount":15551234567}`, Counts{}},
		{"timestamp ms", `{"ts": 1733385600000}`, `{"ts":1733385600000}`, Counts{}},
		{"luhn-failing id", `{"id": 4111111111111112}`, `{"id":4111111111111112}`, Counts{}},
		{"short number under a phone key", `{"phone_count": 3}`, `{"phone_count":3}`, Counts{}},
		{"negative", `{"card": -4111111111111111}`, `{"card":-4111111111111111}`, Counts{}},
		{"fraction", `{"card": 4111111111111111.5}`, `{"card":4111111111111111.5}`, Counts{}},
		{"telemetry is not tel", `{"telemetry": 15551234567}`, `{"telemetry":15551234567}`, Counts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := json.NewDecoder(strings.NewReader(tt.in))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				t.Fatal(err)
			}
			n := Counts{}
			out, _ := json.Marshal(RedactJSON(v, n))
			if string(out) != tt.want {
				t.Errorf("RedactJSON(%s) = %s, want %s", tt.in, out, tt.want)
			}
			if len(n) != len(tt.n) || n.Total() != tt.n.Total() {
				t.Errorf("counts = %v, want %v", n, tt.n)
			}
		})
	}
}

// Formats the first patterns missed (issue 16, item 6), and what must
// survive beside them, per region set.
func TestRedactFormats(t *testing.T) {
	us := Default
	eu, err := New(Config{PhoneRegions: []string{"FR", "GB", "US"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *Redactor
		in   string
		want string
		n    Counts
	}{
		{"ip with port", us, "db at 10.1.2.3:5432 is up", "db at [IP]:5432 is up", Counts{IP: 1}},
		{"tel uri", us, "<a href=\"tel:+14155552671\">", "<a href=\"tel:[PHONE]\">", Counts{Phone: 1}},
		{"tel uri dashes", us, "tel:+1-415-555-2671", "tel:[PHONE]", Counts{Phone: 1}},
		{"tel uri national", us, "tel:4155552671", "tel:[PHONE]", Counts{Phone: 1}},
		{"us compact", us, "call 4155552671 now", "call [PHONE] now", Counts{Phone: 1}},
		{"fr national", eu, "appelez le 01 23 45 67 89", "appelez le [PHONE]", Counts{Phone: 1}},
		{"fr national dots", eu, "tél. 06.12.34.56.78", "tél. [PHONE]", Counts{Phone: 1}},
		{"gb national", eu, "ring 020 7946 0958 today", "ring [PHONE] today", Counts{Phone: 1}},
		{"gb national needs GB", us, "ring 020 7946 0958 today", "ring 020 7946 0958 today", Counts{}},
		{"card with dots", us, "4111.1111.1111.1111", "[CARD]", Counts{Card: 1}},
		{"card with double spaces", us, "4111  1111  1111  1111", "[CARD]", Counts{Card: 1}},
		{"iban with hyphens", us, "DE89-3704-0044-0532-0130-00", "[IBAN]", Counts{IBAN: 1}},
		{"ssn with dots", us, "ssn 123.45.6789", "ssn [SSN]", Counts{SSN: 1}},

		// False positives that must survive (measured for both region sets).
		{"timestamp", eu, "at 1733385600 sharp", "at 1733385600 sharp", Counts{}},
		{"order id 10 digits", us, "order 1234567890 shipped", "order 1234567890 shipped", Counts{}},
		{"year range", eu, "from 2019 to 2024", "from 2019 to 2024", Counts{}},
		{"date", eu, "on 2024-01-15 and 15.01.2024", "on 2024-01-15 and 15.01.2024", Counts{}},
		{"amount", eu, "paid 1 250 000 EUR", "paid 1 250 000 EUR", Counts{}},
		{"version", eu, "v1.22.333", "v1.22.333", Counts{}},
		{"address port-like", us, "1.2.3.4:5:6", "1.2.3.4:5:6", Counts{}},
		{"zip and street", eu, "75001 Paris, 12 rue X", "75001 Paris, 12 rue X", Counts{}},
		{"short code", eu, "code 123456", "code 123456", Counts{}},
		{"iban hyphen bad checksum", us, "DE88-3704-0044-0532-0130-00", "DE88-3704-0044-0532-0130-00", Counts{}},
		{"card dots failing luhn", us, "4111.1111.1111.1112", "4111.1111.1111.1112", Counts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := tt.r.Redact(tt.in)
			if got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(n) != len(tt.n) || n.Total() != tt.n.Total() {
				t.Errorf("counts = %v, want %v", n, tt.n)
			}
		})
	}
}

func TestConfigRegions(t *testing.T) {
	if err := (Config{PhoneRegions: []string{"US", "gb"}}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{nil, {"XX"}, {"US", "Narnia"}} {
		if err := (Config{PhoneRegions: bad}).Validate(); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
