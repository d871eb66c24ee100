package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
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

// TestGroupCommitIsolatesFailures: many concurrent writes share
// transactions, yet a write that fails (or panics) undoes only its own
// work and every other write commits.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		d, err := db.Open(ctx, b.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		const n = 200
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = d.Tx(ctx, func(tx *sql.Tx) error {
					if _, err := stream.Allocate(ctx, tx); err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, '!r', '@u', 0)`,
						fmt.Sprintf("#a%d", i)); err != nil {
						return err
					}
					switch i % 10 {
					case 3:
						return errors.New("refused")
					case 7:
						panic("boom")
					case 9:
						// A failing statement (duplicate key) inside the batch.
						_, err := tx.ExecContext(ctx, `INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, '!r', '@u', 0)`,
							fmt.Sprintf("#a%d", i))
						return err
					}
					return nil
				})
			}(i)
		}
		wg.Wait()
		want := 0
		for i, err := range errs {
			failing := i%10 == 3 || i%10 == 7 || i%10 == 9
			if failing != (err != nil) {
				t.Fatalf("write %d: err %v", i, err)
			}
			if !failing {
				want++
			}
		}
		var got int
		if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM room_aliases`).Scan(&got); err != nil || got != want {
			t.Fatalf("%d rows committed (%v), want %d", got, err, want)
		}
		cur, err := stream.Current(ctx, d.Read)
		if err != nil || int(cur) != want {
			t.Fatalf("stream position %d, want %d: failed writes must give their positions back", cur, want)
		}
	})
}

// TestConcurrentMigrate: several instances starting at once on a fresh
// database all migrate successfully (PostgreSQL once failed on the
// migrations table itself).
func TestConcurrentMigrate(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				d, err := db.Open(ctx, b.DSN)
				if err != nil {
					errs[i] = err
					return
				}
				defer d.Close()
				_, errs[i] = d.Migrate(ctx)
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		}
	})
}
