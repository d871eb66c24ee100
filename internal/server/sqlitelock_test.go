package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server"
	"ward/internal/server/servertest"
)

// TestOneServerPerSQLiteFile: a second `ward serve` on the same SQLite file
// refuses to start, saying why; once the first stops, it starts.
func TestOneServerPerSQLiteFile(t *testing.T) {
	b := dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(t)}
	first := servertest.Start(t, b, nil)
	cfg := first.Config
	cfg.Listen = "127.0.0.1:0"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	second, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start(second.Handler(nil))
	if err == nil || !strings.Contains(err.Error(), "already using the database") {
		t.Fatalf("second server on the same SQLite file: %v", err)
	}
	_ = second.Shutdown(context.Background())
	first.Stop()
	third, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := third.Start(third.Handler(nil)); err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	_ = third.Shutdown(context.Background())
}
