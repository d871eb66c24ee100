package clientapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// /keys/claim checks user IDs as /keys/query does: "bad" is a bad request
// (400 M_INVALID_PARAM), not a server that failed to answer (failures[""]).
func TestKeysClaimRefusesInvalidUserIDs(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := e2eeUser(t, ts, "alice")
		for _, user := range []string{"bad", "", "@", "@alice", "alice:ward.test"} {
			for _, path := range []string{"/keys/claim", "/keys/query"} {
				body := map[string]any{"one_time_keys": map[string]any{user: map[string]any{"DEV": "signed_curve25519"}}}
				if path == "/keys/query" {
					body = map[string]any{"device_keys": map[string]any{user: []string{}}}
				}
				st, resp := e2eeCall(t, ts, alice, http.MethodPost, path, body)
				if st != http.StatusBadRequest || resp["errcode"] != "M_INVALID_PARAM" {
					t.Errorf("%s for user %q: %d %v, want 400 M_INVALID_PARAM", path, user, st, resp)
				}
			}
		}
	})
}

// public_base_url with a trailing "/" is announced without it, so that a
// client's base_url + "/_matrix/…" has one slash.
func TestWellKnownBaseURLHasNoTrailingSlash(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		for _, configured := range []string{"https://matrix.clinic.example/", "https://matrix.clinic.example//", "https://matrix.clinic.example"} {
			ts := servertest.Start(t, b, func(c *config.Config) { c.PublicBaseURL = configured })
			resp, err := http.Get(ts.URL + "/.well-known/matrix/client")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var wk struct {
				HS struct {
					BaseURL string `json:"base_url"`
				} `json:"m.homeserver"`
			}
			if err := json.Unmarshal(raw, &wk); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if wk.HS.BaseURL != "https://matrix.clinic.example" {
				t.Errorf("public_base_url %q announced as %q", configured, wk.HS.BaseURL)
			}
			ts.Stop()
		}
	})
}
