package clientapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestPolicyAdminAPI: every clinic-policy admin endpoint works for a server
// admin and answers 403 M_FORBIDDEN to anyone else.
func TestPolicyAdminAPI(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		ctx := context.Background()
		if _, err := ts.Server.Accounts.CreateUser(ctx, "boss", testPassword, true); err != nil {
			t.Fatal(err)
		}
		boss := login(t, ts, "boss", testPassword)
		doc := registerUser(t, ts, "doc")
		registerUser(t, ts, "pat")

		const pre = "/_ward/admin/v1"
		steps := []struct {
			method, path string
			body         any
			check        func(map[string]any) bool
		}{
			{"PUT", pre + "/users/doc/role", map[string]string{"role": "provider"}, nil},
			{"PUT", pre + "/users/@pat:ward.test/role", map[string]string{"role": "patient"}, nil},
			{"PUT", pre + "/teams/cardio", nil, nil},
			{"PUT", pre + "/teams/cardio/members/doc", nil, nil},
			{"PUT", pre + "/teams/cardio/members/pat", map[string]string{"kind": "patient"}, nil},
			{"PUT", pre + "/assignments/doc/pat", nil, nil},
			{"GET", pre + "/roles", nil, func(b map[string]any) bool { return len(b["roles"].([]any)) == 2 }},
			{"GET", pre + "/teams", nil, func(b map[string]any) bool {
				teams := b["teams"].([]any)
				return len(teams) == 1 && len(teams[0].(map[string]any)["members"].([]any)) == 2
			}},
			{"GET", pre + "/assignments", nil, func(b map[string]any) bool {
				as := b["assignments"].([]any)
				return len(as) == 1 && as[0].(map[string]any)["provider"] == "@doc:ward.test"
			}},
			{"POST", pre + "/intake_tokens", map[string]any{"role": "patient", "care_teams": []string{"cardio"}, "providers": []string{"doc"},
				"uses": 1, "expires_in_ms": 3600000}, func(b map[string]any) bool { return b["token"] != "" && b["intake_token"] != nil }},
			{"GET", pre + "/intake_tokens", nil, func(b map[string]any) bool { return len(b["intake_tokens"].([]any)) == 1 }},
			{"DELETE", pre + "/assignments/doc/pat", nil, nil},
			{"DELETE", pre + "/teams/cardio/members/pat", nil, nil},
			{"DELETE", pre + "/teams/cardio", nil, nil},
		}
		for _, st := range steps {
			status, body := call(t, ts, st.method, st.path, doc.AccessToken, st.body)
			wantError(t, "non-admin "+st.method+" "+st.path, status, body, http.StatusForbidden, "M_FORBIDDEN")
			status, body = call(t, ts, st.method, st.path, boss.AccessToken, st.body)
			if status != http.StatusOK {
				t.Fatalf("admin %s %s: %d %v", st.method, st.path, status, body)
			}
			if st.check != nil && !st.check(body) {
				t.Fatalf("admin %s %s: unexpected answer %v", st.method, st.path, body)
			}
		}
		// Revoke the token made above.
		_, body := call(t, ts, "GET", pre+"/intake_tokens", boss.AccessToken, nil)
		tokID := body["intake_tokens"].([]any)[0].(map[string]any)["token_id"].(string)
		status, body := call(t, ts, "DELETE", pre+"/intake_tokens/"+tokID, doc.AccessToken, nil)
		wantError(t, "non-admin revoke", status, body, http.StatusForbidden, "M_FORBIDDEN")
		if status, body := call(t, ts, "DELETE", pre+"/intake_tokens/"+tokID, boss.AccessToken, nil); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, body)
		}
		_, body = call(t, ts, "GET", pre+"/intake_tokens", boss.AccessToken, nil)
		if st := body["intake_tokens"].([]any)[0].(map[string]any)["state"]; st != "revoked" {
			t.Fatalf("token state after revocation: %v", st)
		}
		// Mistakes are the caller's: a bad role, an unknown team, no token.
		status, body = call(t, ts, "PUT", pre+"/users/doc/role", boss.AccessToken, map[string]string{"role": "wizard"})
		wantError(t, "unknown role", status, body, http.StatusBadRequest, "M_INVALID_PARAM")
		status, body = call(t, ts, "DELETE", pre+"/teams/nowhere", boss.AccessToken, nil)
		wantError(t, "unknown team", status, body, http.StatusNotFound, "M_NOT_FOUND")
		// Only accounts of this server take part: a user of another server
		// (Ward does not federate) or without an account is refused, and
		// nothing is stored for them.
		for _, c := range []struct {
			what, method, path string
			body               any
			status             int
			code               string
		}{
			{"remote role", "PUT", pre + "/users/@x:other.org/role", map[string]string{"role": "provider"}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"unknown role", "PUT", pre + "/users/ghost/role", map[string]string{"role": "provider"}, http.StatusNotFound, "M_NOT_FOUND"},
			{"remote member", "PUT", pre + "/teams/ortho/members/@x:other.org", map[string]string{"kind": "patient"}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"unknown member", "PUT", pre + "/teams/ortho/members/ghost", map[string]string{"kind": "patient"}, http.StatusNotFound, "M_NOT_FOUND"},
			{"remote provider", "PUT", pre + "/assignments/@x:other.org/pat", nil, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"unknown patient", "PUT", pre + "/assignments/doc/ghost", nil, http.StatusNotFound, "M_NOT_FOUND"},
		} {
			status, body = call(t, ts, c.method, c.path, boss.AccessToken, c.body)
			wantError(t, c.what, status, body, c.status, c.code)
		}
		// An intake token's uses and lifetime, when given, are positive;
		// left out, they default.
		for _, bad := range []map[string]any{
			{"role": "patient", "uses": 0}, {"role": "patient", "uses": -3},
			{"role": "patient", "expires_in_ms": 0}, {"role": "patient", "expires_in_ms": -5},
		} {
			status, body = call(t, ts, "POST", pre+"/intake_tokens", boss.AccessToken, bad)
			wantError(t, fmt.Sprintf("intake token %v", bad), status, body, http.StatusBadRequest, "M_INVALID_PARAM")
		}
		status, body = call(t, ts, "POST", pre+"/intake_tokens", boss.AccessToken, map[string]any{"role": "patient"})
		if tok, _ := body["intake_token"].(map[string]any); status != http.StatusOK || tok["uses_allowed"] != float64(1) {
			t.Fatalf("intake token with the defaults: %d %v", status, body)
		}
		if _, body = call(t, ts, "GET", pre+"/roles", boss.AccessToken, nil); len(body["roles"].([]any)) != 2 {
			t.Fatalf("roles after the refusals: %v", body)
		}
		status, body = call(t, ts, "GET", pre+"/roles", "", nil)
		wantError(t, "no token", status, body, http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}
