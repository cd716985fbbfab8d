// Package admin holds the logic of `jarvis admin ...` (cmd/jarvis stays a
// thin flag parser over it) and of operators' own scripts: every command
// runs on the typed ent client connected as the owner role, through the one
// privacy bypass (rule.Bypass) with its reason, and records an audit event
// naming the operator and the reason in the transaction of its change.
package admin

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/ent/refreshtoken"
	entschema "github.com/jarvis-core/jarvis/ent/schema"
	"github.com/jarvis-core/jarvis/ent/session"
	entuser "github.com/jarvis-core/jarvis/ent/user"
	"github.com/jarvis-core/jarvis/internal/audit"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/runs"
)

// Operator is who runs a command and why; both go into the audit log.
type Operator struct {
	Name   string
	Reason string
}

// DefaultOperator is the OS user running the command.
func DefaultOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// Validate requires a reason for every change: the audit log must say why.
func (o Operator) Validate() error {
	var errs []error
	if strings.TrimSpace(o.Name) == "" {
		errs = append(errs, errors.New("--operator must not be empty"))
	}
	if strings.TrimSpace(o.Reason) == "" {
		errs = append(errs, errors.New("--reason is required: the audit log records why"))
	}
	return errors.Join(errs...)
}

// Context is ctx acting as an operator: the privacy bypass with its reason
// (the owner role's connection has no row-level security either), and the
// operator's name for audit events.
func (o Operator) Context(ctx context.Context, reason string) context.Context {
	return rule.Bypass(o.actingFor(ctx), reason)
}

// actingFor is ctx naming the operator and the reason for audit events, for
// work a module's service does as the user (no bypass: the service acts
// under the user's own privacy and identity).
func (o Operator) actingFor(ctx context.Context) context.Context {
	return audit.WithReason(audit.WithOperator(ctx, o.Name), o.Reason)
}

// Ops runs operator commands on an owner-role client.
type Ops struct {
	Client *ent.Client
	// Runs serves the budget commands (nil: they are refused); it runs on a
	// db.DB connected as the owner role too.
	Runs *runs.Service
	// Sockets closes the sockets of an account whose sessions were revoked
	// (nil: they end at their next session check).
	Sockets Sockets
	Now     func() time.Time
}

// Account is what `users find` shows.
type Account struct {
	ID          uuid.UUID      `json:"id"`
	Email       string         `json:"email"`
	Status      string         `json:"status"`
	CreatedAt   time.Time      `json:"created_at"`
	LastLoginAt *time.Time     `json:"last_login_at,omitempty"`
	Owns        map[string]int `json:"owns"`
}

// FindUser looks an account up by id or e-mail, with the count of its rows
// in every owned table (read from the model's list, so new tables show up).
func (a Ops) FindUser(ctx context.Context, op Operator, ref string) (*Account, error) {
	ctx = op.Context(ctx, "operator looks an account up")
	u, err := a.lookup(ctx, a.Client, ref)
	if err != nil {
		return nil, err
	}
	acc := &Account{ID: u.ID, Email: u.Email, Status: string(u.Status), CreatedAt: u.CreatedAt,
		LastLoginAt: u.LastLoginAt, Owns: map[string]int{}}
	tables := make([]string, 0, len(ent.OwnedTables))
	for t := range ent.OwnedTables {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		col := ent.OwnedTables[t]
		if t == entuser.Table {
			continue
		}
		rows, err := a.Client.QueryContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %q WHERE %q = $1`, t, col), u.ID)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		var n int
		for rows.Next() {
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("count %s: %w", t, err)
			}
		}
		rows.Close()
		acc.Owns[t] = n
	}
	return acc, nil
}

func (a Ops) lookup(ctx context.Context, c *ent.Client, ref string) (*ent.User, error) {
	q := c.User.Query()
	if id, err := uuid.Parse(ref); err == nil {
		q = q.Where(entuser.ID(id))
	} else {
		q = q.Where(entuser.Email(entschema.NormalizeEmail(ref)))
	}
	u, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fmt.Errorf("no account %q", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("find account %q: %w", ref, err)
	}
	return u, nil
}

// Sockets closes a user's open sockets on every instance:
// realtime.Publisher, on the service's Redis.
type Sockets interface {
	CloseUser(ctx context.Context, userID uuid.UUID, reason string) error
}

// Revoked is what revoking an account's sessions did.
type Revoked struct {
	// Sessions is how many live sessions were revoked.
	Sessions int
	// SocketsClosed says the user's open sockets were told to close on
	// every instance. False with a nil CloseErr: Ops has no Sockets (no
	// Redis), and each socket ends at its next session check instead.
	SocketsClosed bool
	// CloseErr is why they could not be told (the revocation stands).
	CloseErr error
}

// SetStatus disables or enables an account. Disabling revokes every session
// in the same transaction, so no refresh works again and every request with
// a live access token fails its session check (jarvis_identify); after the
// commit the user's open sockets are closed on every instance.
func (a Ops) SetStatus(ctx context.Context, op Operator, ref string, disabled bool) (Revoked, error) {
	if err := op.Validate(); err != nil {
		return Revoked{}, err
	}
	ctx = op.Context(ctx, "operator changes an account's status")
	var (
		out Revoked
		uid uuid.UUID
	)
	err := a.tx(ctx, func(tx *ent.Tx) error {
		u, err := a.lookup(ctx, tx.Client(), ref)
		if err != nil {
			return err
		}
		uid = u.ID
		status, typ := entuser.StatusActive, audit.AccountEnabled
		if disabled {
			status, typ = entuser.StatusDisabled, audit.AccountDisabled
		}
		if err := tx.User.UpdateOneID(u.ID).SetStatus(status).Exec(ctx); err != nil {
			return fmt.Errorf("set status: %w", err)
		}
		if disabled {
			if out.Sessions, err = a.revoke(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.Event{Type: typ, User: u.ID, Reason: op.Reason,
			Data: map[string]any{"sessions_revoked": out.Sessions}})
	})
	if err != nil {
		return Revoked{}, err
	}
	if disabled {
		a.closeSockets(ctx, uid, realtime.ReasonDisabled, &out)
	}
	return out, nil
}

// RevokeSessions revokes every live session of an account and closes its
// open sockets on every instance.
func (a Ops) RevokeSessions(ctx context.Context, op Operator, ref string) (Revoked, error) {
	if err := op.Validate(); err != nil {
		return Revoked{}, err
	}
	ctx = op.Context(ctx, "operator revokes an account's sessions")
	var (
		out Revoked
		uid uuid.UUID
	)
	err := a.tx(ctx, func(tx *ent.Tx) error {
		u, err := a.lookup(ctx, tx.Client(), ref)
		if err != nil {
			return err
		}
		uid = u.ID
		if out.Sessions, err = a.revoke(ctx, tx, u.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.AdminAction, User: u.ID, Reason: op.Reason,
			Data: map[string]any{"action": "revoke_sessions", "sessions_revoked": out.Sessions}})
	})
	if err != nil {
		return Revoked{}, err
	}
	a.closeSockets(ctx, uid, realtime.ReasonRevoked, &out)
	return out, nil
}

// closeSockets runs after the commit, so a socket never closes for a
// revocation that rolled back; it is not cut short by the caller going
// away (the sessions are revoked either way).
func (a Ops) closeSockets(ctx context.Context, uid uuid.UUID, reason string, out *Revoked) {
	if a.Sockets == nil {
		return
	}
	if err := a.Sockets.CloseUser(context.WithoutCancel(ctx), uid, reason); err != nil {
		out.CloseErr = err
		return
	}
	out.SocketsClosed = true
}

func (a Ops) revoke(ctx context.Context, tx *ent.Tx, uid uuid.UUID) (int, error) {
	now := a.now()
	n, err := tx.Session.Update().Where(session.UserID(uid), session.RevokedAtIsNil()).SetRevokedAt(now).Save(ctx)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	if err := tx.RefreshToken.Update().Where(refreshtoken.UserID(uid), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).Exec(ctx); err != nil {
		return 0, fmt.Errorf("revoke refresh tokens: %w", err)
	}
	return n, nil
}

// PruneAudit deletes audit events older than retention across every user
// (a fan-out over every shard on Citus) and records the prune itself,
// about the nil user (it concerns no one account), in the same transaction.
func (a Ops) PruneAudit(ctx context.Context, op Operator, retention time.Duration) (int, error) {
	if err := op.Validate(); err != nil {
		return 0, err
	}
	ctx = op.Context(ctx, "operator applies the audit retention")
	before := a.now().Add(-retention)
	var n int
	err := a.tx(ctx, func(tx *ent.Tx) error {
		var err error
		if n, err = audit.Prune(ctx, tx.Client(), before); err != nil {
			return fmt.Errorf("prune audit events: %w", err)
		}
		return audit.Record(ctx, tx, audit.Event{Type: audit.AdminAction, User: audit.UnknownUser, Reason: op.Reason,
			Data: map[string]any{"action": "audit_prune", "before": before.UTC().Format(time.RFC3339), "deleted": n}})
	})
	return n, err
}

func (a Ops) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a Ops) tx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := a.Client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
