package pgmigrate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// DevDatabase is a throw-away database on a dev server, with pgvector, used to
// replay and normalize schemas. Close drops it.
type DevDatabase struct {
	URL    string
	DB     *sql.DB
	server *sql.DB
	name   string
}

// OpenDev creates a fresh database on the server at serverURL (a role that
// may create databases and the vector extension, e.g. the local superuser).
func OpenDev(ctx context.Context, serverURL string) (*DevDatabase, error) {
	server, err := sql.Open("pgx", serverURL)
	if err != nil {
		return nil, fmt.Errorf("open dev server: %w", err)
	}
	name := "jarvis_dev_" + randomSuffix()
	if _, err := server.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name)); err != nil {
		server.Close()
		return nil, fmt.Errorf("create dev database: %w", err)
	}
	dev := &DevDatabase{server: server, name: name}
	dev.URL, err = WithDatabase(serverURL, name)
	if err != nil {
		dev.Close()
		return nil, err
	}
	if dev.DB, err = sql.Open("pgx", dev.URL); err != nil {
		dev.Close()
		return nil, fmt.Errorf("open dev database: %w", err)
	}
	// The desired schema has vector columns: normalizing it needs the type
	// even before the first migration has run.
	if _, err := dev.DB.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		dev.Close()
		return nil, fmt.Errorf("create vector extension on dev database (is pgvector installed?): %w", err)
	}
	return dev, nil
}

// Close drops the dev database.
func (d *DevDatabase) Close() error {
	if d.DB != nil {
		d.DB.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := d.server.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(d.name)+" WITH (FORCE)")
	if cerr := d.server.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("drop dev database %s: %w", d.name, err)
	}
	return nil
}

// WithDatabase returns the postgres URL u pointing at database name.
func WithDatabase(u, name string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "postgres" && parsed.Scheme != "postgresql") {
		return "", fmt.Errorf("database URL must be postgres://...: %s", Redact(u))
	}
	parsed.Path = "/" + name
	return parsed.String(), nil
}

// Redact hides the password of a database URL for messages and logs.
func Redact(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "<unparseable URL>"
	}
	return parsed.Redacted()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
