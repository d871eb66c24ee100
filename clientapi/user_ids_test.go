package clientapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestMalformedUserIDsAreInvalidParam: every endpoint that takes a user ID
// answers one that is not a user ID (an empty localpart, a space) with 400
// M_INVALID_PARAM, never a 404 as if it named someone who is missing.
//
// Spec: appendices "User Identifiers" (the localpart is not empty); the
// endpoints' 400 answers (client-server-api POST /rooms/{roomId}/invite,
// kick, ban, unban, POST /createRoom, GET /profile/{userId},
// POST /keys/query, PUT /sendToDevice).
func TestMalformedUserIDsAreInvalidParam(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		st, body := call(t, ts, "POST", v3+"/createRoom", alice.AccessToken, map[string]any{})
		wantOK(t, "createRoom", st, body)
		room := url.PathEscape(body["room_id"].(string))

		for _, bad := range []string{"@:localhost", "@:ward.test", "@al ice:ward.test"} {
			for _, op := range []string{"invite", "kick", "ban", "unban"} {
				st, body := call(t, ts, "POST", v3+"/rooms/"+room+"/"+op, alice.AccessToken, map[string]any{"user_id": bad})
				wantError(t, op+" "+bad, st, body, http.StatusBadRequest, "M_INVALID_PARAM")
			}
			st, body := call(t, ts, "POST", v3+"/createRoom", alice.AccessToken, map[string]any{"invite": []string{bad}})
			wantError(t, "createRoom inviting "+bad, st, body, http.StatusBadRequest, "M_INVALID_PARAM")
			for _, p := range []string{"/profile/", "/profile/%s/displayname", "/profile/%s/avatar_url"} {
				path := v3 + strings.Replace(p, "%s", url.PathEscape(bad), 1)
				if !strings.Contains(p, "%s") {
					path += url.PathEscape(bad)
				}
				st, body := call(t, ts, "GET", path, alice.AccessToken, nil)
				wantError(t, "GET "+path, st, body, http.StatusBadRequest, "M_INVALID_PARAM")
			}
			st, body = call(t, ts, "POST", v3+"/keys/query", alice.AccessToken, map[string]any{"device_keys": map[string]any{bad: []string{}}})
			wantError(t, "keys/query "+bad, st, body, http.StatusBadRequest, "M_INVALID_PARAM")
			st, body = call(t, ts, "POST", v3+"/keys/claim", alice.AccessToken, map[string]any{"one_time_keys": map[string]any{bad: map[string]string{"DEV": "signed_curve25519"}}})
			wantError(t, "keys/claim "+bad, st, body, http.StatusBadRequest, "M_INVALID_PARAM")
			st, body = call(t, ts, "PUT", v3+"/sendToDevice/m.test/txn"+url.PathEscape(bad), alice.AccessToken,
				map[string]any{"messages": map[string]any{bad: map[string]any{"*": map[string]any{}}}})
			wantError(t, "sendToDevice "+bad, st, body, http.StatusBadRequest, "M_INVALID_PARAM")
		}
	})
}

// TestInviteOfUnknownUserSaysSo: inviting a well-formed user ID that names
// no account answers 404 M_NOT_FOUND saying the user does not exist — on
// POST /invite and in createRoom's invite list, with the clinic policy on
// (which would otherwise refuse the unknown user as having no role) and
// off — and createRoom then makes no room.
//
// Spec: client-server-api "Standard error response" (M_NOT_FOUND: no
// resource was found for this request); POST /rooms/{roomId}/invite and
// POST /createRoom list no code for it. Synapse answers 404 M_NOT_FOUND.
func TestInviteOfUnknownUserSaysSo(t *testing.T) {
	for _, pol := range []string{"on", "off"} {
		t.Run("policy "+pol, func(t *testing.T) {
			dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
				ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = pol })
				adm := newSynapseAdmin(t, ts)
				if pol == "on" {
					st, body := call(t, ts, "PUT", "/_ward/admin/v1/users/admin/role", adm.token, map[string]any{"role": "admin"})
					wantOK(t, "role", st, body)
				}
				st, body := call(t, ts, "POST", v3+"/createRoom", adm.token, map[string]any{})
				wantOK(t, "createRoom", st, body)
				room := url.PathEscape(body["room_id"].(string))

				st, body = call(t, ts, "POST", v3+"/rooms/"+room+"/invite", adm.token, map[string]any{"user_id": "@u0:ward.test"})
				wantError(t, "invite of an unknown user", st, body, http.StatusNotFound, "M_NOT_FOUND")
				if msg, _ := body["error"].(string); !strings.Contains(msg, "@u0:ward.test does not exist") {
					t.Errorf("invite of an unknown user: %q does not say so", msg)
				}

				st, body = call(t, ts, "GET", v3+"/joined_rooms", adm.token, nil)
				wantOK(t, "joined_rooms", st, body)
				before := len(body["joined_rooms"].([]any))
				st, body = call(t, ts, "POST", v3+"/createRoom", adm.token, map[string]any{"invite": []string{"@u0:ward.test"}, "is_direct": true})
				wantError(t, "createRoom inviting an unknown user", st, body, http.StatusNotFound, "M_NOT_FOUND")
				if msg, _ := body["error"].(string); !strings.Contains(msg, "@u0:ward.test does not exist") {
					t.Errorf("createRoom inviting an unknown user: %q does not say so", msg)
				}
				st, body = call(t, ts, "GET", v3+"/joined_rooms", adm.token, nil)
				if n := len(body["joined_rooms"].([]any)); st != http.StatusOK || n != before {
					t.Errorf("the refused createRoom left a room: %d rooms, was %d", n, before)
				}
			})
		})
	}
}
