package realtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// RedisBroker is the Broker of a cluster of instances sharing one Redis.
// Per user it keeps (all keys in one hash slot, {<user>}):
//
//   - <prefix>{<user>}.m, a hash: "e" the stream's epoch, "s" its top seq;
//   - <prefix>{<user>}.s, a Redis Stream of the long-lived kinds, capped at
//     Retention.Size entries, entry ids <seq>-0, one field "d" holding the
//     Envelope's JSON;
//   - <prefix>{<user>}.t, the same for the short-lived kinds (agent.token),
//     capped at Retention.ShortSize and expiring Retention.ShortTTL after
//     its last entry;
//   - <prefix>{<user>}.r:<run>, the run's state for PublishRun: "1" open
//     (expiring openRunTTL after it was recorded, so that a close whose
//     publish failed is found in the database within that time), "0"
//     closed (expiring closedRunTTL after the close: an emit whose database
//     read came before the close cannot take longer than that to reach the
//     script);
//   - <prefix><user>, the pub/sub channel instances listen on.
//
// Numbering, appending and publishing happen in one Lua script, so seqs are
// unique and gap-free across instances and pub/sub order is seq order. The
// keys expire after Retention.TTL without events; when the hash is gone
// (expiry, a Redis restart without persistence, a flush) the next use
// creates a new epoch and drops the rest, so resumes from before say
// recovered: false and run states are read again from the database.
type RedisBroker struct {
	rdb    *redis.Client
	prefix string
	ret    Retention
	log    *slog.Logger
}

// NewRedisBroker keeps each user's events as ret says. prefix namespaces
// every key and channel (tests use a unique one).
func NewRedisBroker(rdb *redis.Client, prefix string, ret Retention, log *slog.Logger) *RedisBroker {
	return &RedisBroker{rdb: rdb, prefix: prefix, ret: ret, log: log}
}

// Keys are the Redis keys holding user's stream (position, both
// histories), for whoever must remove them all. The run states,
// <prefix>{<user>}.r:<run>, expire on their own.
func (b *RedisBroker) Keys(u uuid.UUID) []string {
	tag := b.prefix + "{" + u.String() + "}"
	return []string{tag + ".m", tag + ".s", tag + ".t"}
}

func (b *RedisBroker) runKey(u, run uuid.UUID) string {
	return b.prefix + "{" + u.String() + "}.r:" + run.String()
}

// closedRunTTL is how long a closed run's state outlives its close (see
// RedisBroker); after it, the database answers again.
const closedRunTTL = 10 * time.Minute

// openRunTTL is how long an open run's state is trusted without the
// database: one read per run and minute at most, and the bound on how long
// a run whose closing run.status could not be published (Redis failing
// just then) still takes events.
const openRunTTL = time.Minute

func (b *RedisBroker) channel(u uuid.UUID) string { return b.prefix + u.String() }

// ensureEpoch is the common head of the scripts: streams without their
// hash are left over from a lost epoch and go with it. (Run states stay:
// they describe the runs, not the stream.)
const ensureEpoch = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
  redis.call('DEL', KEYS[2], KEYS[3])
end
`

// KEYS: meta, stream, short stream, run state. ARGV: [1] new epoch, [2]
// ttl seconds, [3] maxlen, [4] channel, [5] kinds (one character per
// envelope, "1": the short stream), [6] short maxlen, [7] short ttl ms, [8]
// run op ("": none, "open", "close", "guard", "learn"), [9] closed run ttl
// seconds, [10] open run ttl seconds, [11...] the envelopes (at least one). They are numbered consecutively; the reply
// is the last seq. A refused guard returns {-1} (unknown run) or {-2}
// (closed run) and changes nothing.
var publishScript = redis.NewScript(ensureEpoch + `
local op = ARGV[8]
if op ~= '' then
  local st = redis.call('GET', KEYS[4])
  if op == 'close' then
    redis.call('SET', KEYS[4], '0', 'EX', ARGV[9])
    st = '0'
  elseif (op == 'open' or op == 'learn') and st ~= '0' then
    redis.call('SET', KEYS[4], '1', 'EX', ARGV[10])
    st = '1'
  end
  if op == 'guard' or op == 'learn' then
    if not st then return {-1, epoch} end
    if st == '0' then return {-2, epoch} end
  end
end
local seq
for i = 11, #ARGV do
  seq = redis.call('HINCRBY', KEYS[1], 's', 1)
  if string.sub(ARGV[5], i - 10, i - 10) == '1' then
    redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[6], seq .. '-0', 'd', ARGV[i])
    redis.call('PEXPIRE', KEYS[3], ARGV[7])
  else
    redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], seq .. '-0', 'd', ARGV[i])
  end
  redis.call('PUBLISH', ARGV[4], seq .. ' ' .. epoch .. ' ' .. ARGV[i])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {seq, epoch}
`)

// KEYS: meta, stream, short stream. ARGV: new epoch, ttl seconds,
// first seq wanted (0: none), max entries, max short entries. A read
// refreshes the ttl: a connected user's stream keeps its epoch while the
// user is around.
var positionScript = redis.NewScript(ensureEpoch + `
redis.call('EXPIRE', KEYS[1], ARGV[2])
local seq = redis.call('HGET', KEYS[1], 's')
local entries, short = {}, {}
if ARGV[3] ~= '0' then
  entries = redis.call('XRANGE', KEYS[2], ARGV[3] .. '-0', '+', 'COUNT', ARGV[4])
  short = redis.call('XRANGE', KEYS[3], ARGV[3] .. '-0', '+', 'COUNT', ARGV[5])
end
return {seq, epoch, entries, short}
`)

var runOps = map[RunOp]string{RunMarkOpen: "open", RunMarkClosed: "close", RunIfOpen: "guard", RunLearnOpen: "learn"}

// Publish implements Broker.
func (b *RedisBroker) Publish(ctx context.Context, user uuid.UUID, e Envelope) (Position, error) {
	return b.publish(ctx, user, "", e)
}

// PublishRun implements Broker.
func (b *RedisBroker) PublishRun(ctx context.Context, user uuid.UUID, op RunOp, es ...Envelope) (Position, error) {
	name, ok := runOps[op]
	if !ok || !sameRun(es) {
		return Position{}, fmt.Errorf("publish run events: bad op %d, or not events of one run", op)
	}
	return b.publish(ctx, user, name, es...)
}

func (b *RedisBroker) publish(ctx context.Context, user uuid.UUID, op string, es ...Envelope) (Position, error) {
	kinds := make([]byte, len(es))
	args := []any{newEpoch(), int64(b.ret.TTL / time.Second), b.ret.Size, b.channel(user), "",
		b.ret.ShortSize, b.ret.ShortTTL.Milliseconds(), op,
		int64(min(closedRunTTL, b.ret.TTL) / time.Second), int64(min(openRunTTL, b.ret.TTL) / time.Second)}
	for i := range es {
		e := &es[i]
		body, err := appendEnvelope(nil, e)
		if err != nil {
			return Position{}, fmt.Errorf("encode event: %w", err)
		}
		kinds[i] = '0'
		if b.ret.short(e.Type) {
			kinds[i] = '1'
		}
		args = append(args, body)
	}
	args[4] = string(kinds)
	res, err := publishScript.Run(ctx, b.rdb, append(b.Keys(user), b.runKey(user, es[0].RunID)), args...).Slice()
	if err != nil {
		return Position{}, fmt.Errorf("publish to redis: %w", err)
	}
	if len(res) != 2 {
		return Position{}, fmt.Errorf("publish to redis: unexpected reply %v", res)
	}
	seq, ok1 := res[0].(int64)
	epoch, ok2 := res[1].(string)
	if !ok1 || !ok2 {
		return Position{}, fmt.Errorf("publish to redis: unexpected reply %v", res)
	}
	switch seq {
	case -1:
		return Position{}, ErrRunUnknown
	case -2:
		return Position{}, ErrRunClosed
	}
	return Position{Seq: uint64(seq), Epoch: epoch}, nil
}

// Forget implements Broker: the user's position hash and stream go.
func (b *RedisBroker) Forget(ctx context.Context, user uuid.UUID) error {
	keys := b.Keys(user)
	// Run states live beside the streams, one key per run: found by their
	// pattern within the user's hash slot.
	pattern := b.prefix + "{" + user.String() + "}.r:*"
	iter := b.rdb.Scan(ctx, 0, pattern, 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("forget run states in redis: %w", err)
	}
	if err := b.rdb.Del(ctx, keys...).Err(); err != nil {
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
	res, err := positionScript.Run(ctx, b.rdb, b.Keys(user),
		newEpoch(), int64(b.ret.TTL/time.Second), from, b.ret.Size, max(b.ret.ShortSize, 1),
	).Slice()
	if err != nil {
		return nil, Position{}, fmt.Errorf("read stream from redis: %w", err)
	}
	if len(res) != 4 {
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
	short, _ := res[3].([]any)
	pubs := make([]Publication, 0, len(entries)+len(short))
	for _, raw := range append(entries, short...) {
		p, err := decodeEntry(raw)
		if err != nil {
			return nil, Position{}, fmt.Errorf("read stream from redis: %w", err)
		}
		pubs = append(pubs, p)
	}
	// Each stream is in seq order; together they interleave.
	slices.SortFunc(pubs, func(x, y Publication) int { return cmp.Compare(x.Seq, y.Seq) })
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
			if err := decodeEnvelope([]byte(body), &p.Envelope); err != nil {
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
	if err := decodeEnvelope([]byte(body), &p.Envelope); err != nil {
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
