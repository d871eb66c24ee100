// Package stream owns Ward's one stream position: a counter that every
// write a client must hear about through /sync (an event, a receipt, an
// account-data change, a to-device message, a device-list change) takes a
// value from, and the notifier that wakes the long-polling /sync requests
// that care. On PostgreSQL the notifier's wake-ups also reach the other
// instances serving the same database (Relay, through LISTEN/NOTIFY).
//
// Positions are given out inside the writer's transaction: a group-commit
// batch reads the row under lock once and counts in memory (see
// db.AllocatePositions); any other transaction updates the row. The row
// stays locked until commit (PostgreSQL) or the single writer holds it
// (SQLite), so positions become visible in the order they were given out:
// a reader that has seen position N has seen everything below N.
package stream

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"ward/internal/db"
)

// Position is a point in the server's one stream.
type Position int64

// Allocate takes the next stream position inside tx.
func Allocate(ctx context.Context, tx *sql.Tx) (Position, error) {
	if p, ok := db.AllocatePositions(tx, 1); ok {
		return Position(p), nil
	}
	var p Position
	err := tx.QueryRowContext(ctx, `UPDATE stream_position SET pos = pos + 1 WHERE id = 1 RETURNING pos`).Scan(&p)
	if err != nil {
		return 0, fmt.Errorf("allocate stream position: %w", err)
	}
	return p, nil
}

// Current reads the latest committed position.
func Current(ctx context.Context, q db.Querier) (Position, error) {
	var p Position
	if err := q.QueryRowContext(ctx, `SELECT pos FROM stream_position WHERE id = 1`).Scan(&p); err != nil {
		return 0, fmt.Errorf("read stream position: %w", err)
	}
	return p, nil
}

// Notifier wakes waiting /sync requests. Writers call Wake after their
// transaction committed, naming the users whose sync output changed.
type Notifier struct {
	mu      sync.Mutex
	waiters map[string]map[*waiter]struct{}
	total   int
	// others carries each wake-up to the other instances serving the same
	// database; nil when this process is the only one (SQLite).
	others Publisher
}

// Publisher carries wake-ups to the other instances that share the
// database, so that a write through one wakes the syncs waiting on another.
type Publisher interface {
	Publish(users []string)
}

type waiter struct{ ch chan struct{} }

// NewNotifier returns an empty notifier for a server that is the only one
// on its database.
func NewNotifier() *Notifier {
	return NewSharedNotifier(nil)
}

// NewSharedNotifier returns an empty notifier whose wake-ups others also
// carries to the other instances on the same database.
func NewSharedNotifier(others Publisher) *Notifier {
	return &Notifier{waiters: make(map[string]map[*waiter]struct{}), others: others}
}

// Wake wakes every waiting sync of the named users, here and on the other
// instances.
func (n *Notifier) Wake(users ...string) {
	if len(users) == 0 {
		return
	}
	n.wakeLocal(users)
	if n.others != nil {
		n.others.Publish(users)
	}
}

// wakeLocal wakes the named users' syncs waiting in this process only.
func (n *Notifier) wakeLocal(users []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, u := range users {
		for w := range n.waiters[u] {
			close(w.ch)
			delete(n.waiters[u], w)
			n.total--
		}
		if len(n.waiters[u]) == 0 {
			delete(n.waiters, u)
		}
	}
}

// wakeAll wakes every sync waiting in this process: each rebuilds its
// response from the database, and waits again if nothing is new.
func (n *Notifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for u, set := range n.waiters {
		for w := range set {
			close(w.ch)
		}
		delete(n.waiters, u)
	}
	n.total = 0
}

// Listen registers a waiter for user and returns a channel that is closed on
// the next Wake for that user, and a cancel function that must be called if
// the caller stops waiting before that. Register before checking for new
// data, so that a write between the check and the wait is not missed.
func (n *Notifier) Listen(user string) (<-chan struct{}, func()) {
	w := &waiter{ch: make(chan struct{})}
	n.mu.Lock()
	if n.waiters[user] == nil {
		n.waiters[user] = make(map[*waiter]struct{})
	}
	n.waiters[user][w] = struct{}{}
	n.total++
	n.mu.Unlock()
	return w.ch, func() {
		n.mu.Lock()
		if set, ok := n.waiters[user]; ok {
			if _, ok := set[w]; ok {
				delete(set, w)
				n.total--
				if len(set) == 0 {
					delete(n.waiters, user)
				}
			}
		}
		n.mu.Unlock()
	}
}

// Waiting reports how many syncs are waiting, for metrics.
func (n *Notifier) Waiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.total
}
