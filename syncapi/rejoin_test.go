package syncapi_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestRejoinSyncsMissedEvents checks that a room joined again is synced as
// in an initial sync (spec: "Syncing"): the events sent while the user was
// away, which history_visibility shared lets them read, are in the
// timeline, and the state is whole.
func TestRejoinSyncsMissedEvents(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		admin, nurse := register(t, ts, "admin"), register(t, ts, "nurse")
		room := joinedRoom(t, admin, nurse)
		since := rawSync(t, nurse, "", 0, "").NextBatch
		if _, err := nurse.LeaveRoom(ctx, room); err != nil {
			t.Fatal(err)
		}
		since = rawSync(t, nurse, since, 0, "").NextBatch

		msg, err := admin.SendText(ctx, room, "while you were away")
		if err != nil {
			t.Fatal(err)
		}
		rename, err := admin.SendStateEvent(ctx, room, event.StateRoomName, "", map[string]any{"name": "Ward 7"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: nurse.UserID}); err != nil {
			t.Fatal(err)
		}
		resp := rawSync(t, nurse, since, 0, "")
		if resp.Rooms.Invite[room] == nil {
			t.Fatal("the invite is not in the sync")
		}
		since = resp.NextBatch
		if _, err := nurse.JoinRoomByID(ctx, room); err != nil {
			t.Fatal(err)
		}

		resp = rawSync(t, nurse, since, 0, "")
		jr := resp.Rooms.Join[room]
		if jr == nil {
			t.Fatal("the rejoined room is not in the sync")
		}
		ids := map[id.EventID]bool{}
		for _, e := range jr.Timeline.Events {
			ids[e.ID] = true
		}
		if !ids[msg.EventID] || !ids[rename.EventID] {
			t.Fatalf("timeline of the rejoined room lacks the missed events: %d events, limited %v",
				len(jr.Timeline.Events), jr.Timeline.Limited)
		}
		if !jr.Timeline.Limited || jr.Timeline.PrevBatch == "" {
			t.Fatalf("the room has events before the timeline, but limited %v prev_batch %q",
				jr.Timeline.Limited, jr.Timeline.PrevBatch)
		}
		if !hasState(jr.State.Events, jr.Timeline.Events) {
			t.Fatal("the rejoined room lacks the create event in state or timeline")
		}

		// With a small limit the timeline is the latest events, limited.
		resp = rawSync(t, nurse, since, 0, `{"room":{"timeline":{"limit":2}}}`)
		jr = resp.Rooms.Join[room]
		if jr == nil || len(jr.Timeline.Events) != 2 || !jr.Timeline.Limited {
			t.Fatalf("limit 2 on the rejoined room: %+v", jr)
		}
		if jr.Timeline.Events[1].Type != event.StateMember || jr.Timeline.Events[1].GetStateKey() != string(nurse.UserID) {
			t.Fatal("the timeline does not end with the join")
		}
		var named bool
		for _, e := range append(jr.State.Events, jr.Timeline.Events...) {
			named = named || e.ID == rename.EventID
		}
		if !named {
			t.Fatal("the rename is neither in state nor timeline")
		}
	})
}

// joinedRoom creates a private room of creator's that every one of members
// has joined.
func joinedRoom(t *testing.T, creator *mautrix.Client, members ...*mautrix.Client) id.RoomID {
	t.Helper()
	ctx := context.Background()
	invite := make([]id.UserID, len(members))
	for i, m := range members {
		invite[i] = m.UserID
	}
	created, err := creator.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: invite})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if _, err := m.JoinRoomByID(ctx, created.RoomID); err != nil {
			t.Fatal(err)
		}
	}
	return created.RoomID
}
