package clientapi_test

import (
	"net/http"
	"strings"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Spec: client-server-api "Authorization rules" (room versions, rule 4.x:
// the sender must be joined to send): a user who is not in a room can
// neither send to it nor set its state, and reading it is refused.
func TestAuthSendNeedsMembership(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"preset": "public_chat"})
		msg := map[string]any{"msgtype": "m.text", "body": "let me in"}
		bob.fails("PUT", roomPath(room, "send", "m.room.message", "x1"), msg, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("PUT", roomPath(room, "state", "m.room.topic", ""), map[string]any{"topic": "x"}, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("GET", roomPath(room, "messages")+"?dir=b", nil, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("GET", roomPath(room, "state"), nil, http.StatusForbidden, "M_FORBIDDEN")
		// A room that does not exist looks the same as one bob is not in.
		bob.fails("PUT", roomPath("!nowhere:ward.test", "send", "m.room.message", "x2"), msg, http.StatusForbidden, "M_FORBIDDEN")
		// After leaving, sending is refused again.
		bob.join(room)
		bob.say(room, "hi")
		bob.leave(room)
		bob.fails("PUT", roomPath(room, "send", "m.room.message", "x3"), msg, http.StatusForbidden, "M_FORBIDDEN")
	})
}

// Spec: client-server-api "Authorization rules" (power levels: a state event
// needs the event's level or state_default) and m.room.power_levels.
func TestAuthPowerLevelsForState(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"preset": "public_chat"})
		bob.join(room)
		bob.fails("PUT", roomPath(room, "state", "m.room.name", ""), map[string]any{"name": "mine"}, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("PUT", roomPath(room, "state", "org.example.custom", ""), map[string]any{}, http.StatusForbidden, "M_FORBIDDEN")
		// bob cannot raise himself either.
		pl := alice.ok("GET", roomPath(room, "state", "m.room.power_levels", ""), nil)
		users := pl.Get("users").Value().(map[string]any)
		users[string(bob.ID)] = 50
		content := pl.Value().(map[string]any)
		content["users"] = users
		bob.fails("PUT", roomPath(room, "state", "m.room.power_levels", ""), content, http.StatusForbidden, "M_FORBIDDEN")
		alice.setState(room, "m.room.power_levels", content)
		bob.setState(room, "m.room.name", map[string]any{"name": "Bob's now"})
		if got := alice.ok("GET", roomPath(room, "state", "m.room.name", ""), nil).Get("name").Str; got != "Bob's now" {
			t.Errorf("name = %q", got)
		}
		// Sending the same state again answers with the same event.
		first := alice.setState(room, "m.room.topic", map[string]any{"topic": "t"})
		if again := alice.setState(room, "m.room.topic", map[string]any{"topic": "t"}); again != first {
			t.Errorf("same state twice: %s then %s", first, again)
		}
	})
}

// Spec: client-server-api "Authorization rules" (membership: kick and ban
// need the ban/kick level; a banned user cannot join), POST kick, ban, unban.
func TestAuthKickAndBan(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob, carol := register(t, ts, "alice"), register(t, ts, "bob"), register(t, ts, "carol")
		room := alice.createRoom(map[string]any{"preset": "public_chat"})
		bob.join(room)
		carol.join(room)
		bob.fails("POST", roomPath(room, "kick"), map[string]any{"user_id": carol.ID}, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("POST", roomPath(room, "ban"), map[string]any{"user_id": carol.ID}, http.StatusForbidden, "M_FORBIDDEN")

		alice.ok("POST", roomPath(room, "kick"), map[string]any{"user_id": carol.ID, "reason": "wrong room"})
		ev := alice.ok("GET", roomPath(room, "state", "m.room.member", string(carol.ID))+"?format=event", nil)
		if ev.Get("content.membership").Str != "leave" || ev.Get("content.reason").Str != "wrong room" || ev.Get("sender").Str != string(alice.ID) {
			t.Errorf("kick event: %s", ev.Raw)
		}
		carol.join(room) // a kicked user may come back to a public room

		alice.ok("POST", roomPath(room, "ban"), map[string]any{"user_id": bob.ID})
		bob.fails("POST", roomPath(room, "join"), map[string]any{}, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("PUT", roomPath(room, "send", "m.room.message", "b1"), map[string]any{"body": "x"}, http.StatusForbidden, "M_FORBIDDEN")
		carol.fails("POST", roomPath(room, "unban"), map[string]any{"user_id": bob.ID}, http.StatusForbidden, "M_FORBIDDEN")
		alice.ok("POST", roomPath(room, "unban"), map[string]any{"user_id": bob.ID})
		bob.join(room)

		members := alice.ok("GET", roomPath(room, "members")+"?membership=join", nil).Get("chunk").Array()
		if len(members) != 3 {
			t.Errorf("%d joined members, want 3", len(members))
		}
		alice.fails("GET", roomPath(room, "members")+"?membership=dancing", nil, http.StatusBadRequest, "M_INVALID_PARAM")
	})
}

// Spec: client-server-api "Joining rooms" and "Room membership" (invite):
// an invite-only room needs an invite; invite, leave (reject), forget;
// members at a token; malformed bodies.
func TestInviteLeaveForget(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"preset": "private_chat"})
		bob.fails("POST", roomPath(room, "join"), map[string]any{}, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("POST", roomPath(room, "invite"), map[string]any{"user_id": bob.ID}, http.StatusForbidden, "M_FORBIDDEN")

		alice.fails("POST", roomPath(room, "invite"), map[string]any{}, http.StatusBadRequest, "M_BAD_JSON")
		alice.fails("POST", roomPath(room, "invite"), map[string]any{"user_id": "bob"}, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("POST", roomPath(room, "invite"), raw(`{"user_id": 7}`), http.StatusBadRequest, "M_BAD_JSON")
		alice.fails("POST", roomPath(room, "invite"), raw(`user_id=bob`), http.StatusBadRequest, "M_NOT_JSON")
		alice.fails("POST", "/v3/rooms/not-a-room/invite", map[string]any{"user_id": bob.ID}, http.StatusBadRequest, "M_INVALID_PARAM")

		// Reject an invite by leaving, then accept a second one.
		alice.invite(room, bob)
		bob.leave(room)
		alice.invite(room, bob)
		bob.join(room)
		before := alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=1", nil).Get("start").Str

		bob.leave(room)
		// A member list at a token shows the room as it was then.
		then := alice.ok("GET", roomPath(room, "members")+"?at="+before, nil).Get("chunk")
		now := alice.ok("GET", roomPath(room, "members")+"?not_membership=leave", nil).Get("chunk")
		if !strings.Contains(then.Raw, `"join"`) || len(then.Array()) != 2 || len(now.Array()) != 1 {
			t.Errorf("members at %s: %s; now: %s", before, then.Raw, now.Raw)
		}
		alice.fails("GET", roomPath(room, "members")+"?at=garbage", nil, http.StatusBadRequest, "M_INVALID_PARAM")

		// Forget only after leaving.
		alice.fails("POST", roomPath(room, "forget"), map[string]any{}, http.StatusBadRequest, "M_UNKNOWN")
		bob.ok("POST", roomPath(room, "forget"), map[string]any{})
		if n := len(bob.ok("GET", "/v3/joined_rooms", nil).Get("joined_rooms").Array()); n != 0 {
			t.Errorf("bob still has %d joined rooms", n)
		}
	})
}
