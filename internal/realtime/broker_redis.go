package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// RedisBroker is the Broker of a cluster of instances sharing one Redis.
// Per user it keeps:
//
//   - <prefix>{<user>}.m, a hash: "e" the stream's epoch, "s" its top seq;
//   - <prefix>{<user>}.s, a Redis Stream capped at size entries, entry ids
//     <seq>-0, one field "d" holding the Envelope's JSON;
//   - <prefix><user>, the pub/sub channel instances listen on.
//
// Numbering, appending and publishing happen in one Lua script, so seqs are
// unique and gap-free across instances and pub/sub order is seq order. Both
// keys expire after ttl without events; when the hash is gone (expiry, a
// Redis restart without persistence, a flush) the next use creates a new
// epoch, so resumes from before say recovered: false.
type RedisBroker struct {
	rdb    *redis.Client
	prefix string
	size   int
	ttl    time.Duration
	log    *slog.Logger
}

// NewRedisBroker keeps size events per user for ttl after the last one.
// prefix namespaces every key and channel (tests use a unique one).
func NewRedisBroker(rdb *redis.Client, prefix string, size int, ttl time.Duration, log *slog.Logger) *RedisBroker {
	return &RedisBroker{rdb: rdb, prefix: prefix, size: size, ttl: ttl, log: log}
}

func (b *RedisBroker) metaKey(u uuid.UUID) string   { return b.prefix + "{" + u.String() + "}.m" }
func (b *RedisBroker) streamKey(u uuid.UUID) string { return b.prefix + "{" + u.String() + "}.s" }
func (b *RedisBroker) channel(u uuid.UUID) string   { return b.prefix + u.String() }

// ensureEpoch is the common head of the scripts: a stream without its hash
// is left over from a lost epoch and is dropped with it.
const ensureEpoch = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
  redis.call('DEL', KEYS[2])
end
`

// KEYS: meta, stream. ARGV: new epoch, ttl seconds, maxlen, channel, envelope.
var publishScript = redis.NewScript(ensureEpoch + `
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], seq .. '-0', 'd', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[4], seq .. ' ' .. epoch .. ' ' .. ARGV[5])
return {seq, epoch}
`)

// KEYS: meta, stream. ARGV: new epoch, ttl seconds, first seq wanted
// (0: none), max entries. A read refreshes the ttl: a connected user's
// stream keeps its epoch while the user is around.
var positionScript = redis.NewScript(ensureEpoch + `
redis.call('EXPIRE', KEYS[1], ARGV[2])
local seq = redis.call('HGET', KEYS[1], 's')
local entries = {}
if ARGV[3] ~= '0' then
  entries = redis.call('XRANGE', KEYS[2], ARGV[3] .. '-0', '+', 'COUNT', ARGV[4])
end
return {seq, epoch, entries}
`)

// Publish implements Broker.
func (b *RedisBroker) Publish(ctx context.Context, user uuid.UUID, e Envelope) (Position, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return Position{}, fmt.Errorf("encode event: %w", err)
	}
	res, err := publishScript.Run(ctx, b.rdb,
		[]string{b.metaKey(user), b.streamKey(user)},
		newEpoch(), int64(b.ttl/time.Second), b.size, b.channel(user), body,
	).Slice()
	if err != nil {
		return Position{}, fmt.Errorf("publish to redis: %w", err)
	}
	seq, ok1 := res[0].(int64)
	epoch, ok2 := res[1].(string)
	if len(res) != 2 || !ok1 || !ok2 {
		return Position{}, fmt.Errorf("publish to redis: unexpected reply %v", res)
	}
	return Position{Seq: uint64(seq), Epoch: epoch}, nil
}

// Forget implements Broker: the user's position hash and stream go.
func (b *RedisBroker) Forget(ctx context.Context, user uuid.UUID) error {
	if err := b.rdb.Del(ctx, b.metaKey(user), b.streamKey(user)).Err(); err != nil {
		return fmt.Errorf("forget stream in redis: %w", err)
	}
	return nil
}

// Position implements Broker.
func (b *RedisBroker) Position(ctx context.Context, user uuid.UUID) (Position, error) {
	_, pos, err := b.read(ctx, user, 0)
	return pos, err
}

// History implements Broker.
func (b *RedisBroker) History(ctx context.Context, user uuid.UUID, since uint64) ([]Publication, Position, error) {
	return b.read(ctx, user, since+1)
}

func (b *RedisBroker) read(ctx context.Context, user uuid.UUID, from uint64) ([]Publication, Position, error) {
	res, err := positionScript.Run(ctx, b.rdb,
		[]string{b.metaKey(user), b.streamKey(user)},
		newEpoch(), int64(b.ttl/time.Second), from, b.size,
	).Slice()
	if err != nil {
		return nil, Position{}, fmt.Errorf("read stream from redis: %w", err)
	}
	if len(res) != 3 {
		return nil, Position{}, fmt.Errorf("read stream from redis: unexpected reply %v", res)
	}
	seqStr, _ := res[0].(string)
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		return nil, Position{}, fmt.Errorf("read stream from redis: seq %q: %w", seqStr, err)
	}
	epoch, _ := res[1].(string)
	pos := Position{Seq: seq, Epoch: epoch}
	entries, _ := res[2].([]any)
	pubs := make([]Publication, 0, len(entries))
	for _, raw := range entries {
		p, err := decodeEntry(raw)
		if err != nil {
			return nil, Position{}, fmt.Errorf("read stream from redis: %w", err)
		}
		pubs = append(pubs, p)
	}
	return pubs, pos, nil
}

// decodeEntry reads one XRANGE entry: [id, [field, value, ...]].
func decodeEntry(raw any) (Publication, error) {
	e, ok := raw.([]any)
	if !ok || len(e) != 2 {
		return Publication{}, fmt.Errorf("malformed entry %v", raw)
	}
	id, _ := e[0].(string)
	seqStr, _, _ := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		return Publication{}, fmt.Errorf("entry id %q: %w", id, err)
	}
	fields, _ := e[1].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		if f, _ := fields[i].(string); f == "d" {
			body, _ := fields[i+1].(string)
			p := Publication{Seq: seq}
			if err := json.Unmarshal([]byte(body), &p.Envelope); err != nil {
				return Publication{}, fmt.Errorf("entry %s: %w", id, err)
			}
			return p, nil
		}
	}
	return Publication{}, fmt.Errorf("entry %s has no data", id)
}

// Present implements Broker: some instance listens on the user's channel.
func (b *RedisBroker) Present(ctx context.Context, user uuid.UUID) (bool, error) {
	ch := b.channel(user)
	n, err := b.rdb.PubSubNumSub(ctx, ch).Result()
	if err != nil {
		return false, fmt.Errorf("presence from redis: %w", err)
	}
	return n[ch] > 0, nil
}

// Listen implements Broker with one pub/sub connection per instance.
func (b *RedisBroker) Listen(ctx context.Context, h Handler) (Listener, error) {
	ps := b.rdb.Subscribe(ctx)
	l := &redisListener{b: b, ps: ps, h: h, waiting: map[string][]chan struct{}{}, done: make(chan struct{})}
	go l.receive(ps.ChannelWithSubscriptions(redis.WithChannelSize(16384), redis.WithChannelHealthCheckInterval(10*time.Second)))
	return l, nil
}

// Resyncer is an optional Handler method. A listener's connection came back
// after a failure and resubscribed to user: what was published meanwhile was
// not delivered, and the handler catches up from history.
type Resyncer interface {
	Resync(user uuid.UUID)
}

type redisListener struct {
	b  *RedisBroker
	ps *redis.PubSub
	h  Handler

	mu      sync.Mutex
	waiting map[string][]chan struct{} // channel → Subscribe calls awaiting confirmation
	done    chan struct{}
}

// receive uses go-redis's channel, which pings the connection, reconnects
// and resubscribes by itself. A subscription confirmed without anyone
// waiting for it is such a resubscription.
func (l *redisListener) receive(ch <-chan any) {
	defer close(l.done)
	for msg := range ch {
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			l.mu.Lock()
			ws, awaited := l.waiting[m.Channel]
			for _, w := range ws {
				close(w)
			}
			delete(l.waiting, m.Channel)
			l.mu.Unlock()
			if awaited {
				continue
			}
			if user, err := uuid.Parse(strings.TrimPrefix(m.Channel, l.b.prefix)); err == nil {
				if r, ok := l.h.(Resyncer); ok {
					r.Resync(user)
				}
			}
		case *redis.Message:
			user, err := uuid.Parse(strings.TrimPrefix(m.Channel, l.b.prefix))
			if err != nil {
				continue // not one of ours
			}
			epoch, p, err := decodeMessage(m.Payload)
			if err != nil {
				l.b.log.Error("realtime: undecodable publication", slog.String("channel", m.Channel), slog.Any("error", err))
				continue
			}
			l.h.Deliver(user, epoch, p)
		}
	}
}

// decodeMessage reads "<seq> <epoch> <envelope JSON>".
func decodeMessage(s string) (string, Publication, error) {
	seqStr, rest, ok1 := strings.Cut(s, " ")
	epoch, body, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return "", Publication{}, errors.New("malformed message")
	}
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil {
		return "", Publication{}, fmt.Errorf("seq: %w", err)
	}
	p := Publication{Seq: seq}
	if err := json.Unmarshal([]byte(body), &p.Envelope); err != nil {
		return "", Publication{}, fmt.Errorf("envelope: %w", err)
	}
	return epoch, p, nil
}

// Subscribe waits for Redis to confirm the subscription, so that the
// caller's next read of the stream position cannot miss a publication.
func (l *redisListener) Subscribe(ctx context.Context, user uuid.UUID) error {
	ch := l.b.channel(user)
	w := make(chan struct{})
	l.mu.Lock()
	l.waiting[ch] = append(l.waiting[ch], w)
	l.mu.Unlock()
	if err := l.ps.Subscribe(ctx, ch); err != nil {
		return fmt.Errorf("subscribe in redis: %w", err)
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("subscribe in redis: %w", ctx.Err())
	}
}

func (l *redisListener) Unsubscribe(ctx context.Context, user uuid.UUID) error {
	if err := l.ps.Unsubscribe(ctx, l.b.channel(user)); err != nil {
		return fmt.Errorf("unsubscribe in redis: %w", err)
	}
	return nil
}

func (l *redisListener) Close() error {
	err := l.ps.Close() // closes the channel receive ranges over
	<-l.done
	if err != nil {
		return fmt.Errorf("close redis pub/sub: %w", err)
	}
	return nil
}
