package stream

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// WakeChannel is the PostgreSQL notification channel on which the
// instances sharing a database tell each other whom to wake.
const WakeChannel = "ward_wake"

// ListenerName is the application_name of each instance's listening
// connection, so that an operator can find it in pg_stat_activity.
const ListenerName = "ward wake listener"

// maxPayload keeps each notification below PostgreSQL's limit (a payload
// must be shorter than 8000 bytes), with room to spare.
const maxPayload = 7800

// Relay carries wake-ups between the instances that serve one PostgreSQL
// database, through LISTEN/NOTIFY.
//
// A notification's payload is the sending instance's id and then the user
// IDs to wake, one a line. Naming the users, rather than sending a bare
// "something changed", keeps a wake-up as narrow across instances as within
// one: a message to a room of three wakes three syncs on every instance,
// not every sync on every instance (each of which would then read the
// database for nothing). A long list is cut into several notifications.
// The id lets an instance skip its own notifications: it has woken its
// syncs already.
//
// Notifications are sent after the writer's transaction committed, from
// a queue of their own, never inside the write transaction: a transaction
// that notifies takes a database-wide lock at commit, which would
// serialise the writes of every instance behind each other's NOTIFY, and
// wake-ups queued while one notification goes out share the next one. A
// wake-up is not data: if one is lost (the process stops between commit
// and notify, the listener was reconnecting), the data is in the database
// all the same, and the listener wakes every local sync whenever it
// (re)connects, so no sync sleeps its whole timeout through a lost link.
type Relay struct {
	cfg    *pgx.ConnConfig
	pub    *sql.DB
	log    *slog.Logger
	origin string

	mu      sync.Mutex
	pending map[string]struct{}
	kick    chan struct{}
}

// NewRelay returns a relay that listens on its own connection to dsn and
// sends its notifications through pub.
func NewRelay(dsn string, pub *sql.DB, log *slog.Logger) (*Relay, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("wake-up listener: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Relay{
		cfg: cfg, pub: pub, log: log, origin: hex.EncodeToString(b[:]),
		pending: make(map[string]struct{}), kick: make(chan struct{}, 1),
	}, nil
}

// Publish queues a wake-up of users for the other instances.
func (r *Relay) Publish(users []string) {
	r.mu.Lock()
	for _, u := range users {
		r.pending[u] = struct{}{}
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run listens for the other instances' wake-ups and wakes n's syncs, and
// sends the queued ones, until ctx ends; it then sends what is still
// queued and returns.
func (r *Relay) Run(ctx context.Context, n *Notifier) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.listen(ctx, n)
	}()
	r.send(ctx)
	wg.Wait()
}

// send sends the queued wake-ups until ctx ends, then once more.
func (r *Relay) send(ctx context.Context) {
	backoff := newBackoff()
	for {
		select {
		case <-r.kick:
		case <-ctx.Done():
			// The server stops: its last writes' wake-ups still go out.
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := r.flush(last); err != nil {
				r.log.Warn("wake-up relay: last notifications not sent", "error", err)
			}
			return
		}
		if err := r.flush(ctx); err != nil {
			if ctx.Err() != nil {
				continue
			}
			r.log.Warn("wake-up relay: notify failed, will retry", "error", err)
			select {
			case <-time.After(backoff.next()):
			case <-ctx.Done():
			}
			r.again()
			continue
		}
		backoff.reset()
	}
}

// again makes send look at the queue once more.
func (r *Relay) again() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Flush sends everything queued now; on failure the users stay queued. A
// process that wrote without running the relay (an admin command) calls it
// before it closes the database.
func (r *Relay) Flush(ctx context.Context) error { return r.flush(ctx) }

func (r *Relay) flush(ctx context.Context) error {
	r.mu.Lock()
	if len(r.pending) == 0 {
		r.mu.Unlock()
		return nil
	}
	users := make([]string, 0, len(r.pending))
	for u := range r.pending {
		users = append(users, u)
	}
	clear(r.pending)
	r.mu.Unlock()
	payloads := Payloads(r.origin, users)
	// One statement, one round trip, one commit: the notifications arrive
	// together.
	_, err := r.pub.ExecContext(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, WakeChannel, payloads)
	if err != nil {
		r.Publish(users)
		return err
	}
	return nil
}

// Payloads cuts a wake-up of users into notification payloads below
// PostgreSQL's size limit, each starting with the sender's id.
func Payloads(origin string, users []string) []string {
	var out []string
	var b strings.Builder
	for _, u := range users {
		if u == "" || strings.ContainsRune(u, '\n') {
			continue // not a user ID
		}
		if b.Len() > 0 && b.Len()+1+len(u) > maxPayload {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() == 0 {
			b.WriteString(origin)
		}
		b.WriteByte('\n')
		b.WriteString(u)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// listen keeps one connection listening on WakeChannel until ctx ends,
// reconnecting with backoff when it drops.
func (r *Relay) listen(ctx context.Context, n *Notifier) {
	backoff := newBackoff()
	connected := false
	for ctx.Err() == nil {
		err := r.listenOnce(ctx, n, func() {
			if connected {
				r.log.Info("wake-up listener reconnected")
			}
			connected = true
			backoff.reset()
		})
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("wake-up listener lost its connection; syncs on this instance wake late until it is back", "error", err)
		select {
		case <-time.After(backoff.next()):
		case <-ctx.Done():
		}
	}
}

// listenOnce connects, listens and wakes n's syncs until the connection
// fails or ctx ends. up is called once the connection listens.
func (r *Relay) listenOnce(ctx context.Context, n *Notifier, up func()) error {
	conn, err := pgx.ConnectConfig(ctx, r.cfg)
	if err != nil {
		return err
	}
	defer func() {
		closing, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.Close(closing)
	}()
	// The name is set once the connection listens, so that whoever finds it
	// in pg_stat_activity knows it receives.
	if _, err := conn.Exec(ctx, "LISTEN "+WakeChannel+"; SET application_name = '"+ListenerName+"'"); err != nil {
		return err
	}
	up()
	// Whatever was sent while no connection listened is lost: every sync
	// waiting here looks again at the database.
	n.wakeAll()
	for {
		wait, cancel := context.WithTimeout(ctx, 30*time.Second)
		note, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			origin, users, _ := strings.Cut(note.Payload, "\n")
			if origin != r.origin && users != "" {
				n.wakeLocal(strings.Split(users, "\n"))
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet for a while: make sure the connection is still there,
			// since a silently dropped one would never report.
			ping, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(ping)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		default:
			return err
		}
	}
}

// backoff doubles a wait from 100ms up to 10s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) next() time.Duration {
	d := b.d
	b.d = min(2*b.d, 10*time.Second)
	return d
}

func (b *backoff) reset() { b.d = 100 * time.Millisecond }
