package policy_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/dbtest"
)

// TestRefusalsNameNoOneElseToNonClinicians: a refusal tells a patient, an
// office clerk or anyone else outside the clinical staff only that they
// cannot reach the person they named, never another person's role, care
// or name, and a user who does not exist gets the same answer as one who
// does. Clinicians and admins read the reason, and a 404 for a user who
// does not exist. The audit trail keeps every reason.
func TestRefusalsNameNoOneElseToNonClinicians(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		pat1, nosuch := c.id("pat1"), id.UserID("@nosuch:ward.test")
		cannot := func(u id.UserID) string { return "Refused by clinic policy: you cannot reach " + string(u) }
		own := c.dm(t, "pat2", "doc2")
		ownRoom := "/rooms/" + url.PathEscape(string(own))

		for _, who := range []id.UserID{pat1, nosuch} {
			st, body := c.as(t, "pat2", http.MethodPut, "/sendToDevice/m.x/tx-"+who.Localpart(),
				map[string]any{"messages": map[string]any{string(who): map[string]any{"*": map[string]any{}}}})
			wantAnswer(t, "patient's to-device to "+string(who), st, body, http.StatusForbidden, "M_FORBIDDEN", cannot(who))
			st, body = c.as(t, "pat2", http.MethodPost, "/createRoom", map[string]any{"invite": []id.UserID{who}})
			wantAnswer(t, "patient's createRoom inviting "+string(who), st, body, http.StatusForbidden, "M_FORBIDDEN", cannot(who))
			st, body = c.as(t, "staff1", http.MethodPost, "/createRoom", map[string]any{"invite": []id.UserID{who}})
			wantAnswer(t, "clerk's createRoom inviting "+string(who), st, body, http.StatusForbidden, "M_FORBIDDEN", cannot(who))
		}
		for _, who := range []id.UserID{c.id("doc1"), nosuch} {
			st, body := c.as(t, "pat2", http.MethodPost, ownRoom+"/invite", map[string]any{"user_id": who})
			wantAnswer(t, "patient's invite of "+string(who), st, body, http.StatusForbidden, "M_FORBIDDEN", cannot(who))
		}
		// An own reason stays readable: it tells the actor about themselves.
		st, body := c.as(t, "pat2", http.MethodPost, "/createRoom", map[string]any{"visibility": "public"})
		if st != http.StatusForbidden || !strings.Contains(body["error"].(string), "clinicians and admins") {
			t.Errorf("patient's public room: %d %v", st, body)
		}

		// The clinic's staff read why, and whether the user exists.
		st, body = c.as(t, "doc2", http.MethodPost, "/createRoom", map[string]any{"invite": []id.UserID{pat1}})
		wantAnswer(t, "provider's createRoom inviting another's patient", st, body, http.StatusForbidden, "M_FORBIDDEN",
			"Refused by clinic policy: "+string(c.id("doc2"))+" is not assigned to patient "+string(pat1))
		st, body = c.as(t, "doc2", http.MethodPost, "/createRoom", map[string]any{"invite": []id.UserID{nosuch}})
		wantAnswer(t, "provider's createRoom inviting no one", st, body, http.StatusNotFound, "M_NOT_FOUND", "User "+string(nosuch)+" does not exist")
		st, body = c.as(t, "doc2", http.MethodPost, ownRoom+"/invite", map[string]any{"user_id": nosuch})
		wantAnswer(t, "provider's invite of no one", st, body, http.StatusNotFound, "M_NOT_FOUND", "User "+string(nosuch)+" does not exist")
		st, body = c.as(t, "doc2", http.MethodPut, "/sendToDevice/m.x/tx-doc2",
			map[string]any{"messages": map[string]any{string(pat1): map[string]any{"*": map[string]any{}}}})
		if st != http.StatusForbidden || !strings.Contains(body["error"].(string), "is not assigned to patient") {
			t.Errorf("provider's to-device to another's patient: %d %v", st, body)
		}

		// The compliance officer reads the whole reason.
		denied, _, err := c.ts.Server.Audit.Query(ctx, audit.Filter{Outcome: audit.Denied, Action: audit.ActionPolicyDenial})
		must(t, err)
		found := false
		for _, e := range denied {
			if e.ActorUser == string(c.id("pat2")) && strings.Contains(e.Reason, "both patients") && strings.Contains(e.Reason, string(pat1)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no denial on the audit trail gives the patient's reason in full: %+v", denied)
		}
	})
}
