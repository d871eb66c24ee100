package policy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/dbtest"
)

func (c *clinic) publish(ctx context.Context, who string, room id.RoomID) error {
	cli := c.users[who]
	_, err := cli.MakeRequest(ctx, http.MethodPut, cli.BuildClientURL("v3", "directory", "list", "room", room),
		map[string]any{"visibility": "public"}, nil)
	return err
}

func (c *clinic) publicRooms(t *testing.T, who string, post bool) []id.RoomID {
	t.Helper()
	req := &mautrix.ReqPublicRooms{}
	if post {
		req.Filter = &mautrix.PublicRoomsFilter{}
	}
	resp, err := c.users[who].PublicRooms(context.Background(), req)
	if err != nil {
		t.Fatalf("%s lists public rooms: %v", who, err)
	}
	var out []id.RoomID
	for _, r := range resp.Chunk {
		out = append(out, r.RoomID)
	}
	return out
}

// TestRoomsWithPatientsAreNeverPublic: no room is world-readable, a room
// with a patient is never published or open to join (at creation, by a
// later change of join rule or directory listing, or by inviting a
// patient into an open room), and the public room directory is shown to
// clinicians and admins only. Each refusal is a policy denial.
func TestRoomsWithPatientsAreNeverPublic(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		doc := c.users["doc1"]
		worldReadable := &event.Event{Type: event.StateHistoryVisibility,
			Content: event.Content{Raw: map[string]any{"history_visibility": "world_readable"}}}
		joinRule := func(rule string) *event.Event {
			return &event.Event{Type: event.StateJoinRules, Content: event.Content{Raw: map[string]any{"join_rule": rule}}}
		}
		pat1 := []id.UserID{c.id("pat1")}
		for _, tc := range []struct {
			what string
			req  *mautrix.ReqCreateRoom
			want string
		}{
			{"the reported room", &mautrix.ReqCreateRoom{Visibility: "public", Preset: "public_chat", Invite: pat1,
				InitialState: []*event.Event{worldReadable}}, "public"},
			{"public visibility with a patient", &mautrix.ReqCreateRoom{Visibility: "public", Preset: "private_chat", Invite: pat1}, "public"},
			{"public_chat preset with a patient", &mautrix.ReqCreateRoom{Preset: "public_chat", Invite: pat1}, "public"},
			{"a public join rule with a patient", &mautrix.ReqCreateRoom{Invite: pat1, InitialState: []*event.Event{joinRule("public")}}, "public"},
			{"a knock join rule with a patient", &mautrix.ReqCreateRoom{Invite: pat1, InitialState: []*event.Event{joinRule("knock")}}, "public"},
			{"a world-readable room without patients", &mautrix.ReqCreateRoom{InitialState: []*event.Event{worldReadable}}, "world-readable"},
		} {
			if _, err := doc.CreateRoom(ctx, tc.req); !forbidden(err, tc.want) {
				t.Errorf("createRoom, %s: %v", tc.what, err)
			}
		}

		// A private room with a patient stays private.
		dm := c.dm(t, "doc1", "pat1")
		for _, rule := range []string{"public", "knock"} {
			if _, err := doc.SendStateEvent(ctx, dm, event.StateJoinRules, "", map[string]any{"join_rule": rule}); !forbidden(err, "public") {
				t.Errorf("join rule %s in a room with a patient: %v", rule, err)
			}
		}
		if _, err := doc.SendStateEvent(ctx, dm, event.StateHistoryVisibility, "",
			map[string]any{"history_visibility": "world_readable"}); !forbidden(err, "world-readable") {
			t.Errorf("world-readable room with a patient: %v", err)
		}
		if err := c.publish(ctx, "doc1", dm); !forbidden(err, "directory") {
			t.Errorf("publishing a room with a patient: %v", err)
		}

		// An open room takes no patient.
		open, err := doc.CreateRoom(ctx, &mautrix.ReqCreateRoom{Visibility: "public", Preset: "public_chat", Name: "Cardiology staff"})
		if err != nil {
			t.Fatalf("clinicians' public room: %v", err)
		}
		if _, err := doc.InviteUser(ctx, open.RoomID, &mautrix.ReqInviteUser{UserID: c.id("pat1")}); !forbidden(err, "public") {
			t.Errorf("inviting a patient into a public room: %v", err)
		}
		listed, err := doc.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: "Listed"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.publish(ctx, "doc1", listed.RoomID); err != nil {
			t.Fatalf("publishing a clinicians' room: %v", err)
		}
		if _, err := doc.InviteUser(ctx, listed.RoomID, &mautrix.ReqInviteUser{UserID: c.id("pat1")}); !forbidden(err, "directory") {
			t.Errorf("inviting a patient into a published room: %v", err)
		}

		// The directory: clinicians and admins see it, nobody else does.
		for _, who := range []string{"doc2", "nurse1", "admin1"} {
			for _, post := range []bool{false, true} {
				if got := c.publicRooms(t, who, post); len(got) != 2 {
					t.Errorf("%s sees %d public rooms, want 2", who, len(got))
				}
			}
		}
		for _, who := range []string{"pat2", "staff1"} {
			for _, post := range []bool{false, true} {
				if got := c.publicRooms(t, who, post); len(got) != 0 {
					t.Errorf("%s sees public rooms: %v", who, got)
				}
			}
		}

		// Another patient reads nothing of the DM.
		other := c.users["pat2"]
		if _, err := other.JoinedMembers(ctx, dm); err == nil {
			t.Error("another patient reads the DM's members")
		}
		if _, err := other.State(ctx, dm); err == nil {
			t.Error("another patient reads the DM's state")
		}
		if _, err := other.Messages(ctx, dm, "", "", mautrix.DirectionBackward, nil, 10); err == nil {
			t.Error("another patient reads the DM's messages")
		}

		denied, _, err := c.ts.Server.Audit.Query(ctx, audit.Filter{Outcome: audit.Denied, Action: audit.ActionPolicyDenial})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range denied {
			if e.ActorUser == string(c.id("doc1")) && (strings.Contains(e.Reason, "public") || strings.Contains(e.Reason, "world-readable") ||
				strings.Contains(e.Reason, "directory")) {
				n++
			}
		}
		if n != 12 {
			t.Errorf("%d denials on the audit trail, want 12: %+v", n, denied)
		}
	})
}
