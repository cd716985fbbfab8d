package embed

import (
	"context"
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// LocalModel is the model name stored with Local's vectors. Bump the version
// whenever the features or weights change: old and new vectors must not be
// compared.
const LocalModel = "local-hash-v1"

// Local embeds by feature hashing: lower-cased words and the character
// trigrams of each word (so "running" is near "runner") are hashed into Dims
// buckets with a hash-derived sign, and the vector is L2-normalized, so
// cosine similarity measures shared words and word pieces. It needs no
// network, is deterministic across processes and versions of Go, and is the
// default, so the service works offline. It captures spelling, not meaning:
// "car" and "automobile" are unrelated to it.
type Local struct{}

// Weights: whole words say more than pieces of words.
const (
	wordWeight    = 1.0
	trigramWeight = 0.5
)

func (Local) Dimensions() int { return Dims }
func (Local) Model() string   { return LocalModel }

// Embed never fails except on a cancelled context.
func (l Local) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i] = l.embed(t)
	}
	return out, nil
}

func (Local) embed(text string) []float32 {
	acc := make([]float64, Dims)
	add := func(feature string, w float64) {
		h := fnv.New64a()
		_, _ = h.Write([]byte(feature))
		s := h.Sum64()
		sign := 1.0
		if s>>63 == 1 {
			sign = -1
		}
		acc[s%uint64(Dims)] += sign * w
	}
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	for _, w := range words {
		add("w:"+w, wordWeight)
		rs := []rune("^" + w + "$")
		for i := 0; i+3 <= len(rs); i++ {
			add("c:"+string(rs[i:i+3]), trigramWeight)
		}
	}
	if len(words) == 0 {
		// Text of punctuation or symbols only: still a non-zero vector
		// (cosine with a zero vector is undefined), equal for equal text.
		add("raw:"+text, wordWeight)
	}
	var norm float64
	for _, v := range acc {
		norm += v * v
	}
	norm = math.Sqrt(norm)
	v := make([]float32, Dims)
	if norm == 0 {
		// Every feature cancelled out (opposite signs in one bucket).
		v[0] = 1
		return v
	}
	for i, x := range acc {
		v[i] = float32(x / norm)
	}
	return v
}
