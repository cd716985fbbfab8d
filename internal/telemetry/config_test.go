package telemetry

import (
	"errors"
	"slices"
	"testing"

	"github.com/jarvis-core/jarvis/internal/config"
)

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		name    string
		vars    map[string]string
		bad     []string
		tracing bool
		listen  string
	}{
		{name: "nothing set: all off", vars: map[string]string{}},
		{name: "endpoint turns tracing on", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, tracing: true},
		{name: "sdk disabled wins", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}},
		{name: "empty metrics host is loopback", vars: map[string]string{"METRICS_ADDR": ":9464"}, listen: "127.0.0.1:9464"},
		{name: "explicit host kept", vars: map[string]string{"METRICS_ADDR": "0.0.0.0:9464"}, listen: "0.0.0.0:9464"},
		{name: "every bad value named", vars: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift",
			"OTEL_TRACES_SAMPLER": "sometimes", "OTEL_RESOURCE_ATTRIBUTES": "novalue", "METRICS_ADDR": "9464",
		}, bad: []string{"METRICS_ADDR", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"}},
		{name: "ratio out of range", vars: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"},
			bad: []string{"OTEL_TRACES_SAMPLER_ARG"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Load[Config](config.Map(c.vars))
			var ce *config.Error
			if len(c.bad) > 0 {
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a config error", err)
				}
				var got []string
				for _, p := range ce.Problems {
					got = append(got, p.Var)
				}
				slices.Sort(got)
				if !slices.Equal(got, c.bad) {
					t.Fatalf("bad variables %v, want %v", got, c.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Tracing() != c.tracing {
				t.Errorf("Tracing() = %v, want %v", cfg.Tracing(), c.tracing)
			}
			if c.listen != "" && cfg.metricsListenAddr() != c.listen {
				t.Errorf("metrics listen on %s, want %s", cfg.metricsListenAddr(), c.listen)
			}
		})
	}
}
