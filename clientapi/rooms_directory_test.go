package clientapi_test

import (
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Spec: client-server-api "Listing rooms" (GET/PUT /directory/list/room and
// GET/POST /publicRooms): publishing needs power, the listing shows the
// room's summary, search and pagination work.
func TestPublicRoomDirectory(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		lobby := alice.createRoom(map[string]any{"visibility": "public", "preset": "public_chat", "name": "Lobby",
			"topic": "Welcome desk", "room_alias_name": "lobby"})
		quiet := alice.createRoom(map[string]any{"preset": "public_chat", "name": "Quiet room"})
		bob.join(lobby)
		bob.join(quiet)

		if got := alice.ok("GET", "/v3/directory/list/room/"+string(lobby), nil).Get("visibility").Str; got != "public" {
			t.Errorf("lobby visibility %q", got)
		}
		if got := alice.ok("GET", "/v3/directory/list/room/"+string(quiet), nil).Get("visibility").Str; got != "private" {
			t.Errorf("quiet visibility %q", got)
		}
		// The visibility needs no access token; publishing does.
		anonCli, _ := mautrix.NewClient(ts.URL, "", "")
		anon := &member{t: t, ts: ts, cli: anonCli}
		if got := anon.ok("GET", "/v3/directory/list/room/"+string(lobby), nil).Get("visibility").Str; got != "public" {
			t.Errorf("anonymous: lobby visibility %q", got)
		}
		anon.fails("PUT", "/v3/directory/list/room/"+string(lobby), map[string]any{"visibility": "private"}, http.StatusUnauthorized, "M_MISSING_TOKEN")
		alice.fails("GET", "/v3/directory/list/room/!unknown:ward.test", nil, http.StatusNotFound, "M_NOT_FOUND")

		// bob (PL 0, below m.room.canonical_alias's 50) may not publish.
		bob.fails("PUT", "/v3/directory/list/room/"+string(quiet), map[string]any{"visibility": "public"}, http.StatusForbidden, "M_FORBIDDEN")
		alice.fails("PUT", "/v3/directory/list/room/"+string(quiet), map[string]any{"visibility": "hidden"}, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.ok("PUT", "/v3/directory/list/room/"+string(quiet), map[string]any{"visibility": "public"})

		res := bob.ok("GET", "/v3/publicRooms", nil)
		chunk := res.Get("chunk").Array()
		if len(chunk) != 2 || res.Get("total_room_count_estimate").Int() != 2 {
			t.Fatalf("publicRooms: %s", res.Raw)
		}
		var entry = chunk[0]
		if entry.Get("room_id").Str != string(lobby) {
			entry = chunk[1]
		}
		if entry.Get("name").Str != "Lobby" || entry.Get("topic").Str != "Welcome desk" ||
			entry.Get("canonical_alias").Str != "#lobby:ward.test" || entry.Get("num_joined_members").Int() != 2 ||
			entry.Get("join_rule").Str != "public" || entry.Get("guest_can_join").Bool() || entry.Get("world_readable").Bool() {
			t.Errorf("lobby entry: %s", entry.Raw)
		}

		res = bob.ok("POST", "/v3/publicRooms", map[string]any{"filter": map[string]any{"generic_search_term": "welcome"}})
		if c := res.Get("chunk").Array(); len(c) != 1 || c[0].Get("room_id").Str != string(lobby) {
			t.Errorf("search for welcome: %s", res.Raw)
		}
		// Pagination, one room per page.
		seen := map[id.RoomID]bool{}
		p1 := bob.ok("GET", "/v3/publicRooms?limit=1", nil)
		seen[id.RoomID(p1.Get("chunk.0.room_id").Str)] = true
		if p1.Get("next_batch").Str == "" {
			t.Fatalf("first page without next_batch: %s", p1.Raw)
		}
		p2 := bob.ok("POST", "/v3/publicRooms", map[string]any{"limit": 1, "since": p1.Get("next_batch").Str})
		seen[id.RoomID(p2.Get("chunk.0.room_id").Str)] = true
		if len(seen) != 2 || p2.Get("next_batch").Exists() || p2.Get("prev_batch").Str == "" {
			t.Errorf("pages: %s then %s", p1.Raw, p2.Raw)
		}
		bob.fails("GET", "/v3/publicRooms?since=zzz", nil, http.StatusBadRequest, "M_INVALID_PARAM")

		alice.ok("PUT", "/v3/directory/list/room/"+string(lobby), map[string]any{"visibility": "private"})
		if n := len(bob.ok("GET", "/v3/publicRooms", nil).Get("chunk").Array()); n != 1 {
			t.Errorf("%d rooms listed after unpublishing", n)
		}
	})
}
