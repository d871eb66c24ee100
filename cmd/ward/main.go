// Command ward is the Ward homeserver: `ward serve`, `ward migrate`,
// `ward admin user create`.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"ward/internal/config"
	"ward/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ward:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := config.Defaults()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := s.Start(s.Handler(nil)); err != nil {
		return err
	}
	log.Info("listening", "addr", s.Addr())
	<-ctx.Done()
	return s.Shutdown(context.Background())
}
