package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/jarvis-core/jarvis/internal/app"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/logging"
)

func runServe(ctx context.Context, stderr io.Writer) error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, logging.New(stderr, logging.ParseLevel(cfg.LogLevel)))
}

// serve runs the app until ctx ends (SIGINT/SIGTERM), then stops it within
// SHUTDOWN_TIMEOUT: the server drains, then connections close, in reverse
// start order.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a := app.New(cfg, log)
	startCtx, cancel := context.WithTimeout(ctx, a.StartTimeout())
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	select {
	case <-ctx.Done():
	case sig := <-a.Done():
		log.Info("signal received", slog.String("signal", sig.String()))
	}
	log.Info("shutting down")
	stopCtx, cancelStop := context.WithTimeout(context.Background(), a.StopTimeout())
	defer cancelStop()
	if err := a.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("stopped")
	return nil
}
