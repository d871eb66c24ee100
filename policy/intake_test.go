package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// post sends a JSON body and decodes the JSON answer.
func post(t *testing.T, ts *servertest.TS, path string, body any) (int, map[string]any) {
	t.Helper()
	buf, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(ts.URL+path, "application/json", bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer is not JSON: %q", raw)
	}
	return resp.StatusCode, out
}

// registerWithToken goes through /register's m.login.registration_token
// flow as Element Web does: a probe with nothing but a device name when the
// sign-up screen opens (a 401 with the flows tells it registration is
// possible; anything else shows "Unable to query for supported
// registration methods"), a request with the form's fields for a session,
// then the token stage. It returns the final status and body.
func registerWithToken(t *testing.T, ts *servertest.TS, username, token string) (int, map[string]any) {
	t.Helper()
	status, body := post(t, ts, "/_matrix/client/v3/register", map[string]any{"initial_device_display_name": "Element"})
	if status != http.StatusUnauthorized || body["flows"] == nil || body["errcode"] != nil {
		t.Fatalf("sign-up screen's probe of /register: %d %v, want 401 with the flows", status, body)
	}
	req := map[string]any{"username": username, "password": "a long enough password", "initial_device_display_name": "Element"}
	status, body = post(t, ts, "/_matrix/client/v3/register", req)
	if status != http.StatusUnauthorized {
		t.Fatalf("first /register: %d %v, want 401 with flows", status, body)
	}
	flows, _ := body["flows"].([]any)
	offered := false
	for _, f := range flows {
		for _, st := range f.(map[string]any)["stages"].([]any) {
			if st == "m.login.registration_token" {
				offered = true
			}
			if st == "m.login.dummy" {
				t.Fatalf("closed registration offers m.login.dummy: %v", body)
			}
		}
	}
	if !offered || body["session"] == "" {
		t.Fatalf("no registration-token flow offered: %v", body)
	}
	req["auth"] = map[string]any{"type": "m.login.registration_token", "token": token, "session": body["session"]}
	return post(t, ts, "/_matrix/client/v3/register", req)
}

func validity(t *testing.T, ts *servertest.TS, token string) bool {
	t.Helper()
	resp, err := http.Get(ts.URL + "/_matrix/client/v1/register/m.login.registration_token/validity?token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	status, body := decode(t, resp)
	if status != http.StatusOK {
		t.Fatalf("validity: %d %v", status, body)
	}
	v, ok := body["valid"].(bool)
	if !ok {
		t.Fatalf("validity answer without a boolean: %v", body)
	}
	return v
}

func wantRefused(t *testing.T, what string, status int, body map[string]any) {
	t.Helper()
	if status != http.StatusUnauthorized || body["errcode"] != "M_FORBIDDEN" || body["flows"] == nil {
		t.Fatalf("%s: %d %v, want 401 M_FORBIDDEN in the UIA body", what, status, body)
	}
}

// TestIntakeTokenSignUp: with registration closed, an intake token opens
// /register through the spec's m.login.registration_token stage, and the
// new account has the token's role, team and provider at once; expired,
// used-up and revoked tokens are refused; the validity endpoint agrees.
//
// Spec: client-server-api "Token-authenticated registration".
func TestIntakeTokenSignUp(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on"; c.Registration = "closed" })
		ctx := context.Background()
		p := ts.Server.Policy
		admin := p.AdminAs("@boss:ward.test")
		doc, err := ts.Server.Accounts.CreateUser(ctx, "doc", "doctor's password", false)
		must(t, err)
		must(t, admin.SetRole(ctx, doc, policy.RoleProvider))
		must(t, admin.CreateTeam(ctx, "cardio"))

		// Plain registration stays closed.
		cli, err := mautrix.NewClient(ts.URL, "", "")
		must(t, err)
		if _, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: "sneaky", Password: "password"}); err == nil {
			t.Fatal("m.login.dummy registered an account while registration is closed")
		}

		secret, tok, err := admin.CreateIntakeToken(ctx, policy.IntakeSpec{Role: policy.RolePatient, Teams: []string{"cardio"},
			Providers: []id.UserID{doc}, Uses: 1, Lifetime: policy.DefaultIntakeLifetime})
		must(t, err)
		if !validity(t, ts, secret) || validity(t, ts, "nope-nope-nope") {
			t.Fatal("validity endpoint wrong for a fresh and an unknown token")
		}
		status, body := registerWithToken(t, ts, "newpat", secret)
		if status != http.StatusOK || body["access_token"] == nil || body["user_id"] != "@newpat:ward.test" {
			t.Fatalf("sign-up with a valid token: %d %v", status, body)
		}
		people, err := p.People(ctx, "@newpat:ward.test")
		must(t, err)
		if np := people["@newpat:ward.test"]; np.Role != policy.RolePatient || !np.Teams["cardio"] || !np.Providers[doc] {
			t.Fatalf("the token's grant was not applied: %+v", np)
		}
		// Used up (single use).
		if validity(t, ts, secret) {
			t.Fatal("a spent single-use token is still valid")
		}
		status, body = registerWithToken(t, ts, "second", secret)
		wantRefused(t, "used-up token", status, body)

		// n uses.
		multi, _, err := admin.CreateIntakeToken(ctx, policy.IntakeSpec{Role: policy.RoleNurse, Uses: 2, Lifetime: policy.DefaultIntakeLifetime})
		must(t, err)
		for _, u := range []string{"nurse.a", "nurse.b"} {
			if status, body := registerWithToken(t, ts, u, multi); status != http.StatusOK {
				t.Fatalf("use of a two-use token by %s: %d %v", u, status, body)
			}
		}
		status, body = registerWithToken(t, ts, "nurse.c", multi)
		wantRefused(t, "third use of a two-use token", status, body)

		// Expired.
		short, _, err := admin.CreateIntakeToken(ctx, policy.IntakeSpec{Role: policy.RolePatient, Uses: 1, Lifetime: time.Millisecond})
		must(t, err)
		time.Sleep(20 * time.Millisecond)
		if validity(t, ts, short) {
			t.Fatal("an expired token is valid")
		}
		status, body = registerWithToken(t, ts, "late", short)
		wantRefused(t, "expired token", status, body)

		// Revoked.
		rev, revTok, err := admin.CreateIntakeToken(ctx, policy.IntakeSpec{Role: policy.RolePatient, Uses: 1, Lifetime: time.Hour})
		must(t, err)
		must(t, admin.RevokeIntakeToken(ctx, revTok.ID))
		if validity(t, ts, rev) {
			t.Fatal("a revoked token is valid")
		}
		status, body = registerWithToken(t, ts, "revoked", rev)
		wantRefused(t, "revoked token", status, body)

		// No account was made by a refused token.
		for _, u := range []string{"second", "nurse.c", "late", "revoked", "sneaky"} {
			if ok, _ := ts.Server.Accounts.UserExists(ctx, id.NewUserID(u, "ward.test")); ok {
				t.Errorf("a refused sign-up created %s", u)
			}
		}
		toks, err := p.IntakeTokens(ctx)
		must(t, err)
		states := map[string]string{}
		for _, x := range toks {
			states[x.ID] = x.State
		}
		if states[tok.ID] != "used up" || states[revTok.ID] != "revoked" {
			t.Fatalf("token states: %v", states)
		}
	})
}

// TestIntakeTokenFromRoster: a roster row without a password gets a token
// bound to its account; Element's username check lets the holder through,
// the token sets the password, and the account keeps the roster's facts.
func TestIntakeTokenFromRoster(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on"; c.Registration = "closed" })
		ctx := context.Background()
		rep, err := importRoster(t, ts, exampleRoster(t), policy.RosterOptions{})
		must(t, err)
		token := rep.Tokens[0].Token
		cli, err := mautrix.NewClient(ts.URL, "", "")
		must(t, err)
		if avail, err := cli.RegisterAvailable(ctx, "p.haddad"); err != nil || !avail.Available {
			t.Fatalf("the reserved username is not offered to its token's holder: %v", err)
		}
		if _, err := cli.RegisterAvailable(ctx, "p.novak"); err == nil {
			t.Fatal("an account with a password is reported available")
		}
		status, body := registerWithToken(t, ts, "someone.else", token)
		wantRefused(t, "bound token with another username", status, body)
		if msg, _ := body["error"].(string); strings.Contains(msg, "p.haddad") {
			t.Errorf("the refusal of a bound token names the account it is bound to: %q", msg)
		}
		status, body = registerWithToken(t, ts, "p.haddad", token)
		if status != http.StatusOK || body["user_id"] != "@p.haddad:ward.test" {
			t.Fatalf("redeeming the roster token: %d %v", status, body)
		}
		if _, err := loginAs(t, ts, "p.haddad", "a long enough password"); err != nil {
			t.Fatalf("login with the password set through the token: %v", err)
		}
		people, err := ts.Server.Policy.People(ctx, "@p.haddad:ward.test")
		must(t, err)
		if people["@p.haddad:ward.test"].Role != policy.RolePatient {
			t.Fatalf("roster role lost: %+v", people)
		}
		if _, err := cli.RegisterAvailable(ctx, "p.haddad"); err == nil {
			t.Fatal("the claimed username is still available")
		}
		again, err := importRoster(t, ts, exampleRoster(t), policy.RosterOptions{})
		must(t, err)
		if again.Changed() {
			t.Fatalf("import after the claim: %s %v", again.Summary(), again.Changes)
		}
	})
}
