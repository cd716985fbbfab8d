package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// UserSecret is a user's third-party API key, AES-256-GCM encrypted by
// internal/secrets. The nonce and tag are stored apart from the ciphertext and
// key_version names the master key that sealed it, so keys can rotate.
type UserSecret struct{ ent.Schema }

func (UserSecret) Mixin() []ent.Mixin {
	return []ent.Mixin{BaseMixin{}, OwnerMixin{Ref: "secrets"}}
}

func (UserSecret) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("provider").Values("openai", "anthropic", "composio", "github", "custom"),
		field.String("name").MaxLen(100).NotEmpty(),
		field.Bytes("encrypted_value").Sensitive().NotEmpty(),
		field.Bytes("nonce").Sensitive().NotEmpty(),
		field.Bytes("auth_tag").Sensitive().NotEmpty(),
		field.Int("key_version").Positive(),
		// The value's last four characters, shown so people can tell keys
		// apart ("sk-…abcd"); values of 12 characters or fewer get none.
		field.String("last4").MaxLen(4).Optional(),
		field.Time("last_used_at").Optional().Nillable(),
	}
}

func (UserSecret) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "provider", "name").Unique()}
}

// Annotations expose the operations the API serves; openapi/spec shapes them.
func (UserSecret) Annotations() []schema.Annotation {
	return annotation.Expose(annotation.Entity{
		View: "Secret", Path: "/v1/secrets", Group: "Secrets",
		Ops:  []annotation.Op{annotation.OpList, annotation.OpRead, annotation.OpDelete},
		Docs: map[annotation.Op]string{annotation.OpList: "List secrets without their values, newest first"},
	})
}
