package dbtest

import (
	"context"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/jarvis-core/jarvis/ent"
	_ "github.com/jarvis-core/jarvis/ent/runtime" // privacy policies and hooks
	"github.com/jarvis-core/jarvis/internal/db"
)

// OwnerClient is an ent client connected as the owner (row-level security
// does not apply: what admin scripts use), closed when t ends.
func (d *Database) OwnerClient(t testing.TB) *ent.Client {
	t.Helper()
	sqlDB, err := db.OpenSQL(context.Background(), d.OwnerURL)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	c := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, sqlDB)))
	t.Cleanup(func() { c.Close() })
	return c
}

// App opens the service's handle on AppURL (row-level security applies),
// closed when t ends.
func (d *Database) App(t testing.TB) *db.DB {
	t.Helper()
	return d.AppWithURL(t, d.AppURL)
}

// AppWithURL is App on a variant of AppURL (e.g. with pool settings).
func (d *Database) AppWithURL(t testing.TB, url string) *db.DB {
	t.Helper()
	h, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}
