package clientapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// cryptoClient gives cli mautrix-go's crypto machine (in-memory stores),
// uploads its keys, starts its sync loop and returns the machine and a
// channel of the bodies of the messages it decrypted.
func cryptoClient(t *testing.T, cli *mautrix.Client) (*crypto.OlmMachine, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	state := mautrix.NewMemoryStateStore()
	cli.StateStore = state
	log := zerolog.Nop()
	mach := crypto.NewOlmMachine(cli, &log, crypto.NewMemoryStore(nil), state.(crypto.StateStore))
	if err := mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mach.ShareKeys(ctx, -1); err != nil {
		t.Fatalf("share keys of %s: %v", cli.UserID, err)
	}
	syncer := cli.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnSync(mach.ProcessSyncResponse)
	syncer.OnEvent(cli.StateStoreSyncHandler)
	syncer.OnEventType(event.StateMember, mach.HandleMemberEvent)
	got := make(chan string, 16)
	syncer.OnEventType(event.EventEncrypted, func(ctx context.Context, evt *event.Event) {
		go func() {
			// The room key may still be on its way as a to-device message.
			for range 100 {
				dec, err := mach.DecryptMegolmEvent(ctx, evt)
				if errors.Is(err, crypto.ErrNoSessionFound) {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Errorf("%s cannot decrypt %s: %v", cli.UserID, evt.ID, err)
					return
				}
				if dec.Content.Parsed == nil {
					_ = dec.Content.ParseRaw(dec.Type)
				}
				if m, ok := dec.Content.Parsed.(*event.MessageEventContent); ok {
					got <- m.Body
				}
				return
			}
			t.Errorf("%s never got the room key for %s", cli.UserID, evt.ID)
		}()
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := cli.SyncWithContext(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("sync of %s ended: %v", cli.UserID, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		cli.StopSync()
		<-done
	})
	return mach, got
}

// sendEncrypted encrypts text for the room (sharing the room key with its
// members' devices first when needed) and sends it.
func sendEncrypted(t *testing.T, cli *mautrix.Client, mach *crypto.OlmMachine, room id.RoomID, text string) {
	t.Helper()
	ctx := context.Background()
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: text}
	enc, err := mach.EncryptMegolmEvent(ctx, room, event.EventMessage, content)
	if errors.Is(err, crypto.ErrNoGroupSession) || errors.Is(err, crypto.ErrSessionNotShared) || errors.Is(err, crypto.ErrSessionExpired) {
		members, merr := cli.StateStore.GetRoomJoinedOrInvitedMembers(ctx, room)
		if merr != nil {
			t.Fatal(merr)
		}
		if err := mach.ShareGroupSession(ctx, room, members); err != nil {
			t.Fatalf("%s shares the room key: %v", cli.UserID, err)
		}
		enc, err = mach.EncryptMegolmEvent(ctx, room, event.EventMessage, content)
	}
	if err != nil {
		t.Fatalf("%s encrypts: %v", cli.UserID, err)
	}
	if _, err := cli.SendMessageEvent(ctx, room, event.EventEncrypted, enc); err != nil {
		t.Fatalf("%s sends: %v", cli.UserID, err)
	}
}

func waitFor(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	timeout := time.After(40 * time.Second)
	for {
		select {
		case body := <-ch:
			if body == want {
				return
			}
		case <-timeout:
			t.Fatalf("did not decrypt %q in time", want)
		}
	}
}

// TestE2EECryptoMachine proves the key endpoints and to-device delivery
// with a real client: alice and bob, each with mautrix-go's crypto
// machine, exchange encrypted messages in an encrypted room and decrypt
// them.
func TestE2EECryptoMachine(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := e2eeUser(t, ts, "alice")
		bob := e2eeUser(t, ts, "bob")
		aliceMach, aliceGot := cryptoClient(t, alice)
		bobMach, bobGot := cryptoClient(t, bob)

		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "private_chat",
			Invite: []id.UserID{bob.UserID},
			InitialState: []*event.Event{{
				Type:    event.StateEncryption,
				Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		// Both clients learn from /sync that the room is encrypted.
		for _, c := range []*mautrix.Client{alice, bob} {
			deadline := time.Now().Add(20 * time.Second)
			for {
				enc, _ := c.StateStore.IsEncrypted(ctx, room.RoomID)
				members, _ := c.StateStore.GetRoomJoinedOrInvitedMembers(ctx, room.RoomID)
				if enc && len(members) == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not see the encrypted room with both members", c.UserID)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}

		sendEncrypted(t, alice, aliceMach, room.RoomID, "hello bob")
		waitFor(t, bobGot, "hello bob")
		sendEncrypted(t, bob, bobMach, room.RoomID, "hello alice")
		waitFor(t, aliceGot, "hello alice")
		sendEncrypted(t, alice, aliceMach, room.RoomID, "second from alice")
		waitFor(t, bobGot, "second from alice")
	})
}
