package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/admin"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/connections"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/secrets"
)

const adminUsage = `usage: jarvis admin <command> [flags]

commands:
  secrets rotate-key --reason "..." [--operator name] [--batch 100]
      re-seal every secret and every OAuth connection's tokens under
      SECRETS_MASTER_KEY (version SECRETS_KEY_VERSION), opening older ones with
      SECRETS_OLD_KEYS; runs beside the live service,
      one batch per transaction. Connects as MIGRATE_DATABASE_URL (owner role).
  users find <email|id>
      the account, its status and how many rows it owns in each owned table.
  users disable|enable|revoke-sessions <email|id> --reason "..." [--operator name]
      disable (also revokes every session: live tokens stop at their next
      request), enable, or revoke every session of one account. Disable and
      revoke-sessions then close the account's open sockets on every instance
      (with the service's REDIS_URL; without it they end at their next
      session check).
  users erase <email|id> --reason "..." [--operator name]
      delete the account and every row of every owned table naming it; its
      audit events are replaced by one tombstone without personal data.
  audit prune --reason "..." [--operator name]
      delete audit events older than AUDIT_RETENTION, across every user.
  budgets show <email|id>
      the account's budget and this month's spend, as GET /v1/budget shows it.
  budgets set <email|id> --limit-usd 50 [--soft-limit-usd 40] [--hard=false] --reason "..."
  budgets clear <email|id> --reason "..."
      set or remove the account's budget through the runs service (the
      validation and audit event of PUT/DELETE /v1/budget).
  usage top [--month 2026-11] [--by user|model] [--limit 20] [--json]
      the month's top spenders (UTC calendar month), exact decimal amounts;
      --by model splits each of them by provider and model.
  prices unpriced [--json]
      models recorded in LLM calls without a price (those calls cost
      nothing), with their calls, users, first and last seen.
  reembed memories|entities --user <email|id>|--all [--batch 100] --reason "..."
      recompute the embeddings of rows of another model than the configured
      embedder's (EMBEDDINGS_*; an OpenAI-compatible provider needs
      EMBEDDINGS_API_KEY), batch by batch; interrupted, run it again: rows
      already done carry the new model and are not redone.

Every command that changes something writes an audit event naming the operator
(--operator, default the OS user) and the reason, in the same transaction.
All connect as MIGRATE_DATABASE_URL (the owner role); "audit prune",
"usage top", "prices unpriced", "reembed --all" and "secrets rotate-key" fan
out over every user (every shard on Citus), the others touch one user.
`

func runAdmin(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) >= 2 && args[0] != "secrets" {
		return runOperator(ctx, args, stdout, log)
	}
	if len(args) < 2 || args[0] != "secrets" || args[1] != "rotate-key" {
		return usageError(adminUsage)
	}
	fs := flag.NewFlagSet("admin secrets rotate-key", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	batch := fs.Int("batch", 100, "rows per transaction")
	op := admin.Operator{}
	fs.StringVar(&op.Name, "operator", admin.DefaultOperator(), "who runs the command (audit log)")
	fs.StringVar(&op.Reason, "reason", "", "why (audit log; required)")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() > 0 {
		return usageError(adminUsage)
	}
	if err := op.Validate(); err != nil {
		return err
	}
	// Each batch records an admin_action per user it re-sealed, naming the
	// operator and the reason.
	ctx = audit.WithReason(audit.WithOperator(ctx, op.Name), op.Reason)
	src := config.Environ()
	sc, serr := config.Load[secrets.Config](src)
	mc, merr := config.Load[migrateConfig](src)
	if err := config.Join(serr, merr); err != nil {
		return err
	}
	if mc.URL == "" {
		return errors.New("MIGRATE_DATABASE_URL (the owner role) is required: rotation reads every user's secrets")
	}
	box, err := secrets.BoxFromConfig(sc)
	if err != nil {
		return err
	}
	conn, err := db.OpenSQL(ctx, mc.URL)
	if err != nil {
		return err
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, conn)))
	defer client.Close()
	n, err := secrets.RotateKeys(ctx, client, box, *batch, log)
	if err != nil {
		return fmt.Errorf("rotate keys (%d re-sealed before the error): %w", n, err)
	}
	fmt.Fprintf(stdout, "re-sealed %d secret(s) under key version %d\n", n, box.CurrentVersion())
	n, err = connections.RotateKeys(ctx, client, box, *batch, log)
	if err != nil {
		return fmt.Errorf("rotate connection keys (%d re-sealed before the error): %w", n, err)
	}
	fmt.Fprintf(stdout, "re-sealed %d connection(s) under key version %d\n", n, box.CurrentVersion())
	return nil
}
