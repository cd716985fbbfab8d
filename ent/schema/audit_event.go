package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent/privacy"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// AuditTypes is the closed list of audit event types (internal/audit names
// each one). A new type is a schema change: the API documents the list.
var AuditTypes = []string{
	"user_registered", "login_succeeded", "login_failed", "refresh_token_reused",
	"logout", "session_revoked",
	"secret_created", "secret_updated", "secret_deleted", "secret_opened",
	"tool_permission_changed", "budget_changed", "budget_refused",
	"account_disabled", "account_enabled", "admin_action",
	"data_exported", "account_erased",
	"connection_created", "connection_imported", "connection_refresh_failed",
	"connection_needs_reauth", "connection_revoked", "connection_deleted",
}

// AuditEvent is one security-relevant event about a user: who did it (the
// user, an operator, the system), from where, and a small payload of ids
// and names; never a secret, token, password or memory content.
//
// Append-only: the service role may insert and read its own user's events
// only (RLS from Owned; UPDATE, DELETE and TRUNCATE revoked by the
// audit_append_only migration); only the owner role (admin commands:
// retention, erasure through jarvis_erase_audit) removes rows.
//
// user_id has no foreign key and no owner edge on purpose: an erased user's
// tombstone outlives the account, and events about an account that does not
// exist (a failed login for an unknown e-mail) name the nil user
// 00000000-0000-0000-0000-000000000000, so every row still has a
// distribution key on Citus.
type AuditEvent struct{ ent.Schema }

// AppendOnlyTables are the owned tables whose rows their owner may create
// and read but never change or remove (the privacy test holds them to it).
var AppendOnlyTables = map[string]bool{"audit_events": true}

func (AuditEvent) Mixin() []ent.Mixin { return []ent.Mixin{BaseMixin{}} }

func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("user_id", uuid.UUID{}).Immutable().Annotations(annotation.Skip()),
		field.Enum("type").Values(AuditTypes...).Immutable(),
		// "user", "system" or "operator:<name>".
		field.String("actor").MaxLen(200).NotEmpty().Immutable(),
		field.String("ip").MaxLen(64).Optional().Immutable(),
		field.String("user_agent").MaxLen(512).Optional().Immutable(),
		field.String("correlation_id").MaxLen(128).Optional().Immutable(),
		field.String("trace_id").MaxLen(64).Optional().Immutable(),
		// Why an operator acted (admin commands require one).
		field.String("reason").MaxLen(1000).Optional().Immutable(),
		jsonObject("data"),
	}
}

func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "id").Unique(),
		index.Fields("user_id", "type", "id"),
		// Retention prunes by age across users.
		index.Fields("created_at"),
	}
}

// Policy: a user reads its own events and records events about itself;
// nobody but a privileged viewer (the owner role's admin commands) changes
// or removes one.
func (AuditEvent) Policy() ent.Policy {
	return rule.Policy(
		[]privacy.QueryRule{rule.FilterOwner(), privacy.AlwaysAllowRule()},
		[]privacy.MutationRule{rule.CreateOnly(), rule.OwnerOnCreate(), privacy.AlwaysAllowRule()},
	)
}

func (AuditEvent) Annotations() []schema.Annotation {
	return append(annotation.Expose(annotation.Entity{
		View: "AuditEvent", Path: "/v1/audit-events", Group: "Audit",
		Ops:  []annotation.Op{annotation.OpRead},
		Docs: map[annotation.Op]string{annotation.OpRead: "Read one of your audit events"},
	}), Owned{Column: "user_id"})
}
