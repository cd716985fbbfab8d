package runs

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/jarvis-core/jarvis/internal/runs/pricing"
)

// TestLLMMetricsBoundTheModel: a priced model is its own label (in the
// table's normal form), any other name is "other", so made-up model names
// cannot grow the series; tokens are split by usage type.
func TestLLMMetricsBoundTheModel(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := newMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.llmCall(ctx, "OpenAI", "GPT‐4o", true, pricing.Usage{Input: 10, Output: 5}, 0.5)
	m.llmCall(ctx, "openai", "user-123@example.com", false, pricing.Usage{Input: 7, Reasoning: 2}, 0)
	m.budgetRefused(ctx, "run")
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{} // metric → "provider/model/type" → value
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			got[mt.Name] = map[string]float64{}
			add := func(k string, v float64) { got[mt.Name][k] += v }
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					p, _ := dp.Attributes.Value(genAIProvider)
					mo, _ := dp.Attributes.Value(genAIModel)
					ty, _ := dp.Attributes.Value(genAITokenType)
					r, _ := dp.Attributes.Value("refused")
					add(p.AsString()+"/"+mo.AsString()+"/"+ty.AsString()+r.AsString(), float64(dp.Value))
				}
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					p, _ := dp.Attributes.Value(genAIProvider)
					mo, _ := dp.Attributes.Value(genAIModel)
					add(p.AsString()+"/"+mo.AsString(), dp.Value)
				}
			}
		}
	}
	want := map[string]map[string]float64{
		"jarvis.llm.calls":            {"openai/gpt-4o/": 1, "other/other/": 1},
		"jarvis.llm.tokens":           {"openai/gpt-4o/input": 10, "openai/gpt-4o/output": 5, "other/other/input": 7, "other/other/reasoning": 2},
		"jarvis.llm.cost.usd":         {"openai/gpt-4o": 0.5},
		"jarvis.runs.budget_refusals": {"//run": 1},
	}
	for name, series := range want {
		if len(got[name]) != len(series) {
			t.Errorf("%s = %v, want %v", name, got[name], series)
			continue
		}
		for k, v := range series {
			if got[name][k] != v {
				t.Errorf("%s = %v, want %v", name, got[name], series)
				break
			}
		}
	}
}
