package policy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"maunium.net/go/mautrix"

	"ward/internal/dbtest"
	"ward/policy"
)

// wantInvalidParam checks that err is a 400 M_INVALID_PARAM whose message
// holds each of want.
func wantInvalidParam(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	var re mautrix.RespError
	if !errors.As(err, &re) || re.ErrCode != "M_INVALID_PARAM" {
		t.Errorf("%s: %v, want M_INVALID_PARAM", what, err)
		return
	}
	for _, w := range want {
		if !strings.Contains(re.Err, w) {
			t.Errorf("%s: %q does not say %q", what, re.Err, w)
		}
	}
}

// TestIntakeTokenNamesExistingTeams: an intake token binds its holder to
// care teams that exist; a misspelt team is refused, naming it, and no
// token is made (the roster import, which creates teams, is unaffected).
func TestIntakeTokenNamesExistingTeams(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		p := c.ts.Server.Policy
		admin := p.AdminAs("admin1")
		_, _, err := admin.CreateIntakeToken(ctx, policy.IntakeSpec{Role: policy.RolePatient, Teams: []string{"cardio", "nonexist"},
			Uses: 1, Lifetime: policy.DefaultIntakeLifetime})
		wantInvalidParam(t, "token for an unknown team", err, `"nonexist"`)
		toks, err := p.IntakeTokens(ctx)
		must(t, err)
		if len(toks) != 0 {
			t.Fatalf("a refused token was stored: %+v", toks)
		}
		if _, _, err := admin.CreateIntakeToken(ctx, policy.IntakeSpec{Role: policy.RolePatient, Teams: []string{"cardio"},
			Uses: 1, Lifetime: policy.DefaultIntakeLifetime}); err != nil {
			t.Fatalf("token for an existing team: %v", err)
		}
		teams, err := p.TeamList(ctx)
		must(t, err)
		for _, tm := range teams {
			if tm.Name == "nonexist" {
				t.Fatal("the refused token created its team")
			}
		}
	})
}

// TestTeamNames: a care team's name is read and compared by people, so the
// one check every way in shares refuses what would hide or reorder text
// (controls, bidi overrides and isolates, zero-width and other invisible
// characters, odd spaces), spaces around it, and over-long names.
func TestTeamNames(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		p := c.ts.Server.Policy
		admin := p.AdminAs("admin1")
		for _, name := range []string{
			"\u202e txet",        // right-to-left override
			"car\u200bdio",       // zero-width space
			"car\u200ddio",       // zero-width joiner
			"\u2066cardio\u2069", // isolates
			"cardio\u061c",       // Arabic letter mark
			"card\u00adio",       // soft hyphen
			"cardio\ufeff",       // byte order mark
			"cardio\t",           // control
			"cardio\x7f",         // DEL
			"ortho\u0085",        // next line (C1 control)
			"car\u2028dio",       // line separator
			"cardio\u3164",       // Hangul filler
			"cardio\ufe0f",       // variation selector
			"car\u00a0dio",       // no-break space
			"car\u2003dio",       // em space
			"car\ue000dio",       // private use
			" cardio",
			"cardio ",
			"   ",
			"",
			strings.Repeat("x", 65),
			strings.Repeat("é", 65),
			"a;b", "a/b",
		} {
			wantInvalidParam(t, "create team "+strings.ToValidUTF8(name, "?"), admin.CreateTeam(ctx, name), "care team name")
			wantInvalidParam(t, "add to team "+name, admin.AddToTeam(ctx, name, c.id("pat1"), policy.KindPatient), "care team name")
			_, _, err := admin.CreateIntakeToken(ctx, policy.IntakeSpec{Role: policy.RolePatient, Teams: []string{name},
				Uses: 1, Lifetime: policy.DefaultIntakeLifetime})
			wantInvalidParam(t, "intake token for team "+name, err, "care team name")
		}
		for _, name := range []string{"Cardiology North", "Kardiologie – Süd", "小児科", "طب الأطفال", strings.Repeat("é", 64)} {
			if err := admin.CreateTeam(ctx, name); err != nil {
				t.Errorf("create team %q: %v", name, err)
			}
		}
		teams, err := p.TeamList(ctx)
		must(t, err)
		if len(teams) != 2+5 {
			t.Fatalf("teams after the refusals: %+v", teams)
		}

		// The roster import creates teams, through the same check.
		_, err = importRoster(t, c.ts, "localpart,role,care_teams,password\np.new,patient,\u202etxet,correct-horse-battery-1\n", policy.RosterOptions{})
		var re *policy.RosterError
		if !errors.As(err, &re) || !strings.Contains(re.Error(), "line 2: care_teams: Invalid care team name") {
			t.Fatalf("roster with a right-to-left override in a team: %v", err)
		}
	})
}
