package policy_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"ward/audit"
	"ward/internal/dbtest"
	"ward/policy"
)

// failingAuditor refuses every entry, as a full disk or a lost database
// connection would in the middle of an admin action.
type failingAuditor struct{ entries int }

var errAuditDown = errors.New("audit trail unavailable")

func (f *failingAuditor) Record(context.Context, *sql.Tx, audit.Entry) error {
	f.entries++
	return errAuditDown
}

func (f *failingAuditor) RecordAlone(context.Context, audit.Entry) error {
	f.entries++
	return errAuditDown
}

// TestAdminActionAndEntryCommitTogether: every admin action is recorded
// in the transaction that makes it, so an action whose audit entry cannot
// be written is not made at all: no unaudited change of who may reach whom.
func TestAdminActionAndEntryCommitTogether(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		p := c.ts.Server.Policy
		working := p.Audit
		if working == nil {
			t.Fatal("the server runs without an audit trail")
		}
		fa := &failingAuditor{}
		p.Audit = fa
		admin := p.AdminAs("admin1")

		pat1, doc2 := c.id("pat1"), c.id("doc2")
		steps := []struct {
			what string
			do   func() error
		}{
			{"set role", func() error { return admin.SetRole(ctx, pat1, policy.RoleStaff) }},
			{"create team", func() error { return admin.CreateTeam(ctx, "neuro") }},
			{"add to team", func() error { return admin.AddToTeam(ctx, "ortho", pat1, policy.KindPatient) }},
			{"remove from team", func() error { return admin.RemoveFromTeam(ctx, "cardio", pat1) }},
			{"assign", func() error { return admin.Assign(ctx, doc2, pat1) }},
			{"unassign", func() error { return admin.Unassign(ctx, c.id("doc1"), pat1) }},
			{"delete team", func() error { return admin.DeleteTeam(ctx, "cardio") }},
		}
		for _, s := range steps {
			if err := s.do(); !errors.Is(err, errAuditDown) {
				t.Fatalf("%s with the audit trail down: %v, want the audit error", s.what, err)
			}
		}
		if fa.entries != len(steps) {
			t.Fatalf("%d entries attempted for %d actions", fa.entries, len(steps))
		}

		people, err := p.People(ctx, pat1)
		if err != nil {
			t.Fatal(err)
		}
		got := people[pat1]
		if got.Role != policy.RolePatient {
			t.Errorf("role changed without its entry: %s", got.Role)
		}
		if !got.Teams["cardio"] || got.Teams["ortho"] || len(got.Teams) != 1 {
			t.Errorf("teams changed without their entries: %v", got.Teams)
		}
		if !got.Providers[c.id("doc1")] || got.Providers[doc2] || len(got.Providers) != 1 {
			t.Errorf("assignments changed without their entries: %v", got.Providers)
		}
		var teams int
		if err := c.ts.Server.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM care_teams WHERE name = 'neuro'`).Scan(&teams); err != nil || teams != 0 {
			t.Errorf("team created without its entry: %d (%v)", teams, err)
		}

		// With the trail back, the same action is made and recorded with it.
		p.Audit = working
		if err := admin.SetRole(ctx, pat1, policy.RoleStaff); err != nil {
			t.Fatal(err)
		}
		people, err = p.People(ctx, pat1)
		if err != nil || people[pat1].Role != policy.RoleStaff {
			t.Fatalf("role after a working trail: %v (%v)", people[pat1].Role, err)
		}
		entries, _, err := c.ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionAdminPrefix + "policy"})
		if err != nil {
			t.Fatal(err)
		}
		var recorded int
		for _, e := range entries {
			if e.Detail["what"] == "set role staff" && e.TargetUser == string(pat1) {
				recorded++
			}
		}
		if recorded != 1 {
			t.Fatalf("entries of the role change: %d, want 1", recorded)
		}
	})
}
