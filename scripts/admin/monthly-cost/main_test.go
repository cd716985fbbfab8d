package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

func TestMonthlyCostReport(t *testing.T) {
	d := dbtest.New(t)
	owner := d.OwnerClient(t)
	alice := dbtest.Seed(t, owner, "alice@example.com")
	dbtest.Seed(t, owner, "bob@example.com")
	month := alice.LLMCall.CreatedAt.UTC().Format("2006-01")

	var out bytes.Buffer
	if err := run(context.Background(), []string{"--month", month, "--json"}, d.OwnerURL, &out); err != nil {
		t.Fatal(err)
	}
	var lines []Line
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var x Line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		lines = append(lines, x)
	}
	if len(lines) != 2 {
		t.Fatalf("lines = %+v, want one per user", lines)
	}
	for _, l := range lines {
		if l.Model != "gpt-4o-mini" || l.Calls != 1 || !l.Cost.Equal(decimal.RequireFromString("0.0000015")) {
			t.Fatalf("line = %+v", l)
		}
	}
	out.Reset()
	next := time.Now().AddDate(0, 2, 0).UTC().Format("2006-01")
	if err := run(context.Background(), []string{"--month", next}, d.OwnerURL, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "TOTAL "+next) || strings.Contains(out.String(), "alice@") {
		t.Fatalf("empty month: %s", out.String())
	}
	if err := run(context.Background(), []string{"--month", "2026-13"}, d.OwnerURL, &out); err == nil {
		t.Fatal("bad month accepted")
	}
}

// The script builds as a program of its own, as an operator runs it.
func TestMonthlyCostBuilds(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "monthly-cost")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	if b, err := exec.Command(bin, "--month", "2026-11").CombinedOutput(); err == nil ||
		!strings.Contains(string(b), "MIGRATE_DATABASE_URL") {
		t.Fatalf("without a database: %v %s", err, b)
	}
}
