package db

import (
	"context"
	"database/sql/driver"
	"errors"
)

// Writes of many clients share one transaction (group commit), but each
// job's statements carry its own client's context. A client that goes away
// in the middle of a statement cancels that context, and the drivers answer
// a cancelled statement by breaking the connection (pgx) or interrupting
// the whole transaction (SQLite): every other client's write in the batch
// would be lost with it. So the writer's connections run each statement to
// its end whatever happens to the context it was given; database/sql still
// refuses the job's next statement once its context is done, and the job's
// savepoint undoes its own work alone.

// detachedConnector opens writer connections that ignore cancellation.
type detachedConnector struct{ base driver.Connector }

func (c detachedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &detachedConn{base: conn}, nil
}

func (c detachedConnector) Driver() driver.Driver { return c.base.Driver() }

// detachedConn forwards to a driver connection that runs statements itself
// (pgx's: ExecerContext, QueryerContext), detaching each statement's context.
type detachedConn struct{ base driver.Conn }

var errNoContextMethods = errors.New("db: the writer's driver lacks context-aware methods")

func (c *detachedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *detachedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	p, ok := c.base.(driver.ConnPrepareContext)
	if !ok {
		return nil, errNoContextMethods
	}
	st, err := p.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	return &stmtHandle{cs: &cachedStmt{Stmt: st, busy: true}, own: true, detach: true}, nil
}

func (c *detachedConn) Close() error { return c.base.Close() }

func (c *detachedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *detachedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.base.(driver.ConnBeginTx)
	if !ok {
		return nil, errNoContextMethods
	}
	return b.BeginTx(context.WithoutCancel(ctx), opts)
}

func (c *detachedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.base.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return e.ExecContext(context.WithoutCancel(ctx), query, args)
}

func (c *detachedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.base.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return q.QueryContext(context.WithoutCancel(ctx), query, args)
}

func (c *detachedConn) Ping(ctx context.Context) error {
	if p, ok := c.base.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *detachedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.base.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *detachedConn) IsValid() bool {
	if v, ok := c.base.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// CheckNamedValue lets the driver convert arguments as it would unwrapped.
func (c *detachedConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.base.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
