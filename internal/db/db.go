// Package db opens Ward's database — PostgreSQL through pgx/v5 or SQLite
// through modernc.org/sqlite — applies the embedded migrations and runs
// write transactions. It owns no tables: each domain package keeps its own
// queries beside the code that uses them, written once for both dialects
// ($1-style placeholders work on both).
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"           // registers "sqlite"
)

// Dialect says which SQL engine is behind a DB.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DB is the one database handle the server shares.
//
// Reads go through Read. Writes go through Tx, which on SQLite uses a
// separate single-connection pool so that there is exactly one writer and
// readers never wait for it (WAL mode).
type DB struct {
	Read    *sql.DB
	write   *sql.DB
	Dialect Dialect

	committerOnce sync.Once
	jobs          chan *txJob
	closed        chan struct{}
	closeOnce     sync.Once
	committers    sync.WaitGroup
}

// IsPostgres reports whether a database setting names PostgreSQL rather than
// a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") ||
		strings.Contains(dsn, "host=") || strings.Contains(dsn, "dbname=")
}

// SQLitePath is the file a SQLite database setting names, as written
// (relative paths are relative to the current folder); "" for PostgreSQL.
func SQLitePath(dsn string) string {
	if IsPostgres(dsn) {
		return ""
	}
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "file:")
}

// Open connects to dsn: a PostgreSQL URL or key/value DSN, or a path to a
// SQLite file (created with its folder when missing).
func Open(ctx context.Context, dsn string) (*DB, error) {
	if IsPostgres(dsn) {
		// Two pools: writers queue on the stream lock, and a reader must
		// never wait for a connection held by such a writer (nor a writer
		// that holds the lock for a reader's connection).
		open := func(n int, writer bool) (*sql.DB, error) {
			var pool *sql.DB
			if writer {
				// The writer runs every statement to its end (detach.go).
				cfg, err := pgx.ParseConfig(dsn)
				if err != nil {
					return nil, fmt.Errorf("open postgres: %w", err)
				}
				pool = sql.OpenDB(detachedConnector{base: stdlib.GetConnector(*cfg)})
			} else {
				var err error
				if pool, err = sql.Open("pgx", dsn); err != nil {
					return nil, fmt.Errorf("open postgres: %w", err)
				}
			}
			pool.SetMaxOpenConns(n)
			pool.SetMaxIdleConns(n)
			pool.SetConnMaxIdleTime(5 * time.Minute)
			if err := pool.PingContext(ctx); err != nil {
				pool.Close()
				return nil, fmt.Errorf("connect to postgres: %w", err)
			}
			return pool, nil
		}
		write, err := open(10, true)
		if err != nil {
			return nil, err
		}
		read, err := open(20, false)
		if err != nil {
			write.Close()
			return nil, err
		}
		return &DB{Read: read, write: write, Dialect: Postgres}, nil
	}
	path := SQLitePath(dsn)
	if path == "" {
		return nil, errors.New("database: empty SQLite path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database folder: %w", err)
		}
	}
	// synchronous(FULL): a commit is on disk before the client hears 200.
	params := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)&_txlock=immediate"
	// The path goes into a file: URI: escape what would end or alter it.
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	write, err := sql.Open("sqlite-ward-writer", "file:"+path+params)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := pingSQLite(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	readParams := strings.Replace(params, "_txlock=immediate", "_txlock=deferred", 1)
	read, err := sql.Open("sqlite-ward", "file:"+path+readParams)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	return &DB{Read: read, write: write, Dialect: SQLite}, nil
}

// pingSQLite opens the first connection. Switching a new file to WAL
// takes a lock that another process opening the same file at that moment
// (the server and an admin command, say) may hold, and SQLite then answers
// SQLITE_BUSY at once, without waiting out busy_timeout: try again for as
// long as busy_timeout would have waited.
func pingSQLite(ctx context.Context, pool *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := pool.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close closes both pools.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.committerOnce.Do(func() {}) // no committer may start after this
		if db.closed == nil {
			db.closed = make(chan struct{})
		}
		close(db.closed)
	})
	db.committers.Wait()
	err := db.Read.Close()
	if db.write != db.Read {
		err = errors.Join(err, db.write.Close())
	}
	return err
}

// Stats reports the pool statistics of the writer and the readers, for metrics.
func (db *DB) Stats() (write, read sql.DBStats) {
	return db.write.Stats(), db.Read.Stats()
}

// Tx runs fn in a write transaction and returns once that transaction
// committed (nil) or fn's work was undone (fn's error). The caller answers
// its client only after Tx returned nil: then the data is committed.
//
// Writes are group-committed: while one transaction commits, the writes
// that arrive queue up, and the next transaction runs them all, each
// inside its own savepoint, so that one failing write undoes only its own
// work. One commit (one fsync on SQLite) then serves many clients. fn must
// not call Tx itself, and may run on another goroutine than the caller's.
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.startCommitter()
	j := &txJob{fn: fn, done: make(chan error, 1)}
	select {
	case db.jobs <- j:
	case <-db.closed:
		return errors.New("database is closed")
	}
	return <-j.done
}

// plainTx runs fn in its own transaction, outside group commit.
func (db *DB) plainTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

type txJob struct {
	fn   func(tx *sql.Tx) error
	done chan error
}

// maxBatch bounds how many writes share one transaction.
const maxBatch = 64

func (db *DB) startCommitter() {
	db.committerOnce.Do(func() {
		db.jobs = make(chan *txJob)
		if db.closed == nil {
			db.closed = make(chan struct{})
		}
		// One committer: batches run one after the other (SQLite has a
		// single writer anyway; on PostgreSQL every batch takes the stream
		// position lock first, see runBatch).
		db.committers.Add(1)
		go db.commitLoop()
	})
}

func (db *DB) commitLoop() {
	defer db.committers.Done()
	for {
		var first *txJob
		select {
		case first = <-db.jobs:
		case <-db.closed:
			return
		}
		batch := []*txJob{first}
	gather:
		for len(batch) < maxBatch {
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		db.runBatch(batch)
	}
}

// runBatch runs the jobs in one transaction and tells each its outcome.
func (db *DB) runBatch(batch []*txJob) {
	ctx := context.Background()
	results := make([]error, len(batch))
	finish := func(commitErr error) {
		for i, j := range batch {
			if results[i] == nil && commitErr != nil {
				results[i] = commitErr
			}
			j.done <- results[i]
		}
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("begin: %w", err))
		return
	}
	// The batch reads the stream position once (on PostgreSQL taking its
	// row lock before any job takes a room lock, so that batches of several
	// instances always lock in one order and can never deadlock; on SQLite
	// the immediate transaction already holds the one write lock). Jobs
	// then count positions in memory (AllocatePositions) and the batch
	// writes the last one before it commits: one statement per batch, not
	// one per event.
	lock := `SELECT pos FROM stream_position WHERE id = 1`
	if db.Dialect == Postgres {
		lock += ` FOR UPDATE`
	}
	st := &batchState{}
	if err := tx.QueryRowContext(ctx, lock).Scan(&st.start); err != nil {
		_ = tx.Rollback()
		finish(fmt.Errorf("lock stream position: %w", err))
		return
	}
	st.last = st.start
	batches.Store(tx, st)
	defer batches.Delete(tx)
	single := len(batch) == 1
	ok := 0
	for i, j := range batch {
		if single {
			results[i] = runJob(j.fn, tx)
			if results[i] != nil {
				_ = tx.Rollback()
				finish(nil)
				return
			}
			ok++
			continue
		}
		// Every job runs in a savepoint, so that a failing job undoes only
		// its own work. On PostgreSQL the release of one job's savepoint and
		// the next one's start go in one round trip.
		sp := "SAVEPOINT ward_job"
		if i > 0 && db.Dialect == Postgres {
			sp = "RELEASE SAVEPOINT ward_job; SAVEPOINT ward_job"
		}
		if _, err := tx.ExecContext(ctx, sp); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("savepoint: %w", err))
			return
		}
		before := st.last
		if results[i] = runJob(j.fn, tx); results[i] != nil {
			st.last = before // the job's positions go back with its work
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ward_job"); err != nil {
				_ = tx.Rollback()
				finish(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		} else {
			ok++
		}
		if db.Dialect != Postgres || i == len(batch)-1 {
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT ward_job"); err != nil {
				_ = tx.Rollback()
				finish(fmt.Errorf("release savepoint: %w", err))
				return
			}
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		finish(nil)
		return
	}
	if st.last != st.start {
		if _, err := tx.ExecContext(ctx, `UPDATE stream_position SET pos = $1 WHERE id = 1`, st.last); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("store stream position: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("commit: %w", err))
		return
	}
	finish(nil)
}

// batches maps each group-commit transaction in flight to its batch.
var batches sync.Map // *sql.Tx -> *batchState

// batchState is what a group-commit transaction knows of the stream
// position: the committed one it read under lock, and the last one given
// out since. Only the committer's goroutine touches it.
type batchState struct{ start, last int64 }

// AllocatePositions takes n consecutive stream positions for a write in a
// transaction of Tx and returns the first. The batch holds the position's
// lock (or SQLite's one write lock) and stores the last position before it
// commits. A job whose savepoint is rolled back gives its positions back,
// as the row update it replaces would have. ok is false for a
// transaction that is not Tx's; the caller then updates the row itself.
func AllocatePositions(tx *sql.Tx, n int64) (first int64, ok bool) {
	v, found := batches.Load(tx)
	if !found || n < 1 {
		return 0, false
	}
	st := v.(*batchState)
	first = st.last + 1
	st.last += n
	return first, true
}

// runJob runs fn, turning a panic into an error so that one bad write
// cannot take the committer (and every other writer) down.
func runJob(fn func(tx *sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write transaction: %v", p)
		}
	}()
	return fn(tx)
}

// Querier is what both *sql.DB and *sql.Tx offer, so that a store helper can
// run inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// IsUniqueViolation reports whether err is a unique or primary key
// constraint failure on either backend.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") ||
		strings.Contains(s, "duplicate key value")
}
