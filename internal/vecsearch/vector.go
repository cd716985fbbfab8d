package vecsearch

import (
	"fmt"
	"math"
	"strings"

	"github.com/jarvis-core/jarvis/ent/schema"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// MaxModelLen caps an embedding model's name.
const MaxModelLen = 128

// Vector is a client's own embedding and the model it came from.
type Vector struct {
	Values []float32
	Model  string
}

// Bounds of a vector's squared length as pgvector computes it: in float32,
// summing x*x in order (vector_cosine_distance in pgvector's vector.c). Below
// MinSquaredNorm (the smallest normal float32) the sum underflows or loses
// its precision; above MaxSquaredNorm a dot product with another vector in
// bounds could overflow (|a·b| <= |a||b| <= 1e36 < 3.4e38). Either way the
// cosine distance comes out NaN, the row is never found, and hybrid search
// would report no similarity. Embeddings have length 1 or close to it.
const (
	MinSquaredNorm = 0x1p-126
	MaxSquaredNorm = 1e36
)

// Check refuses a client vector Postgres would store but search could not
// use: wrong width, NaN or infinite values, a length whose square pgvector's
// float32 arithmetic overflows or underflows (the zero vector among them),
// or no model to compare it under. field names the input ("embedding",
// "vector").
func (v *Vector) Check(field string) error {
	if len(v.Values) != schema.EmbeddingDims {
		return fault.InvalidField(field, fmt.Sprintf("must have %d dimensions, got %d", schema.EmbeddingDims, len(v.Values)))
	}
	var norm float32
	for _, x := range v.Values {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fault.InvalidField(field, "must hold finite numbers")
		}
		norm += float32(x * x) // the conversion forbids a fused multiply-add, as in C
	}
	if norm == 0 {
		return fault.InvalidField(field, "must not be the zero vector (nor so close to it that its squared length is 0 in float32)")
	}
	if !(norm >= MinSquaredNorm && norm <= MaxSquaredNorm) { // NaN and +Inf fail too
		return fault.InvalidField(field, fmt.Sprintf(
			"its squared length in float32 (what pgvector computes) must be between %g and %g: its cosine distance would otherwise overflow or underflow",
			MinSquaredNorm, MaxSquaredNorm))
	}
	if strings.TrimSpace(v.Model) == "" || len(v.Model) > MaxModelLen {
		return fault.InvalidField("embedding_model", fmt.Sprintf("name the model of the vector (1-%d characters)", MaxModelLen))
	}
	return nil
}
