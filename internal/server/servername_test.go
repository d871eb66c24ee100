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

// The server name is in every user ID, so a database whose users were made
// under one name refuses to start under another, naming both; the same
// name (and an empty database under any name) starts as before.
func TestServerNameCannotChangeOnceUsersExist(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))

		// An empty database takes any name.
		cfg := servertest.Config(t, b)
		cfg.ServerName = "other.example"
		s, err := server.New(ctx, cfg, log)
		if err != nil {
			t.Fatalf("empty database under another name: %v", err)
		}
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}

		ts := servertest.Start(t, b, nil) // ward.test
		if _, err := ts.Server.Accounts.CreateUser(ctx, "zed", "password-of-zed", false); err != nil {
			t.Fatal(err)
		}
		ts.Stop()

		cfg = servertest.Config(t, b)
		cfg.ServerName = "clinic.example.org"
		s, err = server.New(ctx, cfg, log)
		if err == nil {
			s.Shutdown(ctx) //nolint:errcheck
			t.Fatal("started under clinic.example.org on a database of @…:ward.test users")
		}
		for _, want := range []string{`"clinic.example.org"`, `"ward.test"`, "cannot change"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %s: %v", want, err)
			}
		}
		// A name that merely ends the same way is another name.
		cfg.ServerName = "test"
		if s, err := server.New(ctx, cfg, log); err == nil {
			s.Shutdown(ctx) //nolint:errcheck
			t.Fatal(`started under "test" on a database of @…:ward.test users`)
		}

		ts.Restart() // the same name still starts
		if _, err := ts.Server.Accounts.CreateUser(ctx, "amy", "password-of-amy", false); err != nil {
			t.Fatal(err)
		}
	})
}
