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

// Check refuses a client vector Postgres would store but search could not
// use: wrong width, NaN or infinite values, zero length (its cosine
// distance to anything is NaN), or no model to compare it under. field
// names the input ("embedding", "vector").
func (v *Vector) Check(field string) error {
	if len(v.Values) != schema.EmbeddingDims {
		return fault.InvalidField(field, fmt.Sprintf("must have %d dimensions, got %d", schema.EmbeddingDims, len(v.Values)))
	}
	var norm float64
	for _, x := range v.Values {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fault.InvalidField(field, "must hold finite numbers")
		}
		norm += f * f
	}
	if norm == 0 {
		return fault.InvalidField(field, "must not be the zero vector")
	}
	if strings.TrimSpace(v.Model) == "" || len(v.Model) > MaxModelLen {
		return fault.InvalidField("embedding_model", fmt.Sprintf("name the model of the vector (1-%d characters)", MaxModelLen))
	}
	return nil
}
