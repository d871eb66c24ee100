package rooms_test

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/bench"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/rooms"
)

// backends runs fn once on SQLite and once on PostgreSQL (when
// WARD_TEST_POSTGRES is set), each on a fresh server.
func backends(b *testing.B, fn func(b *testing.B, ts *servertest.TS)) {
	b.Run("sqlite", func(b *testing.B) {
		fn(b, servertest.Start(b, dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(b)}, nil))
	})
	b.Run("postgres", func(b *testing.B) {
		fn(b, servertest.Start(b, dbtest.Backend{Name: "postgres", DSN: dbtest.Postgres(b)}, nil))
	})
}

// sender registers a user and creates a private room for it.
func sender(b *testing.B, ts *servertest.TS, name string) (*bench.Client, id.RoomID) {
	b.Helper()
	c, err := bench.RegisterOpen(context.Background(), bench.HTTPClient(), ts.URL, name, "bench password "+name)
	if err != nil {
		b.Fatal(err)
	}
	room, err := ts.Server.Rooms.CreateRoom(context.Background(), id.UserID(c.UserID), rooms.CreateRequest{Preset: "private_chat"})
	if err != nil {
		b.Fatal(err)
	}
	return c, room
}

var benchContent = json.RawMessage(`{"msgtype":"m.text","body":"a message of a typical length for a clinic chat, about eighty bytes"}`)

// BenchmarkSend is the write hot path: build, authorise and persist one
// message event (rooms.Service.Send), one at a time, in one room.
func BenchmarkSend(b *testing.B) {
	backends(b, func(b *testing.B, ts *servertest.TS) {
		c, room := sender(b, ts, "sender")
		ctx := context.Background()
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			if _, err := ts.Server.Rooms.Send(ctx, id.UserID(c.UserID), id.DeviceID(c.DeviceID), room, "m.room.message", benchContent, "t"+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSendParallel sends from 8 goroutines, each into its own room,
// as many clients do at once: it measures the contention of the writers
// (the single SQLite writer, the stream position row lock).
func BenchmarkSendParallel(b *testing.B) {
	backends(b, func(b *testing.B, ts *servertest.TS) {
		const senders = 8
		type s struct {
			c    *bench.Client
			room id.RoomID
		}
		all := make([]s, senders)
		for i := range all {
			all[i].c, all[i].room = sender(b, ts, "sender"+strconv.Itoa(i))
		}
		var next, txn atomic.Int64
		ctx := context.Background()
		b.ReportAllocs()
		b.SetParallelism(max(1, senders/runtimeProcs()))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			me := all[int(next.Add(1)-1)%senders]
			for pb.Next() {
				t := "p" + strconv.FormatInt(txn.Add(1), 10)
				if _, err := ts.Server.Rooms.Send(ctx, id.UserID(me.c.UserID), id.DeviceID(me.c.DeviceID), me.room, "m.room.message", benchContent, t); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
