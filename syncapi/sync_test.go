package syncapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// register makes a user through open registration (m.login.dummy) and
// returns a logged-in mautrix client.
func register(t *testing.T, ts *servertest.TS, name string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(ts.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.RegisterDummy(context.Background(), &mautrix.ReqRegister[any]{Username: name, Password: "correct horse " + name})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	cli.SetCredentials(resp.UserID, resp.AccessToken)
	cli.DeviceID = resp.DeviceID
	return cli
}

// rawSync calls /sync and decodes the whole response.
func rawSync(t *testing.T, cli *mautrix.Client, since string, timeout time.Duration, filter string) *mautrix.RespSync {
	t.Helper()
	q := map[string]string{"timeout": fmt.Sprint(timeout.Milliseconds())}
	if since != "" {
		q["since"] = since
	}
	if filter != "" {
		q["filter"] = filter
	}
	u := cli.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "sync"}, q)
	var resp mautrix.RespSync
	if _, err := cli.MakeRequest(context.Background(), http.MethodGet, u, nil, &resp); err != nil {
		t.Fatalf("sync: %v", err)
	}
	return &resp
}

func setupDM(t *testing.T, ts *servertest.TS) (alice, bob *mautrix.Client, room id.RoomID) {
	return setupRoom(t, ts, "trusted_private_chat")
}

func setupRoom(t *testing.T, ts *servertest.TS, preset string) (alice, bob *mautrix.Client, room id.RoomID) {
	t.Helper()
	ctx := context.Background()
	alice, bob = register(t, ts, "alice"), register(t, ts, "bob")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: preset, IsDirect: true,
		Invite: []id.UserID{bob.UserID}})
	if err != nil {
		t.Fatalf("createRoom: %v", err)
	}
	// m.direct goes through account data (spec: "Direct Messaging").
	if err := alice.SetAccountData(ctx, "m.direct", map[id.UserID][]id.RoomID{bob.UserID: {created.RoomID}}); err != nil {
		t.Fatalf("m.direct: %v", err)
	}
	if _, err := bob.JoinRoomByID(ctx, created.RoomID); err != nil {
		t.Fatalf("join: %v", err)
	}
	return alice, bob, created.RoomID
}

// TestSyncDeliversEveryMessageOnce checks /sync's core promise (spec:
// client-server-api "Syncing"): 200 messages sent concurrently reach the
// other side exactly once each, in the server's order, across incremental
// syncs; repeating a sync with the same token returns the same events.
func TestSyncDeliversEveryMessageOnce(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice, bob, room := setupDM(t, ts)

		first := rawSync(t, bob, "", 0, "")
		jr, ok := first.Rooms.Join[room]
		if !ok {
			t.Fatalf("initial sync of bob lacks the DM room")
		}
		if !hasState(jr.State.Events, jr.Timeline.Events) {
			t.Fatalf("initial sync lacks the create event in state or timeline")
		}
		since := first.NextBatch

		const total, workers = 200, 10
		var wg sync.WaitGroup
		sent := make(chan id.EventID, total)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < total; i += workers {
					resp, err := alice.SendMessageEvent(ctx, room, event.EventMessage,
						map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("message %d", i)})
					if err != nil {
						t.Errorf("send %d: %v", i, err)
						return
					}
					sent <- resp.EventID
				}
			}(w)
		}
		wg.Wait()
		close(sent)
		want := map[id.EventID]bool{}
		for e := range sent {
			want[e] = true
		}
		if len(want) != total {
			t.Fatalf("sent %d distinct events, want %d", len(want), total)
		}

		seen := map[id.EventID]int{}
		var order []id.EventID
		var lastBatch, lastSince string
		for len(seen) < total {
			resp := rawSync(t, bob, since, 5*time.Second, `{"room":{"timeline":{"limit":7}}}`)
			if jr, ok := resp.Rooms.Join[room]; ok {
				if jr.Timeline.Limited {
					// A limited timeline leaves a gap that the client fills
					// with /messages from prev_batch back to its since token
					// (spec: "Syncing", limited and prev_batch).
					gap := fillGap(t, bob, room, jr.Timeline.PrevBatch, since)
					for _, e := range gap {
						seen[e]++
						order = append(order, e)
					}
				}
				for _, e := range jr.Timeline.Events {
					if e.Type == event.EventMessage {
						seen[e.ID]++
						order = append(order, e.ID)
					}
				}
			}
			if resp.NextBatch == since {
				t.Fatalf("sync made no progress with %d of %d seen", len(seen), total)
			}
			lastSince, lastBatch = since, resp.NextBatch
			since = resp.NextBatch
		}
		for e, n := range seen {
			if n != 1 {
				t.Errorf("event %s delivered %d times", e, n)
			}
			if !want[e] {
				t.Errorf("unexpected event %s", e)
			}
		}
		// The server's order: /messages forwards lists the same sequence.
		msgs, err := bob.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var serverOrder []id.EventID
		for i := len(msgs.Chunk) - 1; i >= 0; i-- {
			if msgs.Chunk[i].Type == event.EventMessage {
				serverOrder = append(serverOrder, msgs.Chunk[i].ID)
			}
		}
		if fmt.Sprint(serverOrder) != fmt.Sprint(order) {
			t.Errorf("sync order differs from the room's order")
		}
		// A lost response is repeated with the same token: same events.
		again := rawSync(t, bob, lastSince, 0, `{"room":{"timeline":{"limit":7}}}`)
		if again.NextBatch != lastBatch {
			t.Errorf("repeated sync next_batch %s, first time %s", again.NextBatch, lastBatch)
		}
	})
}

// fillGap pages /messages backwards from from down to to and returns the
// message events oldest first.
func fillGap(t *testing.T, cli *mautrix.Client, room id.RoomID, from, to string) []id.EventID {
	t.Helper()
	var out []id.EventID
	for {
		resp, err := cli.Messages(context.Background(), room, from, to, mautrix.DirectionBackward, nil, 5)
		if err != nil {
			t.Fatalf("messages: %v", err)
		}
		for _, e := range resp.Chunk {
			if e.Type == event.EventMessage {
				out = append(out, e.ID)
			}
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			break
		}
		from = resp.End
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func hasState(lists ...[]*event.Event) bool {
	for _, l := range lists {
		for _, e := range l {
			if e.Type.Type == "m.room.create" {
				return true
			}
		}
	}
	return false
}

// TestLongPollWakesOnMessage: a long-polling sync returns as soon as a
// message arrives, long before its timeout (spec: /sync timeout).
func TestLongPollWakesOnMessage(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice, bob, room := setupDM(t, ts)
		since := rawSync(t, bob, "", 0, "").NextBatch
		done := make(chan *mautrix.RespSync, 1)
		go func() { done <- rawSync(t, bob, since, 60*time.Second, "") }()
		time.Sleep(200 * time.Millisecond)
		sent, err := alice.SendText(ctx, room, "are you there?")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case resp := <-done:
			jr := resp.Rooms.Join[room]
			if jr == nil || len(jr.Timeline.Events) == 0 || jr.Timeline.Events[len(jr.Timeline.Events)-1].ID != sent.EventID {
				raw, _ := json.Marshal(resp)
				t.Fatalf("long-poll returned without the message: %s", raw)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("long-poll was not woken by the message")
		}
	})
}

// TestTypingReceiptsAndMembership: typing and receipts show up in the
// ephemeral section; leave, kick and ban show in both users' syncs
// (spec: "Typing Notifications", "Receipts", "Room membership").
func TestTypingReceiptsAndMembership(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		// private_chat: the creator outranks the invitee and may kick.
		alice, bob, room := setupRoom(t, ts, "private_chat")
		since := rawSync(t, bob, "", 0, "").NextBatch
		msg, err := alice.SendText(ctx, room, "hello")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.UserTyping(ctx, room, true, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := alice.SendReceipt(ctx, room, msg.EventID, event.ReceiptTypeRead, nil); err != nil {
			t.Fatal(err)
		}
		resp := rawSync(t, bob, since, 0, "")
		jr := resp.Rooms.Join[room]
		if jr == nil {
			t.Fatal("room missing from incremental sync")
		}
		var gotTyping, gotReceipt bool
		for _, e := range jr.Ephemeral.Events {
			switch e.Type.Type {
			case "m.typing":
				raw, _ := json.Marshal(e.Content.Raw)
				gotTyping = string(raw) != "" && containsUser(e.Content.Raw["user_ids"], alice.UserID)
			case "m.receipt":
				_, gotReceipt = e.Content.Raw[string(msg.EventID)]
			}
		}
		if !gotTyping || !gotReceipt {
			t.Fatalf("ephemeral: typing %v receipt %v", gotTyping, gotReceipt)
		}
		since = resp.NextBatch
		aliceSince := rawSync(t, alice, "", 0, "").NextBatch

		// Kick: both see it; bob's room moves to leave.
		if _, err := alice.KickUser(ctx, room, &mautrix.ReqKickUser{UserID: bob.UserID, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		resp = rawSync(t, bob, since, 0, "")
		lr, ok := resp.Rooms.Leave[room]
		if !ok {
			t.Fatalf("kicked bob does not see the room under leave")
		}
		// The leave section's timeline ends with the leave itself: that is
		// how a client learns it left (spec: /sync rooms.leave).
		if n := len(lr.Timeline.Events); n == 0 || lr.Timeline.Events[n-1].GetStateKey() != string(bob.UserID) ||
			lr.Timeline.Events[n-1].Content.Raw["membership"] != "leave" {
			t.Fatalf("kicked bob's leave timeline lacks his leave event")
		}
		if _, ok := resp.Rooms.Join[room]; ok {
			t.Fatalf("kicked bob still sees the room under join")
		}
		aresp := rawSync(t, alice, aliceSince, 0, "")
		if !hasMembership(aresp.Rooms.Join[room], bob.UserID, "leave") {
			t.Fatalf("alice does not see bob's kick")
		}
		// Messages after the kick never reach bob.
		since = resp.NextBatch
		if _, err := alice.SendText(ctx, room, "after the kick"); err != nil {
			t.Fatal(err)
		}
		resp = rawSync(t, bob, since, 0, "")
		if len(resp.Rooms.Join)+len(resp.Rooms.Leave) != 0 {
			t.Fatalf("bob received room data after being kicked: %+v", resp.Rooms)
		}
		// Ban: bob can no longer join even when invited.
		if _, err := alice.BanUser(ctx, room, &mautrix.ReqBanUser{UserID: bob.UserID}); err != nil {
			t.Fatal(err)
		}
		resp = rawSync(t, bob, resp.NextBatch, 0, "")
		if _, ok := resp.Rooms.Leave[room]; !ok {
			t.Fatalf("banned bob does not see the ban under leave")
		}
		if _, err := bob.JoinRoomByID(ctx, room); err == nil {
			t.Fatal("banned bob could join")
		}
	})
}

func containsUser(v any, u id.UserID) bool {
	list, _ := v.([]any)
	for _, x := range list {
		if x == string(u) {
			return true
		}
	}
	return false
}

func hasMembership(jr *mautrix.SyncJoinedRoom, u id.UserID, membership string) bool {
	if jr == nil {
		return false
	}
	for _, e := range jr.Timeline.Events {
		if e.Type == event.StateMember && e.GetStateKey() == string(u) && e.Content.Raw["membership"] == membership {
			return true
		}
	}
	return false
}

// TestRestartKeepsEverything: after a restart on the same database,
// history, devices, tokens and account data are intact.
func TestRestartKeepsEverything(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice, bob, room := setupDM(t, ts)
		sent, err := alice.SendText(ctx, room, "before restart")
		if err != nil {
			t.Fatal(err)
		}
		since := rawSync(t, bob, "", 0, "").NextBatch
		ts.Restart()
		// The same access token still works.
		who, err := bob.Whoami(ctx)
		if err != nil || who.UserID != bob.UserID {
			t.Fatalf("whoami after restart: %v %v", who, err)
		}
		ev, err := bob.GetEvent(ctx, room, sent.EventID)
		if err != nil || ev.Content.Raw["body"] != "before restart" {
			t.Fatalf("history after restart: %v", err)
		}
		var direct map[id.UserID][]id.RoomID
		if err := alice.GetAccountData(ctx, "m.direct", &direct); err != nil || len(direct[bob.UserID]) != 1 {
			t.Fatalf("account data after restart: %v %v", direct, err)
		}
		devs, err := alice.GetDevicesInfo(ctx)
		if err != nil || len(devs.Devices) != 1 {
			t.Fatalf("devices after restart: %v", err)
		}
		// Sync tokens from before the restart continue where they left.
		next, err := alice.SendText(ctx, room, "after restart")
		if err != nil {
			t.Fatal(err)
		}
		resp := rawSync(t, bob, since, 0, "")
		jr := resp.Rooms.Join[room]
		if jr == nil || len(jr.Timeline.Events) != 1 || jr.Timeline.Events[0].ID != next.EventID {
			t.Fatalf("incremental sync after restart did not give exactly the new message")
		}
	})
}

// TestConcurrentRoomCreation: many createRoom calls with invites at once
// all succeed (on PostgreSQL this once deadlocked on the connection pool
// while holding the stream lock), and every invitee sees every invite.
func TestConcurrentRoomCreation(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice, bob := register(t, ts, "alice"), register(t, ts, "bob")
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				defer cancel()
				_, err := alice.CreateRoom(cctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("createRoom: %v", err)
			}
		}
		if got := len(rawSync(t, bob, "", 0, "").Rooms.Invite); got != n {
			t.Fatalf("bob sees %d invites, want %d", got, n)
		}
	})
}
