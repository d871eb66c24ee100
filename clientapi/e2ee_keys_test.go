package clientapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

func TestE2EEKeysUploadQueryClaim(t *testing.T) {
	// claimers concurrent claims against a device holding uploaded one-time
	// keys: each one-time key goes to exactly one claimer, the rest get the
	// fallback key.
	const uploaded, claimers = 30, 50
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := e2eeUser(t, ts, "alice")
		bob := e2eeUser(t, ts, "bob")
		priv := newEd25519(t)
		dk := signedDeviceKeys(t, alice.UserID, alice.DeviceID, priv, "curveA")

		st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/upload", map[string]any{
			"device_keys":   dk,
			"one_time_keys": otks("A", uploaded),
			"fallback_keys": map[string]any{"signed_curve25519:FB": map[string]any{"key": "fallback", "fallback": true}},
		})
		if st != http.StatusOK {
			t.Fatalf("upload: %d %v", st, body)
		}
		if n := body["one_time_key_counts"].(map[string]any)["signed_curve25519"]; n != float64(uploaded) {
			t.Fatalf("one_time_key_counts = %v, want %d", body["one_time_key_counts"], uploaded)
		}
		// The same upload again is fine; a changed identity key is not.
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/upload", map[string]any{"device_keys": dk}); st != http.StatusOK {
			t.Fatalf("re-upload: %d %v", st, body)
		}
		other := signedDeviceKeys(t, alice.UserID, alice.DeviceID, newEd25519(t), "curveA")
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/upload", map[string]any{"device_keys": other}); st != http.StatusBadRequest {
			t.Fatalf("changed device key: %d %v, want 400", st, body)
		}
		// Keys for someone else's device, and a bad signature.
		wrong := signedDeviceKeys(t, bob.UserID, bob.DeviceID, priv, "curveB")
		if st, _ := e2eeCall(t, ts, alice, http.MethodPost, "/keys/upload", map[string]any{"device_keys": wrong}); st != http.StatusBadRequest {
			t.Fatalf("foreign device keys: %d, want 400", st)
		}
		forged := signedDeviceKeys(t, bob.UserID, bob.DeviceID, priv, "curveB")
		forged["keys"].(map[string]string)["curve25519:"+string(bob.DeviceID)] = "tampered"
		if st, _ := e2eeCall(t, ts, bob, http.MethodPost, "/keys/upload", map[string]any{"device_keys": forged}); st != http.StatusBadRequest {
			t.Fatalf("badly signed device keys: %d, want 400", st)
		}

		// Query through mautrix: alice's device, an unknown local user and a
		// user of another server.
		q, err := bob.QueryKeys(context.Background(), &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{
			alice.UserID: {}, "@nobody:ward.test": {}, "@x:elsewhere.example": {},
		}})
		if err != nil {
			t.Fatal(err)
		}
		got := q.DeviceKeys[alice.UserID][alice.DeviceID]
		if got.Keys.GetCurve25519(alice.DeviceID) != "curveA" || got.DeviceID != alice.DeviceID {
			t.Fatalf("queried device keys = %+v", got)
		}
		if devs, ok := q.DeviceKeys["@nobody:ward.test"]; !ok || len(devs) != 0 {
			t.Fatalf("unknown user: %v (present %v), want an empty map", devs, ok)
		}
		if _, ok := q.Failures["elsewhere.example"]; !ok {
			t.Fatalf("failures = %v, want elsewhere.example", q.Failures)
		}

		// Concurrent claims of a device with fewer one-time keys than
		// claimers: distinct one-time keys and then the fallback key.
		var mu sync.Mutex
		seen := map[id.KeyID]int{}
		var wg sync.WaitGroup
		for range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := bob.ClaimKeys(context.Background(), &mautrix.ReqClaimKeys{OneTimeKeys: mautrix.OneTimeKeysRequest{
					alice.UserID: {alice.DeviceID: id.KeyAlgorithmSignedCurve25519},
				}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for kid := range resp.OneTimeKeys[alice.UserID][alice.DeviceID] {
					seen[kid]++
				}
			}()
		}
		wg.Wait()
		otkCount, fallback := 0, 0
		for kid, n := range seen {
			if kid == "signed_curve25519:FB" {
				fallback = n
				continue
			}
			if n != 1 {
				t.Errorf("one-time key %s handed out %d times", kid, n)
			}
			otkCount++
		}
		if otkCount != uploaded || fallback != claimers-uploaded {
			t.Fatalf("claims gave %d distinct one-time keys and the fallback %d times (%v), want %d and %d",
				otkCount, fallback, seen, uploaded, claimers-uploaded)
		}
		// Alice's sync shows no keys left and the fallback key used.
		s := rawSync(t, ts, alice, "")
		if c := s["device_one_time_keys_count"].(map[string]any)["signed_curve25519"]; c != float64(0) {
			t.Fatalf("device_one_time_keys_count = %v", s["device_one_time_keys_count"])
		}
		if f := s["device_unused_fallback_key_types"].([]any); len(f) != 0 {
			t.Fatalf("device_unused_fallback_key_types = %v, want []", f)
		}
		// Claiming from unknown users and devices gives nothing.
		resp, err := bob.ClaimKeys(context.Background(), &mautrix.ReqClaimKeys{OneTimeKeys: mautrix.OneTimeKeysRequest{
			"@nobody:ward.test": {"DEV": id.KeyAlgorithmSignedCurve25519},
			alice.UserID:        {"NODEVICE": id.KeyAlgorithmSignedCurve25519},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.OneTimeKeys) != 0 {
			t.Fatalf("claim of unknown devices = %v", resp.OneTimeKeys)
		}
	})
}

func TestE2EEToDeviceAndDeviceLists(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := e2eeUser(t, ts, "alice")
		bob := e2eeUser(t, ts, "bob")
		bob2 := login(t, ts, "bob", "e2ee test password")

		first := rawSync(t, ts, bob, "")
		since := first["next_batch"].(string)

		msg := map[string]any{"messages": map[string]any{string(bob.UserID): map[string]any{string(bob.DeviceID): map[string]any{"hello": "bob"}}}}
		for range 2 { // the same transaction twice is one message
			if st, body := e2eeCall(t, ts, alice, http.MethodPut, "/sendToDevice/m.test/txn1", msg); st != http.StatusOK {
				t.Fatalf("sendToDevice: %d %v", st, body)
			}
		}
		all := map[string]any{"messages": map[string]any{string(bob.UserID): map[string]any{"*": map[string]any{"to": "all"}}}}
		if st, body := e2eeCall(t, ts, alice, http.MethodPut, "/sendToDevice/m.test/txn2", all); st != http.StatusOK {
			t.Fatalf("sendToDevice *: %d %v", st, body)
		}

		s1 := rawSync(t, ts, bob, since)
		evs := toDeviceEvents(s1)
		if len(evs) != 2 {
			t.Fatalf("to_device = %v, want 2 events", evs)
		}
		ev := evs[0].(map[string]any)
		if ev["type"] != "m.test" || ev["sender"] != string(alice.UserID) || ev["content"].(map[string]any)["hello"] != "bob" {
			t.Fatalf("to-device event = %v", ev)
		}
		// The response was lost: the same since delivers them again.
		if again := toDeviceEvents(rawSync(t, ts, bob, since)); len(again) != 2 {
			t.Fatalf("repeated since gave %v, want the 2 events again", again)
		}
		// Syncing on from the new position acknowledges them.
		s2 := rawSync(t, ts, bob, s1["next_batch"].(string))
		if evs := toDeviceEvents(s2); len(evs) != 0 {
			t.Fatalf("after acknowledgement to_device = %v", evs)
		}
		// The other device got only the "*" message.
		if evs := toDeviceEvents(rawSync(t, ts, bob2, "")); len(evs) != 1 {
			t.Fatalf("second device to_device = %v, want 1", evs)
		}

		// Device lists: alice and bob share a room; bob's new device keys
		// show up in alice's device_lists.changed and in /keys/changes.
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		a1 := rawSync(t, ts, alice, "")
		from := a1["next_batch"].(string)
		dk := signedDeviceKeys(t, bob.UserID, bob.DeviceID, newEd25519(t), "curveB")
		if st, body := e2eeCall(t, ts, bob, http.MethodPost, "/keys/upload", map[string]any{"device_keys": dk}); st != http.StatusOK {
			t.Fatalf("upload: %d %v", st, body)
		}
		a2 := rawSync(t, ts, alice, from)
		changed := a2["device_lists"].(map[string]any)["changed"].([]any)
		if len(changed) != 1 || changed[0] != string(bob.UserID) {
			t.Fatalf("device_lists.changed = %v, want [bob]", changed)
		}
		st, body := e2eeCall(t, ts, alice, http.MethodGet, "/keys/changes?from="+from+"&to="+a2["next_batch"].(string), nil)
		if st != http.StatusOK || len(body["changed"].([]any)) != 1 {
			t.Fatalf("keys/changes: %d %v", st, body)
		}
		// Someone sharing no room with alice is not shown.
		carol := e2eeUser(t, ts, "carol")
		dk = signedDeviceKeys(t, carol.UserID, carol.DeviceID, newEd25519(t), "curveC")
		if st, body := e2eeCall(t, ts, carol, http.MethodPost, "/keys/upload", map[string]any{"device_keys": dk}); st != http.StatusOK {
			t.Fatalf("upload: %d %v", st, body)
		}
		a3 := rawSync(t, ts, alice, a2["next_batch"].(string))
		if c := a3["device_lists"].(map[string]any)["changed"].([]any); len(c) != 0 {
			t.Fatalf("device_lists.changed = %v, want []", c)
		}
		// Bob leaves: alice sees him under left.
		if _, err := bob.LeaveRoom(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		a4 := rawSync(t, ts, alice, a3["next_batch"].(string))
		if l := a4["device_lists"].(map[string]any)["left"].([]any); len(l) != 1 || l[0] != string(bob.UserID) {
			t.Fatalf("device_lists.left = %v, want [bob]", l)
		}
		_ = event.StateEncryption
	})
}

// TestLogoutAllIsADeviceListChange: /logout/all deletes every device, and
// like a single logout it is a device-list change for those sharing a room
// (spec: client-server-api "Tracking the device list for a user": a
// device removed), so their clients stop encrypting to the gone devices.
func TestLogoutAllIsADeviceListChange(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := e2eeUser(t, ts, "alice")
		bob := e2eeUser(t, ts, "bob")
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{bob.UserID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		dk := signedDeviceKeys(t, alice.UserID, alice.DeviceID, newEd25519(t), "curveA")
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/upload", map[string]any{"device_keys": dk}); st != http.StatusOK {
			t.Fatalf("upload: %d %v", st, body)
		}
		since := rawSync(t, ts, bob, "")["next_batch"].(string)
		if _, err := alice.LogoutAll(ctx); err != nil {
			t.Fatal(err)
		}
		s := rawSync(t, ts, bob, since)
		if c := s["device_lists"].(map[string]any)["changed"].([]any); len(c) != 1 || c[0] != string(alice.UserID) {
			t.Fatalf("device_lists.changed after alice's /logout/all = %v, want [alice]", c)
		}
		if k := queriedDevices(t, bob, alice.UserID); len(k) != 0 {
			t.Fatalf("/keys/query after /logout/all: %+v", k)
		}
	})
}
