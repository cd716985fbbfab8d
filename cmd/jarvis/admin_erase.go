package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/connections"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/redisconn"
	"github.com/jarvis-core/jarvis/internal/secrets"
	"github.com/jarvis-core/jarvis/internal/userdata"
)

// servicePublisher is the service's realtime publisher on its Redis
// (REDIS_URL, REALTIME_*): what an admin command publishes through it
// reaches the sockets on every instance. Without REDIS_URL (single-node
// mode, the sockets live in the service's process) it is nil and the
// sockets end at their next session check.
func servicePublisher(src config.Source, log *slog.Logger) (*realtime.Publisher, func(), error) {
	rc, rerr := config.Load[redisconn.Config](src)
	tc, terr := config.Load[realtime.Config](src)
	if err := config.Join(rerr, terr); err != nil {
		return nil, nil, err
	}
	if rc.URL == "" {
		return nil, func() {}, nil
	}
	opts, err := redis.ParseURL(rc.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", config.Invalid("REDIS_URL", "not a redis URL"))
	}
	rdb := redis.NewClient(opts)
	broker := realtime.NewRedisBroker(rdb, tc.RedisPrefix, tc.Retention(), log)
	return realtime.NewPublisher(tc, broker), func() { _ = rdb.Close() }, nil
}

// eraseAftermath is what `admin users erase` ends outside Postgres, from the
// service's own environment: the OAuth grants (SECRETS_MASTER_KEY opens
// them, CONNECTIONS_PROVIDERS says where to revoke them) and, with
// REDIS_URL, the user's sockets on every instance and realtime stream.
func eraseAftermath(src config.Source, log *slog.Logger) (userdata.Aftermath, func(), error) {
	sc, serr := config.Load[secrets.Config](src)
	cc, cerr := config.Load[connections.Config](src)
	if err := config.Join(serr, cerr); err != nil {
		return userdata.Aftermath{}, nil, errors.Join(
			errors.New("users erase runs with the service's environment, to revoke grants and close sockets"), err)
	}
	box, err := secrets.BoxFromConfig(sc)
	if err != nil {
		return userdata.Aftermath{}, nil, err
	}
	pub, closePub, err := servicePublisher(src, log)
	if err != nil {
		return userdata.Aftermath{}, nil, errors.Join(
			errors.New("users erase runs with the service's environment, to revoke grants and close sockets"), err)
	}
	// The connections service only opens and revokes here: it needs no
	// database handle of its own (the erasure's transaction is passed in).
	a := userdata.Aftermath{Connections: connections.NewService(nil, box, cc, nil, log), Log: log}
	if pub != nil {
		a.Realtime = pub
	}
	return a, closePub, nil
}
