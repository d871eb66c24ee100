package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"maunium.net/go/mautrix"

	"ward/internal/dbtest"
)

// as sends a JSON request with name's token to the client API and decodes
// the answer.
func (c *clinic) as(t *testing.T, name, method, path string, body any) (int, map[string]any) {
	t.Helper()
	buf, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, c.ts.URL+"/_matrix/client/v3"+path, bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.users[name].AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

// wantAnswer fails unless the answer is exactly status, errcode and message.
func wantAnswer(t *testing.T, what string, status int, body map[string]any, wantStatus int, errcode, msg string) {
	t.Helper()
	if status != wantStatus || body["errcode"] != errcode || body["error"] != msg {
		t.Errorf("%s: %d %v, want %d %s %q", what, status, body, wantStatus, errcode, msg)
	}
}

// TestOutsiderMembershipActionsSayOnlyNotAMember: someone not joined to a
// room learns nothing of its members from a membership action on it.
// Whatever the target (a stranger, themselves, a member, an invitee,
// someone banned or not), an invite, kick, ban, unban, member event for
// someone else, join-rule change or directory listing answers the plain
// "You are not a member of this room", before the clinic policy weighs the
// members and before the target's membership is looked at; an unknown room
// answers the same.
func TestOutsiderMembershipActionsSayOnlyNotAMember(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		r := c.dm(t, "pat1", "doc1")
		if _, err := c.users["doc1"].InviteUser(ctx, r, &mautrix.ReqInviteUser{UserID: c.id("nurse1")}); err != nil {
			t.Fatalf("the provider invites the patient's nurse: %v", err)
		}
		room := "/rooms/" + url.PathEscape(string(r))
		for _, outsider := range []string{"pat2", "doc2"} {
			for _, tc := range []struct {
				what, path string
				body       any
			}{
				{"invite of someone the policy refuses", room + "/invite", map[string]any{"user_id": c.id("doc2")}},
				{"invite of oneself", room + "/invite", map[string]any{"user_id": c.id(outsider)}},
				{"invite of a pending invitee", room + "/invite", map[string]any{"user_id": c.id("nurse1")}},
				{"invite of someone who does not exist", room + "/invite", map[string]any{"user_id": "@nosuch:ward.test"}},
				{"kick of a member", room + "/kick", map[string]any{"user_id": c.id("pat1")}},
				{"kick of a non-member", room + "/kick", map[string]any{"user_id": c.id("staff1")}},
				{"ban of a member", room + "/ban", map[string]any{"user_id": c.id("pat1")}},
				{"unban of a member", room + "/unban", map[string]any{"user_id": c.id("pat1")}},
				{"unban of a non-member", room + "/unban", map[string]any{"user_id": c.id("staff1")}},
				{"invite in the unknown room", "/rooms/" + url.PathEscape("!nosuch:ward.test") + "/invite", map[string]any{"user_id": c.id("doc2")}},
			} {
				st, body := c.as(t, outsider, http.MethodPost, tc.path, tc.body)
				wantAnswer(t, outsider+": "+tc.what, st, body, http.StatusForbidden, "M_FORBIDDEN", "You are not a member of this room")
			}
			st, body := c.as(t, outsider, http.MethodPut, room+"/state/m.room.member/"+url.PathEscape(string(c.id("doc2"))),
				map[string]any{"membership": "invite"})
			wantAnswer(t, outsider+": member event inviting someone", st, body, http.StatusForbidden, "M_FORBIDDEN", "You are not a member of this room")
			st, body = c.as(t, outsider, http.MethodPut, room+"/state/m.room.join_rules/", map[string]any{"join_rule": "public"})
			wantAnswer(t, outsider+": join rules", st, body, http.StatusForbidden, "M_FORBIDDEN", "You are not a member of this room")
		}
		st, body := c.as(t, "doc2", http.MethodPut, "/directory/list/room/"+url.PathEscape(string(r)), map[string]any{"visibility": "public"})
		wantAnswer(t, "listing by an outsider", st, body, http.StatusForbidden, "M_FORBIDDEN", "You are not a member of this room")

		members, err := c.users["pat1"].JoinedMembers(ctx, r)
		must(t, err)
		if len(members.Joined) != 2 {
			t.Errorf("the room's members changed: %v", members.Joined)
		}
		// A member still gets the policy's reasons.
		if _, err := c.users["doc1"].InviteUser(ctx, r, &mautrix.ReqInviteUser{UserID: c.id("doc2")}); !forbidden(err, "not assigned") {
			t.Errorf("a member's refused invite: %v", err)
		}
	})
}
