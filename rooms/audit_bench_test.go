package rooms_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/bench"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/rooms"
)

// BenchmarkSendAudit is the cost of the audit trail on the write hot path:
// rooms.Service.Send with the server's audit recorder wired (audit=on) and
// with no Auditor (audit=off), otherwise built alike, each on a fresh
// server; one sender, and 8 senders each in its own room at once. The
// README's "Audit trail" section records the figures.
func BenchmarkSendAudit(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			for _, audited := range []bool{false, true} {
				name := "audit=off"
				if audited {
					name = "audit=on"
				}
				b.Run(name+"/senders=1", func(b *testing.B) { sendAudit(b, backend, audited, 1) })
				b.Run(name+"/senders=8", func(b *testing.B) { sendAudit(b, backend, audited, 8) })
			}
		})
	}
}

// auditService is a rooms service on ts's database built as the server
// builds its own, with the server's recorder when audited and none
// otherwise.
func auditService(b *testing.B, ts *servertest.TS, audited bool) *rooms.Service {
	b.Helper()
	opts := rooms.Options{
		ServerName: ts.Config.ServerName, DefaultRoomVersion: ts.Config.DefaultRoomVersion, Profiles: ts.Server.Accounts,
		Log: ts.Server.Log, Observer: ts.Server.Media,
	}
	if audited {
		opts.Audit = ts.Server.Audit
	}
	svc, err := rooms.New(context.Background(), ts.Server.DB, ts.Server.Notifier, opts)
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

func sendAudit(b *testing.B, backend string, audited bool, senders int) {
	be := dbtest.Backend{Name: backend}
	if backend == "sqlite" {
		be.DSN = dbtest.SQLite(b)
	} else {
		be.DSN = dbtest.Postgres(b)
	}
	ts := servertest.Start(b, be, nil)
	svc := auditService(b, ts, audited)
	type s struct {
		c    *bench.Client
		room id.RoomID
	}
	all := make([]s, senders)
	for i := range all {
		all[i].c, all[i].room = sender(b, ts, "sender"+strconv.Itoa(i))
	}
	ctx := context.Background()
	var next, txn atomic.Int64
	b.ReportAllocs()
	if senders == 1 {
		me := all[0]
		for b.Loop() {
			t := "t" + strconv.FormatInt(txn.Add(1), 10)
			if _, err := svc.Send(ctx, id.UserID(me.c.UserID), id.DeviceID(me.c.DeviceID), me.room, "m.room.message", benchContent, t); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(max(1, senders/runtimeProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		me := all[int(next.Add(1)-1)%senders]
		for pb.Next() {
			t := "p" + strconv.FormatInt(txn.Add(1), 10)
			if _, err := svc.Send(ctx, id.UserID(me.c.UserID), id.DeviceID(me.c.DeviceID), me.room, "m.room.message", benchContent, t); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
