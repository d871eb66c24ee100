package clientapi_test

import (
	"context"
	"net/http"
	"testing"

	"ward/audit"
	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestAdminRefusalsAreRecorded: every admin-only surface — the clinic
// policy's admin API, the audit trail's endpoints, the Synapse admin API
// and the runtime profiles — answers a non-admin 403 M_FORBIDDEN and
// records the attempt as admin.refused (denied), with the endpoint (README:
// Audit trail, "a refused attempt is recorded").
func TestAdminRefusalsAreRecorded(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) {
			c.Policy = "on"
			c.Pprof = true
		})
		ctx := context.Background()
		bob := registerUser(t, ts, "bob")
		const pre = "/_ward/admin/v1"
		calls := []struct{ method, path, endpoint string }{
			{"GET", pre + "/roles", "GET " + pre + "/roles"},
			{"PUT", pre + "/users/bob/role", "PUT " + pre + "/users/{userId}/role"},
			{"GET", pre + "/teams", "GET " + pre + "/teams"},
			{"PUT", pre + "/teams/cardio", "PUT " + pre + "/teams/{team}"},
			{"DELETE", pre + "/teams/cardio", "DELETE " + pre + "/teams/{team}"},
			{"PUT", pre + "/teams/cardio/members/bob", "PUT " + pre + "/teams/{team}/members/{userId}"},
			{"DELETE", pre + "/teams/cardio/members/bob", "DELETE " + pre + "/teams/{team}/members/{userId}"},
			{"GET", pre + "/assignments", "GET " + pre + "/assignments"},
			{"PUT", pre + "/assignments/doc/bob", "PUT " + pre + "/assignments/{provider}/{patient}"},
			{"DELETE", pre + "/assignments/doc/bob", "DELETE " + pre + "/assignments/{provider}/{patient}"},
			{"GET", pre + "/intake_tokens", "GET " + pre + "/intake_tokens"},
			{"POST", pre + "/intake_tokens", "POST " + pre + "/intake_tokens"},
			{"DELETE", pre + "/intake_tokens/it_1", "DELETE " + pre + "/intake_tokens/{tokenId}"},
			{"GET", pre + "/audit", "GET " + pre + "/audit"},
			{"GET", pre + "/audit/verify", "GET " + pre + "/audit/verify"},
			{"GET", pre + "/audit/checkpoint", "GET " + pre + "/audit/checkpoint"},
			{"GET", "/_synapse/admin/v2/users", "GET /_synapse/admin/v2/users"},
			{"GET", "/debug/pprof/heap", "GET /debug/pprof/"},
		}
		for _, c := range calls {
			before, _, err := ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionAdminPrefix + "refused"})
			if err != nil {
				t.Fatal(err)
			}
			st, body := call(t, ts, c.method, c.path, bob.AccessToken, map[string]any{})
			wantError(t, c.method+" "+c.path, st, body, http.StatusForbidden, "M_FORBIDDEN")
			after, _, err := ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionAdminPrefix + "refused"})
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before)+1 {
				t.Errorf("%s %s: the refusal was not recorded", c.method, c.path)
				continue
			}
			e := after[len(after)-1]
			if e.ActorUser != string(bob.UserID) || e.Outcome != audit.Denied || e.Detail["endpoint"] != c.endpoint {
				t.Errorf("%s %s: recorded as %+v", c.method, c.path, e)
			}
		}
	})
}
