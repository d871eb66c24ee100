package clientapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"ward/audit"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// TestAdminWhois: GET /_matrix/client/v3/admin/whois/{userId} answers the
// spec's shape (user_id; devices → sessions → connections with ip,
// last_seen, user_agent) to a server admin about anyone and to a user about
// themself; anyone else gets 403 M_FORBIDDEN, recorded as admin.refused,
// before the user is looked up (an unknown user gets the same 403). Every
// answered call is recorded as admin.user.whois, like Synapse's whois.
//
// Spec: client-server-api "Server administration", GET
// /_matrix/client/v3/admin/whois/{userId} ("may be restricted to only be
// called by the user being looked up, or by a server admin").
func TestAdminWhois(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		adm := newSynapseAdmin(t, ts)
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")
		// A request with alice's token, so that her device has a connection.
		st, body := call(t, ts, "GET", v3+"/account/whoami", alice.AccessToken, nil)
		wantOK(t, "whoami", st, body)
		whois := func(user string) string { return v3 + "/admin/whois/" + url.PathEscape(user) }

		for _, caller := range []struct{ name, token string }{{"admin", adm.token}, {"self", alice.AccessToken}} {
			st, body := call(t, ts, "GET", whois(string(alice.UserID)), caller.token, nil)
			wantOK(t, caller.name+" whois alice", st, body)
			if body["user_id"] != string(alice.UserID) {
				t.Fatalf("%s: user_id %v", caller.name, body["user_id"])
			}
			dev, _ := body["devices"].(map[string]any)[string(alice.DeviceID)].(map[string]any)
			sessions, _ := dev["sessions"].([]any)
			if len(sessions) != 1 {
				t.Fatalf("%s: devices %v", caller.name, body["devices"])
			}
			conns, _ := sessions[0].(map[string]any)["connections"].([]any)
			if len(conns) != 1 {
				t.Fatalf("%s: connections %v", caller.name, sessions)
			}
			c := conns[0].(map[string]any)
			if c["ip"] != "127.0.0.1" || c["last_seen"] == nil || c["user_agent"] == nil {
				t.Fatalf("%s: connection %v", caller.name, c)
			}
		}
		st, body = call(t, ts, "GET", whois("@nobody:ward.test"), adm.token, nil)
		wantError(t, "admin whois of an unknown user", st, body, http.StatusNotFound, "M_NOT_FOUND")

		refusedBefore, _, _ := ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionAdminPrefix + "refused"})
		for _, other := range []string{string(alice.UserID), "@nobody:ward.test"} {
			st, body := call(t, ts, "GET", whois(other), bob.AccessToken, nil)
			wantError(t, "bob whois "+other, st, body, http.StatusForbidden, "M_FORBIDDEN")
		}
		refused, _, _ := ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionAdminPrefix + "refused"})
		if len(refused) != len(refusedBefore)+2 || refused[len(refused)-1].ActorUser != string(bob.UserID) ||
			refused[len(refused)-1].Detail["endpoint"] != "GET /_matrix/client/v3/admin/whois/{userId}" {
			t.Fatalf("refusals recorded: %+v", refused[len(refusedBefore):])
		}

		calls, _, _ := ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionAdminPrefix + "user.whois"})
		if len(calls) != 3 {
			t.Fatalf("whois calls recorded: %d, want 3: %+v", len(calls), calls)
		}
		for i, want := range []struct {
			actor   string
			outcome audit.Outcome
		}{{string(adm.ID), audit.Allowed}, {string(alice.UserID), audit.Allowed}, {string(adm.ID), audit.Failed}} {
			e := calls[i]
			if e.ActorUser != want.actor || e.Outcome != want.outcome ||
				e.Detail["endpoint"] != "GET /_matrix/client/v3/admin/whois/{userId}" {
				t.Errorf("whois entry %d: %+v", i, e)
			}
		}
	})
}
