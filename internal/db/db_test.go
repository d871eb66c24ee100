package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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
		d := openMigrated(t, b.DSN)
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

// TestGroupCommitSurvivesACancelledJob: writes of several clients share one
// transaction, so one client going away in the middle of its statement (its
// request context cancelled) must not undo, or fail, the others' writes in
// the same batch. Drivers react to a cancelled statement by breaking the
// connection (pgx) or interrupting the whole transaction (SQLite).
func TestGroupCommitSurvivesACancelledJob(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		d := openMigrated(t, b.DSN)
		if err := d.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE test_cancel (n INTEGER NOT NULL)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// A slow write: SQLite rolls the whole transaction back when a
		// write statement is interrupted (a read alone would not show it).
		slow := `INSERT INTO test_cancel (n) SELECT 2 FROM (WITH RECURSIVE c(x) AS
			(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) SELECT COUNT(*) FROM c) AS counted`
		if b.Name == "postgres" {
			slow = `INSERT INTO test_cancel (n) SELECT 2 FROM pg_sleep(3)`
		}
		// A first write holds the committer, so that the next two queue
		// and share the following batch: a good one, then one whose client
		// goes away during its statement.
		release := make(chan struct{})
		started := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			_ = d.Tx(ctx, func(tx *sql.Tx) error { close(started); <-release; return nil })
		}()
		<-started
		var goodErr, cancelledErr error
		go func() {
			defer wg.Done()
			goodErr = d.Tx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO test_cancel (n) VALUES (1)`)
				return err
			})
		}()
		time.Sleep(50 * time.Millisecond) // the good write queues first
		gone, cancel := context.WithCancel(ctx)
		go func() {
			defer wg.Done()
			cancelledErr = d.Tx(gone, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(gone, `INSERT INTO test_cancel (n) VALUES (2)`); err != nil {
					return err
				}
				_, err := tx.ExecContext(gone, slow)
				return err
			})
		}()
		time.Sleep(50 * time.Millisecond)
		close(release)
		time.Sleep(200 * time.Millisecond) // into the slow statement
		cancel()
		wg.Wait()
		if goodErr != nil {
			t.Fatalf("the good write failed because another client went away: %v", goodErr)
		}
		var ns []int
		rows, err := d.Read.QueryContext(ctx, `SELECT n FROM test_cancel ORDER BY n`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			ns = append(ns, n)
		}
		rows.Close()
		switch {
		case cancelledErr == nil && len(ns) == 3, cancelledErr != nil && len(ns) == 1 && ns[0] == 1:
		default:
			t.Fatalf("rows %v with the cancelled write's error %v: want the good row, and the other only if it committed", ns, cancelledErr)
		}
		// The database still takes writes.
		if err := d.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO test_cancel (n) VALUES (3)`)
			return err
		}); err != nil {
			t.Fatalf("a later write: %v", err)
		}
	})
}

// openMigrated opens a fresh database with the schema applied, closed when
// the test ends.
func openMigrated(t *testing.T, dsn string) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}
