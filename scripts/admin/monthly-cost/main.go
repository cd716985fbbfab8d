// monthly-cost prints what each user's LLM calls cost in one calendar month
// (UTC), by model: the example of an operator's own admin script on the
// typed ent client (see ../README.md for the pattern).
//
//	MIGRATE_DATABASE_URL=postgres://owner@... go run ./scripts/admin/monthly-cost --month 2026-11 [--json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/llmcall"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	_ "github.com/jarvis-core/jarvis/ent/runtime" // privacy policies and hooks
	"github.com/jarvis-core/jarvis/ent/user"
	"github.com/jarvis-core/jarvis/internal/db"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv("MIGRATE_DATABASE_URL"), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "monthly-cost:", err)
		os.Exit(1)
	}
}

// Line is one user's spend on one model in the month.
type Line struct {
	UserID uuid.UUID       `json:"user_id"`
	Email  string          `json:"email"`
	Model  string          `json:"model"`
	Calls  int             `json:"calls"`
	Cost   decimal.Decimal `json:"cost_usd"`
}

func run(ctx context.Context, args []string, url string, out io.Writer) error {
	fs := flag.NewFlagSet("monthly-cost", flag.ContinueOnError)
	month := fs.String("month", time.Now().UTC().Format("2006-01"), "calendar month, YYYY-MM (UTC)")
	asJSON := fs.Bool("json", false, "JSON lines instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start, err := time.Parse("2006-01", *month)
	if err != nil {
		return fmt.Errorf("--month %q: want YYYY-MM", *month)
	}
	end := start.AddDate(0, 1, 0)
	if url == "" {
		return errors.New("MIGRATE_DATABASE_URL (the owner role) is required")
	}
	// 1. Connect as the owner role: row-level security does not apply.
	conn, err := db.OpenSQL(ctx, url)
	if err != nil {
		return err
	}
	client := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, conn)))
	defer client.Close()
	// 2. Past ent privacy through the one helper, with the reason. A script
	// that changes data also records audit.Record(ctx, tx, ...) in the
	// transaction of its change, under audit.WithOperator(ctx, name).
	ctx = rule.Bypass(ctx, "monthly cost report reads every user's LLM calls")

	var lines []Line
	total := decimal.Zero
	// 3. Every user, a page at a time (keyset on id); each statement names
	// one user, so on Citus each goes to that user's shard.
	after := uuid.Nil
	for {
		users, err := client.User.Query().Where(user.IDGT(after)).Order(ent.Asc(user.FieldID)).Limit(100).All(ctx)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		for _, u := range users {
			var rows []struct {
				Model string              `json:"model"`
				Calls int                 `json:"calls"`
				Cost  decimal.NullDecimal `json:"cost"`
			}
			err := client.LLMCall.Query().
				Where(llmcall.UserID(u.ID), llmcall.CreatedAtGTE(start), llmcall.CreatedAtLT(end)).
				GroupBy(llmcall.FieldModel).
				Aggregate(ent.As(ent.Count(), "calls"), ent.As(ent.Sum(llmcall.FieldTotalCost), "cost")).
				Scan(ctx, &rows)
			if err != nil {
				return fmt.Errorf("sum calls of %s: %w", u.ID, err)
			}
			for _, r := range rows {
				lines = append(lines, Line{UserID: u.ID, Email: u.Email, Model: r.Model, Calls: r.Calls, Cost: r.Cost.Decimal})
				total = total.Add(r.Cost.Decimal)
			}
		}
		if len(users) < 100 {
			break
		}
		after = users[len(users)-1].ID
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tEMAIL\tMODEL\tCALLS\tCOST_USD")
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", l.UserID, l.Email, l.Model, l.Calls, l.Cost.StringFixed(6))
	}
	fmt.Fprintf(tw, "\t\tTOTAL %s\t\t%s\n", *month, total.StringFixed(6))
	return tw.Flush()
}
