package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

// Provisioning creates what migrations cannot: the database, its owner role
// (runs migrations and admin scripts; BYPASSRLS) and the service's login role
// (a member of pgmigrate.AppRole; no BYPASSRLS). It needs a superuser
// connection and is idempotent: roles that exist get the given passwords.
type Provisioning struct {
	AdminURL        string // superuser on the server, e.g. postgres://postgres@127.0.0.1:5432/postgres
	Database        string
	Owner           string
	OwnerPassword   string
	Service         string
	ServicePassword string
}

// URLs returns the owner's and the service's connection URLs.
func (p Provisioning) URLs() (owner, service string, err error) {
	base, err := url.Parse(p.AdminURL)
	if err != nil {
		return "", "", fmt.Errorf("parse admin URL: %w", err)
	}
	mk := func(user, pw string) string {
		u := *base
		u.User = url.UserPassword(user, pw)
		u.Path = "/" + p.Database
		return u.String()
	}
	return mk(p.Owner, p.OwnerPassword), mk(p.Service, p.ServicePassword), nil
}

// Prepare makes the owner role, the app role, the database and the vector
// extension: what only a superuser may create (the owner has no CREATEROLE,
// and pgvector is not a trusted extension). The first migration then finds
// both and skips them.
func (p Provisioning) Prepare(ctx context.Context) error {
	admin, err := OpenSQL(ctx, p.AdminURL)
	if err != nil {
		return fmt.Errorf("connect as admin: %w", err)
	}
	defer admin.Close()
	if err := EnsureRole(ctx, admin, p.Owner, p.OwnerPassword, "LOGIN BYPASSRLS"); err != nil {
		return err
	}
	if err := EnsureAppRole(ctx, admin); err != nil {
		return err
	}
	var exists bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", p.Database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", p.Database, err)
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", ident(p.Database), ident(p.Owner))); err != nil {
			return fmt.Errorf("create database %s: %w", p.Database, err)
		}
	}
	adminDB, err := pgmigrate.WithDatabase(p.AdminURL, p.Database)
	if err != nil {
		return err
	}
	conn, err := OpenSQL(ctx, adminDB)
	if err != nil {
		return fmt.Errorf("connect to %s as admin: %w", p.Database, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		return fmt.Errorf("create extension vector in %s (is pgvector installed? scripts/setup.sh installs it): %w", p.Database, err)
	}
	return nil
}

// GrantService makes the service's login role a member of the app role, which
// the first migration creates: call it after migrations.
func (p Provisioning) GrantService(ctx context.Context) error {
	admin, err := OpenSQL(ctx, p.AdminURL)
	if err != nil {
		return fmt.Errorf("connect as admin: %w", err)
	}
	defer admin.Close()
	if err := EnsureRole(ctx, admin, p.Service, p.ServicePassword, "LOGIN NOBYPASSRLS"); err != nil {
		return err
	}
	return GrantAppRole(ctx, admin, p.Service)
}

// EnsureAppRole creates pgmigrate.AppRole (no login, no BYPASSRLS) if missing,
// with the statement the first migration uses.
func EnsureAppRole(ctx context.Context, admin execer) error {
	if _, err := admin.ExecContext(ctx, pgmigrate.AppRoleSQL()); err != nil {
		return fmt.Errorf("create role %s: %w", pgmigrate.AppRole, err)
	}
	return nil
}

// execer is *sql.DB, *sql.Conn or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// GrantAppRole makes role a member of pgmigrate.AppRole.
func GrantAppRole(ctx context.Context, admin execer, role string) error {
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("GRANT %s TO %s", ident(pgmigrate.AppRole), ident(role))); err != nil {
		return fmt.Errorf("grant %s to %s: %w", pgmigrate.AppRole, role, err)
	}
	return nil
}

// querier runs statements and single-row queries: *sql.DB or *sql.Conn.
type querier interface {
	execer
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// EnsureRole creates role, or updates its password and attributes. Errors
// never include the statement: it holds the password.
func EnsureRole(ctx context.Context, admin querier, role, password, attrs string) error {
	var exists bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s: %w", role, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	stmt := fmt.Sprintf("%s ROLE %s %s PASSWORD %s", verb, ident(role), attrs, literal(password))
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		if strings.Contains(err.Error(), "already exists") {
			// Created concurrently: set the password on it.
			return EnsureRole(ctx, admin, role, password, attrs)
		}
		return fmt.Errorf("%s role %s: %w", strings.ToLower(verb), role, err)
	}
	return nil
}

func ident(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func literal(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
