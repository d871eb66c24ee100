package clientapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestPolicyAdminRefusesBadTeams: the admin API refuses an intake token
// bound to a care team that does not exist (a typing mistake would go
// unnoticed) and a team name that hides or reorders text (a right-to-left
// override spoofs another name), with 400 M_INVALID_PARAM naming it.
func TestPolicyAdminRefusesBadTeams(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		if _, err := ts.Server.Accounts.CreateUser(context.Background(), "boss", testPassword, true); err != nil {
			t.Fatal(err)
		}
		boss := login(t, ts, "boss", testPassword)
		const pre = "/_ward/admin/v1"

		status, body := call(t, ts, "POST", pre+"/intake_tokens", boss.AccessToken, map[string]any{"role": "patient", "care_teams": []string{"nonexist"}})
		wantError(t, "intake token for an unknown team", status, body, http.StatusBadRequest, "M_INVALID_PARAM")
		if msg, _ := body["error"].(string); !strings.Contains(msg, `"nonexist"`) {
			t.Errorf("the refusal does not name the team: %v", body)
		}
		if _, body := call(t, ts, "GET", pre+"/intake_tokens", boss.AccessToken, nil); len(body["intake_tokens"].([]any)) != 0 {
			t.Fatalf("a refused token was stored: %v", body)
		}

		for _, path := range []string{"%E2%80%AE%20txet", "%E2%80%AE txet", "car%E2%80%8Bdio", "%20cardio", "cardio%09", strings.Repeat("x", 65)} {
			status, body := call(t, ts, "PUT", pre+"/teams/"+path, boss.AccessToken, nil)
			wantError(t, "team "+path, status, body, http.StatusBadRequest, "M_INVALID_PARAM")
		}
		if _, body := call(t, ts, "GET", pre+"/teams", boss.AccessToken, nil); len(body["teams"].([]any)) != 0 {
			t.Fatalf("a refused team was made: %v", body)
		}
		if status, body := call(t, ts, "PUT", pre+"/teams/Cardiology%20North", boss.AccessToken, nil); status != http.StatusOK {
			t.Fatalf("a plain team name: %d %v", status, body)
		}
		status, body = call(t, ts, "POST", pre+"/intake_tokens", boss.AccessToken, map[string]any{"role": "patient", "care_teams": []string{"Cardiology North"}})
		if status != http.StatusOK {
			t.Fatalf("intake token for an existing team: %d %v", status, body)
		}
	})
}
