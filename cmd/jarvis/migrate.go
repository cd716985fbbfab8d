package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"ariga.io/atlas/sql/migrate"

	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
)

const migrateUsage = `usage: jarvis migrate <command> [flags]

commands:
  diff <name>   plan the next migration from ent/schema into the directory (+ atlas.sum)
  check         fail when ent/schema and the directory disagree, or atlas.sum is wrong
  apply         apply pending migrations (MIGRATE_DATABASE_URL)
  status        show applied and pending migrations (MIGRATE_DATABASE_URL)
  lint          run Atlas's analyzers on the newest migrations

diff, check and lint need a dev server where they may create and drop
throw-away databases: --dev-url, else DEV_DATABASE_URL, else the local superuser.
`

// migrateConfig is what the migrate, dev and admin commands read beside the
// service's modules.
type migrateConfig struct {
	// URL is the owner role's (apply, status, admin): it changes the schema
	// and reads every user's rows.
	URL string `env:"MIGRATE_DATABASE_URL"`
	// DevURL is a superuser on a server where throw-away databases may be
	// created (diff, check, lint) and where dev provisions its database.
	DevURL string `env:"DEV_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
}

// Validate checks the schemes.
func (c migrateConfig) Validate() error {
	return errors.Join(
		config.CheckURL("MIGRATE_DATABASE_URL", c.URL, "postgres", "postgresql"),
		config.CheckURL("DEV_DATABASE_URL", c.DevURL, "postgres", "postgresql"),
	)
}

func runMigrate(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return usageError(migrateUsage)
	}
	cfg, err := config.Load[migrateConfig](config.Environ())
	if err != nil {
		return err
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("migrate "+cmd, flag.ContinueOnError)
	dirPath := fs.String("dir", "ent/migrate/migrations", "migration directory (diff, check, lint)")
	devURL := fs.String("dev-url", cfg.DevURL, "dev server URL (diff, check, lint)")
	dbURL := fs.String("url", cfg.URL, "database URL, owner role (apply, status)")
	latest := fs.Int("latest", 1, "lint: number of newest files to analyze")
	if err := fs.Parse(args); err != nil {
		return usageError(migrateUsage)
	}
	switch cmd {
	case "diff":
		if fs.NArg() != 1 {
			return usageError("usage: jarvis migrate diff <name>")
		}
		dir, err := pgmigrate.LocalDir(*dirPath)
		if err != nil {
			return err
		}
		plan, err := pgmigrate.Diff(ctx, *devURL, dir, fs.Arg(0))
		if err != nil {
			return err
		}
		if plan == nil {
			fmt.Fprintln(stdout, "no changes: the migration directory matches ent/schema")
			return nil
		}
		fmt.Fprintf(stdout, "wrote %s/%s and atlas.sum\n", *dirPath, plan.Name)
		return nil
	case "check":
		dir, err := pgmigrate.LocalDir(*dirPath)
		if err != nil {
			return err
		}
		if err := pgmigrate.Check(ctx, *devURL, dir); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "ok: the migration directory matches ent/schema and atlas.sum")
		return nil
	case "lint":
		dir, err := pgmigrate.LocalDir(*dirPath)
		if err != nil {
			return err
		}
		findings, err := pgmigrate.Lint(ctx, *devURL, dir, *latest)
		if err != nil {
			return err
		}
		for _, f := range findings {
			fmt.Fprintln(stdout, f)
		}
		if n := pgmigrate.CountErrors(findings); n > 0 {
			return fmt.Errorf("lint: %d finding(s) need review", n)
		}
		fmt.Fprintf(stdout, "lint: %d finding(s), none blocking\n", len(findings))
		return nil
	case "apply", "status":
		if *dbURL == "" {
			return errors.New("MIGRATE_DATABASE_URL (or --url) is required")
		}
		dir, err := pgmigrate.FSDir(migrations.FS)
		if err != nil {
			return err
		}
		conn, err := db.OpenSQL(ctx, *dbURL)
		if err != nil {
			return err
		}
		defer conn.Close()
		if cmd == "apply" {
			applied, err := pgmigrate.Apply(ctx, conn, dir, log)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(stdout, "nothing to apply: the database is up to date")
			} else {
				fmt.Fprintf(stdout, "applied %d migration(s): %s\n", len(applied), strings.Join(applied, ", "))
			}
			return nil
		}
		st, err := pgmigrate.ReadStatus(ctx, conn, dir)
		if err != nil {
			return err
		}
		printStatus(stdout, st)
		if !st.OK() {
			return fmt.Errorf("%d migration(s) pending", len(st.Pending))
		}
		return nil
	default:
		return usageError(migrateUsage)
	}
}

func printStatus(w io.Writer, st pgmigrate.Status) {
	current := st.Current
	if current == "" {
		current = "(none)"
	}
	fmt.Fprintf(w, "current version: %s\napplied: %d\n", current, len(st.Applied))
	for _, r := range st.Applied {
		state := "ok"
		if r.Error != "" {
			state = "error: " + r.Error
		} else if r.Type == migrate.RevisionTypeBaseline {
			state = "baseline"
		}
		fmt.Fprintf(w, "  %s %s (%s)\n", r.Version, r.Description, state)
	}
	fmt.Fprintf(w, "pending: %d\n", len(st.Pending))
	for _, p := range st.Pending {
		fmt.Fprintf(w, "  %s\n", p)
	}
}
