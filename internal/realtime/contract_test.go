package realtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
)

// TestMessageIDsAreWhatTheContractSays: a client message's id is a string
// (1-64 characters) or an integer, echoed as sent; anything else is an
// error reply that echoes nothing (issue 16, item 17).
func TestMessageIDsAreWhatTheContractSays(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	_, tok := s.SignUp(t, "ids@example.com")
	ws := dialWS(t, s, tok.AccessToken)
	readWS(t, ws) // connected
	type answer struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}
	for _, c := range []struct {
		id   string
		want answer
	}{
		{`1`, answer{"pong", json.RawMessage(`1`)}},
		{`"req-7"`, answer{"pong", json.RawMessage(`"req-7"`)}},
		{`"` + strings.Repeat("é", 64) + `"`, answer{"pong", json.RawMessage(`"` + strings.Repeat("é", 64) + `"`)}},
		{`""`, answer{"error", nil}},
		{`"` + strings.Repeat("x", 65) + `"`, answer{"error", nil}},
		{`1.5`, answer{"error", nil}},
		{`{"a":1}`, answer{"error", nil}},
		{`[1]`, answer{"error", nil}},
		{`true`, answer{"error", nil}},
	} {
		writeWS(t, ws, json.RawMessage(`{"type":"ping","id":`+c.id+`}`))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, raw, err := ws.Read(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var got answer
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if got.Type != c.want.Type || string(got.ID) != string(c.want.ID) {
			t.Errorf("id %s: answer %s, want type %s id %s", c.id, raw, c.want.Type, c.want.ID)
		}
	}
}

// TestFinalContentLimitIsInBytes: agent.final's data must fit in
// REALTIME_MAX_EVENT_BYTES as JSON, so with the default the content holds
// 65522 bytes, not 65536 characters, as docs/realtime.md states (issue
// 16, item 17).
func TestFinalContentLimitIsInBytes(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, tok := s.SignUp(t, "final@example.com")
	run := createRun(t, c)
	emit := func(content string) int {
		body := `{"type":"agent.final","data":{"content":"` + content + `"}}`
		return s.Do(t, http.MethodPost, "/v1/runs/"+run.String()+"/events", tok.AccessToken, body).StatusCode
	}
	if st := emit(strings.Repeat("a", 65522)); st != http.StatusAccepted {
		t.Fatalf("65522 bytes: %d, want 202", st)
	}
	if st := emit(strings.Repeat("a", 65523)); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("65523 bytes: %d, want 413", st)
	}
	// Bytes, not characters: 32762 two-byte characters are 65524 bytes.
	if st := emit(strings.Repeat("é", 32761)); st != http.StatusAccepted {
		t.Fatalf("32761 two-byte characters: %d, want 202", st)
	}
	if st := emit(strings.Repeat("é", 32762)); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("32762 two-byte characters: %d, want 413", st)
	}
}
