package telemetry

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Config is the standard OpenTelemetry variables the service acts on, and
// METRICS_ADDR. Tracing is on when an OTLP endpoint is set (and the SDK is
// not disabled); metrics are on when METRICS_ADDR is set. With neither,
// every provider is a no-op: nothing is exported and instrumented code pays
// a nil check or an interface call.
//
// The OTLP exporters also read the rest of the OTEL_EXPORTER_OTLP_*
// variables (headers, certificates, compression, timeout) from the process
// environment themselves; what is parsed here wins over them.
type Config struct {
	ServiceName string `env:"OTEL_SERVICE_NAME" envDefault:"jarvis"`
	// Endpoint is the OTLP base URL: for http/protobuf, /v1/traces is
	// appended (the specification's rule); for grpc it is used as is.
	Endpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	// TracesEndpoint, when set, is the full URL of the traces signal.
	TracesEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"`
	Protocol       string `env:"OTEL_EXPORTER_OTLP_PROTOCOL" envDefault:"http/protobuf"`
	Sampler        string `env:"OTEL_TRACES_SAMPLER" envDefault:"parentbased_always_on"`
	SamplerArg     string `env:"OTEL_TRACES_SAMPLER_ARG"`
	// ResourceAttributes is key=value,key=value (values percent-encoded).
	ResourceAttributes string `env:"OTEL_RESOURCE_ATTRIBUTES"`
	SDKDisabled        bool   `env:"OTEL_SDK_DISABLED"`
	// MetricsAddr is where /metrics is served, on its own listener: a
	// host:port; an empty host means loopback (":9464" is 127.0.0.1:9464),
	// so the metrics never reach the network unless a host says so. Empty:
	// no metrics.
	MetricsAddr string `env:"METRICS_ADDR"`

	// The batch span processor's variables (the specification's names and
	// defaults; delays in milliseconds).
	BSPScheduleDelay      int `env:"OTEL_BSP_SCHEDULE_DELAY" envDefault:"5000"`
	BSPExportTimeout      int `env:"OTEL_BSP_EXPORT_TIMEOUT" envDefault:"30000"`
	BSPMaxQueueSize       int `env:"OTEL_BSP_MAX_QUEUE_SIZE" envDefault:"2048"`
	BSPMaxExportBatchSize int `env:"OTEL_BSP_MAX_EXPORT_BATCH_SIZE" envDefault:"512"`
}

// BatchConfig is how ended spans are queued and exported.
type BatchConfig struct {
	ScheduleDelay      time.Duration // longest a span waits for a batch to fill
	ExportTimeout      time.Duration // one export call's limit
	MaxQueueSize       int           // spans kept while waiting; more are dropped
	MaxExportBatchSize int           // spans per export call
}

// batch is the batch span processor's configuration. A batch larger than
// the queue is the queue (as the SDK does).
func (c Config) batch() BatchConfig {
	return BatchConfig{
		ScheduleDelay:      time.Duration(c.BSPScheduleDelay) * time.Millisecond,
		ExportTimeout:      time.Duration(c.BSPExportTimeout) * time.Millisecond,
		MaxQueueSize:       c.BSPMaxQueueSize,
		MaxExportBatchSize: min(c.BSPMaxExportBatchSize, c.BSPMaxQueueSize),
	}
}

// Validate names every bad variable.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        c.Endpoint,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.TracesEndpoint,
	} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.Invalid(name, "must be an http:// or https:// URL"))
		}
	}
	switch c.Protocol {
	case "http/protobuf", "grpc":
	default:
		errs = append(errs, config.Invalid("OTEL_EXPORTER_OTLP_PROTOCOL", "must be http/protobuf or grpc"))
	}
	if _, err := c.ratio(); err != nil {
		errs = append(errs, err)
	}
	switch c.Sampler {
	case "always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio":
	default:
		errs = append(errs, config.Invalid("OTEL_TRACES_SAMPLER",
			"must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"))
	}
	for name, v := range map[string]int{
		"OTEL_BSP_SCHEDULE_DELAY":        c.BSPScheduleDelay,
		"OTEL_BSP_EXPORT_TIMEOUT":        c.BSPExportTimeout,
		"OTEL_BSP_MAX_QUEUE_SIZE":        c.BSPMaxQueueSize,
		"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": c.BSPMaxExportBatchSize,
	} {
		if v <= 0 {
			errs = append(errs, config.Invalid(name, "must be a positive integer"))
		}
	}
	if _, err := parseResourceAttributes(c.ResourceAttributes); err != nil {
		errs = append(errs, err)
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || !validPort(port) {
			errs = append(errs, config.Invalid("METRICS_ADDR", "must be host:port (an empty host is loopback), or empty to serve no metrics"))
		}
	}
	return errors.Join(errs...)
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

// ratio is the sampler argument of the ratio samplers (default 1).
func (c Config) ratio() (float64, error) {
	if !strings.HasSuffix(c.Sampler, "traceidratio") || c.SamplerArg == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(c.SamplerArg, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, config.Invalid("OTEL_TRACES_SAMPLER_ARG", "must be a number from 0 to 1 for a traceidratio sampler")
	}
	return f, nil
}

// Tracing reports whether spans are exported.
func (c Config) Tracing() bool {
	return !c.SDKDisabled && (c.Endpoint != "" || c.TracesEndpoint != "")
}

// tracesURL is the URL the exporter posts to (http) or dials (grpc).
func (c Config) tracesURL() string {
	if c.TracesEndpoint != "" {
		return c.TracesEndpoint
	}
	if c.Protocol == "grpc" {
		return c.Endpoint
	}
	return strings.TrimSuffix(c.Endpoint, "/") + "/v1/traces"
}

// metricsListenAddr is MetricsAddr with loopback for an empty host.
func (c Config) metricsListenAddr() string {
	host, port, _ := net.SplitHostPort(c.MetricsAddr)
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// parseResourceAttributes reads OTEL_RESOURCE_ATTRIBUTES.
func parseResourceAttributes(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, config.Invalid("OTEL_RESOURCE_ATTRIBUTES", "must be key=value pairs separated by commas")
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, config.Invalid("OTEL_RESOURCE_ATTRIBUTES", "a value is not valid percent-encoding")
		}
		out[k] = dv
	}
	return out, nil
}
