package clientapi_test

import (
	"net/http"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestBodyMustBeObject: every request body's schema in the spec is
// "type: object" (client-server-api, each endpoint's requestBody), so a
// body of null, an array, a string, a number or a boolean is 400
// M_BAD_JSON, not read as {}: a null createRoom made a room. No requestBody
// in the spec is "required", and clients send none to /join, /leave and
// /logout, so an empty body still reads as {}.
func TestBodyMustBeObject(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		bob := register(t, ts, "bob")
		room := alice.createRoom(map[string]any{"preset": "public_chat"})
		rooms := func() int64 { return alice.ok("GET", "/v3/joined_rooms", nil).Get("joined_rooms.#").Int() }
		before := rooms()

		endpoints := []struct{ method, path string }{
			{"POST", "/v3/createRoom"},
			{"POST", "/v3/join/" + string(room)},
			{"POST", roomPath(room, "join")},
			{"POST", roomPath(room, "leave")},
			{"POST", roomPath(room, "read_markers")},
			{"POST", "/v3/keys/upload"},
			{"POST", "/v3/keys/query"},
			{"POST", "/v3/keys/claim"},
			{"POST", "/v3/keys/device_signing/upload"},
			{"POST", "/v3/keys/signatures/upload"},
			{"PUT", "/v3/sendToDevice/m.test/t1"},
			{"POST", "/v3/publicRooms"},
			{"PUT", "/v3/profile/" + string(alice.ID) + "/displayname"},
			{"POST", "/v3/user/" + string(alice.ID) + "/filter"},
			{"PUT", "/v3/user/" + string(alice.ID) + "/account_data/org.example.x"},
			{"PUT", roomPath(room, "send", "m.room.message", "t2")},
		}
		for _, e := range endpoints {
			for _, body := range []string{`null`, ` null `, `[]`, `[{}]`, `"x"`, `5`, `true`} {
				alice.fails(e.method, e.path, raw(body), http.StatusBadRequest, "M_BAD_JSON")
			}
		}
		if n := rooms(); n != before {
			t.Fatalf("joined rooms went from %d to %d after refused bodies", before, n)
		}

		// No body, or whitespace only, where clients send none.
		bob.ok("POST", "/v3/join/"+string(room), nil)
		bob.ok("POST", roomPath(room, "leave"), raw(""))
		bob.ok("POST", roomPath(room, "join"), raw(" \n"))
		bob.ok("POST", roomPath(room, "leave"), nil)
		bob.ok("POST", "/v3/logout", nil)
	})
}

// TestLoneSurrogateRefused: a string with a \u escape of an unpaired
// surrogate (U+D800 to U+DFFF) is not Unicode; decoding it would store
// U+FFFD instead of what the client sent, so the body is 400 M_BAD_JSON
// wherever it appears, as NUL is. A proper pair is stored as sent.
func TestLoneSurrogateRefused(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := register(t, ts, "alice")
		room := alice.createRoom(nil)
		name := "/v3/profile/" + string(alice.ID) + "/displayname"
		alice.ok("PUT", name, map[string]any{"displayname": "before"})
		for _, c := range []struct{ method, path, body string }{
			{"PUT", name, `{"displayname":"x\ud800y"}`},
			{"PUT", name, `{"displayname":"x\udc00y"}`},
			{"PUT", name, `{"displayname":"x\ude00\ud83dy"}`},
			{"PUT", name, `{"displayname":"x\ud83d"}`},
			{"PUT", name, `{"displayname":"x","\ud800":1}`},
			{"POST", "/v3/createRoom", `{"name":"a\udbffb"}`},
			{"PUT", roomPath(room, "send", "m.room.message", "s1"), `{"msgtype":"m.text","body":"ok","x":{"y":["\udfff"]}}`},
			{"PUT", roomPath(room, "state", "m.room.topic", ""), `{"topic":"\ud800"}`},
			{"PUT", "/v3/user/" + string(alice.ID) + "/account_data/org.example.x", `{"a":"\ud800"}`},
			{"POST", "/v3/user/" + string(alice.ID) + "/filter", `{"room":{"timeline":{"types":["\ud800"]}}}`},
		} {
			alice.fails(c.method, c.path, raw(c.body), http.StatusBadRequest, "M_BAD_JSON")
		}
		if got := alice.ok("GET", name, nil).Get("displayname").Str; got != "before" {
			t.Fatalf("displayname after refused bodies: %q", got)
		}
		alice.ok("PUT", name, raw(`{"displayname":"x\ud83d\ude00y"}`))
		if got := alice.ok("GET", name, nil).Get("displayname").Str; got != "x\U0001F600y" {
			t.Fatalf("displayname with a surrogate pair: %q", got)
		}
	})
}
