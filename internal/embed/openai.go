package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/fault"
)

// KeySource returns the API key to use for the viewer in ctx.
type KeySource func(ctx context.Context) (string, error)

// SecretOpener opens the viewer's stored secret of a provider (name "" when
// the user has one): secrets.Service.DecryptedValue.
type SecretOpener func(ctx context.Context, provider, name string) (string, error)

// ErrNoKey: neither the service nor the user has an OpenAI key.
var ErrNoKey = fault.New(fault.Invalid, "no OpenAI API key for embeddings: store a secret of provider openai, or ask the operator to set EMBEDDINGS_API_KEY")

// UserSecretKeys is the KeySource that opens the viewer's stored `openai`
// secret. A user without one (or with several and none chosen) gets
// ErrNoKey's message; the secret's value never appears in an error.
func UserSecretKeys(open SecretOpener, notFound ...error) KeySource {
	return func(ctx context.Context) (string, error) {
		if v, ok := viewer.FromContext(ctx); !ok || v.Role != viewer.RoleUser {
			return "", ErrNoKey
		}
		key, err := open(ctx, "openai", "")
		for _, nf := range notFound {
			if errors.Is(err, nf) {
				return "", ErrNoKey.Wrap(err)
			}
		}
		if err != nil {
			return "", fmt.Errorf("open the user's openai secret: %w", err)
		}
		return key, nil
	}
}

// OpenAI calls an OpenAI-compatible /embeddings endpoint.
type OpenAI struct {
	cfg    Config
	keys   KeySource
	client *http.Client
	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
	// onRetry, when set (Measure), counts a retry.
	onRetry func(ctx context.Context)
}

// NewOpenAI checks cfg and returns the provider. keys is used when cfg has
// no APIKey.
func NewOpenAI(cfg Config, keys KeySource) (*OpenAI, error) {
	var errs []error
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		errs = append(errs, errors.New("EMBEDDINGS_URL: want an http(s) URL"))
	}
	if cfg.Model == "" {
		errs = append(errs, errors.New("EMBEDDINGS_MODEL: must not be empty"))
	}
	if cfg.APIKey == "" && keys == nil {
		errs = append(errs, errors.New("EMBEDDINGS_API_KEY: required when users' stored keys are not available"))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxRetries < 0 {
		errs = append(errs, errors.New("EMBEDDINGS_MAX_RETRIES: must not be negative"))
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 96
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	return &OpenAI{cfg: cfg, keys: keys, client: &http.Client{}, sleep: sleepCtx}, nil
}

func (o *OpenAI) Dimensions() int { return Dims }
func (o *OpenAI) Model() string   { return o.cfg.Model }

type embeddingsRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

type embeddingsResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// Embed sends texts in batches of BatchSize.
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	key := o.cfg.APIKey
	if key == "" {
		var err error
		if key, err = o.keys(ctx); err != nil {
			return nil, err
		}
	}
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += o.cfg.BatchSize {
		batch := texts[start:min(start+o.cfg.BatchSize, len(texts))]
		vecs, err := o.embedBatch(ctx, key, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// Backoff between attempts: exponential from backoffBase with full jitter,
// at most backoffMax; a Retry-After header wins when it is longer, up to
// retryAfterMax (beyond that, waiting inside a request is worse than failing).
const (
	backoffBase   = 250 * time.Millisecond
	backoffMax    = 8 * time.Second
	retryAfterMax = 30 * time.Second
)

func (o *OpenAI) embedBatch(ctx context.Context, key string, batch []string) ([][]float32, error) {
	body, err := json.Marshal(embeddingsRequest{Model: o.cfg.Model, Input: batch, EncodingFormat: "float", Dimensions: o.cfg.RequestDimensions})
	if err != nil {
		return nil, fmt.Errorf("encode embeddings request: %w", err)
	}
	var last error
	for attempt := 0; ; attempt++ {
		vecs, retryAfter, err := o.attempt(ctx, key, body, len(batch))
		if err == nil {
			return vecs, nil
		}
		last = err
		if retryAfter < 0 || attempt >= o.cfg.MaxRetries || ctx.Err() != nil {
			break
		}
		wait := min(backoffBase<<attempt, backoffMax)
		wait = time.Duration(rand.Int64N(int64(wait)) + 1)
		if retryAfter > wait {
			wait = min(retryAfter, retryAfterMax)
		}
		if err := o.sleep(ctx, wait); err != nil {
			break
		}
		if o.onRetry != nil {
			o.onRetry(ctx)
		}
	}
	if _, ok := fault.As(last); ok {
		return nil, last
	}
	return nil, fault.New(fault.Unavailable, "the embedding provider is unavailable; try again later").Wrap(last)
}

// attempt makes one request. retryAfter < 0 means the error is final; 0 or
// more means it may be retried (after at least that long).
func (o *OpenAI) attempt(ctx context.Context, key string, body []byte, n int) (_ [][]float32, retryAfter time.Duration, _ error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.URL+"/embeddings", bytes.NewReader(body))
	if err != nil {
		return nil, -1, fmt.Errorf("build embeddings request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := o.client.Do(req)
	if err != nil {
		// Transport errors (refused, reset, this attempt's timeout) are
		// worth another try; the caller stops when its own ctx is done.
		return nil, 0, fmt.Errorf("POST %s/embeddings: %w", o.cfg.URL, err)
	}
	defer resp.Body.Close()
	// Bounded: 96 texts × 1536 floats as JSON is about 2 MB.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("read embeddings response: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, parseRetryAfter(resp.Header.Get("Retry-After")),
			fmt.Errorf("embeddings provider answered %d: %s", resp.StatusCode, snippet(raw))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, -1, fault.New(fault.Unavailable, "the embedding provider refused the API key (HTTP %d)", resp.StatusCode)
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode == http.StatusUnprocessableEntity:
		return nil, -1, fault.InvalidField("content", fmt.Sprintf("the embedding provider refused the text (HTTP %d)", resp.StatusCode)).
			Wrap(fmt.Errorf("provider said: %s", snippet(raw)))
	case resp.StatusCode != http.StatusOK:
		return nil, -1, fmt.Errorf("embeddings provider answered %d: %s", resp.StatusCode, snippet(raw))
	}
	var er embeddingsResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return nil, -1, fmt.Errorf("decode embeddings response: %w", err)
	}
	if len(er.Data) != n {
		return nil, -1, fmt.Errorf("embeddings provider returned %d vectors for %d texts", len(er.Data), n)
	}
	out := make([][]float32, n)
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, -1, fmt.Errorf("embeddings provider returned a bad or repeated index %d", d.Index)
		}
		if len(d.Embedding) != Dims {
			return nil, -1, fmt.Errorf("model %s returns %d dimensions, the schema stores %d (set EMBEDDINGS_MODEL or EMBEDDINGS_REQUEST_DIMENSIONS)", o.cfg.Model, len(d.Embedding), Dims)
		}
		out[d.Index] = d.Embedding
	}
	return out, 0, nil
}

// parseRetryAfter reads delay-seconds or an HTTP date; unknown → 0.
func parseRetryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// snippet is the start of a provider's error body for logs (the texts sent
// were already redacted; keys are never echoed by providers).
func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
