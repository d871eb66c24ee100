package clientapi_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// checkAnswer is the property every fuzzed request must keep: no 5xx, and
// an error answer is a Matrix error body (spec: client-server-api
// "Standard error response").
func checkAnswer(t *testing.T, m *member, method, path string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(method, m.ts.URL+"/_matrix/client"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.cli.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s with %q: status %d %s", method, path, body, resp.StatusCode, data)
	}
	if !gjson.ValidBytes(data) {
		t.Fatalf("%s %s with %q: answer is not JSON: %q", method, path, body, data)
	}
	if resp.StatusCode != http.StatusOK {
		res := gjson.ParseBytes(data)
		if !strings.HasPrefix(res.Get("errcode").Str, "M_") || res.Get("error").Type != gjson.String {
			t.Fatalf("%s %s with %q: %d with a body that is not a Matrix error: %s", method, path, body, resp.StatusCode, data)
		}
	}
}

// fuzzBackend is PostgreSQL when WARD_TEST_POSTGRES is set (it refuses
// text SQLite stores, such as NUL), else SQLite.
func fuzzBackend(f *testing.F) dbtest.Backend {
	if os.Getenv("WARD_TEST_POSTGRES") != "" {
		return dbtest.Backend{Name: "postgres", DSN: dbtest.Postgres(f)}
	}
	return dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(f)}
}

// FuzzCreateRoomBody feeds arbitrary bodies to POST /createRoom
// (spec: client-server-api "Creation").
func FuzzCreateRoomBody(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `[]`, `null`, `{"preset":"public_chat","name":"x"}`, `{"room_version":"12"}`,
		`{"room_version":10}`, `{"invite":["@bob:ward.test"],"is_direct":true}`, `{"invite":[null]}`,
		`{"initial_state":[{"type":"m.room.encryption","content":{"algorithm":"m.megolm.v1.aes-sha2"}}]}`,
		`{"initial_state":[{"type":"m.room.power_levels","content":[]}]}`,
		`{"power_level_content_override":{"users":"nope"}}`, `{"power_level_content_override":{"ban":"x"}}`,
		`{"creation_content":{"type":"m.space","room_version":"9"}}`, `{"room_alias_name":"a b"}`,
		`{"name":"` + strings.Repeat("n", 70000) + `"}`, "{\"name\":\"\xff\"}", `{"room_alias_name":"a\u0000b"}`,
		`{"invite":["@a\u0000:ward.test"]}`, `{"initial_state":[{"type":"x\u0000","state_key":"\u0000","content":{}}]}`,
		`{"topic":"\u0000"}`, `{"name":"x\ud800y"}`, `{"name":"\ud83d\ude00"}`, `{"creation_content":{"\udc00":1}}`, ` null `, `5`,
	} {
		f.Add([]byte(seed))
	}
	ts := servertest.Start(f, fuzzBackend(f), nil)
	alice := register(f, ts, "alice")
	register(f, ts, "bob")
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAnswer(t, alice, http.MethodPost, "/v3/createRoom", body)
	})
}

// FuzzSendBody feeds arbitrary event types and contents to PUT send and
// PUT state (spec: client-server-api "Sending events to a room").
func FuzzSendBody(f *testing.F) {
	for _, seed := range []struct{ evType, body string }{
		{"m.room.message", `{"msgtype":"m.text","body":"hi"}`}, {"m.room.message", ``}, {"m.room.message", `[1]`},
		{"m.room.redaction", `{}`}, {"m.room.redaction", `{"redacts":"$x"}`}, {"m.room.member", `{"membership":"join"}`},
		{"m.room.power_levels", `{"users":{"@a:b":"100"}}`}, {"m.room.create", `{}`}, {"m.room.canonical_alias", `{"alias":5}`},
		{"m.reaction", `{"m.relates_to":{"rel_type":"m.annotation","event_id":7}}`}, {"x", `{"a":` + strings.Repeat("[", 500)},
		{"m.room.history_visibility", `{"history_visibility":"nobody"}`}, {"m.room.join_rules", `{"join_rule":null}`},
		{"m.room.message", `{"msgtype":"m.text","body":"x\ud800y"}`}, {"m.room.topic", `{"topic":"\ud83d\ude00\udfff"}`},
		{"m.room.message", `null`},
	} {
		f.Add(seed.evType, []byte(seed.body))
	}
	ts := servertest.Start(f, fuzzBackend(f), nil)
	alice := register(f, ts, "alice")
	room := alice.createRoom(nil)
	var n int
	f.Fuzz(func(t *testing.T, evType string, body []byte) {
		n++
		checkAnswer(t, alice, http.MethodPut, roomPath(room, "send", evType, "f"+itoa(int64(n))), body)
		checkAnswer(t, alice, http.MethodPut, roomPath(room, "state", evType, "k"), body)
	})
}
