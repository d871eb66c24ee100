package clientapi_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// Dehydrated devices: MSC3814 ("Dehydrated devices with SSSS"), the
// unstable endpoints under /_matrix/client/unstable/org.matrix.msc3814.v1
// that matrix-js-sdk's Rust crypto calls. mautrix-go has no client helpers
// for them, so these tests call them through the client's MakeRequest.

const msc3814Path = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

// msc3814 calls a dehydrated-device endpoint through cli (path parts
// after /dehydrated_device, each escaped), decodes a success into out and
// returns the status and, for a refusal, the errcode.
func msc3814(t *testing.T, cli *mautrix.Client, method string, body, out any, path ...any) (int, string) {
	t.Helper()
	parts := append([]any{"unstable", "org.matrix.msc3814.v1", "dehydrated_device"}, path...)
	_, err := cli.MakeRequest(context.Background(), method, cli.BuildClientURL(parts...), body, out)
	if err == nil {
		return http.StatusOK, ""
	}
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.Response == nil {
		t.Fatalf("%s %v: %v", method, path, err)
	}
	code := ""
	if he.RespError != nil {
		code = he.RespError.ErrCode
	}
	return he.Response.StatusCode, code
}

// dehydratedBody is a PUT /dehydrated_device body for device, its keys
// signed with a fresh ed25519 key, with n one-time keys and a fallback key.
func dehydratedBody(t *testing.T, user id.UserID, device id.DeviceID, curve string, n int) map[string]any {
	t.Helper()
	return map[string]any{
		"device_id":                   device,
		"device_data":                 map[string]any{"algorithm": "m.dehydration.v2", "device_pickle": "opaque-" + curve, "nonce": "n0"},
		"initial_device_display_name": "Dehydrated device",
		"device_keys":                 dehydratedDeviceKeys(t, user, device, curve),
		"one_time_keys":               otks(curve, n),
		"fallback_keys":               map[string]any{"signed_curve25519:FB" + curve: map[string]any{"key": "fb-" + curve, "fallback": true}},
	}
}

// dehydratedDeviceKeys is device_keys for a dehydrated device: marked
// "dehydrated": true (MSC3814: clients show it apart from sessions) and
// signed with a fresh ed25519 key.
func dehydratedDeviceKeys(t *testing.T, user id.UserID, device id.DeviceID, curve string) map[string]any {
	t.Helper()
	priv := newEd25519(t)
	obj := map[string]any{
		"user_id":    user,
		"device_id":  device,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]string{
			"ed25519:" + string(device):    base64.RawStdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
			"curve25519:" + string(device): curve,
		},
		"dehydrated": true,
	}
	canon, err := json.Marshal(obj) // sorted keys, plain ASCII: canonical JSON
	if err != nil {
		t.Fatal(err)
	}
	sig := base64.RawStdEncoding.EncodeToString(ed25519.Sign(priv, canon))
	obj["signatures"] = map[string]any{string(user): map[string]string{"ed25519:" + string(device): sig}}
	return obj
}

type dehydratedEvents struct {
	Events []struct {
		Type    string         `json:"type"`
		Sender  id.UserID      `json:"sender"`
		Content map[string]any `json:"content"`
	} `json:"events"`
	NextBatch *string `json:"next_batch"`
}

// events reads the dehydrated device's to-device messages from nextBatch.
func events(t *testing.T, cli *mautrix.Client, device id.DeviceID, nextBatch string) dehydratedEvents {
	t.Helper()
	body := map[string]any{}
	if nextBatch != "" {
		body["next_batch"] = nextBatch
	}
	var out dehydratedEvents
	if st, code := msc3814(t, cli, http.MethodPost, body, &out, device, "events"); st != http.StatusOK {
		t.Fatalf("events of %s from %q: %d %s", device, nextBatch, st, code)
	}
	if out.Events == nil || out.NextBatch == nil {
		t.Fatalf("events answer without events or next_batch: %+v", out)
	}
	return out
}

// queriedDevices is what another user's /keys/query shows of user's devices.
func queriedDevices(t *testing.T, asker *mautrix.Client, user id.UserID) map[id.DeviceID]mautrix.DeviceKeys {
	t.Helper()
	q, err := asker.QueryKeys(context.Background(), &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{user: {}}})
	if err != nil {
		t.Fatal(err)
	}
	return q.DeviceKeys[user]
}

func syncChanged(body map[string]any) []any {
	dl, _ := body["device_lists"].(map[string]any)
	changed, _ := dl["changed"].([]any)
	return changed
}

// MSC3814 PUT, GET and DELETE /dehydrated_device: the device is created
// with its keys, shown to other users in /keys/query (so their clients
// encrypt to it), announced as a device-list change, replaced by the next
// PUT (old keys and inbox gone) and deleted by DELETE. It is no session:
// not in /devices, and not usable to log in.
func TestDehydratedDeviceLifecycle(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{bob.UserID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		since := rawSync(t, ts, bob, "")["next_batch"].(string)

		// None yet: GET and DELETE are 404 (which is how matrix-js-sdk
		// learns that the server supports dehydration).
		if st, code := msc3814(t, alice, http.MethodGet, nil, nil); st != http.StatusNotFound || code != "M_NOT_FOUND" {
			t.Fatalf("GET with none: %d %s", st, code)
		}
		if st, code := msc3814(t, alice, http.MethodDelete, struct{}{}, nil); st != http.StatusNotFound || code != "M_NOT_FOUND" {
			t.Fatalf("DELETE with none: %d %s", st, code)
		}

		// The Rust crypto's device IDs are standard base64: "/", "+" and
		// even "//" must survive the path.
		const dev = id.DeviceID("DeHy/dr+at//ed1")
		put := dehydratedBody(t, alice.UserID, dev, "curveD1", 5)
		var created struct {
			DeviceID id.DeviceID `json:"device_id"`
		}
		if st, code := msc3814(t, alice, http.MethodPut, put, &created); st != http.StatusOK || created.DeviceID != dev {
			t.Fatalf("PUT: %d %s %+v", st, code, created)
		}
		var got struct {
			DeviceID   id.DeviceID     `json:"device_id"`
			DeviceData json.RawMessage `json:"device_data"`
		}
		if st, code := msc3814(t, alice, http.MethodGet, nil, &got); st != http.StatusOK {
			t.Fatalf("GET: %d %s", st, code)
		}
		var data map[string]any
		if err := json.Unmarshal(got.DeviceData, &data); err != nil || got.DeviceID != dev ||
			fmt.Sprint(data) != fmt.Sprint(put["device_data"]) {
			t.Fatalf("GET = %s %s, want %s %v", got.DeviceID, got.DeviceData, dev, put["device_data"])
		}

		// Bob sees it with its keys and name, is told alice's list changed,
		// and can claim a one-time key to encrypt to it.
		keys := queriedDevices(t, bob, alice.UserID)
		if k, ok := keys[dev]; !ok || k.Keys.GetCurve25519(dev) != "curveD1" || k.Unsigned["device_display_name"] != "Dehydrated device" || !k.Dehydrated {
			t.Fatalf("bob's /keys/query of alice: %+v", keys)
		}
		s := rawSync(t, ts, bob, since)
		if !contains(syncChanged(s), any(string(alice.UserID))) {
			t.Fatalf("device_lists.changed after PUT = %v, want alice", syncChanged(s))
		}
		since = s["next_batch"].(string)
		claim, err := bob.ClaimKeys(ctx, &mautrix.ReqClaimKeys{OneTimeKeys: mautrix.OneTimeKeysRequest{
			alice.UserID: {dev: id.KeyAlgorithmSignedCurve25519}}})
		if err != nil || len(claim.OneTimeKeys[alice.UserID][dev]) != 1 {
			t.Fatalf("claim a one-time key of the dehydrated device: %+v %v", claim, err)
		}

		// No session: not in alice's device list, no login as it.
		devs, err := alice.GetDevicesInfo(ctx)
		if err != nil || len(devs.Devices) != 1 || devs.Devices[0].DeviceID != alice.DeviceID {
			t.Fatalf("/devices = %+v %v, want only alice's session", devs, err)
		}
		_, err = anonClient(t, ts).Login(ctx, &mautrix.ReqLogin{
			Type:       mautrix.AuthTypePassword,
			Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "alice"},
			Password:   testPassword, DeviceID: dev,
		})
		if !errors.Is(err, mautrix.MInvalidParam) {
			t.Fatalf("login as the dehydrated device: %v, want M_INVALID_PARAM", err)
		}

		// Replacement: a new device; the old one's keys and inbox go. Bob
		// queues a message for the old one first.
		if st, body := e2eeCall(t, ts, bob, http.MethodPut, "/sendToDevice/m.room.encrypted/r1", map[string]any{
			"messages": map[string]any{string(alice.UserID): map[string]any{string(dev): map[string]any{"n": 1}}},
		}); st != http.StatusOK {
			t.Fatalf("sendToDevice: %d %v", st, body)
		}
		const dev2 = id.DeviceID("DEHYDRATED2")
		if st, code := msc3814(t, alice, http.MethodPut, dehydratedBody(t, alice.UserID, dev2, "curveD2", 5), &created); st != http.StatusOK || created.DeviceID != dev2 {
			t.Fatalf("replacing PUT: %d %s %+v", st, code, created)
		}
		keys = queriedDevices(t, bob, alice.UserID)
		if _, old := keys[dev]; old || keys[dev2].Keys.GetCurve25519(dev2) != "curveD2" {
			t.Fatalf("/keys/query after replacement: %+v", keys)
		}
		if st, code := msc3814(t, alice, http.MethodPost, map[string]any{}, nil, dev, "events"); st != http.StatusNotFound || code != "M_NOT_FOUND" {
			t.Fatalf("events of the replaced device: %d %s", st, code)
		}
		claim, err = bob.ClaimKeys(ctx, &mautrix.ReqClaimKeys{OneTimeKeys: mautrix.OneTimeKeysRequest{
			alice.UserID: {dev: id.KeyAlgorithmSignedCurve25519}}})
		if err != nil || len(claim.OneTimeKeys[alice.UserID][dev]) != 0 {
			t.Fatalf("claim from the replaced device: %+v %v, want nothing", claim, err)
		}
		// The old ID again, with other identity keys (refused for a device
		// whose keys were still there) and an empty inbox.
		if st, code := msc3814(t, alice, http.MethodPut, dehydratedBody(t, alice.UserID, dev, "curveD3", 1), &created); st != http.StatusOK {
			t.Fatalf("PUT of the first ID again: %d %s", st, code)
		}
		if ev := events(t, alice, dev, ""); len(ev.Events) != 0 {
			t.Fatalf("a new device under an old ID got the old inbox: %+v", ev.Events)
		}
		if k := queriedDevices(t, bob, alice.UserID); k[dev].Keys.GetCurve25519(dev) != "curveD3" || len(k) != 1 {
			t.Fatalf("/keys/query: %+v", k)
		}
		s = rawSync(t, ts, bob, since)
		if !contains(syncChanged(s), any(string(alice.UserID))) {
			t.Fatalf("device_lists.changed after replacement = %v, want alice", syncChanged(s))
		}
		since = s["next_batch"].(string)

		// DELETE answers the ID, and the device is gone everywhere.
		var deleted struct {
			DeviceID id.DeviceID `json:"device_id"`
		}
		if st, code := msc3814(t, alice, http.MethodDelete, struct{}{}, &deleted); st != http.StatusOK || deleted.DeviceID != dev {
			t.Fatalf("DELETE: %d %s %+v", st, code, deleted)
		}
		if st, code := msc3814(t, alice, http.MethodGet, nil, nil); st != http.StatusNotFound || code != "M_NOT_FOUND" {
			t.Fatalf("GET after DELETE: %d %s", st, code)
		}
		if k := queriedDevices(t, bob, alice.UserID); len(k) != 0 {
			t.Fatalf("/keys/query after DELETE: %+v", k)
		}
		s = rawSync(t, ts, bob, since)
		if !contains(syncChanged(s), any(string(alice.UserID))) {
			t.Fatalf("device_lists.changed after DELETE = %v, want alice", syncChanged(s))
		}
		if st, code := msc3814(t, alice, http.MethodPost, map[string]any{}, nil, dev, "events"); st != http.StatusNotFound || code != "M_NOT_FOUND" {
			t.Fatalf("events after DELETE: %d %s", st, code)
		}
	})
}

// MSC3814 POST /dehydrated_device/{device_id}/events: the messages other
// users sent to the dehydrated device come back, oldest first; they stay
// until the client presents the next_batch of the answer that carried
// them, so a repeated call returns them again.
func TestDehydratedDeviceEvents(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")
		const dev = id.DeviceID("B64+key/with/slashes")
		if st, code := msc3814(t, alice, http.MethodPut, dehydratedBody(t, alice.UserID, dev, "curveE", 2), nil); st != http.StatusOK {
			t.Fatalf("PUT: %d %s", st, code)
		}
		if ev := events(t, alice, dev, ""); len(ev.Events) != 0 {
			t.Fatalf("empty inbox: %+v", ev)
		}
		// To the device by name, and to all of alice's devices.
		for i, target := range []string{string(dev), "*"} {
			if st, body := e2eeCall(t, ts, bob, http.MethodPut, fmt.Sprintf("/sendToDevice/m.room.encrypted/t%d", i), map[string]any{
				"messages": map[string]any{string(alice.UserID): map[string]any{target: map[string]any{"n": i}}},
			}); st != http.StatusOK {
				t.Fatalf("sendToDevice to %s: %d %v", target, st, body)
			}
		}
		first := events(t, alice, dev, "")
		if len(first.Events) != 2 || first.Events[0].Sender != bob.UserID || first.Events[0].Type != "m.room.encrypted" ||
			first.Events[0].Content["n"] != float64(0) || first.Events[1].Content["n"] != float64(1) {
			t.Fatalf("events = %+v", first.Events)
		}
		// A lost answer: the same call returns the same messages.
		again := events(t, alice, dev, "")
		if len(again.Events) != 2 || *again.NextBatch != *first.NextBatch {
			t.Fatalf("repeated call = %+v, want the same two messages", again)
		}
		// Presenting next_batch removes them: none left, then or later.
		if rest := events(t, alice, dev, *first.NextBatch); len(rest.Events) != 0 {
			t.Fatalf("after next_batch: %+v, want no events", rest.Events)
		}
		if rest := events(t, alice, dev, ""); len(rest.Events) != 0 {
			t.Fatalf("from the start after next_batch: %+v, want none", rest.Events)
		}
		// A later message comes after the acknowledged ones.
		if st, body := e2eeCall(t, ts, bob, http.MethodPut, "/sendToDevice/m.room.encrypted/t9", map[string]any{
			"messages": map[string]any{string(alice.UserID): map[string]any{string(dev): map[string]any{"n": 9}}},
		}); st != http.StatusOK {
			t.Fatalf("sendToDevice: %d %v", st, body)
		}
		if late := events(t, alice, dev, *first.NextBatch); len(late.Events) != 1 || late.Events[0].Content["n"] != float64(9) {
			t.Fatalf("later message: %+v", late.Events)
		}
		// Alice's session never sees the dehydrated device's messages, and
		// bob cannot read alice's dehydrated inbox.
		if td := toDeviceEvents(rawSync(t, ts, alice, "")); len(td) != 1 {
			t.Fatalf("alice's session to-device = %v, want only the message to \"*\"", td)
		}
		if st, code := msc3814(t, bob, http.MethodPost, map[string]any{}, nil, dev, "events"); st != http.StatusNotFound || code != "M_NOT_FOUND" {
			t.Fatalf("bob reading alice's dehydrated inbox: %d %s", st, code)
		}
		if st, code := msc3814(t, alice, http.MethodPost, map[string]any{"next_batch": "not-a-token"}, nil, dev, "events"); st != http.StatusBadRequest {
			t.Fatalf("invalid next_batch: %d %s", st, code)
		}
	})
}

// MSC3814: what PUT /dehydrated_device refuses, and that every endpoint
// needs an access token.
func TestDehydratedDeviceRefusals(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := registerUser(t, ts, "alice")

		for _, c := range []struct{ method, path string }{
			{"GET", msc3814Path}, {"PUT", msc3814Path}, {"DELETE", msc3814Path}, {"POST", msc3814Path + "/DEV/events"},
		} {
			st, body := call(t, ts, c.method, c.path, "", map[string]any{})
			wantError(t, c.method+" without a token", st, body, http.StatusUnauthorized, "M_MISSING_TOKEN")
		}

		// A session's own device ID.
		st, code := msc3814(t, alice, http.MethodPut, dehydratedBody(t, alice.UserID, alice.DeviceID, "curveX", 1), nil)
		if st != http.StatusBadRequest || code != "M_INVALID_PARAM" {
			t.Fatalf("PUT with a session's device ID: %d %s", st, code)
		}
		const dev = id.DeviceID("DEHYDRATED")
		for name, c := range map[string]struct {
			mutate func(map[string]any)
			code   string
		}{
			"no device_id":         {func(m map[string]any) { delete(m, "device_id") }, "M_MISSING_PARAM"},
			"no device_data":       {func(m map[string]any) { delete(m, "device_data") }, "M_MISSING_PARAM"},
			"device_data no alg":   {func(m map[string]any) { m["device_data"] = map[string]any{"pickle": "x"} }, "M_INVALID_PARAM"},
			"device_data a string": {func(m map[string]any) { m["device_data"] = "pickle" }, "M_BAD_JSON"},
			"no device_keys":       {func(m map[string]any) { delete(m, "device_keys") }, "M_MISSING_PARAM"},
			"keys of another device": {func(m map[string]any) {
				m["device_keys"] = signedDeviceKeys(t, alice.UserID, "OTHER", newEd25519(t), "c")
			}, "M_INVALID_PARAM"},
			"badly signed keys": {func(m map[string]any) {
				m["device_keys"].(map[string]any)["keys"].(map[string]string)["curve25519:"+string(dev)] = "tampered"
			}, "M_INVALID_PARAM"},
		} {
			body := dehydratedBody(t, alice.UserID, dev, "curveY", 1)
			c.mutate(body)
			if st, code := msc3814(t, alice, http.MethodPut, body, nil); st != http.StatusBadRequest || code != c.code {
				t.Errorf("%s: %d %s, want 400 %s", name, st, code, c.code)
			}
		}
		if st, code := msc3814(t, alice, http.MethodGet, nil, nil); st != http.StatusNotFound {
			t.Fatalf("a refused PUT left a device: %d %s", st, code)
		}
	})
}

// The dehydrated device outlives the sessions: /logout/all leaves it (it
// has no token to end); deactivation deletes it.
func TestDehydratedDeviceAndSessions(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		alice := registerUser(t, ts, "alice")
		bob := registerUser(t, ts, "bob")
		const dev = id.DeviceID("DEHYDRATED")
		if st, code := msc3814(t, alice, http.MethodPut, dehydratedBody(t, alice.UserID, dev, "curveS", 1), nil); st != http.StatusOK {
			t.Fatalf("PUT: %d %s", st, code)
		}
		if _, err := alice.LogoutAll(ctx); err != nil {
			t.Fatal(err)
		}
		again := login(t, ts, "alice", testPassword)
		if st, code := msc3814(t, again, http.MethodGet, nil, nil); st != http.StatusOK {
			t.Fatalf("GET after /logout/all: %d %s", st, code)
		}
		if _, ok := queriedDevices(t, bob, again.UserID)[dev]; !ok {
			t.Fatal("the dehydrated device left /keys/query after /logout/all")
		}

		const deactivate = v3 + "/account/deactivate"
		sid := uiaSession(t, ts, "POST", deactivate, again.AccessToken, map[string]any{})
		st, body := call(t, ts, "POST", deactivate, again.AccessToken, map[string]any{"auth": passwordAuth(sid, "alice", testPassword)})
		wantOK(t, "deactivate", st, body)
		if k := queriedDevices(t, bob, alice.UserID); len(k) != 0 {
			t.Fatalf("/keys/query of a deactivated user: %+v", k)
		}

		// The trail names the device's creation and deletion, never its data.
		var changes []string
		for _, e := range trail(t, ts) {
			if e.Action == audit.ActionDehydratedDevice && e.TargetUser == string(alice.UserID) && e.Detail["device_id"] == string(dev) {
				changes = append(changes, e.Detail["change"])
			}
		}
		if fmt.Sprint(changes) != "[create delete]" {
			t.Fatalf("audit entries of the dehydrated device: %v, want create then delete", changes)
		}
		if strings.Contains(exportAll(t, ts, audit.JSONLines), "opaque-curveS") {
			t.Fatal("the audit trail holds device_data")
		}
	})
}

// FuzzDehydratedDeviceBody feeds arbitrary bodies to PUT /dehydrated_device
// and POST /dehydrated_device/{device_id}/events (MSC3814).
func FuzzDehydratedDeviceBody(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `[]`, `null`, `{"device_id":"D"}`, `{"device_id":"D","device_data":{"algorithm":"a"}}`,
		`{"device_id":"D","device_data":{"algorithm":"a"},"device_keys":{}}`,
		`{"device_id":"D","device_data":{"algorithm":"a"},"device_keys":{"user_id":"@alice:ward.test","device_id":"D","keys":[]}}`,
		`{"device_id":7,"device_data":"x"}`, `{"device_id":"","device_data":{"algorithm":5}}`,
		`{"device_id":"D","device_data":{"algorithm":"a"},"device_keys":null,"one_time_keys":{"x":1}}`,
		`{"device_id":"` + strings.Repeat("d", 300) + `","device_data":{"algorithm":"a"}}`,
		`{"next_batch":"1"}`, `{"next_batch":"-1"}`, `{"next_batch":1}`, `{"next_batch":"99999999999999999999"}`,
		`{"device_id":"D\u0000","device_data":{"algorithm":"a"}}`,
	} {
		f.Add([]byte(seed))
	}
	ts := servertest.Start(f, fuzzBackend(f), nil)
	alice := register(f, ts, "alice")
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAnswer(t, alice, http.MethodPut, "/unstable/org.matrix.msc3814.v1/dehydrated_device", body)
		checkAnswer(t, alice, http.MethodPost, "/unstable/org.matrix.msc3814.v1/dehydrated_device/D/events", body)
	})
}

// Element Web creates and rehydrates dehydrated devices only when the
// server's /.well-known/matrix/client says "org.matrix.msc3814": true;
// /versions lists the MSC among unstable_features (MSC3814).
func TestDehydratedDeviceDiscovery(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		st, wk := call(t, ts, "GET", "/.well-known/matrix/client", "", nil)
		if st != http.StatusOK || wk["org.matrix.msc3814"] != true {
			t.Fatalf("well-known = %d %v, want org.matrix.msc3814: true", st, wk)
		}
		st, v := call(t, ts, "GET", "/_matrix/client/versions", "", nil)
		if uf, _ := v["unstable_features"].(map[string]any); st != http.StatusOK || uf["org.matrix.msc3814"] != true {
			t.Fatalf("versions = %d %v, want unstable_features org.matrix.msc3814: true", st, v)
		}
	})
}
