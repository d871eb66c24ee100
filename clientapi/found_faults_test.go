package clientapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Faults a first-time tester found, each kept as a test.

// TestNonCanonicalContentIsBadJSON: content that canonical JSON cannot
// represent (floats, integers beyond 2^53, duplicate keys, lone surrogates)
// and NUL characters are 400 M_BAD_JSON — never a 500, whose log line would
// have quoted the content (spec: appendices "Canonical JSON"; room versions
// 6+ forbid floats and big integers).
func TestNonCanonicalContentIsBadJSON(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		room, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{})
		if err != nil {
			t.Fatal(err)
		}
		rid := url.PathEscape(string(room.RoomID))
		bodies := []string{
			`{"body":"x","n":1.5}`,
			`{"body":"x","n":9007199254740993}`,
			`{"body":"x","n":123456789012345678901234567890}`,
			`{"a":1,"a":2}`,
			`{"body":"\ud83d Patient Jane Roe"}`,
			`{"body":"nul\u0000here"}`,
		}
		for i, body := range bodies {
			st, resp := call(t, ts, http.MethodPut, fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/t%d", rid, i), alice.AccessToken, body)
			if st != 400 || resp["errcode"] != "M_BAD_JSON" {
				t.Errorf("send %s: %d %v, want 400 M_BAD_JSON", body, st, resp)
			}
			if msg, _ := resp["error"].(string); strings.Contains(msg, "Jane") || strings.Contains(msg, "here") {
				t.Errorf("error message repeats content: %q", msg)
			}
		}
		for _, c := range []struct{ path, body string }{
			{"/state/m.room.name/", `{"name":1.5}`},
			{"/state/m.room.power_levels/", `{"ban":1.5,"users":{}}`},
		} {
			st, resp := call(t, ts, http.MethodPut, "/_matrix/client/v3/rooms/"+rid+c.path, alice.AccessToken, c.body)
			if st != 400 || resp["errcode"] != "M_BAD_JSON" {
				t.Errorf("PUT %s %s: %d %v", c.path, c.body, st, resp)
			}
		}
		st, resp := call(t, ts, http.MethodPost, "/_matrix/client/v3/createRoom", alice.AccessToken,
			`{"power_level_content_override":{"users_default":1e30}}`)
		if st != 400 || resp["errcode"] != "M_BAD_JSON" {
			t.Errorf("createRoom with a float power level: %d %v", st, resp)
		}
	})
}

// TestNULIsRefusedEverywhere: a NUL character in any body field is 400 on
// both backends (PostgreSQL text cannot hold it), including the login
// endpoint that needs no token.
func TestNULIsRefusedEverywhere(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		me := url.PathEscape(string(alice.UserID))
		cases := []struct {
			method, path, token, body string
		}{
			{"POST", "/_matrix/client/v3/login", "", `{"type":"m.login.password","user":"alice\u0000","password":"x"}`},
			{"POST", "/_matrix/client/v3/login", "", `{"type":"m.login.password","user":"alice","password":"x","initial_device_display_name":"D\u0000"}`},
			{"PUT", "/_matrix/client/v3/profile/" + me + "/displayname", alice.AccessToken, `{"displayname":"nul\u0000name"}`},
			{"PUT", "/_matrix/client/v3/devices/" + string(alice.DeviceID), alice.AccessToken, `{"display_name":"d\u0000"}`},
			{"POST", "/_matrix/client/v3/keys/query", alice.AccessToken, `{"device_keys":{"@a\u0000:ward.test":[]}}`},
			{"POST", "/_matrix/client/v3/keys/claim", alice.AccessToken, `{"one_time_keys":{"@alice:ward.test":{"D\u0000":"signed_curve25519"}}}`},
		}
		for _, c := range cases {
			st, resp := call(t, ts, c.method, c.path, c.token, c.body)
			if st != 400 || resp["errcode"] != "M_BAD_JSON" {
				t.Errorf("%s %s %s: %d %v, want 400 M_BAD_JSON", c.method, c.path, c.body, st, resp)
			}
		}
		st, resp := call(t, ts, "PUT", "/_matrix/client/v3/user/"+me+"/account_data/x%00y", alice.AccessToken, `{}`)
		if st != 400 {
			t.Errorf("account data type with NUL: %d %v, want 400", st, resp)
		}
	})
}

// TestTransactionIDsAreScopedToTheEndpoint: the same transaction id on
// another room, event type or endpoint is a new request (spec:
// client-server-api "Transaction identifiers": scoped to the device and the
// request path). A redaction reusing a message's transaction id redacts.
func TestTransactionIDsAreScopedToTheEndpoint(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		r1, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
		if err != nil {
			t.Fatal(err)
		}
		r2, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
		if err != nil {
			t.Fatal(err)
		}
		send := func(room id.RoomID, txn string) id.EventID {
			resp, err := alice.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "hi"},
				mautrix.ReqSendEvent{TransactionID: txn})
			if err != nil {
				t.Fatal(err)
			}
			return resp.EventID
		}
		a1, a2, b1 := send(r1.RoomID, "same"), send(r1.RoomID, "same"), send(r2.RoomID, "same")
		if a1 != a2 {
			t.Fatalf("a retry in the same room made a second event")
		}
		if a1 == b1 {
			t.Fatalf("the same txn id in another room returned the first room's event")
		}
		red, err := alice.RedactEvent(ctx, r1.RoomID, a1, mautrix.ReqRedact{TxnID: "same"})
		if err != nil {
			t.Fatal(err)
		}
		if red.EventID == a1 {
			t.Fatal("the redaction returned the message's own event id")
		}
		ev, err := alice.GetEvent(ctx, r1.RoomID, a1)
		if err != nil || ev.Content.Raw["body"] != nil {
			t.Fatalf("the message was not redacted: %v %v", err, ev.Content.Raw)
		}
	})
}

// TestRequestEdgeCases: wrong methods inside the client API are 405, the
// bearer scheme is case-insensitive, control characters in event types and
// tokens from the future are handled, and errors speak JSON, not Go.
func TestRequestEdgeCases(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		for _, c := range [][2]string{{"GET", "/_matrix/client/v3/createRoom"}, {"DELETE", "/_matrix/client/v3/sync"},
			{"PUT", "/_matrix/client/v3/login"}, {"PATCH", "/_matrix/client/r0/account/whoami"}} {
			st, resp := call(t, ts, c[0], c[1], alice.AccessToken, nil)
			if st != 405 || resp["errcode"] != "M_UNRECOGNIZED" {
				t.Errorf("%s %s: %d %v, want 405 M_UNRECOGNIZED", c[0], c[1], st, resp)
			}
		}
		req, _ := http.NewRequest("GET", ts.URL+"/_matrix/client/v3/account/whoami", nil)
		req.Header.Set("Authorization", "bearer "+alice.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("lower-case bearer: %d", resp.StatusCode)
		}
		room, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{})
		if err != nil {
			t.Fatal(err)
		}
		st, body := call(t, ts, "PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(string(room.RoomID))+"/send/%0E/t1", alice.AccessToken, `{}`)
		if st != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Errorf("control character in an event type: %d %v", st, body)
		}
		st, body = call(t, ts, "GET", "/_matrix/client/v3/sync?since=s99999999_99999&timeout=0", alice.AccessToken, nil)
		if st != 200 || strings.Contains(fmt.Sprint(body), "99999") {
			t.Errorf("sync from a future token: %d, echoes the bogus token: %v", st, strings.Contains(fmt.Sprint(body), "99999"))
		}
		st, body = call(t, ts, "POST", "/_matrix/client/v3/createRoom", alice.AccessToken, `{"invite":"not a list"}`)
		if msg, _ := body["error"].(string); st != 400 || strings.Contains(msg, "id.") || strings.Contains(msg, "[]") {
			t.Errorf("error names Go types: %d %q", st, msg)
		}
	})
}
