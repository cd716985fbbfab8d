package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/memory"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pii"
	"github.com/jarvis-core/jarvis/internal/vecsearch"
)

// Search modes.
const (
	ModeVector = "vector"
	ModeHybrid = "hybrid"
)

// Search defaults and bounds.
const (
	DefaultThreshold = 0.7
	DefaultLimit     = 10
	MaxLimit         = 100
	// rrfK is reciprocal rank fusion's constant (Cormack et al. 2009): a
	// row's score is Σ 1/(rrfK + rank) over the lists it appears in, so
	// agreement between lists beats a single first place.
	rrfK = 60
	// Each list of a hybrid search brings hybridDepth×limit candidates
	// (at least minCandidates): fusion needs rows beyond the top few.
	hybridDepth   = 3
	minCandidates = 30
	maxQueryBytes = 4 << 10
)

// SearchInput is a search request. Query is text; Vector a client's own
// embedding; vector mode needs one of them, hybrid mode needs Query (and
// embeds it unless Vector is given too).
type SearchInput struct {
	Query     string
	Vector    *Vector
	Mode      string   // vector (default) or hybrid
	Threshold *float64 // minimum cosine similarity, -1..1; default 0.7
	Limit     int      // 1..100; 0 means 10
	// Metadata keeps memories whose metadata contains it (jsonb @>).
	Metadata map[string]any
}

// Hit is one found memory. Similarity is the cosine similarity to the
// query vector; Score orders the hits (the similarity in vector mode, the
// fused RRF score in hybrid mode).
type Hit struct {
	Memory     *ent.Memory
	Similarity float64
	Score      float64
}

type searchPlan struct {
	text      string
	vector    pgvector.Vector
	model     string
	mode      string
	maxDist   float64
	limit     int
	metadata  []byte // JSON, nil: no filter
	threshold float64
}

func (s *Service) plan(ctx context.Context, in SearchInput) (searchPlan, error) {
	p := searchPlan{mode: in.Mode, limit: in.Limit, threshold: DefaultThreshold}
	if p.mode == "" {
		p.mode = ModeVector
	}
	var errs []error
	if p.mode != ModeVector && p.mode != ModeHybrid {
		errs = append(errs, fault.InvalidField("mode", "must be vector or hybrid"))
	}
	if p.limit == 0 {
		p.limit = DefaultLimit
	}
	if p.limit < 1 || p.limit > MaxLimit {
		errs = append(errs, fault.InvalidField("limit", fmt.Sprintf("must be between 1 and %d", MaxLimit)))
	}
	if in.Threshold != nil {
		p.threshold = *in.Threshold
		if p.threshold < -1 || p.threshold > 1 || p.threshold != p.threshold {
			errs = append(errs, fault.InvalidField("threshold", "must be a cosine similarity between -1 and 1"))
		}
	}
	// Cosine distance is 1 - similarity.
	p.maxDist = 1 - p.threshold
	p.text = strings.TrimSpace(in.Query)
	switch {
	case len(p.text) > maxQueryBytes:
		errs = append(errs, fault.InvalidField("query", fmt.Sprintf("must be at most %d bytes", maxQueryBytes)))
	case p.mode == ModeHybrid && p.text == "":
		errs = append(errs, fault.InvalidField("query", "hybrid search needs query text"))
	case p.mode == ModeVector && p.text == "" && in.Vector == nil:
		errs = append(errs, fault.InvalidField("query", "give query text or a vector"))
	case p.mode == ModeVector && p.text != "" && in.Vector != nil:
		errs = append(errs, fault.InvalidField("vector", "give query text or a vector, not both"))
	}
	if in.Vector != nil {
		if err := in.Vector.Check("vector"); err != nil {
			errs = append(errs, err)
		}
	}
	if in.Metadata != nil {
		if err := checkMetadata("metadata", in.Metadata); err != nil {
			errs = append(errs, err)
		} else if len(in.Metadata) > 0 {
			// Stored metadata is redacted: so is the filter, or it could
			// never match (and would carry the raw values further).
			p.metadata, _ = json.Marshal(s.red.RedactJSON(in.Metadata, pii.Counts{}))
		}
	}
	if len(errs) > 0 {
		return searchPlan{}, errors.Join(errs...)
	}
	// The query is redacted like stored text: it goes to the embedding
	// provider, and a stored "[EMAIL]" should match a searched address.
	p.text, _ = s.red.Redact(p.text)
	if in.Vector != nil {
		p.vector, p.model = pgvector.NewVector(in.Vector.Values), in.Vector.Model
		return p, nil
	}
	vecs, err := s.emb.Embed(ctx, []string{p.text})
	if err != nil {
		return searchPlan{}, fmt.Errorf("embed query: %w", err)
	}
	p.vector, p.model = pgvector.NewVector(vecs[0]), s.emb.Model()
	return p, nil
}

// Result is a search's answer: the hits, and how many of the user's
// memories were not searched because another model embedded them (their
// vectors cannot be compared with the query's).
type Result struct {
	Hits        []Hit
	OtherModels int
}

// Search finds the viewer's memories nearest to the query, best first,
// among those embedded with the query's model.
func (s *Service) Search(ctx context.Context, in SearchInput) (Result, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return Result{}, err
	}
	p, err := s.plan(ctx, in)
	if err != nil {
		return Result{}, err
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (Result, error) {
		return s.search(ctx, tx, userID, p)
	})
}

// search runs the plan over the user's memories of the plan's model. A
// vector search is two round trips to Postgres: the search statement (with
// BEGIN, the identity and the settings in its pipeline), then the rows
// (with COMMIT); hybrid search adds the full-text query between them.
func (s *Service) search(ctx context.Context, tx *ent.Tx, userID uuid.UUID, p searchPlan) (Result, error) {
	req := vecsearch.Request{UserID: userID, Vector: p.vector, Model: p.model, K: p.limit, MaxDistance: p.maxDist,
		CountOtherModels: true, Sizes: s.sizes}
	if p.metadata != nil {
		req.Where = append(req.Where, vecsearch.Cond{SQL: "metadata @> $?::jsonb", Arg: string(p.metadata)})
	}
	if p.mode == ModeVector {
		near, err := vecsearch.Nearest(ctx, tx, vecsearch.Memories, req)
		if err != nil {
			return Result{}, err
		}
		hits := make([]Hit, len(near.Hits))
		for i, h := range near.Hits {
			hits[i] = Hit{Similarity: 1 - h.Distance, Score: 1 - h.Distance}
		}
		hits, err = load(ctx, tx, hits, ids(near.Hits))
		return Result{Hits: hits, OtherModels: near.OtherModels}, err
	}
	depth := max(hybridDepth*p.limit, minCandidates)
	req.K = depth
	near, err := vecsearch.Nearest(ctx, tx, vecsearch.Memories, req)
	if err != nil {
		return Result{}, err
	}
	text, err := fullText(ctx, tx, userID, p, depth)
	if err != nil {
		return Result{}, err
	}
	hits, err := fuse(ctx, tx, near.Hits, text, p.limit)
	return Result{Hits: hits, OtherModels: near.OtherModels}, err
}

// textHit is a full-text match with its similarity to the query vector.
type textHit struct {
	id       uuid.UUID
	distance float64
}

// fullText ranks the user's memories matching the query words by
// ts_rank_cd (cover density: matches close together rank higher).
// websearch_to_tsquery accepts what people type ("tea -coffee", quotes)
// and never fails on syntax.
func fullText(ctx context.Context, tx *ent.Tx, userID uuid.UUID, p searchPlan, depth int) ([]textHit, error) {
	args := []any{userID, p.text, p.vector, p.model, depth}
	filter := ""
	if p.metadata != nil {
		args = append(args, string(p.metadata))
		filter = " AND m.metadata @> $6::jsonb"
	}
	rows, err := tx.QueryContext(ctx, `
SELECT m.id, m.embedding <=> $3 AS distance
FROM memories m, websearch_to_tsquery('`+TextSearchConfig+`', $2) q
WHERE m.user_id = $1 AND m.embedding_model = $4 AND m.search_vector @@ q`+filter+`
ORDER BY ts_rank_cd(m.search_vector, q) DESC, m.id DESC
LIMIT $5`, args...)
	if err != nil {
		return nil, fmt.Errorf("full-text search: %w", err)
	}
	defer rows.Close()
	var out []textHit
	for rows.Next() {
		var h textHit
		if err := rows.Scan(&h.id, &h.distance); err != nil {
			return nil, fmt.Errorf("full-text search: %w", err)
		}
		if math.IsNaN(h.distance) {
			// A vector stored before Vector.Check refused those pgvector
			// cannot compare: the text matched, the vectors say nothing,
			// so it is reported as orthogonal (similarity 0), never as
			// a missing number.
			h.distance = 1
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// fuse merges the vector and full-text rankings by reciprocal rank fusion.
// The threshold applies to the vector list only: a full-text match is a
// reason to return a memory on its own (that is what hybrid search is for),
// and its similarity is reported all the same.
func fuse(ctx context.Context, tx *ent.Tx, near []vecsearch.Hit, text []textHit, limit int) ([]Hit, error) {
	type fused struct {
		id       uuid.UUID
		score    float64
		distance float64
	}
	byID := map[uuid.UUID]*fused{}
	add := func(id uuid.UUID, rank int, distance float64) {
		f, ok := byID[id]
		if !ok {
			f = &fused{id: id, distance: distance}
			byID[id] = f
		}
		f.score += 1.0 / float64(rrfK+rank)
	}
	for i, h := range near {
		add(h.ID, i+1, h.Distance)
	}
	for i, h := range text {
		add(h.id, i+1, h.distance)
	}
	all := make([]*fused, 0, len(byID))
	for _, f := range byID {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		if all[i].distance != all[j].distance {
			return all[i].distance < all[j].distance
		}
		return all[i].id.String() > all[j].id.String()
	})
	all = all[:min(limit, len(all))]
	hits := make([]Hit, len(all))
	order := make([]uuid.UUID, len(all))
	for i, f := range all {
		hits[i] = Hit{Similarity: 1 - f.distance, Score: f.score}
		order[i] = f.id
	}
	return load(ctx, tx, hits, order)
}

func ids(hits []vecsearch.Hit) []uuid.UUID {
	out := make([]uuid.UUID, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// load fills hits[i].Memory with the row of order[i], through ent (privacy
// applies again). It is a search's last statement: COMMIT goes with it.
func load(ctx context.Context, tx *ent.Tx, hits []Hit, order []uuid.UUID) ([]Hit, error) {
	if len(order) == 0 {
		return []Hit{}, nil
	}
	if err := db.CommitWithNext(ctx); err != nil {
		return nil, err
	}
	rows, err := tx.Memory.Query().Where(memory.IDIn(order...)).Select(listFields...).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load memories: %w", err)
	}
	byID := make(map[uuid.UUID]*ent.Memory, len(rows))
	for _, m := range rows {
		byID[m.ID] = m
	}
	out := hits[:0]
	for i, id := range order {
		if m, ok := byID[id]; ok {
			hits[i].Memory = m
			out = append(out, hits[i])
		}
	}
	return out, nil
}
