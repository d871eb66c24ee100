package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// SQLite spends much of its time compiling SQL text into statements: the
// modernc driver prepares every query afresh. cachingDriver keeps each
// connection's statements by their SQL text and reuses them. A statement
// still in use (its rows open while the same query runs again on the same
// connection, as inside a transaction) is not shared: the second use gets
// a fresh, uncached statement.
// The writer's connections also detach each statement from its context
// (see detach.go).
type cachingDriver struct {
	base   *sqlite.Driver
	detach bool
}

const (
	maxCachedStatements = 512
	maxCachedQueryBytes = 8192
)

func init() {
	sql.Register("sqlite-ward", cachingDriver{base: &sqlite.Driver{}})
	sql.Register("sqlite-ward-writer", cachingDriver{base: &sqlite.Driver{}, detach: true})
}

func (d cachingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.base.Open(name)
	if err != nil {
		return nil, err
	}
	return &cachedConn{base: c, stmts: make(map[string]*cachedStmt), detach: d.detach}, nil
}

type cachedConn struct {
	base   driver.Conn
	stmts  map[string]*cachedStmt
	detach bool
}

type cachedStmt struct {
	driver.Stmt
	busy bool
}

// Prepare implements driver.Conn.
func (c *cachedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext implements driver.ConnPrepareContext.
func (c *cachedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if cs := c.stmts[query]; cs != nil && !cs.busy {
		cs.busy = true
		return &stmtHandle{cs: cs, detach: c.detach}, nil
	}
	if c.detach {
		ctx = context.WithoutCancel(ctx)
	}
	st, err := c.base.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs := &cachedStmt{Stmt: st, busy: true}
	if _, exists := c.stmts[query]; exists || len(query) > maxCachedQueryBytes || len(c.stmts) >= maxCachedStatements {
		// Not cached: closing the handle really closes the statement.
		return &stmtHandle{cs: cs, own: true, detach: c.detach}, nil
	}
	c.stmts[query] = cs
	return &stmtHandle{cs: cs, detach: c.detach}, nil
}

// Close implements driver.Conn.
func (c *cachedConn) Close() error {
	var err error
	for q, cs := range c.stmts {
		err = errors.Join(err, cs.Stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(err, c.base.Close())
}

// Begin implements driver.Conn.
func (c *cachedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx implements driver.ConnBeginTx.
func (c *cachedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.detach {
		ctx = context.WithoutCancel(ctx)
	}
	return c.base.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// Ping implements driver.Pinger.
func (c *cachedConn) Ping(ctx context.Context) error {
	return c.base.(driver.Pinger).Ping(ctx)
}

// ResetSession implements driver.SessionResetter.
func (c *cachedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.base.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// IsValid implements driver.Validator.
func (c *cachedConn) IsValid() bool {
	if v, ok := c.base.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// stmtHandle is one use of a cached statement; closing it returns the
// statement to the cache, or closes it when the handle owns it (a
// statement not cached).
type stmtHandle struct {
	cs     *cachedStmt
	closed bool
	own    bool
	detach bool
}

func (h *stmtHandle) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	if h.own {
		return h.cs.Stmt.Close()
	}
	h.cs.busy = false
	return nil
}

func (h *stmtHandle) ctx(ctx context.Context) context.Context {
	if h.detach {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (h *stmtHandle) NumInput() int { return h.cs.NumInput() }

func (h *stmtHandle) Exec(args []driver.Value) (driver.Result, error) {
	return h.cs.Exec(args) //nolint:staticcheck // database/sql uses ExecContext; kept for the interface
}

func (h *stmtHandle) Query(args []driver.Value) (driver.Rows, error) {
	return h.cs.Query(args) //nolint:staticcheck // database/sql uses QueryContext; kept for the interface
}

func (h *stmtHandle) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return h.cs.Stmt.(driver.StmtExecContext).ExecContext(h.ctx(ctx), args)
}

func (h *stmtHandle) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return h.cs.Stmt.(driver.StmtQueryContext).QueryContext(h.ctx(ctx), args)
}
