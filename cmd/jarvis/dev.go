package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/ent/migrate/migrations"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/migrate"
	"github.com/jarvis-core/jarvis/internal/redisconn"
)

const envHeader = `# Written by 'jarvis dev' with generated secrets for local development.
# Edit freely: values here are read on every 'jarvis dev'; the real environment wins.
`

// runDev makes a local machine ready and serves: dev config (.env with
// generated secrets), database + roles + pgvector, migrations, Redis if it
// answers (else the in-process fallback), then `serve`.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	envPath := fs.String("env-file", ".env", "dev config file (created with generated secrets if missing)")
	adminURL := fs.String("admin-url", envOr("DEV_DATABASE_URL", defaultDevURL), "superuser URL of the local Postgres server")
	noServe := fs.Bool("no-serve", false, "provision and migrate, then exit")
	if err := fs.Parse(args); err != nil {
		return usageError("usage: jarvis dev [--env-file .env] [--admin-url URL] [--no-serve]")
	}
	log := logging.New(stderr, slog.LevelInfo)

	vars, err := devEnv(*envPath, *adminURL)
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
	setDefault("MIGRATE_DATABASE_URL", ownerURL)
	setDefault("DATABASE_URL", serviceURL)
	for k, v := range vars {
		setDefault(k, v)
	}
	if err := migrateUp(ctx, os.Getenv("MIGRATE_DATABASE_URL"), log); err != nil {
		return err
	}
	if err := p.GrantService(ctx); err != nil {
		return fmt.Errorf("provision service role: %w", err)
	}
	useRedisIfReachable(ctx, log)
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	if *noServe {
		fmt.Fprintln(stdout, "dev database ready:", migrate.Redact(cfg.DatabaseURL))
		return nil
	}
	return serve(ctx, cfg, logging.New(stderr, logging.ParseLevel(cfg.LogLevel)))
}

// devEnv reads the dev config file and adds what is missing, generated.
func devEnv(path, adminURL string) (map[string]string, error) {
	vars, err := config.ReadEnvFile(path)
	if err != nil {
		return nil, err
	}
	defaults := map[string]func() string{
		"APP_ENV":                     func() string { return "development" },
		"PORT":                        func() string { return "8080" },
		"JWT_SECRET":                  func() string { return config.RandomToken(48) },
		"SECRETS_MASTER_KEY":          func() string { return config.RandomHex(32) },
		"REDIS_URL":                   func() string { return "redis://127.0.0.1:6379/0" },
		"JARVIS_DEV_DATABASE":         func() string { return "jarvis" },
		"JARVIS_DEV_OWNER":            func() string { return "jarvis" },
		"JARVIS_DEV_SERVICE":          func() string { return "jarvis_service" },
		"JARVIS_DEV_OWNER_PASSWORD":   func() string { return config.RandomHex(16) },
		"JARVIS_DEV_SERVICE_PASSWORD": func() string { return config.RandomHex(16) },
	}
	changed := false
	for k, gen := range defaults {
		if _, ok := vars[k]; !ok {
			vars[k] = gen()
			changed = true
		}
	}
	if changed {
		if err := config.WriteEnvFile(path, envHeader, vars); err != nil {
			return nil, err
		}
	}
	return vars, nil
}

func migrateUp(ctx context.Context, ownerURL string, log *slog.Logger) error {
	dir, err := migrate.FSDir(migrations.FS)
	if err != nil {
		return err
	}
	conn, err := db.OpenSQL(ctx, ownerURL)
	if err != nil {
		return fmt.Errorf("connect as owner: %w", err)
	}
	defer conn.Close()
	if _, err := migrate.Apply(ctx, conn, dir, log); err != nil {
		return err
	}
	return nil
}

// useRedisIfReachable keeps REDIS_URL only when Redis answers, so a machine
// without Redis runs on the in-process fallback instead of failing readiness.
func useRedisIfReachable(ctx context.Context, log *slog.Logger) {
	u := os.Getenv("REDIS_URL")
	if u == "" {
		return
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
		os.Setenv("REDIS_URL", "")
	}
}

// setDefault sets key unless the real environment already has it.
func setDefault(key, value string) {
	if _, ok := os.LookupEnv(key); !ok {
		os.Setenv(key, value)
	}
}
