// Command jarvis is Jarvis core's one binary:
//
//	jarvis serve                       run the service (config from the environment)
//	jarvis dev                         provision a local database and dev config, migrate, serve
//	jarvis migrate diff|check|apply|status|lint
//	jarvis admin secrets rotate-key
//	jarvis bench <name>                measurements outside go test (jarvis bench -h)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jarvis-core/jarvis/internal/logging"
)

const usage = `usage: jarvis <command> [flags]

commands:
  serve     run the HTTP service with the configuration in the environment
  dev       provision a local Postgres database (roles, pgvector, migrations),
            write .env with generated secrets if missing, then serve
  migrate   diff | check | apply | status | lint (jarvis migrate -h)
  admin     secrets rotate-key (jarvis admin -h)
  bench     benchmarks too heavy for go test (jarvis bench)
`

// usageError is a mistake in the command line: printed without a stack of context.
type usageError string

func (e usageError) Error() string { return string(e) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, ue.Error())
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "jarvis:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(usage)
	}
	log := logging.New(stderr, slog.LevelInfo)
	switch args[0] {
	case "serve":
		return runServe(ctx, stderr)
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, log)
	case "admin":
		return runAdmin(ctx, args[1:], stdout, log)
	case "bench":
		return runBench(ctx, args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usageError(usage)
	}
}
