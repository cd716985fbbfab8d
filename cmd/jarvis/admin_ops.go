package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/admin"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
)

// runOperator runs the users and audit commands: flags here, logic in
// internal/admin.
func runOperator(ctx context.Context, args []string, stdout io.Writer) error {
	cmd := args[0] + " " + args[1]
	fs := flag.NewFlagSet("admin "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	op := admin.Operator{}
	fs.StringVar(&op.Name, "operator", admin.DefaultOperator(), "who runs the command (audit log)")
	fs.StringVar(&op.Reason, "reason", "", "why (audit log; required for changes)")
	// Flags may come before or after the account.
	var pos []string
	rest := args[2:]
	for {
		if err := fs.Parse(rest); err != nil {
			return usageError(adminUsage)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	needsUser := args[0] == "users"
	if needsUser != (len(pos) == 1) || len(pos) > 1 {
		return usageError(adminUsage)
	}
	src := config.Environ()
	mc, merr := config.Load[migrateConfig](src)
	ac, aerr := config.Load[audit.Config](src)
	if err := config.Join(merr, aerr); err != nil {
		return err
	}
	if mc.URL == "" {
		return errors.New("MIGRATE_DATABASE_URL (the owner role) is required: admin commands read every user's rows")
	}
	conn, err := db.OpenSQL(ctx, mc.URL)
	if err != nil {
		return err
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, conn)))
	defer client.Close()
	ops := admin.Ops{Client: client}
	switch cmd {
	case "users find":
		acc, err := ops.FindUser(ctx, op, pos[0])
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(acc)
	case "users disable", "users enable":
		n, err := ops.SetStatus(ctx, op, pos[0], args[1] == "disable")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd %s (%d session(s) revoked)\n", args[1], pos[0], n)
		return nil
	case "users revoke-sessions":
		n, err := ops.RevokeSessions(ctx, op, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d session(s) of %s\n", n, pos[0])
		return nil
	case "users erase":
		after, closeAfter, err := eraseAftermath(src)
		if err != nil {
			return err
		}
		defer closeAfter()
		counts, out, err := ops.EraseWith(ctx, op, pos[0], after)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "grants revoked: %d (failed: %d); realtime stream and sockets ended: %t\n",
			out.GrantsRevoked, out.GrantsFailed, out.RealtimeForgotten)
		total := 0
		for _, n := range counts {
			total += n
		}
		fmt.Fprintf(stdout, "erased %s: %d row(s) in %d table(s); the audit log keeps a tombstone\n", pos[0], total, len(counts))
		return nil
	case "audit prune":
		n, err := ops.PruneAudit(ctx, op, ac.Retention)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pruned %d audit event(s) older than %s\n", n, ac.Retention)
		return nil
	}
	return usageError(adminUsage)
}
