package syncapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/internal/stream"
)

// twoInstances starts two servers on one fresh PostgreSQL database, as two
// `ward serve` behind a load balancer (README: "Running on PostgreSQL"),
// and waits until both listen for each other's wake-ups.
func twoInstances(t *testing.T) (a, b *servertest.TS, pg *sql.DB) {
	t.Helper()
	backend := dbtest.Backend{Name: "postgres", DSN: dbtest.Postgres(t)}
	a = servertest.Start(t, backend, nil)
	b = servertest.Start(t, backend, nil)
	pg, err := sql.Open("pgx", backend.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	waitListeners(t, pg, nil)
	return a, b, pg
}

// listeners returns the backend pids of the wake-up listeners on the
// database (the name is set once a connection listens).
func listeners(t *testing.T, pg *sql.DB) []int {
	t.Helper()
	rows, err := pg.Query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
		stream.ListenerName)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return pids
}

// waitListeners waits until two listeners other than the gone ones listen.
func waitListeners(t *testing.T, pg *sql.DB, gone []int) []int {
	t.Helper()
	for range 300 {
		pids := slices.DeleteFunc(listeners(t, pg), func(p int) bool { return slices.Contains(gone, p) })
		if len(pids) == 2 {
			return pids
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the two instances' wake-up listeners did not come up")
	return nil
}

// waitParked waits until a sync is waiting on ts, so that what wakes it is
// the write that follows.
func waitParked(t *testing.T, ts *servertest.TS) {
	t.Helper()
	for range 300 {
		if ts.Server.Notifier.Waiting() > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the long-poll never waited")
}

// checkWakesAcross long-polls /sync as bob on b while alice sends through
// a: the sync must return with the message, without waiting out its
// timeout (spec: GET /sync, "timeout").
func checkWakesAcross(t *testing.T, a, b *servertest.TS, alice, bobOnB *mautrix.Client, room id.RoomID) {
	t.Helper()
	since := rawSync(t, bobOnB, "", 0, "").NextBatch
	const timeout = 30 * time.Second
	type result struct {
		resp    *mautrix.RespSync
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		resp := rawSync(t, bobOnB, since, timeout, "")
		done <- result{resp, time.Since(start)}
	}()
	waitParked(t, b)
	sent, err := alice.SendText(context.Background(), room, "through the other instance")
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.elapsed >= timeout {
		t.Errorf("the sync on the second instance waited out its whole timeout (%v)", r.elapsed)
	}
	jr := r.resp.Rooms.Join[room]
	if jr == nil || len(jr.Timeline.Events) == 0 || jr.Timeline.Events[len(jr.Timeline.Events)-1].ID != sent.EventID {
		raw, _ := json.Marshal(r.resp)
		t.Fatalf("the sync on the second instance returned without the message: %s", raw)
	}
}

// onInstance is cli's session, talking to ts instead.
func onInstance(t *testing.T, ts *servertest.TS, cli *mautrix.Client) *mautrix.Client {
	t.Helper()
	other, err := mautrix.NewClient(ts.URL, cli.UserID, cli.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	other.DeviceID = cli.DeviceID
	return other
}

// TestLongPollWakesAcrossInstances: with two instances on one database, a
// message sent through one wakes a /sync waiting on the other.
func TestLongPollWakesAcrossInstances(t *testing.T) {
	a, b, _ := twoInstances(t)
	alice, bob, room := setupDM(t, a)
	checkWakesAcross(t, a, b, alice, onInstance(t, b, bob), room)
}

// TestWakeListenerReconnects: when the database ends the listening
// connections, each instance reconnects and wake-ups cross again.
func TestWakeListenerReconnects(t *testing.T) {
	a, b, pg := twoInstances(t)
	alice, bob, room := setupDM(t, a)
	bobOnB := onInstance(t, b, bob)
	checkWakesAcross(t, a, b, alice, bobOnB, room)

	old := listeners(t, pg)
	for _, pid := range old {
		var ok bool
		if err := pg.QueryRow(`SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("terminate listener %d: %v %v", pid, ok, err)
		}
	}
	waitListeners(t, pg, old)
	checkWakesAcross(t, a, b, alice, bobOnB, room)
}
