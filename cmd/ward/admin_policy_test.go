package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"ward/internal/dbtest"
)

// TestAdminPolicyCommands runs the clinic-policy admin commands through run
// on a fresh database: the roster import (twice, and a bad file), roles,
// teams, assignments and intake tokens.
func TestAdminPolicyCommands(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		env := sqliteEnv(t)
		env["WARD_DATABASE"] = b.DSN
		env["WARD_SERVER_NAME"] = "clinic.test"
		migrated(t, env)
		ctx := context.Background()
		ward := func(args ...string) (string, error) {
			t.Helper()
			iv := &invocation{args: append([]string{"admin"}, args...), env: env}
			err := iv.run(ctx)
			return iv.stdout.String(), err
		}
		mustRun := func(want string, args ...string) string {
			t.Helper()
			out, err := ward(args...)
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("ward admin %s: %v\n%s\nwant %q", strings.Join(args, " "), err, out, want)
			}
			return out
		}
		example := filepath.Join("..", "..", "policy", "testdata", "roster-example.csv")
		bad := filepath.Join(t.TempDir(), "bad.csv")
		src, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bad, append(src, []byte("p.extra,Extra,docter,,,pw\n")...), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ward("roster", "import", bad); err == nil || !strings.Contains(err.Error(), "line 11: unknown role") {
			t.Fatalf("bad roster: %v", err)
		}
		// A dry run names no token: the one it made is rolled back, and
		// the real import issues another.
		out := mustRun("dry run, nothing was changed: users: 9 created", "roster", "import", "--dry-run", example)
		if strings.Contains(out, "it_") || strings.Count(out, "@p.haddad:clinic.test") != 2 || !strings.Contains(out, "issue intake token @p.haddad:clinic.test\n") {
			t.Errorf("dry run: want one account and one token line for p.haddad, and no token id:\n%s", out)
		}
		out = mustRun("users: 9 created, 0 updated, 0 unchanged; teams: 2 created; assignments: 2 added, 0 removed", "roster", "import", example)
		if !regexp.MustCompile(`intake token for @p\.haddad:clinic\.test .*: [a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}`).MatchString(out) {
			t.Fatalf("no token printed for the row without a password:\n%s", out)
		}
		// The token it lists is the one it issued, with the role of the
		// account it is bound to.
		issued := regexp.MustCompile(`issue intake token (it_[0-9a-f]+) @p\.haddad`).FindStringSubmatch(out)
		if issued == nil {
			t.Fatalf("the import does not name the token it issued:\n%s", out)
		}
		if !regexp.MustCompile(issued[1] + `\s+valid\s+patient\s+0/1\s+\S+\s+@p\.haddad:clinic\.test\n`).MatchString(mustRun(issued[1], "token", "list")) {
			t.Errorf("token list does not show the roster's token with its account's role:\n%s", mustRun("", "token", "list"))
		}
		mustRun("nothing changed: users: 0 created, 0 updated, 9 unchanged", "roster", "import", example)

		// Every bad line at once: those the file shows and those only the
		// database shows (a provider with no account, or who is a nurse).
		bad2 := filepath.Join(t.TempDir(), "bad2.csv")
		if err := os.WriteFile(bad2, []byte("localpart,role,providers\np.one,patient,ghost\np.two,patient,nurse.reyes\np.three,docter,\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"roster", "import", bad2}, {"roster", "import", "--dry-run", bad2}} {
			_, err := ward(args...)
			for _, want := range []string{"3 invalid rows", `line 2: providers: "ghost" is neither in the file nor an account here`,
				`line 3: providers: "nurse.reyes" is a nurse, not a provider`, `line 4: unknown role "docter"`} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%v: %v\nwant %q", args, err, want)
				}
			}
		}
		// With the file's own mistake mended, the database's are still found.
		if err := os.WriteFile(bad2, []byte("localpart,role,providers\np.one,patient,ghost\np.two,patient,nurse.reyes\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ward("roster", "import", bad2); err == nil || !strings.Contains(err.Error(), "2 invalid rows") {
			t.Errorf("roster with only database problems: %v", err)
		}
		mustRun("is now a nurse", "role", "set", "frontdesk.kim", "nurse")
		mustRun("@frontdesk.kim:clinic.test  nurse", "role", "list")
		mustRun("care team oncology exists", "team", "create", "oncology")
		mustRun("added @frontdesk.kim:clinic.test to care team oncology", "team", "add", "oncology", "frontdesk.kim")
		mustRun("  @frontdesk.kim:clinic.test clinician", "team", "list")
		mustRun("removed @frontdesk.kim:clinic.test", "team", "remove", "oncology", "@frontdesk.kim:clinic.test")
		mustRun("deleted care team oncology", "team", "delete", "oncology")
		mustRun("assigned @dr.okafor:clinic.test to @p.novak:clinic.test", "assign", "dr.okafor", "p.novak")
		mustRun("@dr.okafor:clinic.test     @p.novak:clinic.test", "assignment", "list")
		mustRun("unassigned", "unassign", "dr.okafor", "p.novak")
		if _, err := ward("assign", "nurse.reyes", "p.novak"); err == nil || !strings.Contains(err.Error(), "not a provider") {
			t.Fatalf("assigning a nurse as provider: %v", err)
		}
		out = mustRun("intake token it_", "token", "create", "--role", "patient", "--team", "cardiology", "--provider", "dr.okafor", "--uses", "3")
		tokID := regexp.MustCompile(`it_[0-9a-f]+`).FindString(out)
		mustRun(tokID+"  valid", "token", "list")
		mustRun("revoked intake token "+tokID, "token", "revoke", tokID)
		mustRun(tokID+"  revoked", "token", "list")
		mustRun("@frontdesk.kim:clinic.test is now an admin", "role", "set", "frontdesk.kim", "admin")
		// Only accounts of this server: no role, team or assignment for a
		// user without an account or of another server.
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"role", "set", "alice", "provider"}, "@alice:clinic.test has no account on this server"},
			{[]string{"role", "set", "@x:other.org", "provider"}, "Ward does not federate"},
			{[]string{"team", "add", "cardiology", "ghost", "--kind", "patient"}, "@ghost:clinic.test has no account"},
			{[]string{"team", "add", "cardiology", "@x:other.org", "--kind", "patient"}, "Ward does not federate"},
			{[]string{"assign", "dr.okafor", "ghost"}, "@ghost:clinic.test has no account"},
			{[]string{"assign", "@x:other.org", "p.novak"}, "Ward does not federate"},
			{[]string{"token", "create", "--role", "patient", "--provider", "@x:other.org"}, "Ward does not federate"},
			// A token names care teams that exist; a team's name hides nothing.
			{[]string{"token", "create", "--role", "patient", "--team", "nonexist"}, `No care team "nonexist"`},
			{[]string{"team", "create", "\u202e txet"}, `Invalid care team name "\u202e txet"`},
			// Uses and lifetime must be positive: 0 is not the default.
			{[]string{"token", "create", "--role", "patient", "--uses", "0"}, "good for 1 to 10000 uses, not 0"},
			{[]string{"token", "create", "--role", "patient", "--uses", "-2"}, "good for 1 to 10000 uses, not -2"},
			{[]string{"token", "create", "--role", "patient", "--expires", "-1h"}, "lifetime must be positive, not -1h0m0s"},
			{[]string{"token", "create", "--role", "patient", "--expires", "0s"}, "lifetime must be positive, not 0s"},
		} {
			if out, err := ward(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ward admin %v: %v %q; want an error saying %q", tt.args, err, out, tt.want)
			}
		}
		if out := mustRun("USER", "role", "list"); strings.Contains(out, "alice") || strings.Contains(out, "other.org") {
			t.Fatalf("a role was stored for a refused user:\n%s", out)
		}
		if _, err := ward("team", "add", "oncology"); !errors.Is(err, errUsage) {
			t.Fatalf("missing argument: %v", err)
		}
	})
}
