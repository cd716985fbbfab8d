// Package realtime delivers a user's events to that user's open WebSocket
// connections, on whichever instance they are connected to, and lets a
// reconnecting client resume exactly where it left off, or learn that it
// cannot.
//
// The split follows centrifugal/centrifuge:
//
//   - Broker (broker.go) owns fan-out across instances and per-user history:
//     it assigns every event its per-user seq atomically at publish time,
//     appends it to a capped history, and hands it to every instance
//     listening for that user. It keeps each run's state (open, closed) in
//     its owner's stream too, checked in the same step as a worker's
//     publish, so that emitting needs no database. Two engines implement
//     it: RedisBroker (pub/sub for fan-out, two capped Redis Streams per user
//     for history, retained by event kind, a hash with the stream's epoch
//     and top seq, a key per run state) and MemoryBroker (the same contract
//     in process, for a single node). Callers never branch on the engine.
//   - Hub (hub.go) owns this instance's connections: several per user, each
//     with its run subscriptions and a bounded send queue (conn.go). It
//     listens to the broker for the users it has connections for.
//   - Handler (handler.go) is GET /v1/ws: authentication at the handshake,
//     the protocol (protocol.go), pings, token expiry and session re-checks.
//   - Publisher (publisher.go) is events.Publisher for the other modules.
//
// It does not own what events mean (internal/events and their emitters do)
// nor who may see a run beyond "its owner": every event lives in its
// owner's stream only, so a socket can never see another user's events,
// whatever run ids it subscribes to.
package realtime
