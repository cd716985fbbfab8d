// Package rule holds the privacy rules and integrity hooks that ent/schema
// attaches to every entity. Each rule is small and says why it skips; the
// viewer comes from internal/auth/viewer.
package rule

import (
	"context"

	"entgo.io/ent/entql"
	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/privacy"
	"github.com/jarvis-core/jarvis/internal/auth/viewer"
)

// DenyIfNoViewer refuses any query or mutation made without a viewer: every
// code path must say who it acts for.
func DenyIfNoViewer() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if _, ok := viewer.FromContext(ctx); !ok {
			return privacy.Denyf("viewer-context is missing")
		}
		// A viewer is present: the next rules decide what it may do.
		return privacy.Skip
	})
}

// AllowIfPrivileged lets the system and operators' scripts see and change
// every user's rows. Integrity hooks still run for them.
func AllowIfPrivileged() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if v, ok := viewer.FromContext(ctx); ok && v.Privileged() {
			return privacy.Allow
		}
		// Not privileged: ownership rules decide.
		return privacy.Skip
	})
}

// ownerFilter is implemented by the entql filter of every user-owned entity.
type ownerFilter interface {
	WhereUserID(entql.ValueP)
}

// FilterOwner limits queries, updates and deletes to the viewer's own rows,
// so another user's row reads as not found.
func FilterOwner() privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v, ok := viewer.FromContext(ctx)
		if !ok || v.Role != viewer.RoleUser {
			return privacy.Denyf("owner filter needs a user viewer")
		}
		of, ok := f.(ownerFilter)
		if !ok {
			return privacy.Denyf("entity %T has no owner column", f)
		}
		of.WhereUserID(entql.ValueEQ(v.UserID))
		// The filter now confines the operation to the viewer's rows.
		return privacy.Skip
	})
}

// idFilter is implemented by every entity's entql filter.
type idFilter interface {
	WhereID(entql.ValueP)
}

// FilterSelf limits queries, updates and deletes of users to the viewer's own row.
func FilterSelf() privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v, ok := viewer.FromContext(ctx)
		if !ok || v.Role != viewer.RoleUser {
			return privacy.Denyf("self filter needs a user viewer")
		}
		idf, ok := f.(idFilter)
		if !ok {
			return privacy.Denyf("entity %T has no id filter", f)
		}
		idf.WhereID(entql.ValueEQ(v.UserID))
		// The filter now confines the operation to the viewer's own user row.
		return privacy.Skip
	})
}

// DenyCreate refuses creating rows of an entity for user viewers (users are
// created by the registration path, which acts as the system).
func DenyCreate() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
		if m.Op().Is(ent.OpCreate) {
			return privacy.Denyf("%s cannot be created by a user viewer", m.Type())
		}
		// Not a create: the filter rule confines updates and deletes.
		return privacy.Skip
	})
}

// OwnerOnCreate lets a user viewer create rows only for itself.
func OwnerOnCreate() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if !m.Op().Is(ent.OpCreate) {
			// user_id is immutable, so only creates can name an owner.
			return privacy.Skip
		}
		v, ok := viewer.FromContext(ctx)
		if !ok || v.Role != viewer.RoleUser {
			return privacy.Denyf("create needs a user viewer")
		}
		owner, ok := m.Field("user_id")
		if !ok || owner != v.UserID {
			return privacy.Denyf("%s must be created for the viewer", m.Type())
		}
		// Owned by the viewer: allowed by the remaining rules.
		return privacy.Skip
	})
}

// ownerOf reads the owner a create mutation names.
func ownerOf(m ent.Mutation) (uuid.UUID, bool) {
	v, ok := m.Field("user_id")
	if !ok {
		return uuid.Nil, false
	}
	id, ok := v.(uuid.UUID)
	return id, ok
}

// Policy builds an entity's policy the one way every policy is built: the
// given rules, then a final deny, so a request that no rule decided is
// refused rather than let through (ent's default when every rule skips).
func Policy(query []privacy.QueryRule, mutation []privacy.MutationRule) ent.Policy {
	return privacy.Policy{
		Query:    append(append(privacy.QueryPolicy{}, query...), privacy.AlwaysDenyRule()),
		Mutation: append(append(privacy.MutationPolicy{}, mutation...), privacy.AlwaysDenyRule()),
	}
}

// CreateOnly refuses updates and deletes for user viewers: an append-only
// entity (audit events) is written once and removed only by privileged
// viewers (retention, erasure), whose rule runs before this one.
func CreateOnly() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Denyf("%s is append-only", m.Type())
		}
		// A create: the owner rule decides.
		return privacy.Skip
	})
}
