package memory_test

import (
	"context"
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
