package clientapi_test

import (
	"testing"
	"time"

	"ward/audit"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestAuditProfileChange: a new display name, which sends join → join
// member events into the user's rooms, is recorded as room.profile, not as
// a join.
func TestAuditProfileChange(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(map[string]any{"preset": "private_chat"})
		before := len(trail(t, ts))
		alice.ok("PUT", "/v3/profile/"+string(alice.ID)+"/displayname", map[string]any{"displayname": "Dr Alice"})

		var after []audit.Entry
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if after = trail(t, ts)[before:]; len(after) > 0 {
				break
			}
		}
		var profile int
		for _, e := range after {
			if e.Action == audit.ActionJoin {
				t.Errorf("profile change recorded as a join: %+v", e)
			}
			if e.Action == audit.ActionProfile && e.RoomID == string(room) && e.ActorUser == string(alice.ID) &&
				e.EventType == "m.room.member" && e.Outcome == audit.Allowed {
				profile++
			}
		}
		if profile != 1 {
			t.Fatalf("%d room.profile entries for the room: %+v", profile, after)
		}
		if rep := verify(t, ts, nil); !rep.OK {
			t.Fatal(rep)
		}
	})
}
