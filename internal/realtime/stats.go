package realtime

import (
	"sync/atomic"

	"github.com/coder/websocket"
)

// Stats are the hub's counts since it started, for metrics (read at scrape
// time: counting is an atomic add on the delivery path, nothing more).
type Stats struct {
	// Connected is the sockets open now.
	Connected int
	// SlowConsumerCloses: sockets closed with 4008.
	SlowConsumerCloses int64
	// AuthCloses: sockets closed with 4001 or 4002, at the handshake or
	// later (a revoked session, a refused re-authentication, expiry).
	AuthCloses int64
	// EventsDelivered: event messages queued on sockets (one per socket
	// an event went to, live, released after a resume, or resent by it).
	EventsDelivered int64
	// ResumesRecovered and ResumesNotRecovered: resume requests answered
	// recovered: true (every missed event resent) or false.
	ResumesRecovered    int64
	ResumesNotRecovered int64
}

type hubStats struct {
	authClosed, delivered, resumedOK, resumedLost atomic.Int64
}

// Stats returns the hub's counts.
func (h *Hub) Stats() Stats {
	return Stats{
		Connected:           h.Connected(),
		SlowConsumerCloses:  h.slowClosed.Load(),
		AuthCloses:          h.stats.authClosed.Load(),
		EventsDelivered:     h.stats.delivered.Load(),
		ResumesRecovered:    h.stats.resumedOK.Load(),
		ResumesNotRecovered: h.stats.resumedLost.Load(),
	}
}

func (h *Hub) countClose(code websocket.StatusCode) {
	if code == CloseUnauthorized || code == CloseTokenExpired {
		h.stats.authClosed.Add(1)
	}
}

func (h *Hub) countResume(recovered bool) {
	if recovered {
		h.stats.resumedOK.Add(1)
	} else {
		h.stats.resumedLost.Add(1)
	}
}

// enqueueEventLocked queues an event message and counts it delivered
// unless queuing closed the socket (a slow consumer).
func (c *conn) enqueueEventLocked(msg []byte) {
	c.enqueueLocked(msg)
	if !c.closed {
		c.hub.stats.delivered.Add(1)
	}
}
