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

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
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

// Open connects to dsn: a PostgreSQL URL or key/value DSN, or a path to a
// SQLite file (created with its folder when missing).
func Open(ctx context.Context, dsn string) (*DB, error) {
	if IsPostgres(dsn) {
		// Two pools: writers queue on the stream lock, and a reader must
		// never wait for a connection held by such a writer (nor a writer
		// that holds the lock for a reader's connection).
		open := func(n int) (*sql.DB, error) {
			pool, err := sql.Open("pgx", dsn)
			if err != nil {
				return nil, fmt.Errorf("open postgres: %w", err)
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
		write, err := open(10)
		if err != nil {
			return nil, err
		}
		read, err := open(20)
		if err != nil {
			write.Close()
			return nil, err
		}
		return &DB{Read: read, write: write, Dialect: Postgres}, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite://")
	path = strings.TrimPrefix(path, "file:")
	if path == "" {
		return nil, errors.New("database: empty SQLite path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database folder: %w", err)
		}
	}
	// synchronous(FULL): a commit is on disk before the client hears 200.
	params := "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)&_txlock=immediate"
	// The path goes into a file: URI: escape what would end or alter it.
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	write, err := sql.Open("sqlite-ward", "file:"+path+params)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := write.PingContext(ctx); err != nil {
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
	if db.Dialect == Postgres {
		// Take the stream position lock before any job takes a room lock,
		// so that batches of several instances always lock in one order
		// and can never deadlock (a job locks a room, then allocates).
		if _, err := tx.ExecContext(ctx, `SELECT pos FROM stream_position WHERE id = 1 FOR UPDATE`); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("lock stream position: %w", err))
			return
		}
	}
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
		if _, err := tx.ExecContext(ctx, "SAVEPOINT ward_job"); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("savepoint: %w", err))
			return
		}
		if results[i] = runJob(j.fn, tx); results[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ward_job"); err != nil {
				_ = tx.Rollback()
				finish(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		} else {
			ok++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT ward_job"); err != nil {
			_ = tx.Rollback()
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		finish(nil)
		return
	}
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("commit: %w", err))
		return
	}
	finish(nil)
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
