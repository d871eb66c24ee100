package clientapi_test

import (
	"context"
	"net/http"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// weakPasswords are refused by every way of setting a password: fewer
// than 8 characters (README: "passwords have at least 8 characters"),
// counted as characters, not bytes.
var weakPasswords = []string{"x", "1234567", "ééééééé"}

// TestWeakPasswordsRefusedEverywhere: registration (dummy and intake
// token), the password change, the Synapse admin API's user PUT and
// reset_password, and shared-secret registration all answer 400
// M_WEAK_PASSWORD to a short password, and nothing is changed.
//
// Spec: client-server-api "Account registration", POST /register (400
// M_WEAK_PASSWORD: "the password is too weak"); "Password management",
// POST /account/password (400 M_WEAK_PASSWORD).
func TestWeakPasswordsRefusedEverywhere(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		ctx := context.Background()
		adm := newSynapseAdmin(t, ts)
		alice := registerUser(t, ts, "alice")

		st, body := call(t, ts, "POST", "/_ward/admin/v1/intake_tokens", adm.token, map[string]any{"role": "patient", "uses": 10})
		wantOK(t, "intake token", st, body)
		intake := body["token"].(string)

		for _, pw := range weakPasswords {
			// POST /register, m.login.dummy in the first request.
			st, body := call(t, ts, "POST", v3+"/register", "", map[string]any{"username": "weak1", "password": pw,
				"auth": map[string]any{"type": "m.login.dummy"}})
			wantError(t, "register (dummy) with "+pw, st, body, http.StatusBadRequest, "M_WEAK_PASSWORD")

			// POST /register with an intake token: refused before the UIA
			// stage, so the token is not spent.
			st, body = call(t, ts, "POST", v3+"/register", "", map[string]any{"username": "weak2", "password": pw,
				"auth": map[string]any{"type": "m.login.registration_token", "token": intake}})
			wantError(t, "register (token) with "+pw, st, body, http.StatusBadRequest, "M_WEAK_PASSWORD")

			// POST /account/password.
			st, body = call(t, ts, "POST", v3+"/account/password", alice.AccessToken, map[string]any{"new_password": pw,
				"auth": passwordAuth("", "alice", testPassword)})
			wantError(t, "password change to "+pw, st, body, http.StatusBadRequest, "M_WEAK_PASSWORD")

			// Synapse admin API: PUT /_synapse/admin/v2/users/{userId},
			// creating and changing.
			st, body = call(t, ts, "PUT", "/_synapse/admin/v2/users/@weak3:ward.test", adm.token, map[string]any{"password": pw})
			wantError(t, "admin user create with "+pw, st, body, http.StatusBadRequest, "M_WEAK_PASSWORD")
			st, body = call(t, ts, "PUT", "/_synapse/admin/v2/users/@alice:ward.test", adm.token, map[string]any{"password": pw})
			wantError(t, "admin user change to "+pw, st, body, http.StatusBadRequest, "M_WEAK_PASSWORD")

			// POST /_synapse/admin/v1/reset_password/{userId}.
			st, body = call(t, ts, "POST", "/_synapse/admin/v1/reset_password/@alice:ward.test", adm.token, map[string]any{"new_password": pw})
			wantError(t, "admin reset to "+pw, st, body, http.StatusBadRequest, "M_WEAK_PASSWORD")

			// Shared-secret registration, with a correct MAC.
			const path = "/_synapse/admin/v1/register"
			st, body = call(t, ts, "GET", path, "", nil)
			n, _ := body["nonce"].(string)
			st, body = call(t, ts, "POST", path, "", map[string]any{"nonce": n, "username": "weak4", "password": pw,
				"mac": sharedSecretMAC(ts.Config.RegistrationSharedSecret, n, "weak4", pw, false)})
			wantError(t, "shared-secret registration with "+pw, st, body, http.StatusBadRequest, "M_WEAK_PASSWORD")
		}

		// Nothing was created, and alice's password is unchanged.
		for _, lp := range []string{"weak1", "weak2", "weak3", "weak4"} {
			if _, err := ts.Server.Accounts.AdminUser(ctx, id.UserID("@"+lp+":ward.test")); err == nil {
				t.Errorf("@%s:ward.test was created with a weak password", lp)
			}
		}
		login(t, ts, "alice", testPassword)
		st, body = call(t, ts, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token="+intake, "", nil)
		if st != http.StatusOK || body["valid"] != true {
			t.Errorf("a refused registration spent the intake token: %d %v", st, body)
		}

		// Eight characters are enough, on the same paths.
		st, body = call(t, ts, "POST", "/_synapse/admin/v1/reset_password/@alice:ward.test", adm.token, map[string]any{"new_password": "ééééééé8"})
		wantOK(t, "admin reset to 8 characters", st, body)
		login(t, ts, "alice", "ééééééé8")
	})
}
