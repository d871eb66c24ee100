package policy_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// logLines collects a server's log.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), `msg="`+msg+`"`)
}

// TestOneInstanceMakesEachRemoval: with two instances on one PostgreSQL
// database, both working the recheck queue, an unassignment takes the
// provider out once, and only one instance says it did.
func TestOneInstanceMakesEachRemoval(t *testing.T) {
	b := dbtest.Backend{Name: "postgres", DSN: dbtest.Postgres(t)}
	c := startClinic(t, b)
	var logB logLines
	servertest.StartLogged(t, b, slog.New(slog.NewTextHandler(&logB, nil)), func(cfg *config.Config) { cfg.Policy = "on" })
	var logA logLines
	c.ts.Stop()
	c.ts = servertest.StartLogged(t, b, slog.New(slog.NewTextHandler(&logA, nil)), func(cfg *config.Config) {
		cfg.Policy = "on"
		cfg.Listen = c.ts.Config.Listen
	})

	ctx := context.Background()
	room := c.dm(t, "pat1", "doc1")
	must(t, c.ts.Server.Policy.Unassign(ctx, c.id("doc1"), c.id("pat1")))
	pg, err := sql.Open("pgx", b.DSN)
	must(t, err)
	defer pg.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var queued int
		must(t, pg.QueryRow(`SELECT COUNT(*) FROM policy_recheck`).Scan(&queued))
		var m event.MemberEventContent
		err := c.users["pat1"].StateEvent(ctx, room, event.StateMember, string(c.id("doc1")), &m)
		if queued == 0 && err == nil && m.Membership == event.MembershipLeave {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("provider not removed after unassignment (%d queued, %v, %q)", queued, err, m.Membership)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Let both instances look at the (now empty) queue once more.
	time.Sleep(2 * time.Second)
	const msg = "policy removed user from room"
	if a, b := logA.count(msg), logB.count(msg); a+b != 1 {
		t.Errorf("%q logged %d times by the first instance and %d by the second, want once in all", msg, a, b)
	}
}
