package pgmigrate

import (
	"context"
	"fmt"

	"ariga.io/atlas/schemahcl"
	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	_ "ariga.io/atlas/sql/postgres/postgrescheck" // registers the Postgres analyzers
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlcheck"
	"ariga.io/atlas/sql/sqlclient"
)

// Finding is one report of an analyzer on a migration file.
type Finding struct {
	File     string
	Code     string // Atlas's check code, e.g. DS102 (destructive) or BC101 (incompatible)
	Text     string
	Blocking bool // the analyzer treats it as an error: review before merging
}

func (f Finding) String() string {
	level := "warning"
	if f.Blocking {
		level = "error"
	}
	code := f.Code
	if code == "" {
		code = "-"
	}
	return fmt.Sprintf("%s: %s %s: %s", f.File, level, code, f.Text)
}

// CountErrors returns how many findings block.
func CountErrors(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Blocking {
			n++
		}
	}
	return n
}

// Lint replays all but the newest `latest` files of dir on a dev database,
// then runs each newest file statement by statement, computing the schema
// changes of every statement, and hands them to Atlas's Postgres analyzers:
// destructive changes, backward-incompatible changes, data-dependent changes
// and constraint drops.
func Lint(ctx context.Context, devURL string, dir migrate.Dir, latest int) ([]Finding, error) {
	if err := migrate.Validate(dir); err != nil {
		return nil, fmt.Errorf("migration directory: %w", err)
	}
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("read migration directory: %w", err)
	}
	if latest < 1 || latest > len(files) {
		latest = len(files)
	}
	dev, err := OpenDev(ctx, devURL)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	drv, err := openDriver(dev.DB)
	if err != nil {
		return nil, err
	}
	analyzers, err := sqlcheck.AnalyzerFor(postgres.DriverName, &schemahcl.Resource{})
	if err != nil {
		return nil, fmt.Errorf("load analyzers: %w", err)
	}
	client := &sqlclient.Client{Name: postgres.DriverName, DB: dev.DB, Driver: drv}
	base := files[:len(files)-latest]
	for _, f := range base {
		if err := execFile(ctx, drv, f); err != nil {
			return nil, err
		}
	}
	var findings []Finding
	for _, f := range files[len(files)-latest:] {
		sf, err := loadChanges(ctx, drv, f)
		if err != nil {
			return nil, err
		}
		for _, az := range analyzers {
			var reports []sqlcheck.Report
			pass := &sqlcheck.Pass{File: sf, Dev: client, Reporter: sqlcheck.ReportWriterFunc(func(r sqlcheck.Report) {
				reports = append(reports, r)
			})}
			azErr := az.Analyze(ctx, pass)
			if azErr != nil && len(reports) == 0 {
				return nil, fmt.Errorf("lint %s: %w", f.Name(), azErr)
			}
			for _, r := range reports {
				if len(r.Diagnostics) == 0 {
					findings = append(findings, Finding{File: f.Name(), Text: r.Text, Blocking: azErr != nil})
				}
				for _, d := range r.Diagnostics {
					findings = append(findings, Finding{File: f.Name(), Code: d.Code, Text: d.Text, Blocking: azErr != nil})
				}
			}
		}
	}
	return findings, nil
}

func execFile(ctx context.Context, drv migrate.Driver, f migrate.File) error {
	stmts, err := migrate.FileStmtDecls(drv, f)
	if err != nil {
		return fmt.Errorf("parse %s: %w", f.Name(), err)
	}
	for _, s := range stmts {
		if _, err := drv.ExecContext(ctx, s.Text); err != nil {
			return fmt.Errorf("replay %s: %w", f.Name(), err)
		}
	}
	return nil
}

// loadChanges runs f on the dev database and records what each statement changed.
func loadChanges(ctx context.Context, drv migrate.Driver, f migrate.File) (*sqlcheck.File, error) {
	stmts, err := migrate.FileStmtDecls(drv, f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", f.Name(), err)
	}
	inspect := func() (*schema.Realm, error) {
		r, err := drv.InspectRealm(ctx, &schema.InspectRealmOption{Schemas: []string{"public"}})
		if err != nil {
			return nil, fmt.Errorf("inspect dev database: %w", err)
		}
		return r, nil
	}
	from, err := inspect()
	if err != nil {
		return nil, err
	}
	sf := &sqlcheck.File{File: f, From: from}
	prev := from
	for _, s := range stmts {
		if _, err := drv.ExecContext(ctx, s.Text); err != nil {
			return nil, fmt.Errorf("%s: statement at %d: %w", f.Name(), s.Pos, err)
		}
		next, err := inspect()
		if err != nil {
			return nil, err
		}
		changes, err := drv.RealmDiff(prev, next)
		if err != nil {
			return nil, fmt.Errorf("%s: diff statement at %d: %w", f.Name(), s.Pos, err)
		}
		if len(changes) > 0 {
			sf.Changes = append(sf.Changes, &sqlcheck.Change{Stmt: s, Changes: changes})
		}
		prev = next
	}
	sf.To = prev
	if sf.Sum, err = drv.RealmDiff(from, prev); err != nil {
		return nil, fmt.Errorf("%s: diff file: %w", f.Name(), err)
	}
	return sf, nil
}
