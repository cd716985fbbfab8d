package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
	"github.com/google/uuid"
	"github.com/ogen-go/ogen"
	"github.com/pgvector/pgvector-go"
	"github.com/shopspring/decimal"

	"github.com/jarvis-core/jarvis/openapi/annotation"
)

// EmbeddingDims is the width of every embedding column (OpenAI text-embedding-3-small;
// the local hashing embedder pads to it).
const EmbeddingDims = 1536

// newID returns a UUIDv7: time-ordered, so b-tree inserts stay append-mostly and
// keyset pagination on id follows creation order.
func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// BaseMixin gives every entity its UUIDv7 id and timestamps.
type BaseMixin struct{ mixin.Schema }

func (BaseMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(newID).Immutable(),
		// Set by the database side of the model, never by a client.
		field.Time("created_at").Default(time.Now).Immutable().Annotations(annotation.ReadOnly()),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).Annotations(annotation.ReadOnly()),
	}
}

// OwnerMixin marks a user-owned entity: a user_id column (immutable, indexed
// first), the owner edge, the per-user privacy policy (privacy.go) and the
// row-level security policy the migrations create for it (see Owned). The
// migrations also make its primary key (user_id, id), its unique indexes and
// parent keys include user_id, and distribute it by user_id on Citus
// (internal/pgmigrate, docs/scale-out.md): a table that uses this mixin needs
// nothing more to scale out.
type OwnerMixin struct {
	mixin.Schema
	// Ref is the name of the edge on User that lists these rows.
	Ref string
}

func (OwnerMixin) Fields() []ent.Field {
	return []ent.Field{
		// The owner is the viewer: never an input, never shown.
		field.UUID("user_id", uuid.UUID{}).Immutable().Annotations(annotation.Skip()),
	}
}

func (m OwnerMixin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", User.Type).Ref(m.Ref).Field("user_id").Unique().Required().Immutable().
			Annotations(annotation.Skip()),
	}
}

func (OwnerMixin) Indexes() []ent.Index {
	// (user_id, id) serves the owner filter and keyset pagination on id in
	// one index; it is unique so that child rows can reference (id, user_id)
	// with a composite foreign key (internal/pgmigrate: same-owner keys).
	return []ent.Index{index.Fields("user_id", "id").Unique()}
}

func (OwnerMixin) Annotations() []schema.Annotation {
	return []schema.Annotation{Owned{Column: "user_id"}}
}

// Owned marks a table whose rows belong to one user. `jarvis migrate diff`
// reads it to emit ENABLE + FORCE ROW LEVEL SECURITY and the owner policy
// for each new owned table, so RLS follows the model instead of a checklist.
type Owned struct {
	Column string // the column compared with app.current_user_id
}

// Name implements schema.Annotation.
func (Owned) Name() string { return "Owned" }

// Lookup is the narrow, documented path to rows before identity is known:
// login finds a user by email, refresh finds a token by its hash. The
// migrations give the table a SELECT-only policy that shows the rows whose
// Column equals the transaction-local setting Setting (hex-decoded when Hex),
// and nothing else: a session that has not set it sees no more than before.
type Lookup struct {
	Column  string
	Setting string
	Hex     bool // the column is bytea and the setting holds its hex form
}

// Name implements schema.Annotation.
func (Lookup) Name() string { return "Lookup" }

// Reference marks a small global table every node of a distributed
// deployment holds in full (a Citus reference table): lookups that must
// happen before the user is known, such as e-mail to user at login. It is
// the exception to the rule that owned tables are distributed by user_id:
// an owned table with Reference keeps its own keys and is never split.
// See internal/pgmigrate (distribution) and docs/scale-out.md.
type Reference struct{}

// Name implements schema.Annotation.
func (Reference) Name() string { return "Reference" }

var anyProps = true

// cascade is the delete action of an edge whose target rows cannot outlive
// their parent (a user's data goes with the user).
func cascade() schema.Annotation { return entsql.OnDelete(entsql.Cascade) }

// money is an exact decimal column for amounts in USD: 20 digits, 10 after the
// point, enough for per-token prices of fractions of a cent.
func money(name string) ent.Field {
	return field.Other(name, decimal.Decimal{}).
		SchemaType(map[string]string{dialect.Postgres: "numeric(20,10)"}).
		Default(decimal.Zero).
		Annotations(decimalSchema())
}

// decimalSchema is how exact decimals travel in JSON: as strings ("0.30"),
// so no client parses money into a float.
func decimalSchema() schema.Annotation {
	return annotation.Schema(ogen.String().SetFormat("decimal").SetPattern(`^-?[0-9]+(\.[0-9]+)?$`))
}

// embedding is a pgvector column of EmbeddingDims dimensions; optional ones are
// NULL until an embedder has run.
func embedding(optional bool) ent.Field {
	f := field.Other("embedding", pgvector.Vector{}).
		SchemaType(map[string]string{dialect.Postgres: "vector(1536)"}).
		Annotations(annotation.Schema(ogen.Float().AsArray()))
	if optional {
		f = f.Optional().Nillable()
	}
	return f
}

// hnswCosine is an approximate nearest-neighbour index for cosine distance (<=>).
func hnswCosine(column string) ent.Index {
	return index.Fields(column).Annotations(
		entsql.IndexType("hnsw"),
		entsql.OpClass("vector_cosine_ops"),
	)
}

// jsonObject is a jsonb column holding a JSON object, never null.
func jsonObject(name string) ent.Field {
	return field.JSON(name, map[string]any{}).Default(map[string]any{}).
		Annotations(annotation.Schema(&ogen.Schema{Type: "object", AdditionalProperties: &ogen.AdditionalProperties{Bool: &anyProps}}))
}
