package policy_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/accounts"
	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// importRoster parses csv and imports it into the running server's
// database as the command line would.
func importRoster(t *testing.T, ts *servertest.TS, csv string, opt policy.RosterOptions) (policy.RosterReport, error) {
	t.Helper()
	rows, err := policy.ParseRoster(strings.NewReader(csv), ts.Server.Accounts.ValidLocalpart, accounts.CheckNewPassword)
	if err != nil {
		return policy.RosterReport{}, err
	}
	return ts.Server.Policy.AdminAs("roster test").ImportRoster(context.Background(), ts.Server.Accounts, rows, opt)
}

func exampleRoster(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/roster-example.csv")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func countRows(t *testing.T, ts *servertest.TS, table string) int {
	t.Helper()
	var n int
	if err := ts.Server.DB.Read.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func loginAs(t *testing.T, ts *servertest.TS, user, password string) (*mautrix.Client, error) {
	t.Helper()
	cli, err := mautrix.NewClient(ts.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cli.Login(context.Background(), &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user}, Password: password, StoreCredentials: true})
	return cli, err
}

// TestRosterImportExample: the example file creates its nine people, two
// teams, two assignments and one intake token (the row without a
// password); people log in with their initial passwords; a second import
// changes nothing and says so.
func TestRosterImportExample(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		ctx := context.Background()
		dry, err := importRoster(t, ts, exampleRoster(t), policy.RosterOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if dry.UsersCreated != 9 || !strings.HasPrefix(dry.Summary(), "dry run") {
			t.Fatalf("dry run: %s", dry.Summary())
		}
		if n := countRows(t, ts, "users") + countRows(t, ts, "clinic_roles") + countRows(t, ts, "intake_tokens"); n != 0 {
			t.Fatalf("a dry run left %d rows behind", n)
		}
		rep, err := importRoster(t, ts, exampleRoster(t), policy.RosterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.UsersCreated != 9 || rep.UsersUpdated != 0 || rep.TeamsCreated != 2 || rep.AssignmentsAdded != 2 || len(rep.Tokens) != 1 {
			t.Fatalf("first import: %s", rep.Summary())
		}
		if rep.Tokens[0].UserID != "@p.haddad:ward.test" || rep.Tokens[0].Token == "" {
			t.Fatalf("token issued for %s (%q), want p.haddad", rep.Tokens[0].UserID, rep.Tokens[0].Token)
		}
		people, err := ts.Server.Policy.People(ctx, "@p.alvarez:ward.test", "@nurse.reyes:ward.test", "@compliance:ward.test")
		if err != nil {
			t.Fatal(err)
		}
		alv := people["@p.alvarez:ward.test"]
		if alv.Role != policy.RolePatient || !alv.Teams["cardiology"] || !alv.Providers["@dr.okafor:ward.test"] {
			t.Fatalf("p.alvarez: %+v", alv)
		}
		if p := people["@nurse.reyes:ward.test"]; p.Role != policy.RoleNurse || !p.Teams["cardiology"] {
			t.Fatalf("nurse.reyes: %+v", p)
		}
		if _, err := loginAs(t, ts, "dr.okafor", "correct-horse-battery-1"); err != nil {
			t.Fatalf("provider logs in with the roster's password: %v", err)
		}
		if _, err := loginAs(t, ts, "p.haddad", ""); err == nil {
			t.Fatal("the account without a password logged in")
		}
		again, err := importRoster(t, ts, exampleRoster(t), policy.RosterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if again.Changed() || again.UsersUnchanged != 9 || len(again.Tokens) != 0 || !strings.HasPrefix(again.Summary(), "nothing changed") {
			t.Fatalf("second import: %s %v", again.Summary(), again.Changes)
		}
	})
}

// TestRosterBadRowChangesNothing: one invalid row fails the whole import
// with its line number, and nothing is written.
func TestRosterBadRowChangesNothing(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		cases := []struct{ name, extra, want string }{
			{"unknown role", "p.extra,Extra,docter,,,a long password\n", "line 11: unknown role"},
			{"provider is not a provider", "p.extra,Extra,patient,,nurse.reyes,a long password\n", "line 11: providers: \"nurse.reyes\" is a nurse"},
			{"patient as provider", "p.extra,Extra,patient,,p.novak,a long password\n", "line 11: providers: \"p.novak\" is a patient"},
			{"malformed localpart", "P Extra,Extra,patient,,,a long password\n", "line 11: malformed localpart"},
			{"duplicate localpart", "dr.okafor,Again,provider,,,a long password\n", "line 11: duplicate localpart \"dr.okafor\" (first on line 2)"},
			{"unknown provider", "p.extra,Extra,patient,,dr.nobody,a long password\n", `line 11: providers: "dr.nobody" is neither in the file nor an account here`},
			// The README's minimum (8 characters) holds for the roster's
			// initial passwords as for every other way of setting one.
			{"short password", "p.extra,Extra,patient,,,pw\n", "line 11: password: The password has 2 characters: it needs at least 8"},
		}
		for _, tc := range cases {
			_, err := importRoster(t, ts, exampleRoster(t)+tc.extra, policy.RosterOptions{})
			var re *policy.RosterError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
			}
			for _, table := range []string{"users", "clinic_roles", "care_teams", "assignments", "intake_tokens"} {
				if n := countRows(t, ts, table); n != 0 {
					t.Fatalf("%s: the failed import left %d rows in %s", tc.name, n, table)
				}
			}
		}
		if _, err := importRoster(t, ts, "localpart,role,shoe_size\nx,patient,9\n", policy.RosterOptions{}); err == nil ||
			!strings.Contains(err.Error(), `line 1: unknown column "shoe_size"`) {
			t.Errorf("unknown column: %v", err)
		}
	})
}

// TestRosterPruneRemovesMembership: an assignment missing from the file
// stays without --prune; with it, the assignment ends and the running
// server takes the provider out of the patient's DM.
func TestRosterPruneRemovesMembership(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		ctx := context.Background()
		if _, err := importRoster(t, ts, exampleRoster(t), policy.RosterOptions{}); err != nil {
			t.Fatal(err)
		}
		pat, err := loginAs(t, ts, "p.alvarez", "correct-horse-battery-5")
		if err != nil {
			t.Fatal(err)
		}
		doc, err := loginAs(t, ts, "dr.okafor", "correct-horse-battery-1")
		if err != nil {
			t.Fatal(err)
		}
		dm, err := pat.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{doc.UserID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := doc.JoinRoomByID(ctx, dm.RoomID); err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(exampleRoster(t), "p.alvarez,Maria Alvarez,patient,cardiology,dr.okafor,", "p.alvarez,Maria Alvarez,patient,cardiology,,", 1)
		rep, err := importRoster(t, ts, changed, policy.RosterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.AssignmentsRemoved != 0 || rep.Changed() {
			t.Fatalf("without --prune: %s", rep.Summary())
		}
		rep, err = importRoster(t, ts, changed, policy.RosterOptions{Prune: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.AssignmentsRemoved != 1 || rep.UsersUpdated != 1 || rep.MembershipsRemoved != 0 {
			t.Fatalf("with --prune: %s", rep.Summary())
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			var m event.MemberEventContent
			err := pat.StateEvent(ctx, dm.RoomID, event.StateMember, string(doc.UserID), &m)
			if err == nil && m.Membership == event.MembershipLeave {
				if !strings.Contains(m.Reason, "assignment") {
					t.Fatalf("leave without a readable reason: %q", m.Reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("provider still in the patient's DM after the prune (%v, %q)", err, m.Membership)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The accounts stay, and a third import changes nothing.
		if n := countRows(t, ts, "users"); n != 9 {
			t.Fatalf("%d accounts after the prune, want 9", n)
		}
		rep, err = importRoster(t, ts, changed, policy.RosterOptions{Prune: true})
		if err != nil || rep.Changed() {
			t.Fatalf("prune again: %s %v", rep.Summary(), err)
		}
	})
}

// TestClinicAdminRoleIsNotServerAdmin: the clinic role admin never makes a
// server admin, whichever way it is given (roster import, role set); a
// server admin comes only from `ward admin user create --admin` or the
// Synapse admin API, and a clinic role change leaves it as it is (README:
// Clinic policy).
func TestClinicAdminRoleIsNotServerAdmin(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
		ctx := context.Background()
		if _, err := importRoster(t, ts, exampleRoster(t), policy.RosterOptions{}); err != nil {
			t.Fatal(err)
		}
		const compliance = id.UserID("@compliance:ward.test")
		people, err := ts.Server.Policy.People(ctx, compliance)
		if err != nil || people[compliance].Role != policy.RoleAdmin {
			t.Fatalf("compliance: %+v %v", people[compliance], err)
		}
		serverAdmin := func(user id.UserID) bool {
			t.Helper()
			u, err := ts.Server.Accounts.AdminUser(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			return u.Admin
		}
		if serverAdmin(compliance) {
			t.Fatal("the roster's admin row made a server admin")
		}
		cli, err := loginAs(t, ts, "compliance", "correct-horse-battery-9")
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/_ward/admin/v1/roles", "/_ward/admin/v1/audit", "/_synapse/admin/v2/users"} {
			req, _ := http.NewRequest("GET", ts.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("the clinic admin called %s: %d, want 403", path, resp.StatusCode)
			}
		}

		// The same through a role change.
		admin := ts.Server.Policy.AdminAs("roster test")
		if err := admin.SetRole(ctx, "@nurse.reyes:ward.test", policy.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if serverAdmin("@nurse.reyes:ward.test") {
			t.Fatal("role set admin made a server admin")
		}
		// A server admin keeps that status through clinic role changes.
		boss, err := ts.Server.Accounts.CreateUser(ctx, "boss", "boss password", true)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []policy.Role{policy.RoleAdmin, policy.RoleStaff} {
			if err := admin.SetRole(ctx, boss, r); err != nil {
				t.Fatal(err)
			}
			if !serverAdmin(boss) {
				t.Fatalf("role %s took the server admin status away", r)
			}
		}
	})
}
