package embed

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestMeasuredCountsCallsErrorsAndRetries: against a real HTTP provider that
// fails twice then answers, one call succeeds after two retries; against one
// that always fails, the call is recorded with its error type.
func TestMeasuredCountsCallsErrorsAndRetries(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	f := &fakeProvider{t: t, respond: func(n int, w http.ResponseWriter, _ embeddingsRequest) bool {
		if n != 2 { // only the third request is answered
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	e, err := Measure(newOpenAI(t, f, Config{APIKey: "k", MaxRetries: 2}, nil), ProviderOpenAI, mp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Embed(context.Background(), []string{"y"}); err == nil {
		t.Fatal("want the second call to fail")
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var ok, failed uint64
	var retries int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "gen_ai.client.operation.duration":
				for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					if v, _ := dp.Attributes.Value("gen_ai.provider.name"); v.AsString() != ProviderOpenAI {
						t.Errorf("provider label %q", v.AsString())
					}
					if v, has := dp.Attributes.Value(attribute.Key("error.type")); has {
						if v.AsString() != "unavailable" {
							t.Errorf("error.type %q, want unavailable", v.AsString())
						}
						failed += dp.Count
					} else {
						ok += dp.Count
					}
				}
			case "jarvis.embeddings.retries":
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					retries += dp.Value
				}
			}
		}
	}
	// First call: attempts 0, 1 fail, 2 answers (2 retries); second: 3, 4, 5 fail (2 retries).
	if ok != 1 || failed != 1 || retries != 4 {
		t.Fatalf("ok=%d failed=%d retries=%d, want 1, 1, 4", ok, failed, retries)
	}
}
