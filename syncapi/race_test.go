package syncapi_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/event"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/syncapi"
)

// TestSyncBoundIncludesMembership: a /sync response covers the positions up
// to the one it read first; a leave that commits while the response is being
// built belongs to the next response. If the response took the user's
// memberships as they are after the leave, the room would be missing from
// this response (no membership change up to the bound) and the next one
// would start after the bound, so the message sent before the leave would
// never be delivered (spec: GET /sync, "next_batch"; the issue: no event is
// ever skipped across incremental syncs).
func TestSyncBoundIncludesMembership(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice, bob, room := setupDM(t, ts)
		first := rawSync(t, bob, "", 0, "")
		since, err := syncapi.ParseToken(first.NextBatch)
		if err != nil {
			t.Fatal(err)
		}
		sent, err := alice.SendText(ctx, room, "before bob leaves")
		if err != nil {
			t.Fatal(err)
		}
		bound, err := ts.Server.Rooms.LatestPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Bob leaves after the bound was read.
		if _, err := bob.LeaveRoom(ctx, room); err != nil {
			t.Fatal(err)
		}
		resp, err := ts.Server.Sync.BuildUpTo(ctx, syncapi.Request{User: bob.UserID, Device: bob.DeviceID,
			Since: &since, Filter: &syncapi.Filter{}}, bound)
		if err != nil {
			t.Fatal(err)
		}
		jr, ok := resp.Rooms.Join[room]
		if !ok {
			t.Fatalf("the room is missing from the response up to %d (join %v, leave %v)", bound,
				len(resp.Rooms.Join), len(resp.Rooms.Leave))
		}
		found := false
		for _, e := range jr.Timeline.Events {
			found = found || e.EventID == sent.EventID
		}
		if !found {
			t.Fatalf("the message sent before the bound is missing from the joined room's timeline")
		}
		if _, left := resp.Rooms.Leave[room]; left {
			t.Fatal("the leave after the bound is in the response")
		}
		// The next response starts at the bound and carries the leave.
		next := rawSync(t, bob, resp.NextBatch, 0, "")
		lr, ok := next.Rooms.Leave[room]
		if !ok {
			t.Fatal("the leave is missing from the next response")
		}
		var sawLeave bool
		for _, e := range lr.Timeline.Events {
			if e.ID == sent.EventID {
				t.Fatal("the message is delivered twice")
			}
			sawLeave = sawLeave || (e.Type == event.StateMember && e.GetStateKey() == bob.UserID.String())
		}
		if !sawLeave {
			t.Fatal("the leave event is missing from the leave section's timeline")
		}
	})
}
