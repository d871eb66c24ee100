package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Spec: client-server-api "Getting events for a room" (GET /messages): both
// directions, from/to tokens, limit, end omitted at the end, and a
// RoomEventFilter with lazy_load_members.
func TestMessagesPagination(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"preset": "public_chat"})
		bob.join(room)
		var want []string
		for i := range 7 {
			who := alice
			if i%2 == 1 {
				who = bob
			}
			body := fmt.Sprintf("m%d", i)
			who.say(room, body)
			want = append(want, body)
		}
		alice.send(room, "org.example.note", map[string]any{"url": "mxc://ward.test/x"})

		// Backwards from the latest position, three at a time.
		var got []string
		from := ""
		for pages := 0; pages < 20; pages++ {
			q := "?dir=b&limit=3&filter=" + url.QueryEscape(`{"types":["m.room.message"]}`)
			if from != "" {
				q += "&from=" + from
			}
			res := alice.ok("GET", roomPath(room, "messages")+q, nil)
			if n := len(res.Get("chunk").Array()); n > 3 {
				t.Fatalf("page of %d events with limit 3", n)
			}
			got = append(got, bodies(res.Get("chunk"))...)
			if !res.Get("end").Exists() {
				break
			}
			if res.Get("start").Str == "" {
				t.Fatal("page without start")
			}
			from = res.Get("end").Str
		}
		rev := slices.Clone(want)
		slices.Reverse(rev)
		if !slices.Equal(got, rev) {
			t.Errorf("backwards: %v, want %v", got, rev)
		}

		// Forwards from the beginning: chronological, and the filter applies.
		res := alice.ok("GET", roomPath(room, "messages")+"?dir=f&limit=100&filter="+
			url.QueryEscape(fmt.Sprintf(`{"senders":[%q],"types":["m.room.message"]}`, bob.ID)), nil)
		if got := bodies(res.Get("chunk")); !slices.Equal(got, []string{"m1", "m3", "m5"}) {
			t.Errorf("forwards, bob's messages: %v", got)
		}
		if res.Get("end").Exists() {
			t.Errorf("end given although nothing follows: %s", res.Get("end").Raw)
		}
		res = alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=5&filter="+url.QueryEscape(`{"contains_url":true}`), nil)
		if c := res.Get("chunk").Array(); len(c) != 1 || c[0].Get("type").Str != "org.example.note" {
			t.Errorf("contains_url: %s", res.Get("chunk").Raw)
		}
		res = alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=2&filter="+url.QueryEscape(`{"not_types":["org.example.note"],"lazy_load_members":true}`), nil)
		if got := bodies(res.Get("chunk")); !slices.Equal(got, []string{"m6", "m5"}) {
			t.Errorf("not_types: %v", got)
		}
		state := res.Get("state").Array()
		if len(state) != 2 || state[0].Get("type").Str != "m.room.member" {
			t.Errorf("lazy-loaded members: %s", res.Get("state").Raw)
		}

		// from and to: the forwards page between two backwards tokens.
		top := alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=2", nil)
		mid := alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=3&from="+top.Get("end").Str, nil)
		between := alice.ok("GET", roomPath(room, "messages")+"?dir=f&from="+mid.Get("end").Str+"&to="+top.Get("end").Str, nil)
		if b1, b2 := bodies(between.Get("chunk")), bodies(mid.Get("chunk")); len(b1) != 3 || !slices.Equal(b1, []string{b2[2], b2[1], b2[0]}) {
			t.Errorf("forwards between tokens: %v, backwards page was %v", b1, b2)
		}

		alice.fails("GET", roomPath(room, "messages"), nil, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("GET", roomPath(room, "messages")+"?dir=up", nil, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("GET", roomPath(room, "messages")+"?dir=b&from=t12", nil, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("GET", roomPath(room, "messages")+"?dir=b&limit=x", nil, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("GET", roomPath(room, "messages")+"?dir=b&filter=%7B", nil, http.StatusBadRequest, "M_INVALID_PARAM")
		// Tokens carrying other streams after "_" are accepted.
		alice.ok("GET", roomPath(room, "messages")+"?dir=b&from="+top.Get("start").Str+"_7_3", nil)
	})
}

// Spec: client-server-api "Events" (GET /context/{eventId}): the event, the
// events around it in the right order, tokens and the state.
func TestContext(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(map[string]any{"name": "ctx"})
		var ids []id.EventID
		for i := range 9 {
			ids = append(ids, alice.say(room, fmt.Sprintf("c%d", i)))
		}
		res := alice.ok("GET", roomPath(room, "context", string(ids[4]))+"?limit=4", nil)
		if res.Get("event.event_id").Str != string(ids[4]) {
			t.Fatalf("context event: %s", res.Get("event").Raw)
		}
		if got := bodies(res.Get("events_before")); !slices.Equal(got, []string{"c3", "c2"}) {
			t.Errorf("events_before = %v (newest first)", got)
		}
		if got := bodies(res.Get("events_after")); !slices.Equal(got, []string{"c5", "c6"}) {
			t.Errorf("events_after = %v", got)
		}
		if res.Get("start").Str == "" || res.Get("end").Str == "" {
			t.Errorf("context tokens: start %q end %q", res.Get("start").Str, res.Get("end").Str)
		}
		var hasName bool
		for _, e := range res.Get("state").Array() {
			hasName = hasName || e.Get("type").Str == "m.room.name"
		}
		if !hasName {
			t.Errorf("context state lacks m.room.name: %s", res.Get("state").Raw)
		}
		// Paginating on from the tokens continues where the context ended.
		more := alice.ok("GET", roomPath(room, "messages")+"?dir=f&limit=10&from="+res.Get("end").Str, nil)
		if got := bodies(more.Get("chunk")); !slices.Equal(got, []string{"c7", "c8"}) {
			t.Errorf("after the context's end: %v", got)
		}
		older := alice.ok("GET", roomPath(room, "messages")+"?dir=b&limit=2&from="+res.Get("start").Str, nil)
		if got := bodies(older.Get("chunk")); !slices.Equal(got, []string{"c1", "c0"}) {
			t.Errorf("before the context's start: %v", got)
		}
		alice.fails("GET", roomPath(room, "context", "$nothing"), nil, http.StatusNotFound, "M_NOT_FOUND")
	})
}

// Spec: client-server-api "Relationships" (GET /v1/rooms/{roomId}/relations):
// an m.annotation reaction and an m.replace edit, filtered by rel_type and
// event type, paginated with next_batch.
func TestRelations(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"preset": "public_chat"})
		bob.join(room)
		parent := alice.say(room, "appointment at 10")
		reaction := bob.send(room, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": parent, "key": "👍"}})
		edit := alice.send(room, "m.room.message", map[string]any{"msgtype": "m.text", "body": "* appointment at 11",
			"m.new_content": map[string]any{"msgtype": "m.text", "body": "appointment at 11"},
			"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": parent}})
		alice.say(room, "unrelated")

		all := alice.ok("GET", v1RoomPath(room, "relations", string(parent)), nil)
		if got := eventIDs(all.Get("chunk")); !slices.Equal(got, []id.EventID{edit, reaction}) {
			t.Errorf("all relations (newest first): %v, want %v", got, []id.EventID{edit, reaction})
		}
		if all.Get("next_batch").Exists() {
			t.Errorf("next_batch with nothing more: %s", all.Raw)
		}
		ann := alice.ok("GET", v1RoomPath(room, "relations", string(parent), "m.annotation"), nil)
		if got := eventIDs(ann.Get("chunk")); !slices.Equal(got, []id.EventID{reaction}) {
			t.Errorf("m.annotation: %v", got)
		}
		repl := alice.ok("GET", v1RoomPath(room, "relations", string(parent), "m.replace", "m.room.message"), nil)
		if got := eventIDs(repl.Get("chunk")); !slices.Equal(got, []id.EventID{edit}) {
			t.Errorf("m.replace m.room.message: %v", got)
		}
		none := alice.ok("GET", v1RoomPath(room, "relations", string(parent), "m.replace", "m.reaction"), nil)
		if n := len(none.Get("chunk").Array()); n != 0 {
			t.Errorf("m.replace m.reaction: %d events", n)
		}
		// One at a time, forwards.
		page1 := alice.ok("GET", v1RoomPath(room, "relations", string(parent))+"?dir=f&limit=1", nil)
		if got := eventIDs(page1.Get("chunk")); !slices.Equal(got, []id.EventID{reaction}) || page1.Get("next_batch").Str == "" {
			t.Fatalf("first forward page: %s", page1.Raw)
		}
		page2 := alice.ok("GET", v1RoomPath(room, "relations", string(parent))+"?dir=f&limit=1&from="+page1.Get("next_batch").Str, nil)
		if got := eventIDs(page2.Get("chunk")); !slices.Equal(got, []id.EventID{edit}) {
			t.Errorf("second forward page: %s", page2.Raw)
		}
		alice.fails("GET", v1RoomPath(room, "relations", string(parent))+"?dir=sideways", nil, http.StatusBadRequest, "M_INVALID_PARAM")
		alice.fails("GET", v1RoomPath(room, "relations", "$missing"), nil, http.StatusNotFound, "M_NOT_FOUND")
		alice.fails("GET", v1RoomPath(room, "threads"), nil, http.StatusNotFound, "M_UNRECOGNIZED")
	})
}
