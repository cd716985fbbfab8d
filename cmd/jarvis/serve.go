package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/jarvis-core/jarvis/internal/app"
	"github.com/jarvis-core/jarvis/internal/config"
	"github.com/jarvis-core/jarvis/internal/logging"
)

func runServe(ctx context.Context, stderr io.Writer) error {
	return serve(ctx, config.Environ(), stderr)
}

// serve runs the app configured by src, logging to w, until ctx ends
// (SIGINT/SIGTERM), then stops it within SHUTDOWN_TIMEOUT: the server
// drains, then connections close, in reverse start order.
func serve(ctx context.Context, src config.Source, w io.Writer) error {
	// A bad LOG_LEVEL is reported by the app with every other bad variable;
	// meanwhile the zero Config logs at info.
	lc, _ := config.Load[logging.Config](src)
	log := logging.New(w, lc.Level)
	a := app.New(src, log)
	if err := a.Err(); err != nil {
		return startError(err)
	}
	startCtx, cancel := context.WithTimeout(ctx, a.StartTimeout())
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		return startError(err)
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

// startError shows a bad configuration as the list of bad variables alone,
// without fx's account of where in the wiring it was found.
func startError(err error) error {
	var ce *config.Error
	if errors.As(err, &ce) {
		return ce
	}
	return fmt.Errorf("start: %w", err)
}
