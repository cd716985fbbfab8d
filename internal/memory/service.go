// Package memory owns what an agent remembers about its user: memories are
// redacted (internal/pii), embedded (internal/embed) and stored with the
// embedding's model, then found again by similarity (cosine, per user,
// without losing recall to the user filter: internal/vecsearch) or by
// hybrid search, which fuses Postgres full-text rank with similarity by
// reciprocal rank fusion.
package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/ent"
	"github.com/jarvis-core/jarvis/ent/memory"
	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/embed"
	"github.com/jarvis-core/jarvis/internal/fault"
	"github.com/jarvis-core/jarvis/internal/pii"
	"github.com/jarvis-core/jarvis/internal/textsearch"
	"github.com/jarvis-core/jarvis/internal/vecsearch"
)

// Limits of what one memory holds.
const (
	MaxContentBytes  = 32 << 10
	MaxMetadataBytes = 16 << 10
)

// TextSearchConfig is the Postgres text search configuration of hybrid
// search (the stored column's: see textsearch.Config).
const TextSearchConfig = textsearch.Config

// Service stores and searches the viewer's memories.
type Service struct {
	db  *db.DB
	emb embed.Embedder
	red *pii.Redactor
	log *slog.Logger
	// sizes are the users whose searches skip the row count (vecsearch.Sizes).
	sizes *vecsearch.Sizes
}

// NewService returns the memory service.
func NewService(d *db.DB, emb embed.Embedder, red *pii.Redactor, log *slog.Logger) *Service {
	return &Service{db: d, emb: emb, red: red, log: log, sizes: vecsearch.NewSizes()}
}

// Vector is a client's own embedding and the model that computed it.
type Vector = vecsearch.Vector

// CreateInput is a new memory. Embedding is optional: without it the
// service embeds the (redacted) content.
type CreateInput struct {
	Content   string
	Metadata  map[string]any
	Embedding *Vector
}

// UpdateInput changes a memory; nil leaves a part as it is. New content is
// redacted and re-embedded (unless Embedding comes with it).
type UpdateInput struct {
	Content   *string
	Metadata  *map[string]any
	Embedding *Vector
}

// listFields are the columns lists and searches return: not the embedding
// (1536 numbers per row) nor the full-text column.
var listFields = []string{
	memory.FieldID, memory.FieldCreatedAt, memory.FieldUpdatedAt, memory.FieldUserID, memory.FieldContent,
	memory.FieldEmbeddingModel, memory.FieldMetadata, memory.FieldRedactions,
}

// readFields are listFields and the embedding.
var readFields = append(append([]string{}, listFields...), memory.FieldEmbedding)

// prepared is content ready to store: redacted, embedded.
type prepared struct {
	content string
	counts  pii.Counts // the content's redactions
	vector  pgvector.Vector
	model   string
}

// prepare redacts content and embeds it (or checks the client's vector);
// it runs outside any transaction, since embedding may call a provider.
func (s *Service) prepare(ctx context.Context, content string, v *Vector) (prepared, error) {
	if err := checkContent(content); err != nil {
		return prepared{}, err
	}
	text, counts := s.red.Redact(strings.TrimSpace(content))
	p := prepared{content: text, counts: counts}
	if v != nil {
		if err := v.Check("embedding"); err != nil {
			return prepared{}, err
		}
		p.vector, p.model = pgvector.NewVector(v.Values), v.Model
		return p, nil
	}
	vecs, err := s.emb.Embed(ctx, []string{text})
	if err != nil {
		return prepared{}, fmt.Errorf("embed memory: %w", err)
	}
	p.vector, p.model = pgvector.NewVector(vecs[0]), s.emb.Model()
	return p, nil
}

// redactMetadata redacts the metadata (keys too) before it is stored,
// adding what it found to counts.
func (s *Service) redactMetadata(m map[string]any, counts pii.Counts) map[string]any {
	return s.red.RedactJSON(m, counts).(map[string]any)
}

func checkContent(c string) error {
	switch {
	case strings.TrimSpace(c) == "":
		return fault.InvalidField("content", "must not be empty")
	case len(c) > MaxContentBytes:
		return fault.InvalidField("content", fmt.Sprintf("must be at most %d bytes", MaxContentBytes))
	case !utf8.ValidString(c) || strings.ContainsRune(c, 0):
		return fault.InvalidField("content", "must be UTF-8 text without NUL characters")
	}
	return nil
}

func checkMetadata(field string, m map[string]any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fault.InvalidField(field, "must be a JSON object")
	}
	if len(b) > MaxMetadataBytes {
		return fault.InvalidField(field, fmt.Sprintf("must be at most %d bytes as JSON", MaxMetadataBytes))
	}
	return nil
}

// Create redacts, embeds and stores a memory of the viewer.
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.Memory, error) {
	userID, err := db.UserID(ctx)
	if err != nil {
		return nil, err
	}
	if in.Metadata == nil {
		in.Metadata = map[string]any{}
	}
	if err := checkMetadata("metadata", in.Metadata); err != nil {
		return nil, err
	}
	p, err := s.prepare(ctx, in.Content, in.Embedding)
	if err != nil {
		return nil, err
	}
	counts := pii.Counts{}
	counts.Add(p.counts)
	in.Metadata = s.redactMetadata(in.Metadata, counts)
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.Memory, error) {
		m, err := tx.Memory.Create().SetUserID(userID).SetContent(p.content).SetEmbedding(p.vector).
			SetEmbeddingModel(p.model).SetMetadata(in.Metadata).SetRedactions(counts.Object()).
			// The full-text column, computed by this INSERT: a row
			// version, and one entry per index, per memory.
			SetSearchVector(textsearch.Vector(p.content)).Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("store memory: %w", err)
		}
		// What ent kept is the source text, not the stored tsvector.
		m.SearchVector = nil
		return m, nil
	})
}

// Get returns one of the viewer's memories, with its embedding.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*ent.Memory, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.Memory, error) {
		return tx.Memory.Query().Where(memory.ID(id)).Select(readFields...).Only(ctx)
	})
}

// List returns a page of the viewer's memories, newest first: page.Fetch()
// rows at most, so the caller sees whether another page follows.
func (s *Service) List(ctx context.Context, page db.Page) ([]*ent.Memory, error) {
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) ([]*ent.Memory, error) {
		q := tx.Memory.Query().Select(listFields...).Order(ent.Desc(memory.FieldID)).Limit(page.Fetch())
		if page.Before != uuid.Nil {
			q = q.Where(memory.IDLT(page.Before))
		}
		return q.All(ctx)
	})
}

// Update changes content (redacted and re-embedded), metadata or the vector.
//
// New content is embedded by the service only when the memory's vector is
// of the service's model: a memory the client embedded with another model
// needs the new content's vector (Invalid on "embedding" without it), so an
// edit never changes a memory's model behind its owner's back (and never
// takes it out of the searches of its model). Embedding with no values and
// the service's model asks the service to embed it (the content given, or
// the stored one).
func (s *Service) Update(ctx context.Context, id uuid.UUID, in UpdateInput) (*ent.Memory, error) {
	if _, err := db.UserID(ctx); err != nil {
		return nil, err
	}
	if in.Metadata != nil {
		if *in.Metadata == nil {
			*in.Metadata = map[string]any{}
		}
		if err := checkMetadata("metadata", *in.Metadata); err != nil {
			return nil, err
		}
	}
	reembed := false
	if in.Embedding != nil && in.Embedding.Values == nil && in.Embedding.Model == s.emb.Model() {
		in.Embedding, reembed = nil, true
	}
	// The row decides who embeds new content: read it before calling a
	// provider for a change that would be refused.
	var cur *ent.Memory
	if in.Content != nil || reembed {
		var err error
		cur, err = db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.Memory, error) {
			return tx.Memory.Query().Where(memory.ID(id)).Select(memory.FieldID, memory.FieldContent, memory.FieldEmbeddingModel).Only(ctx)
		})
		if err != nil {
			return nil, err
		}
		if err := s.needsVector(cur.EmbeddingModel, in.Content != nil && in.Embedding == nil && !reembed); err != nil {
			return nil, err
		}
	}
	var p *prepared
	switch {
	case in.Content != nil:
		pp, err := s.prepare(ctx, *in.Content, in.Embedding)
		if err != nil {
			return nil, err
		}
		p = &pp
	case reembed:
		vecs, err := s.emb.Embed(ctx, []string{cur.Content})
		if err != nil {
			return nil, fmt.Errorf("embed memory: %w", err)
		}
		in.Embedding = &Vector{Values: vecs[0], Model: s.emb.Model()}
	case in.Embedding != nil:
		if err := in.Embedding.Check("embedding"); err != nil {
			return nil, err
		}
	}
	return db.Query(ctx, s.db, func(ctx context.Context, tx *ent.Tx) (*ent.Memory, error) {
		// The row under its lock: another edit may have come between.
		now, err := tx.Memory.Query().Where(memory.ID(id)).
			Select(memory.FieldID, memory.FieldContent, memory.FieldMetadata, memory.FieldEmbeddingModel).ForUpdate().Only(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.needsVector(now.EmbeddingModel, in.Content != nil && in.Embedding == nil && !reembed); err != nil {
			return nil, err
		}
		if cur != nil && in.Content == nil && now.Content != cur.Content {
			return nil, fault.Conflictf("the memory's content changed while it was re-embedded: retry")
		}
		// redactions describe what is stored: the new parts' counts, and
		// the placeholders of the parts kept.
		counts := pii.Counts{}
		// Update().Where(id), not UpdateOneID: the latter re-reads the row
		// by id alone (every shard on Citus); the viewer's filter adds the
		// user here, and the row is read back below through it.
		u := tx.Memory.Update().Where(memory.ID(id))
		if p != nil {
			counts.Add(p.counts)
		} else {
			pii.Placeholders(now.Content, counts)
		}
		if in.Metadata != nil {
			u.SetMetadata(s.redactMetadata(*in.Metadata, counts))
		} else {
			pii.Placeholders(now.Metadata, counts)
		}
		u.SetRedactions(counts.Object())
		switch {
		case p != nil:
			// The full-text column in the same UPDATE as the content.
			u.SetContent(p.content).SetSearchVector(textsearch.Vector(p.content)).
				SetEmbedding(p.vector).SetEmbeddingModel(p.model)
		case in.Embedding != nil:
			u.SetEmbedding(pgvector.NewVector(in.Embedding.Values)).SetEmbeddingModel(in.Embedding.Model)
		}
		n, err := u.Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("update memory: %w", err)
		}
		if n == 0 {
			return nil, fault.NotFoundf("memory not found")
		}
		return tx.Memory.Query().Where(memory.ID(id)).Select(readFields...).Only(ctx)
	})
}

// needsVector refuses, when refuse holds, new content for a memory embedded
// with model by someone other than the service.
func (s *Service) needsVector(model string, refuse bool) error {
	if !refuse || model == s.emb.Model() {
		return nil
	}
	return fault.InvalidField("embedding", fmt.Sprintf(
		"this memory's vector came from model %q, not the service's %q: send the new content's embedding of model %q with it (or embedding_model %q alone to have the service embed it)",
		model, s.emb.Model(), model, s.emb.Model()))
}

// Delete removes one of the viewer's memories.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	return s.db.Run(ctx, func(ctx context.Context, tx *ent.Tx) error {
		return tx.Memory.DeleteOneID(id).Exec(ctx)
	})
}
