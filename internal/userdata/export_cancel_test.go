package userdata_test

import (
	"bufio"
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarvis-core/jarvis/internal/app/apptest"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
	"github.com/jarvis-core/jarvis/openapi"
)

// A client that goes away mid-export ends the export: the writer stops, its
// transaction ends (no session left idle in a transaction holding a
// snapshot), the cut is logged, and the next export is whole.
func TestExportEndsWhenTheClientGoesAway(t *testing.T) {
	t.Parallel()
	s := apptest.New(t)
	c, tok := s.SignUp(t, "alice@example.com")
	run, err := c.CreateRun(context.Background(), openapi.OptRunCreate{})
	if err != nil {
		t.Fatal(err)
	}
	owner := ownerSQL(t, s.DB)
	// ~40 MB of messages: far more than the socket buffers hold, so the
	// writer is still in its transaction when the client leaves.
	if _, err := owner.Exec(`INSERT INTO messages (id, run_id, user_id, role, content, created_at, updated_at)
		SELECT gen_random_uuid(), $2, $1, 'assistant', repeat('x', 20000), now(), now()
		FROM generate_series(1, 2000)`, tok.UserID, run.ID); err != nil {
		t.Fatal(err)
	}
	super, err := sql.Open("pgx", dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { super.Close() })
	// The service role's sessions of this test's database inside a
	// transaction (the superuser sees every backend's state).
	inTx := func() int {
		var n int
		if err := super.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND usename = $2 AND xact_start IS NOT NULL`, s.DB.Name, dbtest.ServiceRole).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	resp := s.Do(t, http.MethodGet, "/v1/me/export", tok.AccessToken, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil { // the header line
		t.Fatal(err)
	}
	if n := inTx(); n != 1 {
		t.Fatalf("%d service sessions in a transaction mid-export, want 1: the test would prove nothing", n)
	}
	resp.Body.Close() // the client goes away
	deadline := time.Now().Add(10 * time.Second)
	for inTx() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the export's transaction is still open 10 s after the client went away")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for !strings.Contains(s.Logs.String(), "export cut short") {
		if time.Now().After(deadline) {
			t.Fatal(`no "export cut short" in the logs`)
		}
		time.Sleep(50 * time.Millisecond)
	}

	_, lines := export(t, s, tok.AccessToken, "")
	if len(lines) == 0 || lines[len(lines)-1].Type != "end" {
		t.Fatalf("the next export has %d lines and no end line", len(lines))
	}
	messages := 0
	for _, l := range lines {
		if l.Table == "messages" {
			messages++
		}
	}
	if messages != 2000 {
		t.Fatalf("the next export holds %d messages, want 2000", messages)
	}
}
