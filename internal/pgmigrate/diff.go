package pgmigrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	entschema "entgo.io/ent/dialect/sql/schema"

	"github.com/jarvis-core/jarvis/ent"
	entmigrate "github.com/jarvis-core/jarvis/ent/migrate"
)

// Plan is the next migration file: the SQL that brings the directory's schema
// to ent/schema's.
type Plan struct {
	Name string // file name, <version>_<name>.sql
	SQL  string
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)

// ErrOutOfDate is returned by Check when ent/schema and the directory disagree.
var ErrOutOfDate = errors.New("migration directory is out of date with ent/schema: run `jarvis migrate diff <name>`")

// Diff plans the next migration of dir against ent/schema on a dev server and
// writes it (file and atlas.sum) to dir. It returns nil when nothing changed.
func Diff(ctx context.Context, devURL string, dir migrate.Dir, name string) (*Plan, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("migration name %q: use lower case letters, digits and _", name)
	}
	plan, err := plan(ctx, devURL, dir, name)
	if err != nil || plan == nil {
		return nil, err
	}
	if err := dir.WriteFile(plan.Name, []byte(plan.SQL)); err != nil {
		return nil, fmt.Errorf("write %s: %w", plan.Name, err)
	}
	sum, err := dir.Checksum()
	if err != nil {
		return nil, fmt.Errorf("compute atlas.sum: %w", err)
	}
	if err := migrate.WriteSumFile(dir, sum); err != nil {
		return nil, fmt.Errorf("write atlas.sum: %w", err)
	}
	return plan, nil
}

// Check fails with ErrOutOfDate (and the SQL that is missing) when ent/schema
// has changes the directory does not, and fails when atlas.sum does not match.
func Check(ctx context.Context, devURL string, dir migrate.Dir) error {
	p, err := plan(ctx, devURL, dir, "check")
	if err != nil {
		return err
	}
	if p != nil {
		return fmt.Errorf("%w; missing:\n%s", ErrOutOfDate, p.SQL)
	}
	return nil
}

func plan(ctx context.Context, devURL string, dir migrate.Dir, name string) (*Plan, error) {
	if err := migrate.Validate(dir); err != nil {
		return nil, fmt.Errorf("migration directory: %w", err)
	}
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("read migration directory: %w", err)
	}
	rls, funcs, err := replayState(ctx, devURL, dir)
	if err != nil {
		return nil, err
	}
	tableSQL, err := entDiff(ctx, devURL, dir, name)
	if err != nil {
		return nil, err
	}
	missing := missingRLS(rls, ent.OwnedTables, ent.LookupPolicies) + missingRoutines(funcs)
	done, err := distributedIn(dir, tableSQL)
	if err != nil {
		return nil, fmt.Errorf("read migration directory: %w", err)
	}
	missing += missingDistribution(done, ModelTables)
	if tableSQL == "" && missing == "" {
		return nil, nil
	}
	var b strings.Builder
	if len(files) == 0 {
		b.WriteString(bootstrapSQL())
	}
	b.WriteString(tableSQL)
	b.WriteString(missing)
	return &Plan{Name: nextName(files, name), SQL: b.String()}, nil
}

// replayState replays dir on a fresh dev database and returns its row-level
// security and the bodies of the model's functions.
func replayState(ctx context.Context, devURL string, dir migrate.Dir) (rlsState, map[string]string, error) {
	dev, err := OpenDev(ctx, devURL)
	if err != nil {
		return rlsState{}, nil, err
	}
	defer dev.Close()
	if err := replay(ctx, dev, dir); err != nil {
		return rlsState{}, nil, err
	}
	rls, err := readRLS(ctx, dev.DB)
	if err != nil {
		return rlsState{}, nil, err
	}
	funcs, err := readRoutines(ctx, dev.DB)
	return rls, funcs, err
}

// replay applies every file of dir on dev without recording revisions.
func replay(ctx context.Context, dev *DevDatabase, dir migrate.Dir) error {
	drv, err := openDriver(dev.DB)
	if err != nil {
		return err
	}
	ex, err := migrate.NewExecutor(drv, dir, migrate.NopRevisionReadWriter{})
	if err != nil {
		return fmt.Errorf("migration executor: %w", err)
	}
	if err := ex.ExecuteN(ctx, 0); err != nil && !errors.Is(err, migrate.ErrNoPendingFiles) {
		return fmt.Errorf("replay migration directory: %w", err)
	}
	return nil
}

// entDiff lets ent's Atlas integration replay dir on another fresh dev
// database and plan the table changes towards ent/schema. It returns the
// planned file's SQL, or "" when the tables agree.
func entDiff(ctx context.Context, devURL string, dir migrate.Dir, name string) (string, error) {
	dev, err := OpenDev(ctx, devURL)
	if err != nil {
		return "", err
	}
	defer dev.Close()
	scratch, err := copyDir(dir)
	if err != nil {
		return "", err
	}
	before, err := scratch.Files()
	if err != nil {
		return "", err
	}
	err = entmigrate.NewSchema(entsql.OpenDB(dialect.Postgres, dev.DB)).NamedDiff(ctx, name,
		entschema.WithDir(scratch),
		entschema.WithMigrationMode(entschema.ModeReplay),
		entschema.WithDialect(dialect.Postgres),
		entschema.WithFormatter(migrate.DefaultFormatter),
		// Drops are planned too, so the directory can always reach the
		// model; `jarvis migrate lint` reports them for review.
		entschema.WithDropColumn(true),
		entschema.WithDropIndex(true),
		entschema.WithDiffHook(modelKeys(ModelTables)),
	)
	if err != nil {
		return "", fmt.Errorf("diff ent/schema against migration directory: %w", err)
	}
	after, err := scratch.Files()
	if err != nil {
		return "", err
	}
	if len(after) == len(before) {
		return "", nil
	}
	b, err := fs.ReadFile(scratch, after[len(after)-1].Name())
	if err != nil {
		return "", fmt.Errorf("read planned migration: %w", err)
	}
	return dropConstraintsFirst(string(b)), nil
}

// pureDrop is a statement that only drops a constraint.
var pureDrop = regexp.MustCompile(`^ALTER TABLE "[^"]+" DROP CONSTRAINT "[^"]+";$`)

// dropConstraintsFirst moves the statements that only drop a constraint (with
// their comment line) to the top of a planned file. Atlas orders changes per
// table, and a primary key that changes (to (user_id, id), see ownerKeys)
// cannot be dropped while a foreign key of another table still depends on
// it; dropping a constraint earlier never breaks a later statement.
func dropConstraintsFirst(sql string) string {
	lines := strings.SplitAfter(sql, "\n")
	var drops, rest []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "--") && i+1 < len(lines) && pureDrop.MatchString(strings.TrimSpace(lines[i+1])) {
			drops = append(drops, l, lines[i+1])
			i++
			continue
		}
		if pureDrop.MatchString(strings.TrimSpace(l)) {
			drops = append(drops, l)
			continue
		}
		rest = append(rest, l)
	}
	return strings.Join(drops, "") + strings.Join(rest, "")
}

// nextName is <version>_<name>.sql with a UTC timestamp version that sorts
// after every existing file, as Atlas names them.
func nextName(files []migrate.File, name string) string {
	v := time.Now().UTC().Format("20060102150405")
	if n := len(files); n > 0 && files[n-1].Version() >= v {
		last, _ := time.Parse("20060102150405", files[n-1].Version())
		v = last.Add(time.Second).Format("20060102150405")
	}
	return v + "_" + name + ".sql"
}
