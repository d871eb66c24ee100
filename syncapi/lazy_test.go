package syncapi_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestLazyIncrementalSendsSenderMembers checks that an incremental sync
// with lazy_load_members carries the membership of a timeline sender the
// client has not been sent yet (spec: "Lazy-loading room members").
func TestLazyIncrementalSendsSenderMembers(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		admin, nurse, drb := register(t, ts, "admin"), register(t, ts, "nurse"), register(t, ts, "drb")
		room := joinedRoom(t, admin, nurse, drb)
		if _, err := admin.SendText(ctx, room, "rounds at nine"); err != nil {
			t.Fatal(err)
		}
		const filter = `{"room":{"timeline":{"limit":2},"state":{"lazy_load_members":true}}}`
		resp := rawSync(t, drb, "", 0, filter)
		jr := resp.Rooms.Join[room]
		if jr == nil {
			t.Fatal("initial sync lacks the room")
		}
		if memberIn(jr.State.Events, nurse.UserID) || memberIn(jr.Timeline.Events, nurse.UserID) {
			t.Fatal("the initial sync already has nurse's member event; the test needs it not to")
		}

		msg, err := nurse.SendText(ctx, room, "bed 4 needs you")
		if err != nil {
			t.Fatal(err)
		}
		resp = rawSync(t, drb, resp.NextBatch, 0, filter)
		jr = resp.Rooms.Join[room]
		if jr == nil || len(jr.Timeline.Events) != 1 || jr.Timeline.Events[0].ID != msg.EventID {
			t.Fatalf("incremental sync lacks nurse's message: %+v", jr)
		}
		if !memberIn(jr.State.Events, nurse.UserID) {
			t.Fatal("incremental lazy sync left out the sender's member event")
		}
		if memberIn(jr.State.Events, admin.UserID) {
			t.Fatal("incremental lazy sync sent the member event of someone who did not speak")
		}
	})
}

func memberIn(evs []*event.Event, u id.UserID) bool {
	for _, e := range evs {
		if e.Type == event.StateMember && e.GetStateKey() == string(u) {
			return true
		}
	}
	return false
}
