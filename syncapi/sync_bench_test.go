package syncapi_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/bench"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/rooms"
	"ward/syncapi"
)

func benchBackends(b *testing.B, fn func(b *testing.B, ts *servertest.TS)) {
	b.Run("sqlite", func(b *testing.B) {
		fn(b, servertest.Start(b, dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(b)}, nil))
	})
	b.Run("postgres", func(b *testing.B) {
		fn(b, servertest.Start(b, dbtest.Backend{Name: "postgres", DSN: dbtest.Postgres(b)}, nil))
	})
}

// filled registers a user in n private rooms holding k messages each.
func filled(b *testing.B, ts *servertest.TS, n, k int) (id.UserID, id.DeviceID, []id.RoomID) {
	b.Helper()
	ctx := context.Background()
	c, err := bench.RegisterOpen(ctx, bench.HTTPClient(), ts.URL, "syncer", "bench password syncer")
	if err != nil {
		b.Fatal(err)
	}
	user, dev := id.UserID(c.UserID), id.DeviceID(c.DeviceID)
	var all []id.RoomID
	for r := range n {
		room, err := ts.Server.Rooms.CreateRoom(ctx, user, rooms.CreateRequest{Preset: "private_chat"})
		if err != nil {
			b.Fatal(err)
		}
		for m := range k {
			body := json.RawMessage(`{"msgtype":"m.text","body":"message ` + strconv.Itoa(m) + `"}`)
			if _, err := ts.Server.Rooms.Send(ctx, user, dev, room, "m.room.message", body, "f"+strconv.Itoa(r)+"-"+strconv.Itoa(m)); err != nil {
				b.Fatal(err)
			}
		}
		all = append(all, room)
	}
	return user, dev, all
}

// BenchmarkSyncOneRoom is the read hot path: the incremental /sync
// (syncapi.Service.Sync) of a user in one room after one new message.
func BenchmarkSyncOneRoom(b *testing.B) {
	benchBackends(b, func(b *testing.B, ts *servertest.TS) {
		ctx := context.Background()
		user, dev, rs := filled(b, ts, 1, 20)
		first, err := ts.Server.Sync.Sync(ctx, syncapi.Request{User: user, Device: dev})
		if err != nil {
			b.Fatal(err)
		}
		since, err := syncapi.ParseToken(first.NextBatch)
		if err != nil {
			b.Fatal(err)
		}
		// One message past since: every iteration syncs the same news.
		if _, err := ts.Server.Rooms.Send(ctx, user, dev, rs[0], "m.room.message", json.RawMessage(`{"msgtype":"m.text","body":"new"}`), "new"); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := ts.Server.Sync.Sync(ctx, syncapi.Request{User: user, Device: dev, Since: &since})
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.Rooms.Join) != 1 {
				b.Fatalf("joined rooms in the sync: %d", len(resp.Rooms.Join))
			}
		}
	})
}

// BenchmarkInitialSync is a phone coming back: the initial /sync of a user
// in 50 rooms of 20 messages each (the initialsync scenario, in
// process, without HTTP).
func BenchmarkInitialSync(b *testing.B) {
	benchBackends(b, func(b *testing.B, ts *servertest.TS) {
		ctx := context.Background()
		user, dev, _ := filled(b, ts, 50, 20)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := ts.Server.Sync.Sync(ctx, syncapi.Request{User: user, Device: dev})
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.Rooms.Join) != 50 {
				b.Fatalf("joined rooms in the sync: %d", len(resp.Rooms.Join))
			}
		}
	})
}
