package clientapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/server/servertest"
)

// member is a registered, logged-in test user.
type member struct {
	t   testing.TB
	ts  *servertest.TS
	cli *mautrix.Client
	ID  id.UserID
}

// register creates and logs in a user through the real registration API.
func register(t testing.TB, ts *servertest.TS, name string) *member {
	t.Helper()
	cli, err := mautrix.NewClient(ts.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.RegisterDummy(context.Background(), &mautrix.ReqRegister[any]{Username: name, Password: "correct horse battery " + name})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	cli.SetCredentials(resp.UserID, resp.AccessToken)
	cli.DeviceID = resp.DeviceID
	return &member{t: t, ts: ts, cli: cli, ID: resp.UserID}
}

// raw is a request body sent byte for byte.
type raw []byte

var txnCounter atomic.Int64

// do calls the client API (path relative to /_matrix/client unless it
// starts with /_matrix) and returns the status and the parsed body.
func (m *member) do(method, path string, body any) (int, gjson.Result) {
	m.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case raw:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			m.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	if !strings.HasPrefix(path, "/_matrix") {
		path = "/_matrix/client" + path
	}
	req, err := http.NewRequest(method, m.ts.URL+path, rd)
	if err != nil {
		m.t.Fatal(err)
	}
	if m.cli.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+m.cli.AccessToken)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if !gjson.ValidBytes(data) {
		m.t.Fatalf("%s %s: %d with a body that is not JSON: %q", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode, gjson.ParseBytes(data)
}

// ok calls do and fails the test unless the answer is 200.
func (m *member) ok(method, path string, body any) gjson.Result {
	m.t.Helper()
	status, res := m.do(method, path, body)
	if status != http.StatusOK {
		m.t.Fatalf("%s %s: status %d, body %s", method, path, status, res.Raw)
	}
	return res
}

// fails calls do and checks the Matrix error.
func (m *member) fails(method, path string, body any, status int, errcode string) gjson.Result {
	m.t.Helper()
	got, res := m.do(method, path, body)
	if got != status || res.Get("errcode").Str != errcode {
		m.t.Fatalf("%s %s: got %d %s, want %d %s", method, path, got, res.Raw, status, errcode)
	}
	if res.Get("error").Type != gjson.String {
		m.t.Fatalf("%s %s: error body without an error message: %s", method, path, res.Raw)
	}
	return res
}

// createRoom creates a room and returns its ID.
func (m *member) createRoom(body map[string]any) id.RoomID {
	m.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return id.RoomID(m.ok("POST", "/v3/createRoom", body).Get("room_id").Str)
}

// send sends a message event and returns its ID.
func (m *member) send(room id.RoomID, evType string, content any) id.EventID {
	m.t.Helper()
	txn := "t" + itoa(txnCounter.Add(1))
	return id.EventID(m.ok("PUT", roomPath(room, "send", evType, txn), content).Get("event_id").Str)
}

// say sends an m.text message.
func (m *member) say(room id.RoomID, body string) id.EventID {
	m.t.Helper()
	return m.send(room, "m.room.message", map[string]any{"msgtype": "m.text", "body": body})
}

func (m *member) join(room id.RoomID) {
	m.t.Helper()
	m.ok("POST", roomPath(room, "join"), map[string]any{})
}

func (m *member) invite(room id.RoomID, who *member) {
	m.t.Helper()
	m.ok("POST", roomPath(room, "invite"), map[string]any{"user_id": who.ID})
}

func (m *member) leave(room id.RoomID) {
	m.t.Helper()
	m.ok("POST", roomPath(room, "leave"), map[string]any{})
}

// setState sets a state event with an empty state key.
func (m *member) setState(room id.RoomID, evType string, content any) id.EventID {
	m.t.Helper()
	return id.EventID(m.ok("PUT", roomPath(room, "state", evType, ""), content).Get("event_id").Str)
}

// roomPath builds /v3/rooms/{room}/<parts...>, escaping every segment.
func roomPath(room id.RoomID, parts ...string) string {
	p := "/v3/rooms/" + url.PathEscape(string(room))
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// v1RoomPath is roomPath under /v1.
func v1RoomPath(room id.RoomID, parts ...string) string {
	return "/v1" + strings.TrimPrefix(roomPath(room, parts...), "/v3")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// eventIDs lists the event_id fields of a chunk.
func eventIDs(chunk gjson.Result) []id.EventID {
	var out []id.EventID
	for _, e := range chunk.Array() {
		out = append(out, id.EventID(e.Get("event_id").Str))
	}
	return out
}

// bodies lists content.body of the m.room.message events of a chunk.
func bodies(chunk gjson.Result) []string {
	var out []string
	for _, e := range chunk.Array() {
		if e.Get("type").Str == "m.room.message" {
			out = append(out, e.Get("content.body").Str)
		}
	}
	return out
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
