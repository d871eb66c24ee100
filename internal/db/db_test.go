package db_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"ward/internal/db"
	"ward/internal/dbtest"
	"ward/internal/stream"
)

func TestMigrateTwiceAndAllocate(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		d, err := db.Open(ctx, b.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		first, err := d.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) == 0 {
			t.Fatal("first migrate applied nothing")
		}
		again, err := d.Migrate(ctx)
		if err != nil || len(again) != 0 {
			t.Fatalf("second migrate: applied %v, err %v", again, err)
		}
		var got []stream.Position
		for i := 0; i < 3; i++ {
			err := d.Tx(ctx, func(tx *sql.Tx) error {
				p, err := stream.Allocate(ctx, tx)
				got = append(got, p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if got[0] != 1 || got[1] != 2 || got[2] != 3 {
			t.Fatalf("positions %v, want 1 2 3", got)
		}
		// A rolled-back allocation does not advance the stream.
		_ = d.Tx(ctx, func(tx *sql.Tx) error {
			_, _ = stream.Allocate(ctx, tx)
			return sql.ErrTxDone
		})
		cur, err := stream.Current(ctx, d.Read)
		if err != nil || cur != 3 {
			t.Fatalf("current %d, err %v; want 3", cur, err)
		}
	})
}

// TestSQLitePathWithURICharacters: a path holding '#', '?' or '%' (a test
// name can put them there) must open that very file with its settings.
func TestSQLitePathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/odd#name?x=1%20.db"
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := d.Read.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q (%v): the URI settings were not applied", mode, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}
