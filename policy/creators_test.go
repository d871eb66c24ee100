package policy_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
)

// TestAdditionalCreatorsAreWeighedAsInvitees: in room version 12 an
// additional creator holds unlimited power in the room, so createRoom
// weighs each one as an invitee and is refused whole when one may not be
// brought in (here: an unassigned patient, a patient who may not share a
// room with another, an unassigned provider); a creator the policy allows (the patient's team
// nurse) is fine.
func TestAdditionalCreatorsAreWeighedAsInvitees(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		c := startClinic(t, b)
		ctx := context.Background()
		create := func(extra ...string) error {
			creators := []any{}
			for _, e := range extra {
				creators = append(creators, string(c.id(e)))
			}
			_, err := c.users["doc1"].CreateRoom(ctx, &mautrix.ReqCreateRoom{RoomVersion: id.RoomV12,
				Invite: []id.UserID{c.id("pat1")}, CreationContent: map[string]any{"additional_creators": creators}})
			return err
		}
		before := joinedCount(t, c.users["doc1"])
		if err := create("pat2"); !forbidden(err, string(c.id("pat2"))) {
			t.Errorf("a patient not assigned to the provider as additional creator: %v", err)
		}
		// Even a patient the provider may reach never shares a room with another.
		must(t, c.ts.Server.Policy.Assign(ctx, c.id("doc1"), c.id("pat2")))
		if err := create("pat2"); !forbidden(err, "patients") {
			t.Errorf("another patient as additional creator: %v", err)
		}
		if err := create("doc2"); !forbidden(err, "not assigned") {
			t.Errorf("an unassigned provider as additional creator: %v", err)
		}
		if after := joinedCount(t, c.users["doc1"]); after != before {
			t.Fatalf("a refused createRoom left a room behind")
		}
		if err := create("nurse1"); err != nil {
			t.Errorf("the patient's team nurse as additional creator: %v", err)
		}
	})
}
