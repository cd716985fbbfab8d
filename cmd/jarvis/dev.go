package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/joho/godotenv"
	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/pgmigrate"
	"github.com/jarvis-core/jarvis/internal/redisconn"
)

const envHeader = `# Written by 'jarvis dev' with generated secrets for local development.
# Edit freely: values here are read on every 'jarvis dev'; the real environment wins.
`

// runDev makes a local machine ready and serves: dev config (.env with
// generated secrets), database + roles + pgvector, migrations, Redis if it
// answers (else the in-process fallback), then `serve`.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	mc, err := config.Load[migrateConfig](config.Environ())
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	envPath := fs.String("env-file", ".env", "dev config file (created with generated secrets if missing)")
	adminURL := fs.String("admin-url", mc.DevURL, "superuser URL of the local Postgres server")
	noServe := fs.Bool("no-serve", false, "provision and migrate, then exit")
	if err := fs.Parse(args); err != nil {
		return usageError("usage: jarvis dev [--env-file .env] [--admin-url URL] [--no-serve]")
	}
	log := logging.New(stderr, slog.LevelInfo)

	vars, err := devEnv(*envPath)
	if err != nil {
		return err
	}
	p := db.Provisioning{
		AdminURL: *adminURL, Database: vars["JARVIS_DEV_DATABASE"],
		Owner: vars["JARVIS_DEV_OWNER"], OwnerPassword: vars["JARVIS_DEV_OWNER_PASSWORD"],
		Service: vars["JARVIS_DEV_SERVICE"], ServicePassword: vars["JARVIS_DEV_SERVICE_PASSWORD"],
	}
	if err := p.Prepare(ctx); err != nil {
		return fmt.Errorf("provision database: %w", err)
	}
	ownerURL, serviceURL, err := p.URLs()
	if err != nil {
		return err
	}
	// The real environment wins, then the roles just provisioned, then .env.
	src := config.Environ().
		WithDefaults(map[string]string{"MIGRATE_DATABASE_URL": ownerURL, "DATABASE_URL": serviceURL}).
		WithDefaults(vars)
	if mc, err = config.Load[migrateConfig](src); err != nil {
		return err
	}
	if err := migrateUp(ctx, mc.URL, log); err != nil {
		return err
	}
	if err := p.GrantService(ctx); err != nil {
		return fmt.Errorf("provision service role: %w", err)
	}
	src = useRedisIfReachable(ctx, src, log)
	if *noServe {
		dc, err := config.Load[db.Config](src)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "dev database ready:", pgmigrate.Redact(dc.URL))
		return nil
	}
	return serve(ctx, src, stderr)
}

// devEnv reads the dev config file and adds what is missing, generated.
func devEnv(path string) (map[string]string, error) {
	vars, err := readEnvFile(path)
	if err != nil {
		return nil, err
	}
	defaults := map[string]func() string{
		"APP_ENV":                     func() string { return "development" },
		"PORT":                        func() string { return "8080" },
		"JWT_SECRET":                  func() string { return randomToken(48) },
		"SECRETS_MASTER_KEY":          func() string { return randomHex(32) },
		"REDIS_URL":                   func() string { return "redis://127.0.0.1:6379/0" },
		"JARVIS_DEV_DATABASE":         func() string { return "jarvis" },
		"JARVIS_DEV_OWNER":            func() string { return "jarvis" },
		"JARVIS_DEV_SERVICE":          func() string { return "jarvis_service" },
		"JARVIS_DEV_OWNER_PASSWORD":   func() string { return randomHex(16) },
		"JARVIS_DEV_SERVICE_PASSWORD": func() string { return randomHex(16) },
	}
	changed := false
	for k, gen := range defaults {
		if _, ok := vars[k]; !ok {
			vars[k] = gen()
			changed = true
		}
	}
	if changed {
		if err := writeEnvFile(path, envHeader, vars); err != nil {
			return nil, err
		}
	}
	return vars, nil
}

// readEnvFile reads a .env file with godotenv; a missing file is empty.
func readEnvFile(path string) (map[string]string, error) {
	vars, err := godotenv.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return map[string]string{}, nil
	case err != nil:
		// godotenv's syntax errors quote the rest of the file: secrets.
		return nil, fmt.Errorf("read %s: not a valid env file (KEY=VALUE lines, # comments)", path)
	}
	return vars, nil
}

// writeEnvFile writes vars sorted by key (quoted by godotenv), readable by
// the owner only: it holds secrets.
func writeEnvFile(path, header string, vars map[string]string) error {
	body, err := godotenv.Marshal(vars)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(header+body+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// randomHex returns n random bytes as hex (SECRETS_MASTER_KEY, passwords).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}

// randomToken returns n random bytes, URL-safe base64 (JWT_SECRET).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func migrateUp(ctx context.Context, ownerURL string, log *slog.Logger) error {
	dir, err := pgmigrate.FSDir(migrations.FS)
	if err != nil {
		return err
	}
	conn, err := db.OpenSQL(ctx, ownerURL)
	if err != nil {
		return fmt.Errorf("connect as owner: %w", err)
	}
	defer conn.Close()
	if _, err := pgmigrate.Apply(ctx, conn, dir, log); err != nil {
		return err
	}
	return nil
}

// useRedisIfReachable keeps REDIS_URL only when Redis answers, so a machine
// without Redis runs on the in-process fallback instead of failing readiness.
func useRedisIfReachable(ctx context.Context, src config.Source, log *slog.Logger) config.Source {
	u, _ := src.Lookup("REDIS_URL")
	if u == "" {
		return src
	}
	redisconn.RouteLogs(log)
	opts, err := redis.ParseURL(u)
	if err == nil {
		opts.MaxRetries = -1 // one dial is the answer

		c := redis.NewClient(opts)
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		err = c.Ping(pingCtx).Err()
		cancel()
		c.Close()
	}
	if err != nil {
		log.Warn("redis not reachable: using the in-process single-node fallback")
		return src.With("REDIS_URL", "")
	}
	return src
}
