// Package servertest starts a real Ward server on a loopback port with a
// fresh database for black-box tests, and logs real clients into it.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server"
)

// TS is a running test server.
type TS struct {
	t       testing.TB
	Config  config.Config
	Server  *server.Server
	URL     string
	Backend dbtest.Backend
	// log, when set, receives the server's log instead of logger().
	log *slog.Logger
}

// Config returns the configuration tests start from: open registration, a
// known shared secret, a free loopback port.
func Config(t testing.TB, b dbtest.Backend) config.Config {
	cfg := config.Defaults()
	cfg.ServerName = "ward.test"
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = b.DSN
	cfg.DataDir = t.TempDir()
	cfg.Registration = "open"
	// The core suite runs as plain Matrix; the policy's own tests turn it on.
	cfg.Policy = "off"
	cfg.RegistrationSharedSecret = "test-shared-secret"
	cfg.RateLimitPerSecond = 1000
	cfg.RateLimitBurst = 1000
	return cfg
}

// Start starts a server on backend b; mutate, when given, adjusts the
// configuration first. The server stops when the test ends.
func Start(t testing.TB, b dbtest.Backend, mutate func(*config.Config)) *TS {
	t.Helper()
	cfg := Config(t, b)
	if mutate != nil {
		mutate(&cfg)
	}
	ts := &TS{t: t, Config: cfg, Backend: b}
	ts.start()
	t.Cleanup(ts.Stop)
	return ts
}

// StartLogged is Start with the server's log going to log, for tests
// that check what the server logs.
func StartLogged(t testing.TB, b dbtest.Backend, log *slog.Logger, mutate func(*config.Config)) *TS {
	t.Helper()
	cfg := Config(t, b)
	if mutate != nil {
		mutate(&cfg)
	}
	ts := &TS{t: t, Config: cfg, Backend: b, log: log}
	ts.start()
	t.Cleanup(ts.Stop)
	return ts
}

func logger() *slog.Logger {
	if os.Getenv("WARD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (ts *TS) start() {
	ts.t.Helper()
	log := ts.log
	if log == nil {
		log = logger()
	}
	s, err := server.New(context.Background(), ts.Config, log)
	if err != nil {
		ts.t.Fatalf("start server: %v", err)
	}
	if err := s.Start(s.Handler(nil)); err != nil {
		ts.t.Fatalf("start server: %v", err)
	}
	ts.Server = s
	ts.URL = s.URL()
	// Keep the same address across restarts.
	ts.Config.Listen = s.Addr()
}

// Stop shuts the server down (idempotent).
func (ts *TS) Stop() {
	if ts.Server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Server.Shutdown(ctx); err != nil {
		ts.t.Logf("shutdown: %v", err)
	}
	ts.Server = nil
}

// Restart stops the server and starts a new one on the same database and
// address, as an operator's restart would.
func (ts *TS) Restart() {
	ts.t.Helper()
	ts.Stop()
	ts.start()
}
