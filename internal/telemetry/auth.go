package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/jarvis-core/jarvis/internal/auth/password"
)

// observePasswordGate exports the password hashing bound, read at scrape
// time: a gate always full, with a queue and refusals, is a login flood or
// a bound too tight for the traffic.
func observePasswordGate(t *Telemetry, h *password.Hasher) error {
	m := t.meter
	inUse, err := m.Int64ObservableGauge("jarvis.auth.password_gate.in_use",
		metric.WithDescription("Password hashes and verifications running (slots of the bound taken)."))
	if err != nil {
		return err
	}
	limit, err := m.Int64ObservableGauge("jarvis.auth.password_gate.limit",
		metric.WithDescription("Slots of the bound (PASSWORD_HASH_CONCURRENCY)."))
	if err != nil {
		return err
	}
	queued, err := m.Int64ObservableGauge("jarvis.auth.password_gate.queued",
		metric.WithDescription("Sign-ins waiting for a slot."))
	if err != nil {
		return err
	}
	refused, err := m.Int64ObservableCounter("jarvis.auth.password_gate.refusals",
		metric.WithDescription("Sign-ins refused (503) because the bound and its queue were full."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := h.Gate()
		o.ObserveInt64(inUse, int64(s.InUse))
		o.ObserveInt64(limit, int64(s.Limit))
		o.ObserveInt64(queued, int64(s.Queued))
		o.ObserveInt64(refused, s.Refused)
		return nil
	}, inUse, limit, queued, refused)
	return err
}
