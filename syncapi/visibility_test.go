package syncapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestSyncHonoursHistoryVisibility: with history_visibility "joined", an
// invited user sees only the stripped invite state, and after joining,
// none of the messages sent before the join — not in /sync, not in
// /messages (spec: "History visibility"; in a clinic a privacy boundary).
// After leaving, nothing sent later reaches them.
func TestSyncHonoursHistoryVisibility(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat",
			InitialState: []*event.Event{{Type: event.StateHistoryVisibility,
				Content: event.Content{Parsed: &event.HistoryVisibilityEventContent{HistoryVisibility: event.HistoryVisibilityJoined}}}}})
		if err != nil {
			t.Fatal(err)
		}
		room := created.RoomID
		secret, err := alice.SendText(ctx, room, "said before bob was invited")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: bob.UserID}); err != nil {
			t.Fatal(err)
		}
		invited := rawSync(t, bob, "", 0, "")
		ir, ok := invited.Rooms.Invite[room]
		if !ok {
			t.Fatal("invite missing from bob's sync")
		}
		for _, e := range ir.State.Events {
			if e.Type == event.EventMessage {
				t.Fatal("invite state carries a message")
			}
		}
		since := invited.NextBatch
		if _, err := bob.JoinRoomByID(ctx, room); err != nil {
			t.Fatal(err)
		}
		after, err := alice.SendText(ctx, room, "said after bob joined")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"", since} {
			resp := rawSync(t, bob, s, 0, `{"room":{"timeline":{"limit":50}}}`)
			jr := resp.Rooms.Join[room]
			if jr == nil {
				t.Fatalf("joined room missing (since %q)", s)
			}
			var sawAfter bool
			for _, e := range append(jr.Timeline.Events, jr.State.Events...) {
				if e.ID == secret.EventID {
					t.Fatalf("bob's sync (since %q) leaked a message from before his join", s)
				}
				sawAfter = sawAfter || e.ID == after.EventID
			}
			if !sawAfter {
				t.Fatalf("bob's sync (since %q) lacks the message after his join", s)
			}
		}
		msgs, err := bob.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range msgs.Chunk {
			if e.ID == secret.EventID {
				t.Fatal("/messages leaked a message from before bob's join")
			}
		}
		if _, err := bob.GetEvent(ctx, room, secret.EventID); err == nil {
			t.Fatal("/event leaked a message from before bob's join")
		}

		// Leave: later messages are not readable.
		since = rawSync(t, bob, "", 0, "").NextBatch
		if _, err := bob.LeaveRoom(ctx, room); err != nil {
			t.Fatal(err)
		}
		later, err := alice.SendText(ctx, room, "said after bob left")
		if err != nil {
			t.Fatal(err)
		}
		resp := rawSync(t, bob, since, 0, "")
		for _, lr := range resp.Rooms.Leave {
			for _, e := range lr.Timeline.Events {
				if e.ID == later.EventID {
					t.Fatal("left room's sync carries a message sent after the leave")
				}
			}
		}
		if _, err := bob.GetEvent(ctx, room, later.EventID); err == nil {
			t.Fatal("/event shows a message sent after bob left")
		}
		msgs, err = bob.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 100)
		if err == nil {
			for _, e := range msgs.Chunk {
				if e.ID == later.EventID {
					t.Fatal("/messages shows a message sent after bob left")
				}
			}
		}
	})
}

// TestSyncFiltersAndProfiles: a stored filter (POST /user/{userId}/filter)
// limits the timeline by type; lazy_load_members trims member state; a
// display name change reaches the other member as a member event.
func TestSyncFiltersAndProfiles(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice, bob, room := setupDM(t, ts)
		carol := register(t, ts, "carol")
		if _, err := alice.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: carol.UserID}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.SendText(ctx, room, "hello"); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.SendMessageEvent(ctx, room, event.NewEventType("org.example.note"), map[string]any{"x": 1}); err != nil {
			t.Fatal(err)
		}
		f, err := bob.CreateFilter(ctx, &mautrix.Filter{Room: &mautrix.RoomFilter{
			Timeline: &mautrix.FilterPart{Types: []event.Type{event.EventMessage}, Limit: 20},
			State:    &mautrix.FilterPart{LazyLoadMembers: true},
		}})
		if err != nil {
			t.Fatal(err)
		}
		resp := rawSync(t, bob, "", 0, f.FilterID)
		jr := resp.Rooms.Join[room]
		if jr == nil || len(jr.Timeline.Events) != 1 || jr.Timeline.Events[0].Type != event.EventMessage {
			t.Fatalf("type filter not applied to the timeline")
		}
		for _, e := range jr.State.Events {
			if e.Type == event.StateMember && e.GetStateKey() == string(carol.UserID) {
				t.Fatal("lazy_load_members sent the member event of someone who did not speak")
			}
		}
		var sawAlice bool
		for _, e := range jr.State.Events {
			sawAlice = sawAlice || (e.Type == event.StateMember && e.GetStateKey() == string(alice.UserID))
		}
		if !sawAlice {
			t.Fatal("lazy_load_members left out the sender's member event")
		}
		// An unknown filter id is M_NOT_FOUND.
		u := bob.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "sync"}, map[string]string{"filter": "999999"})
		if _, err := bob.MakeRequest(ctx, http.MethodGet, u, nil, nil); !isErr(err, "M_NOT_FOUND") {
			t.Fatalf("unknown filter: %v", err)
		}

		since := resp.NextBatch
		if err := alice.SetDisplayName(ctx, "Dr Alice"); err != nil {
			t.Fatal(err)
		}
		resp = rawSync(t, bob, since, 2*time.Second, "")
		var renamed bool
		if jr := resp.Rooms.Join[room]; jr != nil {
			for _, e := range jr.Timeline.Events {
				if e.Type == event.StateMember && e.GetStateKey() == string(alice.UserID) && e.Content.Raw["displayname"] == "Dr Alice" {
					renamed = true
				}
			}
		}
		if !renamed {
			t.Fatal("display name change did not reach the room")
		}
	})
}

func isErr(err error, code string) bool {
	var he mautrix.HTTPError
	if e, ok := err.(mautrix.HTTPError); ok {
		he = e
	} else {
		return false
	}
	return he.RespError != nil && he.RespError.ErrCode == code
}

// TestDeactivationLeavesRooms: a deactivated account leaves its rooms, and
// the other members see the leave (spec: POST /account/deactivate).
func TestDeactivationLeavesRooms(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice, bob, room := setupDM(t, ts)
		since := rawSync(t, alice, "", 0, "").NextBatch
		body := map[string]any{"auth": map[string]any{
			"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": string(bob.UserID)},
			"password": "correct horse bob"}}
		_, err := bob.MakeRequest(ctx, http.MethodPost, bob.BuildClientURL("v3", "account", "deactivate"), body, nil)
		if err != nil {
			t.Fatalf("deactivate: %v", err)
		}
		resp := rawSync(t, alice, since, 0, "")
		if !hasMembership(resp.Rooms.Join[room], bob.UserID, "leave") {
			t.Fatal("alice does not see the deactivated bob leave")
		}
	})
}
