package clientapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestFilterErrors: a filter that breaks the spec's schema is refused
// wherever a filter is accepted (stored with POST /user/{userId}/filter,
// inline in /sync, and the RoomEventFilter of /messages and /context),
// with a message that names the field and what the spec expects there,
// never Go's types. A negative limit is refused like /messages?limit=-1:
// EventFilter.limit is "the maximum number of events to return". A filter
// in a request body is 400 M_BAD_JSON; one in a query parameter is 400
// M_INVALID_PARAM.
//
// Spec: client-server-api (v1.19) "Filtering" (Filter, RoomFilter,
// EventFilter, RoomEventFilter); GET /sync, GET /rooms/{roomId}/messages
// and GET /rooms/{roomId}/context/{eventId} (the filter parameter).
func TestFilterErrors(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(nil)
		ev := alice.say(room, "hello")
		filterPath := "/v3/user/" + url.PathEscape(string(alice.ID)) + "/filter"
		sync := func(f string) string { return "/v3/sync?timeout=0&filter=" + url.QueryEscape(f) }
		messages := func(f string) string { return roomPath(room, "messages") + "?dir=b&filter=" + url.QueryEscape(f) }
		context := func(f string) string { return roomPath(room, "context", string(ev)) + "?filter=" + url.QueryEscape(f) }

		wantMessage := func(what, msg, want string) {
			t.Helper()
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not say %q", what, msg, want)
			}
			for _, goish := range []string{"unmarshal", "Go struct", "id.RoomID", "[]", "mautrix"} {
				if strings.Contains(msg, goish) {
					t.Errorf("%s: error %q speaks Go (%q)", what, msg, goish)
				}
			}
		}

		// Filters (POST /user/{userId}/filter, /sync).
		for _, c := range []struct{ filter, want string }{
			{`{"room":{"rooms":5}}`, "room.rooms must be a list of room IDs"},
			{`{"room":{"not_rooms":[1]}}`, "room.not_rooms must be a list of room IDs"},
			{`{"room":{"timeline":{"limit":-10}}}`, "room.timeline.limit must be a non-negative integer"},
			{`{"room":{"state":{"limit":-1}}}`, "room.state.limit must be a non-negative integer"},
			{`{"room":{"ephemeral":{"limit":1.5}}}`, "room.ephemeral.limit must be a non-negative integer"},
			{`{"presence":{"limit":-3}}`, "presence.limit must be a non-negative integer"},
			{`{"account_data":{"senders":"@a:b"}}`, "account_data.senders must be a list of user IDs"},
			{`{"room":{"timeline":{"types":[true]}}}`, "room.timeline.types must be a list of event types"},
			{`{"room":{"timeline":{"lazy_load_members":"yes"}}}`, "room.timeline.lazy_load_members must be true or false"},
			{`{"room":{"timeline":[]}}`, "room.timeline must be an object"},
			{`{"event_format":"xml"}`, `event_format must be "client" or "federation"`},
			{`{"event_fields":"type"}`, "event_fields must be a list of strings"},
			{`{"room":{"timeline":{"types":["x\ud800"]}}}`, "lone surrogate"},
		} {
			res := alice.fails("POST", filterPath, raw(c.filter), http.StatusBadRequest, "M_BAD_JSON")
			wantMessage("POST filter "+c.filter, res.Get("error").Str, c.want)
			res = alice.fails("GET", sync(c.filter), nil, http.StatusBadRequest, "M_INVALID_PARAM")
			wantMessage("sync filter "+c.filter, res.Get("error").Str, c.want)
		}

		// RoomEventFilters (/messages, /context).
		for _, c := range []struct{ filter, want string }{
			{`{"limit":-4}`, "limit must be a non-negative integer"},
			{`{"limit":"4"}`, "limit must be a non-negative integer"},
			{`{"senders":[5]}`, "senders must be a list of user IDs"},
			{`{"not_rooms":"!a:b"}`, "not_rooms must be a list of room IDs"},
			{`{"contains_url":"yes"}`, "contains_url must be true or false"},
			{`[]`, "must be a JSON object"},
		} {
			res := alice.fails("GET", messages(c.filter), nil, http.StatusBadRequest, "M_INVALID_PARAM")
			wantMessage("messages filter "+c.filter, res.Get("error").Str, c.want)
			res = alice.fails("GET", context(c.filter), nil, http.StatusBadRequest, "M_INVALID_PARAM")
			wantMessage("context filter "+c.filter, res.Get("error").Str, c.want)
		}
		alice.fails("GET", roomPath(room, "messages")+"?dir=b&limit=-1", nil, http.StatusBadRequest, "M_INVALID_PARAM")

		// Good filters still work, stored and inline; a limit of 0 is
		// taken as not given.
		for _, good := range []string{`{}`, `{"room":{"timeline":{"limit":0}}}`, `{"room":{"timeline":{"limit":5},"rooms":["` + string(room) + `"]}}`} {
			fid := alice.ok("POST", filterPath, raw(good)).Get("filter_id").Str
			alice.ok("GET", "/v3/sync?timeout=0&filter="+fid, nil)
			res := alice.ok("GET", sync(good), nil)
			if !res.Get("rooms.join").Exists() {
				t.Fatalf("sync with %s: no joined rooms: %s", good, res.Raw)
			}
		}
		for _, good := range []string{`{}`, `{"limit":0}`, `{"limit":3,"types":["m.room.message"]}`} {
			alice.ok("GET", messages(good), nil)
			alice.ok("GET", context(good), nil)
		}
	})
}
