package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/internal/admin"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/embed"
	"github.com/jarvis-core/jarvis/internal/runs"
	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// operatorCommands are the admin commands runOperator serves, with how many
// positional arguments each takes.
var operatorCommands = map[string]int{
	"users find": 1, "users disable": 1, "users enable": 1, "users revoke-sessions": 1, "users erase": 1,
	"audit prune":  0,
	"budgets show": 1, "budgets set": 1, "budgets clear": 1,
	"usage top": 0, "prices unpriced": 0,
	"reembed memories": 0, "reembed entities": 0,
}

// opFlags are the flags of the operator commands; each command reads its own.
type opFlags struct {
	op                  admin.Operator
	limit, soft         string // budgets set
	hard                bool
	month, by           string // usage top
	top                 int
	asJSON              bool
	user                string // reembed
	all                 bool
	batch               int
	fs                  *flag.FlagSet
	allowed, positional []string
}

func newOpFlags(cmd string) *opFlags {
	f := &opFlags{fs: flag.NewFlagSet("admin "+cmd, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.op.Name, "operator", admin.DefaultOperator(), "who runs the command (audit log)")
	fs.StringVar(&f.op.Reason, "reason", "", "why (audit log; required for changes)")
	fs.StringVar(&f.limit, "limit-usd", "", "monthly limit in USD (budgets set)")
	fs.StringVar(&f.soft, "soft-limit-usd", "", "warning threshold in USD (budgets set)")
	fs.BoolVar(&f.hard, "hard", true, "the limit stops spending (budgets set)")
	fs.StringVar(&f.month, "month", time.Now().UTC().Format("2006-01"), "calendar month YYYY-MM, UTC (usage top)")
	fs.StringVar(&f.by, "by", admin.SpendByUser, "user or model (usage top)")
	fs.IntVar(&f.top, "limit", 20, "how many users (usage top)")
	fs.BoolVar(&f.asJSON, "json", false, "JSON for scripts instead of a table")
	fs.StringVar(&f.user, "user", "", "one account, e-mail or id (reembed)")
	fs.BoolVar(&f.all, "all", false, "every user (reembed)")
	fs.IntVar(&f.batch, "batch", 100, "rows per embedding call and transaction (reembed)")
	f.allowed = map[string][]string{
		"budgets set":      {"limit-usd", "soft-limit-usd", "hard"},
		"usage top":        {"month", "by", "limit", "json"},
		"prices unpriced":  {"json"},
		"reembed memories": {"user", "all", "batch"},
		"reembed entities": {"user", "all", "batch"},
	}[cmd]
	f.allowed = append(f.allowed, "operator", "reason")
	return f
}

// parse reads flags before or after the positional arguments and refuses a
// flag the command does not take (it would be ignored silently).
func (f *opFlags) parse(args []string) error {
	rest := args
	for {
		if err := f.fs.Parse(rest); err != nil {
			return err
		}
		if f.fs.NArg() == 0 {
			break
		}
		f.positional = append(f.positional, f.fs.Arg(0))
		rest = f.fs.Args()[1:]
	}
	var bad []string
	f.fs.Visit(func(fl *flag.Flag) {
		for _, a := range f.allowed {
			if a == fl.Name {
				return
			}
		}
		bad = append(bad, "--"+fl.Name)
	})
	if len(bad) > 0 {
		return fmt.Errorf("%s does not take %s", f.fs.Name(), strings.Join(bad, ", "))
	}
	return nil
}

// runOperator runs the users, audit, budgets, usage, prices and reembed
// commands: flags here, logic in internal/admin.
func runOperator(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	cmd := args[0] + " " + args[1]
	npos, ok := operatorCommands[cmd]
	if !ok {
		return usageError(adminUsage)
	}
	f := newOpFlags(cmd)
	if err := f.parse(args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) || strings.Contains(err.Error(), "does not take") {
			return errors.Join(err, usageError(adminUsage))
		}
		return usageError(adminUsage)
	}
	if len(f.positional) != npos {
		return usageError(adminUsage)
	}
	op := f.op
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
	var ref string
	if npos == 1 {
		ref = f.positional[0]
	}
	switch args[0] {
	case "budgets":
		rc, err := config.Load[runs.Config](src)
		if err != nil {
			return err
		}
		prices, err := pricing.Default()
		if err != nil {
			return err
		}
		// The runs service on its own pool, as the owner role: the budget
		// commands act through it exactly as PUT /v1/budget does.
		d, err := db.Open(ctx, mc.URL)
		if err != nil {
			return err
		}
		defer d.Close()
		if ops.Runs, err = runs.NewService(d, rc, prices, nil, log); err != nil {
			return err
		}
		return runBudgets(ctx, ops, args[1], ref, f, stdout)
	case "usage":
		month, err := time.Parse("2006-01", f.month)
		if err != nil {
			return fmt.Errorf("--month %q: want YYYY-MM", f.month)
		}
		rows, err := ops.TopSpenders(ctx, op, month, f.by, f.top)
		if err != nil {
			return err
		}
		return printSpend(stdout, f, rows)
	case "prices":
		rows, err := ops.UnpricedModels(ctx, op, nil)
		if err != nil {
			return err
		}
		return printUnpriced(stdout, f.asJSON, rows)
	case "reembed":
		if f.all == (f.user != "") {
			return errors.New("reembed: give --user <email|id> or --all")
		}
		ec, err := config.Load[embed.Config](src)
		if err != nil {
			return err
		}
		// No per-user key source: an operator's run uses the service's key
		// (EMBEDDINGS_API_KEY) for every user, never a user's stored secret.
		emb, err := embed.New(ec, nil)
		if err != nil {
			return err
		}
		return runReembed(ctx, ops, op, emb, admin.ReembedOptions{What: args[1], User: f.user, Batch: f.batch}, stdout)
	}
	switch cmd {
	case "users find":
		acc, err := ops.FindUser(ctx, op, ref)
		if err != nil {
			return err
		}
		return printJSON(stdout, acc)
	case "users disable", "users enable", "users revoke-sessions":
		pub, closePub, err := servicePublisher(src, log)
		if err != nil {
			return errors.Join(errors.New(cmd+" runs with the service's environment (REDIS_URL) to close open sockets"), err)
		}
		defer closePub()
		if pub != nil {
			ops.Sockets = pub
		}
		var r admin.Revoked
		if args[1] == "revoke-sessions" {
			if r, err = ops.RevokeSessions(ctx, op, ref); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked %d session(s) of %s\n", r.Sessions, ref)
		} else {
			if r, err = ops.SetStatus(ctx, op, ref, args[1] == "disable"); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%sd %s (%d session(s) revoked)\n", args[1], ref, r.Sessions)
			if args[1] == "enable" {
				return nil
			}
		}
		printSocketsClosed(stdout, r)
		return nil
	case "users erase":
		after, closeAfter, err := eraseAftermath(src, log)
		if err != nil {
			return err
		}
		defer closeAfter()
		counts, out, err := ops.EraseWith(ctx, op, ref, after)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "grants revoked: %d (failed: %d); realtime stream and sockets ended: %t\n",
			out.GrantsRevoked, out.GrantsFailed, out.RealtimeForgotten)
		total := 0
		for _, n := range counts {
			total += n
		}
		fmt.Fprintf(stdout, "erased %s: %d row(s) in %d table(s); the audit log keeps a tombstone\n", ref, total, len(counts))
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

// printSocketsClosed says what became of the account's open sockets.
func printSocketsClosed(w io.Writer, r admin.Revoked) {
	switch {
	case r.SocketsClosed:
		fmt.Fprintln(w, "open sockets closed on every instance")
	case r.CloseErr != nil:
		// The revocation stands; only the prompt close failed.
		fmt.Fprintf(w, "open sockets could not be closed now (%v): they end at their next session check\n", r.CloseErr)
	default:
		fmt.Fprintln(w, "no REDIS_URL: open sockets end at their next session check")
	}
}

// budgetView is a budget as GET /v1/budget shows it.
type budgetView struct {
	LimitUSD     decimal.Decimal  `json:"limit_usd"`
	SoftLimitUSD *decimal.Decimal `json:"soft_limit_usd,omitempty"`
	Hard         bool             `json:"hard"`
	SpentUSD     decimal.Decimal  `json:"spent_usd"`
	PeriodStart  time.Time        `json:"period_start"`
	PeriodEnd    time.Time        `json:"period_end"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

func runBudgets(ctx context.Context, ops admin.Ops, sub, ref string, f *opFlags, stdout io.Writer) error {
	var st *runs.BudgetStatus
	var err error
	switch sub {
	case "show":
		st, err = ops.ShowBudget(ctx, f.op, ref)
	case "clear":
		if err := ops.ClearBudget(ctx, f.op, ref); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cleared the budget of %s\n", ref)
		return nil
	case "set":
		if f.limit == "" {
			return errors.New("budgets set: --limit-usd is required")
		}
		in := runs.BudgetInput{Hard: f.hard}
		// Parsed as PUT /v1/budget parses them; the runs service validates.
		if in.LimitUSD, err = decimal.NewFromString(f.limit); err != nil {
			return fmt.Errorf("--limit-usd %q: want an amount like 12.50", f.limit)
		}
		if f.soft != "" {
			soft, err := decimal.NewFromString(f.soft)
			if err != nil {
				return fmt.Errorf("--soft-limit-usd %q: want an amount like 10.00", f.soft)
			}
			in.SoftLimitUSD = &soft
		}
		st, err = ops.SetBudget(ctx, f.op, ref, in)
	}
	if err != nil {
		return err
	}
	b := st.Budget
	v := budgetView{LimitUSD: b.LimitUsd, Hard: b.Hard, SpentUSD: st.SpentUSD, PeriodStart: st.PeriodStart,
		PeriodEnd: st.PeriodEnd, UpdatedAt: b.UpdatedAt}
	if b.SoftLimitUsd.Valid {
		v.SoftLimitUSD = &b.SoftLimitUsd.Decimal
	}
	return printJSON(stdout, v)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printSpend(w io.Writer, f *opFlags, rows []admin.Spend) error {
	if f.asJSON {
		if rows == nil {
			rows = []admin.Spend{}
		}
		return printJSON(w, map[string]any{"month": f.month, "by": f.by, "rows": rows})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if f.by == admin.SpendByModel {
		fmt.Fprintln(tw, "USER\tEMAIL\tPROVIDER\tMODEL\tCALLS\tUNPRICED\tTOKENS\tCOST_USD\tUSER_COST_USD")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.UserID, r.Email, r.Provider, r.Model,
				r.Calls, r.UnpricedCalls, r.TotalTokens, r.CostUSD, r.UserCostUSD)
		}
	} else {
		fmt.Fprintln(tw, "USER\tEMAIL\tCALLS\tUNPRICED\tTOKENS\tCOST_USD")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", r.UserID, r.Email, r.Calls, r.UnpricedCalls, r.TotalTokens, r.CostUSD)
		}
	}
	return tw.Flush()
}

func printUnpriced(w io.Writer, asJSON bool, rows []admin.Unpriced) error {
	if asJSON {
		if rows == nil {
			rows = []admin.Unpriced{}
		}
		return printJSON(w, map[string]any{"models": rows})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tMODEL\tCALLS\tUSERS\tFIRST_SEEN\tLAST_SEEN\tPRICED_NOW")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%t\n", r.Provider, r.Model, r.Calls, r.Users,
			r.FirstSeen.Format(time.RFC3339), r.LastSeen.Format(time.RFC3339), r.PricedNow)
	}
	return tw.Flush()
}

// isTerminal says whether w is a terminal (a progress bar there, a summary
// line anywhere else).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func runReembed(ctx context.Context, ops admin.Ops, op admin.Operator, emb embed.Embedder, opt admin.ReembedOptions, stdout io.Writer) error {
	start := time.Now()
	tty := isTerminal(stdout)
	if tty {
		opt.Progress = func(done, total int) { fmt.Fprint(stdout, "\r"+progressBar(done, total, 40)+" "+opt.What) }
	}
	res, err := ops.Reembed(ctx, op, emb, opt)
	if tty && res.Batches > 0 {
		fmt.Fprintln(stdout)
	}
	fmt.Fprintln(stdout, admin.ReembedSummary(opt.What, res, time.Since(start)))
	return err
}

// progressBar draws done of total in width cells.
func progressBar(done, total, width int) string {
	filled, pct := width, 100
	if total > 0 {
		filled, pct = min(width, done*width/total), min(100, done*100/total)
	}
	return fmt.Sprintf("[%s%s] %d/%d (%d%%)", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total, pct)
}
