// Package runs owns what an agent did and what it cost: runs and their
// state machine, messages, tool calls (behind per-user tool permissions),
// LLM calls costed from the dated price table (runs/pricing) with the run's
// totals kept in the same transaction, monthly budgets, and usage reports.
//
// Every method acts for the viewer in its context (internal/auth/viewer) and
// runs in one unit of work (db.Run), so ent privacy and row-level security
// both confine it to the viewer's rows; another user's run is not found.
// Failures are fault kinds. What changed is announced on events.Publisher
// after the transaction commits.
//
// It does not own delivering events (internal/realtime), nor calling models.
package runs
