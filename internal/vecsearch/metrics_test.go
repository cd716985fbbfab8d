package vecsearch

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/jarvis-core/jarvis/internal/db"
	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// TestNearestIsMeasuredByStrategy: once Measure is called, a search of a
// small user's rows is recorded under strategy "exact". Not parallel: the
// instrument is the package's.
func TestNearestIsMeasuredByStrategy(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	if err := Measure(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { duration.Store(nil) })
	d := dbtest.New(t)
	owner, err := db.OpenSQL(context.Background(), d.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Close() })
	user := uuid.Must(uuid.NewV7())
	v := make([]float32, 1536)
	v[0] = 1
	if _, err := owner.Exec(`INSERT INTO users (id, created_at, updated_at, email, password_hash) VALUES ($1, now(), now(), 'small@example.com', 'x')`, user); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Exec(`INSERT INTO memories (id, created_at, updated_at, user_id, content, embedding, embedding_model, metadata, redactions)
		VALUES (gen_random_uuid(), now(), now(), $1, 'one', $2, 'm', '{}', '{}')`, user, pgvector.NewVector(v)); err != nil {
		t.Fatal(err)
	}
	tx, err := owner.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	res, err := Nearest(context.Background(), tx, Memories, Request{UserID: user, Vector: pgvector.NewVector(v), Model: "m", K: 5, MaxDistance: 2})
	if err != nil || res.Path != PathExact {
		t.Fatalf("path %s, err %v; want exact", res.Path, err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "jarvis.vecsearch.duration" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				s, _ := dp.Attributes.Value("strategy")
				tb, _ := dp.Attributes.Value("table")
				if s.AsString() == "exact" && tb.AsString() == "memories" && dp.Count == 1 {
					return
				}
			}
		}
	}
	t.Fatalf("no exact search recorded in %+v", rm.ScopeMetrics)
}
