package clientapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
	"ward/policy"
)

// reachClinic starts a server with the clinic policy on and registers
// patients pat1 (provider doc1) and pat2 (provider doc2) and the two
// providers, each with one logged-in device.
func reachClinic(t *testing.T, b dbtest.Backend) (*servertest.TS, map[string]*mautrix.Client) {
	t.Helper()
	ts := servertest.Start(t, b, func(c *config.Config) { c.Policy = "on" })
	ctx := context.Background()
	users := map[string]*mautrix.Client{}
	for name, role := range map[string]policy.Role{"pat1": policy.RolePatient, "pat2": policy.RolePatient,
		"doc1": policy.RoleProvider, "doc2": policy.RoleProvider} {
		users[name] = e2eeUser(t, ts, name)
		if err := ts.Server.Policy.SetRole(ctx, users[name].UserID, role); err != nil {
			t.Fatal(err)
		}
	}
	for doc, pat := range map[string]string{"doc1": "pat1", "doc2": "pat2"} {
		if err := ts.Server.Policy.Assign(ctx, users[doc].UserID, users[pat].UserID); err != nil {
			t.Fatal(err)
		}
	}
	return ts, users
}

// uploadDeviceKeys uploads cli's device keys and n one-time keys.
func uploadDeviceKeys(t *testing.T, ts *servertest.TS, cli *mautrix.Client, n int) {
	t.Helper()
	st, body := e2eeCall(t, ts, cli, http.MethodPost, "/keys/upload", map[string]any{
		"device_keys":   signedDeviceKeys(t, cli.UserID, cli.DeviceID, newEd25519(t), "curve-"+string(cli.DeviceID)),
		"one_time_keys": otks(string(cli.DeviceID), n),
	})
	if st != http.StatusOK {
		t.Fatalf("upload keys of %s: %d %v", cli.UserID, st, body)
	}
}

// otkCount is the number of signed_curve25519 one-time keys cli has left.
func otkCount(t *testing.T, ts *servertest.TS, cli *mautrix.Client) float64 {
	t.Helper()
	st, body := e2eeCall(t, ts, cli, http.MethodPost, "/keys/upload", map[string]any{})
	if st != http.StatusOK {
		t.Fatalf("key count of %s: %d %v", cli.UserID, st, body)
	}
	n, _ := body["one_time_key_counts"].(map[string]any)["signed_curve25519"].(float64)
	return n
}

// TestPolicyKeysAndToDeviceNeedReach: a patient who may not reach another
// patient (nor an unassigned provider, nor someone who does not exist)
// learns nothing of their devices, cannot use up their one-time keys and
// cannot send them to-device messages, encrypted or plain; each refused
// send is a policy denial on the audit trail. The same patient reaches her
// assigned provider, with whom she shares no room yet (Element queries an
// invitee's keys before it creates the encrypted DM), and her own devices.
func TestPolicyKeysAndToDeviceNeedReach(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts, u := reachClinic(t, b)
		ctx := context.Background()
		for _, name := range []string{"pat2", "doc1", "doc2"} {
			uploadDeviceKeys(t, ts, u[name], 5)
		}
		pat1, pat2, doc1, doc2 := u["pat1"], u["pat2"], u["doc1"], u["doc2"]
		ghost := id.UserID("@ghost:ward.test")
		if _, err := pat1.CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{pat2.UserID}}); err == nil {
			t.Fatal("a patient created a room with another patient")
		}

		// /keys/query: the unreachable answer as users without devices.
		st, body := e2eeCall(t, ts, pat1, http.MethodPost, "/keys/query", map[string]any{"device_keys": map[string]any{
			string(pat2.UserID): []string{}, string(doc2.UserID): []string{}, string(doc1.UserID): []string{}, string(ghost): []string{}}})
		if st != http.StatusOK {
			t.Fatalf("keys/query: %d %v", st, body)
		}
		dk := body["device_keys"].(map[string]any)
		for _, hidden := range []id.UserID{pat2.UserID, doc2.UserID, ghost} {
			if devs, _ := dk[string(hidden)].(map[string]any); len(devs) != 0 {
				t.Errorf("a patient sees the devices of %s: %v", hidden, devs)
			}
		}
		if devs, _ := dk[string(doc1.UserID)].(map[string]any); devs[string(doc1.DeviceID)] == nil {
			t.Errorf("a patient cannot see her assigned provider's device: %v", dk)
		}

		// /keys/claim: nothing handed out, nothing used up.
		st, body = e2eeCall(t, ts, pat1, http.MethodPost, "/keys/claim", map[string]any{"one_time_keys": map[string]any{
			string(pat2.UserID): map[string]string{string(pat2.DeviceID): "signed_curve25519"},
			string(doc2.UserID): map[string]string{string(doc2.DeviceID): "signed_curve25519"},
			string(doc1.UserID): map[string]string{string(doc1.DeviceID): "signed_curve25519"}}})
		if st != http.StatusOK {
			t.Fatalf("keys/claim: %d %v", st, body)
		}
		claimed := body["one_time_keys"].(map[string]any)
		if claimed[string(pat2.UserID)] != nil || claimed[string(doc2.UserID)] != nil {
			t.Errorf("a patient claimed keys of people she may not reach: %v", claimed)
		}
		if claimed[string(doc1.UserID)] == nil {
			t.Errorf("a patient could not claim her provider's key: %v", claimed)
		}
		if n := otkCount(t, ts, pat2); n != 5 {
			t.Errorf("the other patient has %v one-time keys left, want 5", n)
		}
		if n := otkCount(t, ts, doc2); n != 5 {
			t.Errorf("the unassigned provider has %v one-time keys left, want 5", n)
		}

		// /sendToDevice: refused whole, recorded, nothing delivered.
		before := rawSync(t, ts, pat2, "")
		docBefore := rawSync(t, ts, doc1, "")
		encrypted := map[string]any{"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": "k", "ciphertext": map[string]any{}}
		plain := map[string]any{"body": "are you on the same ward?"}
		txn := 0
		send := func(evType string, to id.UserID, content any, extra ...id.UserID) (int, map[string]any) {
			txn++
			msgs := map[string]any{string(to): map[string]any{"*": content}}
			for _, e := range extra {
				msgs[string(e)] = map[string]any{"*": content}
			}
			return e2eeCall(t, ts, pat1, http.MethodPut, "/sendToDevice/"+evType+"/t"+itoa(int64(txn)), map[string]any{"messages": msgs})
		}
		for _, tc := range []struct {
			what    string
			evType  string
			to      id.UserID
			content any
			extra   []id.UserID
		}{
			{"encrypted, to another patient", "m.room.encrypted", pat2.UserID, encrypted, nil},
			{"plain, to another patient", "com.example.note", pat2.UserID, plain, nil},
			{"to an unassigned provider", "m.room.encrypted", doc2.UserID, encrypted, nil},
			{"to a user who does not exist", "m.room.encrypted", ghost, encrypted, nil},
			{"to her provider and another patient at once", "com.example.note", doc1.UserID, plain, []id.UserID{pat2.UserID}},
		} {
			st, body := send(tc.evType, tc.to, tc.content, tc.extra...)
			if st != http.StatusForbidden || body["errcode"] != "M_FORBIDDEN" || body["error"] == "" {
				t.Errorf("sendToDevice %s: %d %v, want 403 M_FORBIDDEN with a reason", tc.what, st, body)
			}
		}
		if evs := toDeviceEvents(rawSync(t, ts, pat2, before["next_batch"].(string))); len(evs) != 0 {
			t.Errorf("the other patient received to-device messages: %v", evs)
		}
		if evs := toDeviceEvents(rawSync(t, ts, doc1, docBefore["next_batch"].(string))); len(evs) != 0 {
			t.Errorf("a refused request still reached the provider: %v", evs)
		}
		denied, _, err := ts.Server.Audit.Query(ctx, audit.Filter{Outcome: audit.Denied, Action: audit.ActionPolicyDenial})
		if err != nil {
			t.Fatal(err)
		}
		var toDevice []audit.Entry
		for _, e := range denied {
			if e.ActorUser == string(pat1.UserID) && strings.HasPrefix(e.Detail["attempted"], "send to-device") {
				toDevice = append(toDevice, e)
			}
		}
		if len(toDevice) != 5 {
			t.Fatalf("%d refused to-device sends on the audit trail, want 5: %+v", len(toDevice), denied)
		}
		if e := toDevice[0]; e.TargetUser != string(pat2.UserID) || e.Reason == "" || e.Detail["rule"] == "" {
			t.Errorf("denial entry %+v", e)
		}

		// Her provider and her own devices are reachable.
		if st, body := send("com.example.note", doc1.UserID, plain); st != http.StatusOK {
			t.Fatalf("sendToDevice to her provider: %d %v", st, body)
		}
		if evs := toDeviceEvents(rawSync(t, ts, doc1, docBefore["next_batch"].(string))); len(evs) != 1 {
			t.Errorf("her provider got %d to-device messages, want 1: %v", len(evs), evs)
		}
		if st, body := send("com.example.note", pat1.UserID, plain); st != http.StatusOK {
			t.Fatalf("sendToDevice to her own devices: %d %v", st, body)
		}
	})
}

// TestPolicyPatientAndProviderExchangeKeys: with the policy on, a patient
// and her assigned provider, each with a real crypto machine, find each
// other's devices before they share a room, then talk encrypted in their
// DM (room keys travel as to-device messages).
func TestPolicyPatientAndProviderExchangeKeys(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		_, u := reachClinic(t, b)
		ctx := context.Background()
		pat := startCryptoDevice(t, u["pat1"], nil, nil)
		doc := startCryptoDevice(t, u["doc1"], nil, nil)
		q, err := doc.cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{pat.cli.UserID: {}}})
		if err != nil {
			t.Fatal(err)
		}
		if q.DeviceKeys[pat.cli.UserID][pat.cli.DeviceID].UserID != pat.cli.UserID {
			t.Fatalf("the provider cannot see his patient's device before their DM: %+v", q.DeviceKeys)
		}
		room := encryptedDM(t, doc, pat)
		sendEncrypted(t, doc.cli, doc.mach, room, "how is the new dose?")
		waitFor(t, pat.got, "how is the new dose?")
		sendEncrypted(t, pat.cli, pat.mach, room, "much better, thanks")
		waitFor(t, doc.got, "much better, thanks")
	})
}
