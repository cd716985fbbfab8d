package embed

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jarvis-core/jarvis/internal/auth/viewer"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/fault"
)

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func TestLocalIsNormalizedDeterministicAndTopical(t *testing.T) {
	texts := []string{
		"Ada prefers green tea in the morning",
		"Ada prefers green tea in the morning",
		"In the morning Ada likes drinking green tea",
		"The quarterly revenue report is due on Friday",
		"!!!",
		"",
	}
	vecs, err := Local{}.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if len(v) != Dims {
			t.Fatalf("vector %d has %d dims", i, len(v))
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("vector %d (%q) has norm² %f, want 1", i, texts[i], n)
		}
	}
	if c := cosine(vecs[0], vecs[1]); c < 0.99999 {
		t.Errorf("same text, cosine %f", c)
	}
	near, far := cosine(vecs[0], vecs[2]), cosine(vecs[0], vecs[3])
	if near < 0.5 || far > 0.2 || near <= far {
		t.Errorf("paraphrase cosine %f, unrelated %f: want paraphrase ≥ 0.5 > 0.2 ≥ unrelated", near, far)
	}
	if (Local{}).Model() != LocalModel || (Local{}).Dimensions() != Dims {
		t.Error("model or dimensions")
	}
}

func TestLocalStableAcrossRuns(t *testing.T) {
	// A change in the hashing changes stored vectors' meaning: it must come
	// with a new LocalModel. This pins a few components of one vector.
	v, _ := Local{}.Embed(context.Background(), []string{"hello world"})
	var nonzero int
	for _, x := range v[0] {
		if x != 0 {
			nonzero++
		}
	}
	// 2 words + 5 + 5 trigrams ("^he","hel","ell","llo","lo$"...), minus collisions.
	if nonzero < 10 || nonzero > 12 {
		t.Fatalf("hello world has %d non-zero components, want 10–12", nonzero)
	}
}

// fakeProvider is an OpenAI-compatible /embeddings endpoint.
type fakeProvider struct {
	t        *testing.T
	mu       sync.Mutex
	requests []embeddingsRequest
	keys     []string
	// respond may override the answer of the n-th request (from 0).
	respond func(n int, w http.ResponseWriter, req embeddingsRequest) bool
	dims    int
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		http.NotFound(w, r)
		return
	}
	var req embeddingsRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, req)
	f.keys = append(f.keys, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if f.respond != nil && f.respond(n, w, req) {
		return
	}
	dims := f.dims
	if dims == 0 {
		dims = Dims
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	resp := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
	}{Object: "list", Model: req.Model}
	// Answer in reverse order: clients must use index, not position.
	for i := len(req.Input) - 1; i >= 0; i-- {
		v := make([]float32, dims)
		v[len(req.Input[i])%dims] = 1
		resp.Data = append(resp.Data, item{"embedding", i, v})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func newOpenAI(t *testing.T, f *fakeProvider, cfg Config, keys KeySource) *OpenAI {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg.Provider, cfg.URL = ProviderOpenAI, srv.URL+"/v1/"
	if cfg.Model == "" {
		cfg.Model = "text-embedding-3-small"
	}
	o, err := NewOpenAI(cfg, keys)
	if err != nil {
		t.Fatal(err)
	}
	o.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return o
}

func TestOpenAIBatchesInOrder(t *testing.T) {
	f := &fakeProvider{t: t}
	o := newOpenAI(t, f, Config{APIKey: "sk-test", BatchSize: 2, RequestDimensions: 1536}, nil)
	texts := []string{"a", "bb", "ccc", "dddd", "eeeee"}
	vecs, err := o.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 3 {
		t.Fatalf("%d requests, want 3 batches", len(f.requests))
	}
	for i, v := range vecs {
		if v[len(texts[i])] != 1 {
			t.Errorf("vector %d is not the one for %q", i, texts[i])
		}
	}
	r := f.requests[0]
	if r.Model != "text-embedding-3-small" || r.EncodingFormat != "float" || r.Dimensions != 1536 || strings.Join(r.Input, ",") != "a,bb" {
		t.Errorf("request = %+v", r)
	}
	if f.keys[0] != "Bearer sk-test" {
		t.Errorf("authorization = %q", f.keys[0])
	}
	if o.Model() != "text-embedding-3-small" || o.Dimensions() != Dims {
		t.Error("model or dimensions")
	}
}

func TestOpenAIRetries429And5xx(t *testing.T) {
	f := &fakeProvider{t: t, respond: func(n int, w http.ResponseWriter, _ embeddingsRequest) bool {
		switch n {
		case 0:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":{"message":"rate limited"}}`, http.StatusTooManyRequests)
			return true
		case 1:
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return true
		}
		return false
	}}
	o := newOpenAI(t, f, Config{APIKey: "k", MaxRetries: 3}, nil)
	var waits []time.Duration
	o.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	if _, err := o.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 3 || len(waits) != 2 {
		t.Fatalf("%d requests, %d waits; want 3 and 2", len(f.requests), len(waits))
	}
	if waits[0] != time.Second {
		t.Errorf("first wait %v, want Retry-After's 1s", waits[0])
	}
	if waits[1] <= 0 || waits[1] > 2*backoffBase {
		t.Errorf("second wait %v, want jittered backoff ≤ %v", waits[1], 2*backoffBase)
	}
}

func TestOpenAIGivesUpAfterRetries(t *testing.T) {
	f := &fakeProvider{t: t, respond: func(int, http.ResponseWriter, embeddingsRequest) bool { return false }}
	f.respond = func(_ int, w http.ResponseWriter, _ embeddingsRequest) bool {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return true
	}
	o := newOpenAI(t, f, Config{APIKey: "k", MaxRetries: 2}, nil)
	_, err := o.Embed(context.Background(), []string{"x"})
	if fe, ok := fault.As(err); !ok || fe.Kind != fault.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	if len(f.requests) != 3 {
		t.Fatalf("%d requests, want 1 + 2 retries", len(f.requests))
	}
}

func TestOpenAIFinalErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		kind   fault.Kind
	}{
		{"bad input", http.StatusBadRequest, fault.Invalid},
		{"bad key", http.StatusUnauthorized, fault.Unavailable},
		{"unknown model", http.StatusNotFound, fault.Unavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeProvider{t: t, respond: func(_ int, w http.ResponseWriter, _ embeddingsRequest) bool {
				http.Error(w, `{"error":{"message":"nope"}}`, tt.status)
				return true
			}}
			o := newOpenAI(t, f, Config{APIKey: "sk-secret-value", MaxRetries: 3}, nil)
			_, err := o.Embed(context.Background(), []string{"x"})
			fe, ok := fault.As(err)
			if !ok || fe.Kind != tt.kind {
				t.Fatalf("err = %v, want kind %s", err, tt.kind)
			}
			if len(f.requests) != 1 {
				t.Errorf("%d requests: a final error must not be retried", len(f.requests))
			}
			if strings.Contains(err.Error(), "sk-secret-value") {
				t.Error("the key leaked into the error")
			}
		})
	}
}

func TestOpenAIRejectsWrongDimensions(t *testing.T) {
	f := &fakeProvider{t: t, dims: 768}
	o := newOpenAI(t, f, Config{APIKey: "k", Model: "nomic-embed-text"}, nil)
	_, err := o.Embed(context.Background(), []string{"x"})
	if err == nil || !strings.Contains(err.Error(), "768 dimensions") {
		t.Fatalf("err = %v, want a dimension mismatch", err)
	}
}

func TestOpenAIAttemptTimeout(t *testing.T) {
	var calls atomic.Int32
	f := &fakeProvider{t: t, respond: func(n int, w http.ResponseWriter, r embeddingsRequest) bool {
		calls.Add(1)
		if n == 0 {
			time.Sleep(300 * time.Millisecond) // longer than the attempt timeout
			return true
		}
		return false
	}}
	o := newOpenAI(t, f, Config{APIKey: "k", Timeout: 50 * time.Millisecond, MaxRetries: 1}, nil)
	if _, err := o.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatalf("the retry after a timed-out attempt should succeed: %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d calls, want 2", calls.Load())
	}
}

func TestUserSecretKeys(t *testing.T) {
	alice := uuid.Must(uuid.NewV7())
	errNotFound := errors.New("secret not found")
	open := func(ctx context.Context, provider, name string) (string, error) {
		if v, _ := viewer.FromContext(ctx); v.UserID == alice && provider == "openai" && name == "" {
			return "sk-alice", nil
		}
		return "", errNotFound
	}
	f := &fakeProvider{t: t}
	o := newOpenAI(t, f, Config{}, UserSecretKeys(open, errNotFound))

	ctx := viewer.NewContext(context.Background(), viewer.User(alice))
	if _, err := o.Embed(ctx, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if f.keys[0] != "Bearer sk-alice" {
		t.Errorf("authorization = %q, want alice's key", f.keys[0])
	}
	bob := viewer.NewContext(context.Background(), viewer.User(uuid.Must(uuid.NewV7())))
	if _, err := o.Embed(bob, []string{"x"}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("bob without a key: %v, want ErrNoKey", err)
	}
	if _, err := o.Embed(context.Background(), []string{"x"}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no viewer: %v, want ErrNoKey", err)
	}
	if len(f.requests) != 1 {
		t.Errorf("%d requests: calls without a key must not reach the provider", len(f.requests))
	}
}

func TestNewChecksConfig(t *testing.T) {
	if e, err := New(Config{}, nil); err != nil || e.Model() != LocalModel {
		t.Fatalf("default provider: %v, %v", e, err)
	}
	if _, err := New(Config{Provider: "cohere"}, nil); err == nil {
		t.Fatal("unknown provider accepted")
	}
	_, err := New(Config{Provider: ProviderOpenAI, URL: "ftp://x"}, nil)
	for _, want := range []string{"EMBEDDINGS_URL", "EMBEDDINGS_MODEL", "EMBEDDINGS_API_KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	cfg, err := config.Load[Config](config.Map(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Provider != ProviderLocal || cfg.Timeout != 30*time.Second || cfg.MaxRetries != 3 || cfg.BatchSize != 96 {
		t.Fatalf("defaults = %+v", cfg)
	}
	_, err = config.Load[Config](config.Map(map[string]string{
		"EMBEDDINGS_PROVIDER": "openai", "EMBEDDINGS_URL": "ftp://x", "EMBEDDINGS_BATCH_SIZE": "0",
		"EMBEDDINGS_API_KEY": "sk-never-printed",
	}))
	for _, want := range []string{"EMBEDDINGS_URL", "EMBEDDINGS_BATCH_SIZE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "sk-never-printed") {
		t.Error("a configuration error printed the key")
	}
	cfg, err = config.Load[Config](config.Map(map[string]string{"EMBEDDINGS_PROVIDER": "openai"}))
	if err != nil || cfg.URL != "https://api.openai.com/v1" || cfg.Model != "text-embedding-3-small" {
		t.Fatalf("openai defaults = %+v, %v", cfg, err)
	}
}
