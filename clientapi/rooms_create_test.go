package clientapi_test

import (
	"net/http"
	"strings"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Spec: client-server-api "Creation" (POST /createRoom): presets, name,
// topic, invite, is_direct, initial_state, power_level_content_override.
func TestCreateRoomPresetsAndContent(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")

		room := alice.createRoom(map[string]any{
			"preset": "trusted_private_chat", "name": "Care team", "topic": "Mrs. Smith",
			"invite": []string{string(bob.ID)}, "is_direct": true,
			"initial_state": []map[string]any{{"type": "m.room.encryption", "state_key": "",
				"content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}},
			"power_level_content_override": map[string]any{"events_default": 10},
		})
		if got := alice.ok("GET", roomPath(room, "state", "m.room.name", ""), nil).Get("name").Str; got != "Care team" {
			t.Errorf("name = %q", got)
		}
		if got := alice.ok("GET", roomPath(room, "state", "m.room.topic"), nil).Get("topic").Str; got != "Mrs. Smith" {
			t.Errorf("topic = %q", got)
		}
		if got := alice.ok("GET", roomPath(room, "state", "m.room.join_rules", ""), nil).Get("join_rule").Str; got != "invite" {
			t.Errorf("trusted_private_chat join_rule = %q, want invite", got)
		}
		if got := alice.ok("GET", roomPath(room, "state", "m.room.encryption", ""), nil).Get("algorithm").Str; got != "m.megolm.v1.aes-sha2" {
			t.Errorf("initial_state encryption algorithm = %q", got)
		}
		pl := alice.ok("GET", roomPath(room, "state", "m.room.power_levels", ""), nil)
		if pl.Get("events_default").Int() != 10 {
			t.Errorf("power_level_content_override not applied: %s", pl.Raw)
		}
		// trusted_private_chat: invitees get the creator's power level.
		if pl.Get("users").Get(strings.ReplaceAll(string(bob.ID), ".", `\.`)).Int() != 100 {
			t.Errorf("trusted_private_chat invitee power: %s", pl.Raw)
		}
		// format=event returns the whole event.
		ev := alice.ok("GET", roomPath(room, "state", "m.room.member", string(bob.ID))+"?format=event", nil)
		if ev.Get("type").Str != "m.room.member" || ev.Get("content.membership").Str != "invite" || !ev.Get("content.is_direct").Bool() {
			t.Errorf("bob's member event: %s", ev.Raw)
		}
		// The invitee sees the room among invites and can join it.
		bob.join(room)
		joined := bob.ok("GET", "/v3/joined_rooms", nil).Get("joined_rooms").Array()
		if len(joined) != 1 || joined[0].Str != string(room) {
			t.Errorf("bob's joined_rooms = %v", joined)
		}

		pub := alice.createRoom(map[string]any{"preset": "public_chat"})
		if got := alice.ok("GET", roomPath(pub, "state", "m.room.join_rules", ""), nil).Get("join_rule").Str; got != "public" {
			t.Errorf("public_chat join_rule = %q", got)
		}
		priv := alice.createRoom(map[string]any{"preset": "private_chat"})
		if got := alice.ok("GET", roomPath(priv, "state", "m.room.join_rules", ""), nil).Get("join_rule").Str; got != "invite" {
			t.Errorf("private_chat join_rule = %q", got)
		}
		// A public room can be joined by anyone, a private one cannot.
		bob.join(pub)
		bob.fails("POST", roomPath(priv, "join"), map[string]any{}, http.StatusForbidden, "M_FORBIDDEN")
	})
}

// Spec: client-server-api "Room versions" and POST /createRoom room_version:
// 10, 11 and 12 are created; anything else is 400 M_UNSUPPORTED_ROOM_VERSION.
func TestCreateRoomVersions(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		for _, v := range []string{"10", "11", "12"} {
			room := alice.createRoom(map[string]any{"room_version": v, "preset": "public_chat", "name": "v" + v})
			create := alice.ok("GET", roomPath(room, "state", "m.room.create", ""), nil)
			if create.Get("room_version").Str != v {
				t.Errorf("v%s: create content %s", v, create.Raw)
			}
			if v == "12" && strings.Contains(string(room), ":") {
				t.Errorf("v12 room ID %s should have no server part", room)
			}
			// The room works: others join, messages flow, state is readable.
			bob.join(room)
			eid := bob.say(room, "hello v"+v)
			if got := alice.ok("GET", roomPath(room, "event", string(eid)), nil).Get("content.body").Str; got != "hello v"+v {
				t.Errorf("v%s: message body %q", v, got)
			}
			if n := len(alice.ok("GET", roomPath(room, "joined_members"), nil).Get("joined").Map()); n != 2 {
				t.Errorf("v%s: %d joined members", v, n)
			}
		}
		for _, v := range []string{"1", "9", "13", "org.example.custom"} {
			alice.fails("POST", "/v3/createRoom", map[string]any{"room_version": v}, http.StatusBadRequest, "M_UNSUPPORTED_ROOM_VERSION")
		}
	})
}

// Spec: POST /createRoom room_alias_name, 400 M_ROOM_IN_USE; and
// client-server-api "Room aliases" (GET/PUT/DELETE /directory/room, GET aliases).
func TestRoomAliases(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"room_alias_name": "reception", "preset": "public_chat"})
		alice.fails("POST", "/v3/createRoom", map[string]any{"room_alias_name": "reception"}, http.StatusBadRequest, "M_ROOM_IN_USE")

		res := bob.ok("GET", "/v3/directory/room/%23reception:ward.test", nil)
		if res.Get("room_id").Str != string(room) || res.Get("servers.0").Str != "ward.test" {
			t.Errorf("resolve: %s", res.Raw)
		}
		if got := alice.ok("GET", roomPath(room, "state", "m.room.canonical_alias", ""), nil).Get("alias").Str; got != "#reception:ward.test" {
			t.Errorf("canonical alias %q", got)
		}
		// A second alias through PUT; in use → M_ROOM_IN_USE (spec: 409 for PUT).
		alice.ok("PUT", "/v3/directory/room/%23front-desk:ward.test", map[string]any{"room_id": room})
		if got, _ := alice.do("PUT", "/v3/directory/room/%23front-desk:ward.test", map[string]any{"room_id": room}); got < 400 {
			t.Errorf("reusing an alias: status %d", got)
		}
		aliases := alice.ok("GET", roomPath(room, "aliases"), nil).Get("aliases").Array()
		if len(aliases) != 2 {
			t.Errorf("aliases = %v", aliases)
		}
		// Bob, not in the room, may neither add nor remove aliases nor list them.
		bob.fails("PUT", "/v3/directory/room/%23bobs:ward.test", map[string]any{"room_id": room}, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("DELETE", "/v3/directory/room/%23front-desk:ward.test", nil, http.StatusForbidden, "M_FORBIDDEN")
		bob.fails("GET", roomPath(room, "aliases"), nil, http.StatusForbidden, "M_FORBIDDEN")

		alice.ok("DELETE", "/v3/directory/room/%23front-desk:ward.test", nil)
		bob.fails("GET", "/v3/directory/room/%23front-desk:ward.test", nil, http.StatusNotFound, "M_NOT_FOUND")
		// Joining by alias.
		if got := bob.ok("POST", "/v3/join/%23reception:ward.test", map[string]any{}).Get("room_id").Str; got != string(room) {
			t.Errorf("join by alias gave %q", got)
		}
		bob.fails("GET", "/v3/directory/room/not-an-alias", nil, http.StatusBadRequest, "M_INVALID_PARAM")
		bob.fails("PUT", "/v3/directory/room/%23x:ward.test", map[string]any{}, http.StatusBadRequest, "M_BAD_JSON")
	})
}

// Spec: POST /createRoom 400 errors: bodies that are not JSON (M_NOT_JSON)
// or of the wrong shape (M_BAD_JSON), invalid invitees (M_INVALID_PARAM).
func TestCreateRoomBadInput(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		alice.fails("POST", "/v3/createRoom", raw("{not json"), http.StatusBadRequest, "M_NOT_JSON")
		alice.fails("POST", "/v3/createRoom", raw(`{"name": 5}`), http.StatusBadRequest, "M_BAD_JSON")
		alice.fails("POST", "/v3/createRoom", raw(`[]`), http.StatusBadRequest, "M_BAD_JSON")
		alice.fails("POST", "/v3/createRoom", map[string]any{"invite": []string{"not a user"}}, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("POST", "/v3/createRoom", map[string]any{"preset": "party"}, http.StatusBadRequest, "M_INVALID_PARAM")
	})
}
