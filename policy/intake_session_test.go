package policy_test

import (
	"context"
	"net/http"
	"testing"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// TestIntakeTokenSessionSurvivesFailedStages: a User-Interactive Auth
// session lasts until it completes or expires, whatever the stages that
// failed in between (spec: client-server-api "User-interactive
// authentication API"). A client that sent the token before the form was
// filled in, typed a wrong token, or picked a username that is taken goes
// on in the same session, and the server never hands it a new one.
func TestIntakeTokenSessionSurvivesFailedStages(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on"; c.Registration = "closed" })
		ctx := context.Background()
		admin := ts.Server.Policy.AdminAs("@boss:ward.test")
		secret, _, err := admin.CreateIntakeToken(ctx, policy.IntakeSpec{Role: policy.RolePatient, Uses: 1, Lifetime: policy.DefaultIntakeLifetime})
		must(t, err)
		_, err = ts.Server.Accounts.CreateUser(ctx, "taken", "a long enough password", false)
		must(t, err)
		// p.haddad: a password-less roster account kept for the holder of
		// its own token, so another token cannot take it.
		_, err = importRoster(t, ts, exampleRoster(t), policy.RosterOptions{})
		must(t, err)

		const path = "/_matrix/client/v3/register"
		status, body := post(t, ts, path, map[string]any{"initial_device_display_name": "Element"})
		session, _ := body["session"].(string)
		if status != http.StatusUnauthorized || session == "" {
			t.Fatalf("probe: %d %v, want 401 with a session", status, body)
		}
		auth := func(token string) map[string]any {
			return map[string]any{"type": "m.login.registration_token", "token": token, "session": session}
		}
		keeps := func(what string, status int, body map[string]any, wantStatus int) {
			t.Helper()
			if status != wantStatus {
				t.Fatalf("%s: %d %v, want %d", what, status, body, wantStatus)
			}
			if s, ok := body["session"]; ok && s != session {
				t.Fatalf("%s: the answer names session %v, want the client's %s", what, s, session)
			}
		}

		// The token before the username and password.
		status, body = post(t, ts, path, map[string]any{"auth": auth(secret)})
		keeps("token without a password", status, body, http.StatusBadRequest)

		// A wrong token, corrected later.
		status, body = post(t, ts, path, map[string]any{"username": "newpat", "password": "a long enough password", "auth": auth("wrong-wrong-wrong")})
		keeps("wrong token", status, body, http.StatusUnauthorized)
		if body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("wrong token: %v, want M_FORBIDDEN", body)
		}

		// A username that is taken.
		status, body = post(t, ts, path, map[string]any{"username": "taken", "password": "a long enough password", "auth": auth(secret)})
		keeps("taken username", status, body, http.StatusBadRequest)

		// The username of a roster account kept for its own token's holder.
		status, body = post(t, ts, path, map[string]any{"username": "p.haddad", "password": "a long enough password", "auth": auth(secret)})
		keeps("username kept for another token", status, body, http.StatusBadRequest)

		// A weak password.
		status, body = post(t, ts, path, map[string]any{"username": "newpat", "password": "short", "auth": auth(secret)})
		keeps("weak password", status, body, http.StatusBadRequest)

		// Then everything right, in the same session.
		status, body = post(t, ts, path, map[string]any{"username": "newpat", "password": "a long enough password", "auth": auth(secret)})
		if status != http.StatusOK || body["user_id"] != "@newpat:ward.test" {
			t.Fatalf("the corrected request in the first session: %d %v, want 200", status, body)
		}

		// Completed, the session is spent: it cannot make a second account.
		status, body = post(t, ts, path, map[string]any{"username": "another", "password": "a long enough password", "auth": auth(secret)})
		if status == http.StatusOK {
			t.Fatalf("a completed session was used again: %v", body)
		}
	})
}
