// Package redisconn owns the optional Redis connection. Without REDIS_URL the
// service runs single-node: realtime fan-out and rate limits use their
// in-process implementations, and this package provides no client.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Conn wraps the client; Client is nil when Redis is not configured.
type Conn struct {
	Client *redis.Client
}

// Enabled reports whether Redis is configured.
func (c *Conn) Enabled() bool { return c != nil && c.Client != nil }

// Ping checks Redis; it is an error only when Redis is configured and down.
func (c *Conn) Ping(ctx context.Context) error {
	if !c.Enabled() {
		return nil
	}
	return c.Client.Ping(ctx).Err()
}

// RouteLogs sends go-redis's own messages (dial failures, pool events) to log
// as structured warnings instead of plain text on stderr. go-redis keeps one
// process-wide logger, so the last call wins.
func RouteLogs(log *slog.Logger) {
	redis.SetLogger(slogPrinter{log})
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.log.WarnContext(ctx, "redis client", slog.String("detail", fmt.Sprintf(format, v...)))
}

// Config is the optional Redis connection.
type Config struct {
	// URL is empty for single-node mode.
	URL string `env:"REDIS_URL"`
}

// Validate checks the scheme.
func (c Config) Validate() error { return config.CheckURL("REDIS_URL", c.URL, "redis", "rediss") }

// New parses REDIS_URL. It does not fail when Redis is down at start: /readyz
// reports it and the client reconnects by itself.
func New(lc fx.Lifecycle, cfg Config, log *slog.Logger) (*Conn, error) {
	RouteLogs(log)
	if cfg.URL == "" {
		log.Info("redis not configured: single-node mode (in-process fan-out and limits)")
		return &Conn{}, nil
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, errors.New("parse REDIS_URL: invalid URL")
	}
	opts.DialTimeout = 2 * time.Second
	client := redis.NewClient(opts)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := client.Ping(ctx).Err(); err != nil {
				log.Warn("redis unreachable at start; will retry", slog.String("addr", opts.Addr), slog.Any("error", err))
			}
			return nil
		},
		OnStop: func(context.Context) error {
			if err := client.Close(); err != nil {
				return fmt.Errorf("close redis: %w", err)
			}
			return nil
		},
	})
	return &Conn{Client: client}, nil
}

// Module provides *Conn.
var Module = fx.Module("redis", config.Provide[Config](), fx.Provide(New))
