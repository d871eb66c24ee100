package clientapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// cryptoDevice is a client with its crypto machine on a store the test
// keeps, so that it can be stopped and started again on the same store as
// an app restart would.
type cryptoDevice struct {
	cli   *mautrix.Client
	mach  *crypto.OlmMachine
	got   <-chan string
	store *crypto.MemoryStore
	state mautrix.StateStore
	stop  func()
}

// startCryptoDevice starts cli's crypto machine on store and state (fresh
// ones when nil), uploads its keys and starts its sync loop.
func startCryptoDevice(t *testing.T, cli *mautrix.Client, store *crypto.MemoryStore, state mautrix.StateStore) *cryptoDevice {
	t.Helper()
	if store == nil {
		store = crypto.NewMemoryStore(nil)
	}
	if state == nil {
		state = mautrix.NewMemoryStateStore()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cli.StateStore = state
	log := zerolog.Nop()
	mach := crypto.NewOlmMachine(cli, &log, store, state.(crypto.StateStore))
	if err := mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mach.ShareKeys(ctx, -1); err != nil {
		t.Fatalf("share keys of %s/%s: %v", cli.UserID, cli.DeviceID, err)
	}
	syncer := mautrix.NewDefaultSyncer()
	cli.Syncer = syncer
	syncer.OnSync(mach.ProcessSyncResponse)
	syncer.OnEvent(cli.StateStoreSyncHandler)
	syncer.OnEventType(event.StateMember, mach.HandleMemberEvent)
	got := make(chan string, 32)
	var decrypting sync.WaitGroup
	syncer.OnEventType(event.EventEncrypted, func(_ context.Context, evt *event.Event) {
		decrypting.Add(1)
		go func() {
			defer decrypting.Done()
			// The room key may still be on its way as a to-device message.
			for range 100 {
				if ctx.Err() != nil {
					return
				}
				dec, err := mach.DecryptMegolmEvent(ctx, evt)
				if errors.Is(err, crypto.ErrNoSessionFound) {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("%s/%s cannot decrypt %s: %v", cli.UserID, cli.DeviceID, evt.ID, err)
					}
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
		}()
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cli.SyncWithContext(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			cli.StopSync()
			<-done
			decrypting.Wait()
		})
	}
	t.Cleanup(stop)
	return &cryptoDevice{cli: cli, mach: mach, got: got, store: store, state: state, stop: stop}
}

// waitRoomReady waits until c's state store knows room is encrypted and
// has members joined or invited members.
func waitRoomReady(t *testing.T, c *mautrix.Client, room id.RoomID, members int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		enc, _ := c.StateStore.IsEncrypted(ctx, room)
		m, _ := c.StateStore.GetRoomJoinedOrInvitedMembers(ctx, room)
		if enc && len(m) == members {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s did not see the encrypted room with %d members", c.UserID, c.DeviceID, members)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// encryptedDM makes alice create an encrypted room with bob, bob join,
// and waits until both clients know it.
func encryptedDM(t *testing.T, alice, bob *cryptoDevice) id.RoomID {
	t.Helper()
	ctx := context.Background()
	room, err := alice.cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "private_chat",
		Invite: []id.UserID{bob.cli.UserID},
		InitialState: []*event.Event{{
			Type:    event.StateEncryption,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.cli.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	waitRoomReady(t, alice.cli, room.RoomID, 2)
	waitRoomReady(t, bob.cli, room.RoomID, 2)
	return room.RoomID
}

// waitDevices waits until mach's device store holds for user exactly the
// devices for which want is true among those named.
func waitDevices(t *testing.T, mach *crypto.OlmMachine, user id.UserID, want map[id.DeviceID]bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		devs, _ := mach.CryptoStore.GetDevices(context.Background(), user)
		ok := true
		for d, present := range want {
			if dev, has := devs[d]; (has && !dev.Deleted) != present {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's device list of %s = %v, want %v", mach.Client.UserID, user, devs, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sharedWith returns the devices the current outbound room key of mach in
// room was shared with.
func sharedWith(t *testing.T, mach *crypto.OlmMachine, room id.RoomID) map[crypto.UserDevice]crypto.OGSState {
	t.Helper()
	ogs, err := mach.CryptoStore.GetOutboundGroupSession(context.Background(), room)
	if err != nil || ogs == nil {
		t.Fatalf("no outbound room key for %s: %v", room, err)
	}
	return ogs.Users
}

// TestE2EECryptoSecondDeviceAndDeletion: bob logs in a second device,
// which decrypts alice's next message; bob deletes it, its keys disappear
// from /keys/query and from alice's device list, and alice's next room key
// is shared with bob's remaining device only.
func TestE2EECryptoSecondDeviceAndDeletion(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := startCryptoDevice(t, e2eeUser(t, ts, "alice"), nil, nil)
		bob := startCryptoDevice(t, e2eeUser(t, ts, "bob"), nil, nil)
		room := encryptedDM(t, alice, bob)
		sendEncrypted(t, alice.cli, alice.mach, room, "hello bob")
		waitFor(t, bob.got, "hello bob")

		// A second device for bob.
		bob2 := startCryptoDevice(t, login(t, ts, "bob", "e2ee test password"), nil, nil)
		waitRoomReady(t, bob2.cli, room, 2)
		waitDevices(t, alice.mach, bob.cli.UserID, map[id.DeviceID]bool{bob.cli.DeviceID: true, bob2.cli.DeviceID: true})
		sendEncrypted(t, alice.cli, alice.mach, room, "for both of bob's devices")
		waitFor(t, bob2.got, "for both of bob's devices")
		waitFor(t, bob.got, "for both of bob's devices")
		users := sharedWith(t, alice.mach, room)
		if users[crypto.UserDevice{UserID: bob.cli.UserID, DeviceID: bob2.cli.DeviceID}] != crypto.OGSAlreadyShared {
			t.Fatalf("the room key was not shared with bob's second device: %v", users)
		}

		// Bob deletes the second device.
		bob2.stop()
		path := "/_matrix/client/v3/devices/" + string(bob2.cli.DeviceID)
		sid := uiaSession(t, ts, http.MethodDelete, path, bob.cli.AccessToken, map[string]any{})
		if err := bob.cli.DeleteDevice(ctx, bob2.cli.DeviceID, &mautrix.ReqDeleteDevice[any]{Auth: passwordAuth(sid, "bob", "e2ee test password")}); err != nil {
			t.Fatal(err)
		}
		q, err := alice.cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{bob.cli.UserID: {}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := q.DeviceKeys[bob.cli.UserID][bob2.cli.DeviceID]; ok || len(q.DeviceKeys[bob.cli.UserID]) != 1 {
			t.Fatalf("/keys/query after deletion = %v", q.DeviceKeys[bob.cli.UserID])
		}
		waitDevices(t, alice.mach, bob.cli.UserID, map[id.DeviceID]bool{bob.cli.DeviceID: true, bob2.cli.DeviceID: false})

		sendEncrypted(t, alice.cli, alice.mach, room, "after the deletion")
		waitFor(t, bob.got, "after the deletion")
		users = sharedWith(t, alice.mach, room)
		if _, ok := users[crypto.UserDevice{UserID: bob.cli.UserID, DeviceID: bob2.cli.DeviceID}]; ok {
			t.Fatalf("alice's next room key went to the deleted device: %v", users)
		}
		if users[crypto.UserDevice{UserID: bob.cli.UserID, DeviceID: bob.cli.DeviceID}] != crypto.OGSAlreadyShared {
			t.Fatalf("alice's next room key did not go to bob's remaining device: %v", users)
		}
		// Nothing waits for the deleted device on the server either.
		var n int
		if err := ts.Server.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2ee_to_device WHERE device_id = $1`, bob2.cli.DeviceID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("to-device messages for the deleted device: %d (%v)", n, err)
		}
	})
}

// TestE2EECryptoRestartAndBackup: alice's client restarts (a new crypto
// machine on the same store) and still decrypts and encrypts; then alice
// backs her room keys up with mautrix's backup helpers, and a new device
// of hers, with an empty store, restores them from the backup and decrypts
// the history.
func TestE2EECryptoRestartAndBackup(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := startCryptoDevice(t, e2eeUser(t, ts, "alice"), nil, nil)
		bob := startCryptoDevice(t, e2eeUser(t, ts, "bob"), nil, nil)
		room := encryptedDM(t, alice, bob)
		sendEncrypted(t, alice.cli, alice.mach, room, "before restart from alice")
		waitFor(t, bob.got, "before restart from alice")
		sendEncrypted(t, bob.cli, bob.mach, room, "before restart from bob")
		waitFor(t, alice.got, "before restart from bob")

		// Restart: stop everything, start a new client and machine on the
		// same stores (crypto, room state and sync position).
		alice.stop()
		restarted, err := mautrix.NewClient(ts.URL, alice.cli.UserID, alice.cli.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		restarted.DeviceID = alice.cli.DeviceID
		restarted.Store = alice.cli.Store
		alice = startCryptoDevice(t, restarted, alice.store, alice.state)
		// Bob's room key was delivered once, before the restart: decrypting
		// his next message needs the stored inbound session.
		sendEncrypted(t, bob.cli, bob.mach, room, "after restart from bob")
		waitFor(t, alice.got, "after restart from bob")
		sendEncrypted(t, alice.cli, alice.mach, room, "after restart from alice")
		waitFor(t, bob.got, "after restart from alice")

		// Key backup: a backup key, a version whose auth_data carries its
		// public key, and alice's room keys encrypted to it.
		key, err := backup.NewMegolmBackupKey()
		if err != nil {
			t.Fatal(err)
		}
		created, err := alice.cli.CreateKeyBackupVersion(ctx, &mautrix.ReqRoomKeysVersionCreate[backup.MegolmAuthData]{
			Algorithm: id.KeyBackupAlgorithmMegolmBackupV1,
			AuthData:  backup.MegolmAuthData{PublicKey: id.Ed25519(base64.RawStdEncoding.EncodeToString(key.PublicKey().Bytes()))},
		})
		if err != nil {
			t.Fatal(err)
		}
		sessions, err := alice.store.GetGroupSessionsForRoom(ctx, room).AsList()
		if err != nil || len(sessions) < 2 {
			t.Fatalf("alice has %d inbound sessions (%v), want her own and bob's", len(sessions), err)
		}
		upload := mautrix.ReqRoomKeyBackup{Sessions: map[id.SessionID]mautrix.ReqKeyBackupData{}}
		for _, igs := range sessions {
			first := igs.Internal.FirstKnownIndex()
			exported, err := igs.Internal.Export(first)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := backup.EncryptSessionData(key, backup.MegolmSessionData{
				Algorithm:          id.AlgorithmMegolmV1,
				ForwardingKeyChain: igs.ForwardingChains,
				SenderClaimedKeys:  backup.SenderClaimedKeys{Ed25519: igs.SigningKey},
				SenderKey:          igs.SenderKey,
				SessionKey:         string(exported),
			})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(enc)
			if err != nil {
				t.Fatal(err)
			}
			upload.Sessions[igs.ID()] = mautrix.ReqKeyBackupData{FirstMessageIndex: int(first), SessionData: raw}
		}
		put, err := alice.cli.PutKeysInBackup(ctx, created.Version, &mautrix.ReqKeyBackup{Rooms: map[id.RoomID]mautrix.ReqRoomKeyBackup{room: upload}})
		if err != nil {
			t.Fatal(err)
		}
		if put.Count != len(upload.Sessions) || put.ETag == "" {
			t.Fatalf("backup upload answered %+v", put)
		}
		// The download gives back exactly what was uploaded (read raw: the
		// server must return session_data as given).
		st, down := e2eeCall(t, ts, alice.cli, http.MethodGet, "/room_keys/keys/"+url.PathEscape(string(room))+"?version="+string(created.Version), nil)
		if st != http.StatusOK {
			t.Fatalf("download: %d %v", st, down)
		}
		downSessions, _ := down["sessions"].(map[string]any)
		if len(downSessions) != len(upload.Sessions) {
			t.Fatalf("downloaded %d sessions, uploaded %d", len(downSessions), len(upload.Sessions))
		}
		for sid, up := range upload.Sessions {
			got, ok := downSessions[string(sid)].(map[string]any)
			if !ok {
				t.Fatalf("session %s missing from the download", sid)
			}
			raw, _ := json.Marshal(got["session_data"])
			if !sameJSONValue(t, raw, up.SessionData) || got["first_message_index"] != float64(up.FirstMessageIndex) ||
				got["forwarded_count"] != float64(0) || got["is_verified"] != false {
				t.Fatalf("session %s came back as %v, uploaded %s (index %d)", sid, got, up.SessionData, up.FirstMessageIndex)
			}
		}

		// A new device of alice's restores the backup and reads history.
		alice2 := startCryptoDevice(t, login(t, ts, "alice", "e2ee test password"), nil, nil)
		waitRoomReady(t, alice2.cli, room, 2)
		version, err := alice2.mach.DownloadAndStoreLatestKeyBackup(ctx, key)
		if err != nil || version != created.Version {
			t.Fatalf("restore from backup: version %q, %v", version, err)
		}
		msgs, err := alice2.cli.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 50)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"before restart from alice": false, "before restart from bob": false, "after restart from bob": false, "after restart from alice": false}
		for _, evt := range msgs.Chunk {
			if evt.Type != event.EventEncrypted {
				continue
			}
			evt.RoomID = room
			if err := evt.Content.ParseRaw(evt.Type); err != nil {
				t.Fatal(err)
			}
			dec, err := alice2.mach.DecryptMegolmEvent(ctx, evt)
			if err != nil {
				t.Fatalf("new device cannot decrypt %s with the restored keys: %v", evt.ID, err)
			}
			_ = dec.Content.ParseRaw(dec.Type)
			if m, ok := dec.Content.Parsed.(*event.MessageEventContent); ok {
				want[m.Body] = true
			}
		}
		for body, seen := range want {
			if !seen {
				t.Errorf("history message %q not decrypted from the backup", body)
			}
		}
	})
}

func sameJSONValue(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return string(ca) == string(cb)
}
