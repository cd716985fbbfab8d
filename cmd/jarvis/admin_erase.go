package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/connections"
	"github.com/jarvis-core/jarvis/internal/realtime"
	"github.com/jarvis-core/jarvis/internal/redisconn"
	"github.com/jarvis-core/jarvis/internal/secrets"
	"github.com/jarvis-core/jarvis/internal/userdata"
)

// eraseAftermath is what `admin users erase` ends outside Postgres, from the
// service's own environment: the OAuth grants (SECRETS_MASTER_KEY opens
// them, CONNECTIONS_PROVIDERS says where to revoke them) and, with
// REDIS_URL, the user's sockets on every instance and realtime stream.
// Without Redis (single-node mode) the sockets live in the service's
// process: they end at their next session check.
func eraseAftermath(src config.Source) (userdata.Aftermath, func(), error) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	sc, serr := config.Load[secrets.Config](src)
	cc, cerr := config.Load[connections.Config](src)
	rc, rerr := config.Load[redisconn.Config](src)
	tc, terr := config.Load[realtime.Config](src)
	if err := config.Join(serr, cerr, rerr, terr); err != nil {
		return userdata.Aftermath{}, nil, errors.Join(
			errors.New("users erase runs with the service's environment, to revoke grants and close sockets"), err)
	}
	box, err := secrets.BoxFromConfig(sc)
	if err != nil {
		return userdata.Aftermath{}, nil, err
	}
	// The connections service only opens and revokes here: it needs no
	// database handle of its own (the erasure's transaction is passed in).
	a := userdata.Aftermath{Connections: connections.NewService(nil, box, cc, nil, log), Log: log}
	closeAll := func() {}
	if rc.URL != "" {
		opts, err := redis.ParseURL(rc.URL)
		if err != nil {
			return userdata.Aftermath{}, nil, fmt.Errorf("REDIS_URL: %w", config.Invalid("REDIS_URL", "not a redis URL"))
		}
		rdb := redis.NewClient(opts)
		closeAll = func() { _ = rdb.Close() }
		broker := realtime.NewRedisBroker(rdb, tc.RedisPrefix, tc.Retention(), log)
		a.Realtime = realtime.NewPublisher(tc, broker)
	}
	return a, closeAll, nil
}
