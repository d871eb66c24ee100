package clientapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestProfilePutNeedsItsProperty: PUT /profile/{userId}/displayname and
// /avatar_url with a body that lacks the property (an empty object, no
// body, another property) is 400 M_MISSING_PARAM and changes nothing; a
// body of null is not an object (400 M_BAD_JSON, as for every endpoint); a
// null value is refused (400 M_INVALID_PARAM); "" still clears the field.
//
// Spec: client-server-api (v1.19) "Profiles", PUT
// /profile/{userId}/{keyName}: 400 M_MISSING_PARAM "the required keyName
// property is missing from the request body"; "Servers MAY reject null
// values".
func TestProfilePutNeedsItsProperty(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		me := v3 + "/profile/" + url.PathEscape(string(alice.UserID))
		values := map[string]string{"displayname": "Alice A", "avatar_url": "mxc://ward.test/avatar"}
		for key, value := range values {
			st, body := call(t, ts, "PUT", me+"/"+key, alice.AccessToken, map[string]any{key: value})
			wantOK(t, "set "+key, st, body)
			for _, bad := range []string{`{}`, `{"a":1}`, ``} {
				st, body := call(t, ts, "PUT", me+"/"+key, alice.AccessToken, bad)
				wantError(t, "PUT "+key+" "+bad, st, body, http.StatusBadRequest, "M_MISSING_PARAM")
			}
			st, body = call(t, ts, "PUT", me+"/"+key, alice.AccessToken, `null`)
			wantError(t, "PUT "+key+" null", st, body, http.StatusBadRequest, "M_BAD_JSON")
			st, body = call(t, ts, "PUT", me+"/"+key, alice.AccessToken, `{"`+key+`":null}`)
			wantError(t, "PUT "+key+" null value", st, body, http.StatusBadRequest, "M_INVALID_PARAM")
			st, body = call(t, ts, "GET", me+"/"+key, alice.AccessToken, nil)
			if st != http.StatusOK || body[key] != value {
				t.Fatalf("%s after the refused PUTs: %d %v, want %q", key, st, body, value)
			}
			st, body = call(t, ts, "PUT", me+"/"+key, alice.AccessToken, map[string]any{key: ""})
			wantOK(t, "clear "+key, st, body)
			st, body = call(t, ts, "GET", me+"/"+key, alice.AccessToken, nil)
			wantError(t, "GET cleared "+key, st, body, http.StatusNotFound, "M_NOT_FOUND")
		}
	})
}

// TestRefreshWithoutToken: POST /refresh without refresh_token is 400
// M_MISSING_PARAM (the request is incomplete), not 401 M_UNKNOWN_TOKEN,
// which would tell the client its session is over.
//
// Spec: client-server-api "Refreshing access tokens", POST /refresh
// (refresh_token is required); "Standard error response" M_MISSING_PARAM.
func TestRefreshWithoutToken(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		for _, body := range []string{`{}`, `{"refresh_token":""}`, ``} {
			st, resp := call(t, ts, "POST", v3+"/refresh", "", body)
			wantError(t, "refresh with "+body, st, resp, http.StatusBadRequest, "M_MISSING_PARAM")
		}
		st, resp := call(t, ts, "POST", v3+"/refresh", "", map[string]any{"refresh_token": "nope"})
		wantError(t, "refresh with an unknown token", st, resp, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	})
}
