package clientapi_test

import (
	"net/http"
	"slices"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// visibleRoom creates a room whose history_visibility is hv.
func visibleRoom(m *member, hv string) id.RoomID {
	m.t.Helper()
	return m.createRoom(map[string]any{"preset": "private_chat", "initial_state": []map[string]any{{
		"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": hv}}}})
}

// history lists the message bodies m can read in a room, oldest first.
func history(m *member, room id.RoomID) []string {
	m.t.Helper()
	got := bodies(m.ok("GET", roomPath(room, "messages")+"?dir=f&limit=100", nil).Get("chunk"))
	if got == nil {
		got = []string{}
	}
	return got
}

// cannotRead checks that m gets nothing of ev through /event, /context and
// /relations (spec: "History visibility" is a privacy boundary on every
// endpoint that returns events).
func cannotRead(t *testing.T, m *member, room id.RoomID, ev id.EventID) {
	t.Helper()
	m.fails("GET", roomPath(room, "event", string(ev)), nil, http.StatusNotFound, "M_NOT_FOUND")
	m.fails("GET", roomPath(room, "context", string(ev)), nil, http.StatusNotFound, "M_NOT_FOUND")
	m.fails("GET", v1RoomPath(room, "relations", string(ev)), nil, http.StatusNotFound, "M_NOT_FOUND")
}

// Spec: client-server-api "History visibility" (joined): a user invited
// later cannot read what was sent before they joined, and after leaving
// cannot read what was sent after.
func TestHistoryVisibilityJoined(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		room := visibleRoom(alice, "joined")
		before := alice.say(room, "before")
		alice.invite(room, bob)
		invited := alice.say(room, "while invited")
		bob.join(room)
		during := alice.say(room, "during")
		// A reaction to an old message, sent while bob is in the room: bob
		// sees the reaction but the parent stays hidden.
		alice.send(room, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": before, "key": "x"}})

		if got := history(bob, room); !slices.Equal(got, []string{"during"}) {
			t.Errorf("bob reads %v, want only [during]", got)
		}
		cannotRead(t, bob, room, before)
		cannotRead(t, bob, room, invited)
		bob.ok("GET", roomPath(room, "event", string(during)), nil)
		ctx := bob.ok("GET", roomPath(room, "context", string(during))+"?limit=10", nil)
		if got := bodies(ctx.Get("events_before")); len(got) != 0 {
			t.Errorf("context before bob's join shows %v", got)
		}

		bob.leave(room)
		after := alice.say(room, "after")
		alice.send(room, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": during, "key": "y"}})
		if got := history(bob, room); !slices.Equal(got, []string{"during"}) {
			t.Errorf("after leaving bob reads %v, want only [during]", got)
		}
		cannotRead(t, bob, room, after)
		rel := bob.ok("GET", v1RoomPath(room, "relations", string(during)), nil)
		if n := len(rel.Get("chunk").Array()); n != 0 {
			t.Errorf("bob sees %d relations sent after he left", n)
		}
		ctx = bob.ok("GET", roomPath(room, "context", string(during))+"?limit=10", nil)
		if got := bodies(ctx.Get("events_after")); len(got) != 0 {
			t.Errorf("context after bob left shows %v", got)
		}
		// State is frozen at the leave: a name set later is not revealed.
		alice.setState(room, "m.room.name", map[string]any{"name": "Secret"})
		bob.fails("GET", roomPath(room, "state", "m.room.name", ""), nil, http.StatusNotFound, "M_NOT_FOUND")
	})
}

// Spec: client-server-api "History visibility" (shared): a newly joined
// member reads the history from before their join.
func TestHistoryVisibilityShared(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, carol := register(t, ts, "alice"), register(t, ts, "carol")
		room := visibleRoom(alice, "shared")
		early := alice.say(room, "early")
		alice.invite(room, carol)
		// Invited, not yet joined: nothing but her own invite (rules 2-4).
		if got := history(carol, room); len(got) != 0 {
			t.Errorf("invited carol reads %v", got)
		}
		cannotRead(t, carol, room, early)
		carol.join(room)
		alice.say(room, "late")
		if got := history(carol, room); !slices.Equal(got, []string{"early", "late"}) {
			t.Errorf("carol reads %v", got)
		}
		carol.ok("GET", roomPath(room, "event", string(early)), nil)
	})
}

// Spec: client-server-api "History visibility" (invited): visible from the
// invite on, not before it.
func TestHistoryVisibilityInvited(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, dave := register(t, ts, "alice"), register(t, ts, "dave")
		room := visibleRoom(alice, "invited")
		pre := alice.say(room, "pre-invite")
		alice.invite(room, dave)
		alice.say(room, "invited period")
		dave.join(room)
		alice.say(room, "joined period")
		if got := history(dave, room); !slices.Equal(got, []string{"invited period", "joined period"}) {
			t.Errorf("dave reads %v", got)
		}
		cannotRead(t, dave, room, pre)
	})
}
