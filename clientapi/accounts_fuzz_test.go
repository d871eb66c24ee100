package clientapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// fuzzBody posts each input to path on a real server and checks the
// property every request decoder must keep: no panic (which would be a
// 500), no 5xx, and every error is a Matrix error object.
func fuzzBody(f *testing.F, path string, seeds ...string) {
	ts := servertest.Start(f, dbtest.Backend{Name: "sqlite", DSN: dbtest.SQLite(f)}, nil)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := http.Post(ts.URL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %q: %s", resp.StatusCode, body, raw)
		}
		if resp.StatusCode < 400 {
			return
		}
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("error answer is not JSON: %q", raw)
		}
		if resp.StatusCode == http.StatusUnauthorized && e["flows"] != nil {
			return // User-Interactive Auth's next step
		}
		code, _ := e["errcode"].(string)
		if _, ok := e["error"].(string); !ok || !strings.HasPrefix(code, "M_") {
			t.Fatalf("not a Matrix error: %q", raw)
		}
	})
}

// Spec: client-server-api POST /login (request body, seeded with the
// spec's examples) and "Standard error response".
func FuzzLoginBody(f *testing.F) {
	fuzzBody(f, "/_matrix/client/v3/login",
		`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"cheeky_monkey"},"password":"ilovebananas","initial_device_display_name":"Jungle Phone"}`,
		`{"type":"m.login.password","user":"@cheeky_monkey:ward.test","password":"x","device_id":"ABCDEFGHIJ","refresh_token":true}`,
		`{"type":"m.login.token","token":"x"}`,
		`{"identifier":{"type":"m.id.thirdparty","medium":"email","address":"a@b"}}`,
		`{"type":5}`, `[]`, `null`, ``, `{`, "\xff", `{"type":"m.login.password","user":"a\ud800","password":"p"}`)
}

// Spec: client-server-api POST /register (request body, seeded with the
// spec's examples) and "Standard error response".
func FuzzRegisterBody(f *testing.F) {
	fuzzBody(f, "/_matrix/client/v3/register",
		`{"auth":{"type":"example.type.foo","session":"xxxxx","example_credential":"verypoorsharedsecret"},"device_id":"GHTYAJCE","initial_device_display_name":"Jungle Phone","password":"ilovebananas","username":"cheeky_monkey"}`,
		`{"username":"alice","password":"p","auth":{"type":"m.login.dummy","session":"nope"},"inhibit_login":true}`,
		`{"username":"Bad Name","password":"p"}`,
		`{"username":"a","password":"p","refresh_token":"yes"}`,
		`{"auth":[]}`, `[]`, `null`, ``, `{`, "\xff", `{"username":"a","password":"p\udc00"}`)
}
