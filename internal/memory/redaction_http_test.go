package memory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/go-faster/jx"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/openapi"
)

// count reads one kind's redaction count (0 when absent).
func count(m map[string]jx.Raw, kind string) string {
	if v, ok := m[kind]; ok {
		return string(v)
	}
	return "0"
}

// redactions always describe what is stored, whichever part an update
// changes (issue 16, item 7).
func TestRedactionCountsFollowUpdatesHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "counts@example.com")
	ctx := context.Background()
	m, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: "mail ada@example.com",
		Metadata: openapi.NewOptMemoryCreateMetadata(openapi.MemoryCreateMetadata{"ip": jx.Raw(`"10.0.0.1"`)})})
	if err != nil || count(m.Redactions, "email") != "1" || count(m.Redactions, "ip") != "1" {
		t.Fatalf("created = %+v, %v", m, err)
	}
	id := openapi.UpdateMemoryParams{ID: m.ID}
	// Metadata alone: the content's email stays counted, the old IP goes.
	up, err := c.UpdateMemory(ctx, &openapi.MemoryUpdate{Metadata: openapi.NewOptMemoryUpdateMetadata(openapi.MemoryUpdateMetadata{"ssn": jx.Raw(`"123-45-6789"`)})}, id)
	if err != nil || count(up.Redactions, "email") != "1" || count(up.Redactions, "ip") != "0" || count(up.Redactions, "ssn") != "1" {
		t.Fatalf("metadata update: %s, %v", up.Redactions, err)
	}
	// Content alone: the metadata's SSN stays counted, the email goes.
	up, err = c.UpdateMemory(ctx, &openapi.MemoryUpdate{Content: openapi.NewOptString("call 415-555-2671")}, id)
	if err != nil || count(up.Redactions, "email") != "0" || count(up.Redactions, "phone") != "1" || count(up.Redactions, "ssn") != "1" {
		t.Fatalf("content update: %s, %v", up.Redactions, err)
	}
	// Metadata emptied: nothing of it is counted.
	up, err = c.UpdateMemory(ctx, &openapi.MemoryUpdate{Metadata: openapi.NewOptMemoryUpdateMetadata(openapi.MemoryUpdateMetadata{})}, id)
	if err != nil || len(up.Redactions) != 1 || count(up.Redactions, "phone") != "1" {
		t.Fatalf("metadata emptied: %s, %v", up.Redactions, err)
	}
}

// Personal data written as a JSON number is redacted like text; other
// numbers stay numbers (issue 16, item 5).
func TestNumbersInMetadataAreRedactedHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, _ := s.SignUp(t, "numbers@example.com")
	ctx := context.Background()
	m, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: "contact details",
		Metadata: openapi.NewOptMemoryCreateMetadata(openapi.MemoryCreateMetadata{
			"card":   jx.Raw(`4111111111111111`),
			"amex":   jx.Raw(`[378282246310005]`),
			"phone":  jx.Raw(`15551234567`),
			"nested": jx.Raw(`{"mobile_number": 4155552671, "visa19": 4000000000000000006}`),
			"amount": jx.Raw(`1234567`),
			"ts":     jx.Raw(`1733385600000`),
			"price":  jx.Raw(`4111111111111111.5`),
		})})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"card": `"[CARD]"`, "amex": `["[CARD]"]`, "phone": `"[PHONE]"`,
		"nested": `{"mobile_number":"[PHONE]","visa19":"[CARD]"}`,
		"amount": `1234567`, "ts": `1733385600000`,
	}
	for k, v := range want {
		if got := compact(t, m.Metadata[k]); got != v {
			t.Errorf("metadata %s = %s, want %s", k, got, v)
		}
	}
	if count(m.Redactions, "card") != "3" || count(m.Redactions, "phone") != "2" {
		t.Errorf("redactions = %s", m.Redactions)
	}
	// A search filter by the raw number finds the redacted row.
	res, err := c.SearchMemories(ctx, &openapi.MemorySearch{Query: openapi.NewOptString("contact"), Threshold: openapi.NewOptFloat64(-1),
		Metadata: openapi.NewOptMemorySearchMetadata(openapi.MemorySearchMetadata{"card": jx.Raw(`4111111111111111`)})})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("filter by the raw card number = %+v, %v", res, err)
	}
}

// compact is raw JSON without insignificant spaces.
func compact(t *testing.T, raw jx.Raw) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.String()
}

// Formats the first patterns missed are redacted; national phone formats
// follow PII_PHONE_REGIONS (issue 16, item 6).
func TestMissedFormatsAreRedactedHTTP(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, apptest.Env(map[string]string{"PII_PHONE_REGIONS": "US,GB,FR"}))
	c, _ := s.SignUp(t, "formats@example.com")
	ctx := context.Background()
	for _, tt := range []struct{ in, want string }{
		{"postgres at 10.1.2.3:5432", "postgres at [IP]:5432"},
		{"link tel:+14155552671", "link tel:[PHONE]"},
		{"Paris 01 23 45 67 89", "Paris [PHONE]"},
		{"London 020 7946 0958", "London [PHONE]"},
		{"SF 4155552671", "SF [PHONE]"},
		{"card 4111.1111.1111.1111", "card [CARD]"},
		{"card 4111  1111  1111  1111", "card [CARD]"},
		{"iban DE89-3704-0044-0532-0130-00", "iban [IBAN]"},
		{"ssn 123.45.6789", "ssn [SSN]"},
		{"sent at 1733385600, order 1234567890", "sent at 1733385600, order 1234567890"},
	} {
		m, err := c.CreateMemory(ctx, &openapi.MemoryCreate{Content: tt.in})
		if err != nil || m.Content != tt.want {
			t.Errorf("%q stored as %q (%v), want %q", tt.in, m.Content, err, tt.want)
		}
	}
	// Without GB among the regions, a British national number is not known.
	us := apptest.New(t)
	uc, _ := us.SignUp(t, "us@example.com")
	if m, err := uc.CreateMemory(ctx, &openapi.MemoryCreate{Content: "London 020 7946 0958"}); err != nil || m.Content != "London 020 7946 0958" {
		t.Errorf("US-only redactor: %q, %v", m.Content, err)
	}
}
