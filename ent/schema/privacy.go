package schema

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent"

	"github.com/jarvis-core/jarvis/ent/privacy"
	"github.com/jarvis-core/jarvis/ent/privacy/rule"
)

// Policy of every entity: no viewer, no access; the system and operators'
// scripts (privileged viewers) see everything. What follows is each
// entity's own: owned entities allow after the owner filter (OwnerMixin),
// others must declare a policy of their own (a test fails for any that
// doesn't), and every policy ends in a deny (rule.Policy).
func (BaseMixin) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{rule.DenyIfNoViewer(), rule.AllowIfPrivileged()},
		Mutation: privacy.MutationPolicy{rule.DenyIfNoViewer(), rule.AllowIfPrivileged()},
	}
}

// Policy of user-owned entities: a user sees and changes only its own rows
// (the filter confines the operation, then it is allowed) and creates rows
// only for itself.
func (OwnerMixin) Policy() ent.Policy {
	return rule.Policy(
		[]privacy.QueryRule{rule.FilterOwner(), privacy.AlwaysAllowRule()},
		[]privacy.MutationRule{rule.OwnerOnCreate(), rule.FilterOwner(), privacy.AlwaysAllowRule()},
	)
}

// Policy of users: a user sees and changes only itself; accounts are created
// by registration, through rule.Bypass.
func (User) Policy() ent.Policy {
	return rule.Policy(
		[]privacy.QueryRule{rule.FilterSelf(), privacy.AlwaysAllowRule()},
		[]privacy.MutationRule{rule.DenyCreate(), rule.FilterSelf(), privacy.AlwaysAllowRule()},
	)
}

// Hooks of users: keep the stored email normalized, whoever writes it.
func (User) Hooks() []ent.Hook {
	return []ent.Hook{normalizeEmail}
}

func normalizeEmail(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if v, ok := m.Field("email"); ok {
			if s, ok := v.(string); ok {
				if err := m.SetField("email", NormalizeEmail(s)); err != nil {
					return nil, fmt.Errorf("normalize email: %w", err)
				}
			}
		}
		return next.Mutate(ctx, m)
	})
}

// NormalizeEmail is the one canonical form of an email address (trimmed,
// lower case); lookups by email use it too.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Parents must belong to the same user as their children.
func (Message) Hooks() []ent.Hook      { return []ent.Hook{rule.RunOfSameOwner()} }
func (ToolCall) Hooks() []ent.Hook     { return []ent.Hook{rule.RunOfSameOwner()} }
func (LLMCall) Hooks() []ent.Hook      { return []ent.Hook{rule.RunOfSameOwner()} }
func (RefreshToken) Hooks() []ent.Hook { return []ent.Hook{rule.SessionOfSameOwner()} }
func (KGRelation) Hooks() []ent.Hook   { return []ent.Hook{rule.EntitiesOfSameOwner()} }
