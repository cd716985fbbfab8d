package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/jarvis-core/jarvis/internal/realtime"
)

// observeHub exports what the realtime hub counts, read at scrape time.
func observeHub(t *Telemetry, h *realtime.Hub) error {
	m := t.meter
	open, err := m.Int64ObservableUpDownCounter("jarvis.realtime.connections",
		metric.WithDescription("WebSocket connections open on this instance."))
	if err != nil {
		return err
	}
	slow, err := m.Int64ObservableCounter("jarvis.realtime.slow_consumer_closes",
		metric.WithDescription("Sockets closed as slow consumers (4008): their send queue was full."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(open, int64(h.Connected()))
		o.ObserveInt64(slow, h.SlowConsumersClosed())
		return nil
	}, open, slow)
	return err
}
