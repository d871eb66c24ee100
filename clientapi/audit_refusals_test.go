package clientapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// TestAuditAuthRefusals: sends the room's auth rules refuse (a message from
// a non-member, a state event below the power level, a kick by a plain
// member) are recorded as failed, with the rule, and leave no "allowed"
// entry and no event; with the clinic policy on, a send the policy allowed
// and the auth rules then refused is recorded the same way, while the
// policy's own refusals stay "denied".
func TestAuditAuthRefusals(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		for _, pol := range []string{"off", "on"} {
			t.Run("policy "+pol, func(t *testing.T) {
				ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = pol })
				ctx := context.Background()
				alice := register(t, ts, "alice"+pol)
				bob := register(t, ts, "bob"+pol)
				carol := register(t, ts, "carol"+pol)
				if pol == "on" {
					for _, u := range []id.UserID{alice.ID, bob.ID, carol.ID} {
						if err := ts.Server.Policy.SetRole(ctx, u, policy.RoleProvider); err != nil {
							t.Fatal(err)
						}
					}
				}
				room := alice.createRoom(map[string]any{"preset": "private_chat"})
				alice.invite(room, bob)
				bob.join(room)
				before := trail(t, ts)
				events := len(roomEvents(t, ts, room))

				const secret = "confidential words that must never reach the trail"
				// A clinical room under the policy takes only encrypted messages.
				msgType, msg := "m.room.message", map[string]any{"msgtype": "m.text", "body": secret}
				if pol == "on" {
					msgType, msg = "m.room.encrypted", map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": secret,
						"sender_key": "k", "session_id": "s", "device_id": "D"}
				}
				carol.fails("PUT", roomPath(room, "send", msgType, "c1"), msg, http.StatusForbidden, "M_FORBIDDEN")
				bob.fails("PUT", roomPath(room, "state", "m.room.name", ""), map[string]any{"name": "taken over"},
					http.StatusForbidden, "M_FORBIDDEN")
				bob.fails("POST", roomPath(room, "kick"), map[string]any{"user_id": alice.ID}, http.StatusForbidden, "M_FORBIDDEN")

				after := trail(t, ts)[len(before):]
				wants := []want{
					{action: audit.ActionEventSend, actor: string(carol.ID), room: string(room), eventType: msgType, outcome: audit.Failed},
					{action: audit.ActionEventSend, actor: string(bob.ID), room: string(room), eventType: "m.room.name", outcome: audit.Failed},
					{action: audit.ActionKick, actor: string(bob.ID), target: string(alice.ID), room: string(room), eventType: "m.room.member", outcome: audit.Failed},
				}
				if len(after) != len(wants) {
					t.Fatalf("%d entries for 3 refusals: %+v", len(after), after)
				}
				for i, w := range wants {
					e := after[i]
					if !w.matches(e) || !strings.Contains(e.Reason, "auth rules") || e.RequestID == "" || e.EventID != "" {
						t.Errorf("entry %d: %+v, want %+v", i, e, w)
					}
					if strings.Contains(e.Reason+e.Detail["state_key"], secret) {
						t.Errorf("entry %d holds the content", i)
					}
				}
				if n := len(roomEvents(t, ts, room)); n != events {
					t.Fatalf("refused events stored: %d, was %d", n, events)
				}
				if pol == "on" {
					// The policy's refusal is its own, denied entry.
					p := register(t, ts, "pat")
					if err := ts.Server.Policy.SetRole(ctx, p.ID, policy.RolePatient); err != nil {
						t.Fatal(err)
					}
					p.fails("POST", roomPath(room, "join"), map[string]any{}, http.StatusForbidden, "M_FORBIDDEN")
					last := trail(t, ts)
					if e := last[len(last)-1]; e.Action != audit.ActionPolicyDenial || e.Outcome != audit.Denied || e.RoomID != string(room) {
						t.Fatalf("policy refusal: %+v", e)
					}
				}
				if rep := verify(t, ts, nil); !rep.OK {
					t.Fatal(rep)
				}
			})
		}
	})
}
