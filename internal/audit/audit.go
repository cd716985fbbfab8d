// Package audit owns the audit log: the writer every module calls inside the
// unit of work of the change it records (Record), so an event is committed
// with its change or not at all, the caller's own events over the API, and
// the retention setting the admin prune applies. It does not decide what is
// security-relevant: each module records its own events from the closed
// list of types in ent/schema (AuditTypes).
package audit

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/auditevent"
	"github.com/jarvis-core/jarvis/internal/api"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/logging"
	"github.com/jarvis-core/jarvis/internal/textguard"
)

// Type is an audit event's type (the closed list of ent/schema.AuditTypes).
type Type = auditevent.Type

// The event types, by the name modules use.
const (
	UserRegistered        = auditevent.TypeUserRegistered
	LoginSucceeded        = auditevent.TypeLoginSucceeded
	LoginFailed           = auditevent.TypeLoginFailed
	RefreshTokenReused    = auditevent.TypeRefreshTokenReused
	Logout                = auditevent.TypeLogout
	SessionRevoked        = auditevent.TypeSessionRevoked
	SecretCreated         = auditevent.TypeSecretCreated
	SecretUpdated         = auditevent.TypeSecretUpdated
	SecretDeleted         = auditevent.TypeSecretDeleted
	SecretOpened          = auditevent.TypeSecretOpened
	ToolPermissionChanged = auditevent.TypeToolPermissionChanged
	BudgetChanged         = auditevent.TypeBudgetChanged
	BudgetRefused         = auditevent.TypeBudgetRefused
	AccountDisabled       = auditevent.TypeAccountDisabled
	AccountEnabled        = auditevent.TypeAccountEnabled
	AdminAction           = auditevent.TypeAdminAction
	DataExported          = auditevent.TypeDataExported
	AccountErased         = auditevent.TypeAccountErased

	ConnectionCreated       = auditevent.TypeConnectionCreated
	ConnectionImported      = auditevent.TypeConnectionImported
	ConnectionRefreshFailed = auditevent.TypeConnectionRefreshFailed
	ConnectionNeedsReauth   = auditevent.TypeConnectionNeedsReauth
	ConnectionRevoked       = auditevent.TypeConnectionRevoked
	ConnectionDeleted       = auditevent.TypeConnectionDeleted
)

// UnknownUser is the user of events about an account that does not exist
// (a failed login for an unknown e-mail): every row keeps a user, the
// table's distribution key on Citus.
var UnknownUser = uuid.Nil

// Event is what a module records. Data holds ids, names and counts only:
// never a secret, token, password or memory content (Record refuses keys
// that name one).
type Event struct {
	Type Type
	// User the event is about; zero means the viewer's user.
	User uuid.UUID
	// Reason an operator gave; empty for users' own actions.
	Reason string
	Data   map[string]any
}

type operatorKey struct{}

// WithOperator marks ctx as an operator's (an admin command or script):
// events recorded under it name "operator:<name>" as their actor.
func WithOperator(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, operatorKey{}, name)
}

type reasonKey struct{}

// WithReason carries an operator's reason in ctx, for events recorded by a
// module's service on the operator's behalf (an admin command setting a
// user's budget through the runs service): Record uses it when the event
// names none.
func WithReason(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, reasonKey{}, reason)
}

// Operator is the operator of ctx, if any.
func Operator(ctx context.Context) (string, bool) {
	n, ok := ctx.Value(operatorKey{}).(string)
	return n, ok
}

// Actor names who acts in ctx: an operator, the user, or the system.
func Actor(ctx context.Context) string {
	if n, ok := Operator(ctx); ok {
		return "operator:" + n
	}
	if v, ok := viewer.FromContext(ctx); ok && v.Role == viewer.RoleUser {
		return "user"
	}
	return "system"
}

// forbiddenKeys are payload keys that would carry what the log must never
// hold; a key containing one is refused, so a careless caller fails its
// test instead of writing a token into an append-only table.
var forbiddenKeys = []string{"password", "token", "secret_value", "value", "content", "embedding", "hash"}

// Record writes e in tx, the transaction of the change it records, naming
// the caller's address, user agent, correlation id and trace id from ctx.
func Record(ctx context.Context, tx *ent.Tx, e Event) error {
	// No user named: the viewer's, except for a failed login (the nil user
	// stands for an unknown account) and an operator's action about no one
	// account (a prune), which name UnknownUser.
	user := e.User
	if user == uuid.Nil && e.Type != LoginFailed {
		_, operator := Operator(ctx)
		switch v, ok := viewer.FromContext(ctx); {
		case ok && v.Role == viewer.RoleUser:
			user = v.UserID
		case !operator:
			return fmt.Errorf("audit %s: no user to record it for", e.Type)
		}
	}
	for k := range e.Data {
		lk := strings.ToLower(k)
		for _, f := range forbiddenKeys {
			if strings.Contains(lk, f) {
				return fmt.Errorf("audit %s: payload key %q may carry a secret", e.Type, k)
			}
		}
	}
	if e.Reason == "" {
		e.Reason, _ = ctx.Value(reasonKey{}).(string)
	}
	c := api.ClientFrom(ctx)
	create := tx.AuditEvent.Create().SetUserID(user).SetType(e.Type).SetActor(textguard.Sanitize(Actor(ctx), 200)).
		SetIP(textguard.Sanitize(c.IP, 64)).SetUserAgent(textguard.Sanitize(c.UserAgent, 512)).
		SetCorrelationID(textguard.Sanitize(logging.CorrelationID(ctx), 128)).
		SetReason(textguard.Sanitize(e.Reason, 1000))
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		create.SetTraceID(sc.TraceID().String())
	}
	data := e.Data
	if data == nil {
		data = map[string]any{}
	}
	if err := create.SetData(data).Exec(ctx); err != nil {
		return fmt.Errorf("record audit event %s: %w", e.Type, err)
	}
	return nil
}
