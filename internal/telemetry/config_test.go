package telemetry

import (
	"errors"
	"slices"
	"testing"
	"time"

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
		{name: "batch processor variables must be positive", vars: map[string]string{
			"OTEL_BSP_SCHEDULE_DELAY": "0", "OTEL_BSP_EXPORT_TIMEOUT": "-1", "OTEL_BSP_MAX_QUEUE_SIZE": "0", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "-5",
		}, bad: []string{"OTEL_BSP_EXPORT_TIMEOUT", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_SCHEDULE_DELAY"}},
		{name: "batch processor variable not a number", vars: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "lots"},
			bad: []string{"OTEL_BSP_MAX_QUEUE_SIZE"}},
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

func TestBatchConfig(t *testing.T) {
	cfg, err := config.Load[Config](config.Map(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.batch(), (BatchConfig{ScheduleDelay: 5 * time.Second, ExportTimeout: 30 * time.Second,
		MaxQueueSize: 2048, MaxExportBatchSize: 512}); got != want {
		t.Errorf("defaults %+v, want the specification's %+v", got, want)
	}
	cfg, err = config.Load[Config](config.Map(map[string]string{
		"OTEL_BSP_SCHEDULE_DELAY": "250", "OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "400"}))
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.batch(); b.ScheduleDelay != 250*time.Millisecond || b.MaxExportBatchSize != 100 {
		t.Errorf("batch %+v: want a 250ms delay, and the batch no larger than the queue (100)", b)
	}
}
