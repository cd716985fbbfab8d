package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// UserEmail holds an account's e-mail address where it can be unique across
// every user: users are distributed by id on Citus, so their own table cannot
// carry a global unique index, while this small table is a reference table
// (copied to every node) that can. Registration writes it in the same
// transaction as the user; login reads it first to find the user, so the
// rest of sign-in is routed to that user's shard.
//
// On Citus a reference table cannot reference a distributed one, so the
// distribution drops its key to users there: deleting a user must delete
// its row here too (plain Postgres cascades).
type UserEmail struct{ ent.Schema }

func (UserEmail) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "emails"}}
}

func (UserEmail) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").MaxLen(320).NotEmpty().Unique().Immutable(),
	}
}

func (UserEmail) Annotations() []schema.Annotation {
	return []schema.Annotation{
		Reference{},
		// Login finds the user by e-mail before anyone is signed in.
		Lookup{Column: "email", Setting: "app.lookup_email"},
		entsql.Checks(map[string]string{
			"user_emails_email_normalized": "email = lower(btrim(email))",
		}),
	}
}

// Hooks keep the stored e-mail normalized, as on users.
func (UserEmail) Hooks() []ent.Hook { return []ent.Hook{normalizeEmail} }
