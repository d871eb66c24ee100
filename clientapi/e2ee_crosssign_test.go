package clientapi_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// signObject adds user's signature with priv (named keyName) to obj.
func signObject(t *testing.T, obj map[string]any, user id.UserID, keyName string, priv ed25519.PrivateKey) {
	t.Helper()
	clean := map[string]any{}
	for k, v := range obj {
		if k != "signatures" && k != "unsigned" {
			clean[k] = v
		}
	}
	canon, err := json.Marshal(clean)
	if err != nil {
		t.Fatal(err)
	}
	sig := base64.RawStdEncoding.EncodeToString(ed25519.Sign(priv, canon))
	sigs, _ := obj["signatures"].(map[string]any)
	if sigs == nil {
		sigs = map[string]any{}
	}
	mine, _ := sigs[string(user)].(map[string]string)
	if mine == nil {
		mine = map[string]string{}
	}
	mine["ed25519:"+keyName] = sig
	sigs[string(user)] = mine
	obj["signatures"] = sigs
}

func pubOf(priv ed25519.PrivateKey) string {
	return base64.RawStdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
}

func crossSigningKey(user id.UserID, usage string, priv ed25519.PrivateKey) map[string]any {
	pub := pubOf(priv)
	return map[string]any{"user_id": user, "usage": []string{usage}, "keys": map[string]string{"ed25519:" + pub: pub}}
}

func TestE2EECrossSigning(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := e2eeUser(t, ts, "alice")
		bob := e2eeUser(t, ts, "bob")
		devPriv := newEd25519(t)
		dk := signedDeviceKeys(t, alice.UserID, alice.DeviceID, devPriv, "curveA")
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/upload", map[string]any{"device_keys": dk}); st != http.StatusOK {
			t.Fatalf("upload: %d %v", st, body)
		}
		masterPriv, sskPriv, uskPriv := newEd25519(t), newEd25519(t), newEd25519(t)
		master := crossSigningKey(alice.UserID, "master", masterPriv)
		ssk := crossSigningKey(alice.UserID, "self_signing", sskPriv)
		signObject(t, ssk, alice.UserID, pubOf(masterPriv), masterPriv)
		usk := crossSigningKey(alice.UserID, "user_signing", uskPriv)
		signObject(t, usk, alice.UserID, pubOf(masterPriv), masterPriv)

		// A self-signing key not signed by the master key is refused.
		bad := crossSigningKey(alice.UserID, "self_signing", sskPriv)
		if st, _ := e2eeCall(t, ts, alice, http.MethodPost, "/keys/device_signing/upload", map[string]any{"master_key": master, "self_signing_key": bad}); st != http.StatusBadRequest {
			t.Fatalf("unsigned self-signing key: %d, want 400", st)
		}
		// The first upload needs no further auth.
		up := map[string]any{"master_key": master, "self_signing_key": ssk, "user_signing_key": usk}
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/device_signing/upload", up); st != http.StatusOK {
			t.Fatalf("device_signing/upload: %d %v", st, body)
		}
		// The same keys again are fine; new ones need User-Interactive Auth.
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/device_signing/upload", up); st != http.StatusOK {
			t.Fatalf("same keys again: %d %v", st, body)
		}
		st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/device_signing/upload",
			map[string]any{"master_key": crossSigningKey(alice.UserID, "master", newEd25519(t))})
		if st != http.StatusUnauthorized || body["flows"] == nil {
			t.Fatalf("replacing the master key: %d %v, want 401 with flows", st, body)
		}
		// With a wrong password: still 401, now with M_FORBIDDEN; with the
		// right one the keys are replaced (spec: "User-interactive
		// authentication", POST /keys/device_signing/upload).
		newMasterPriv := newEd25519(t)
		replace := map[string]any{"master_key": crossSigningKey(alice.UserID, "master", newMasterPriv),
			"auth": map[string]any{"type": "m.login.password", "session": body["session"],
				"identifier": map[string]any{"type": "m.id.user", "user": string(alice.UserID)}, "password": "wrong"}}
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/device_signing/upload", replace); st != http.StatusUnauthorized || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("replacement with a wrong password: %d %v", st, body)
		}
		replace["auth"].(map[string]any)["password"] = "e2ee test password"
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/device_signing/upload", replace); st != http.StatusOK {
			t.Fatalf("replacement with the password: %d %v", st, body)
		}
		// Put the original keys back (again with the password) for the rest.
		up["auth"] = replace["auth"]
		if st, body := e2eeCall(t, ts, alice, http.MethodPost, "/keys/device_signing/upload", up); st != http.StatusOK {
			t.Fatalf("restoring the keys: %d %v", st, body)
		}
		delete(up, "auth")

		// Alice signs her device with her self-signing key.
		signed := map[string]any{}
		for k, v := range dk {
			if k != "signatures" {
				signed[k] = v
			}
		}
		signObject(t, signed, alice.UserID, pubOf(sskPriv), sskPriv)
		delete(signed["signatures"].(map[string]any), "unused")
		st, body = e2eeCall(t, ts, alice, http.MethodPost, "/keys/signatures/upload",
			map[string]any{string(alice.UserID): map[string]any{string(alice.DeviceID): signed}})
		if st != http.StatusOK || len(body["failures"].(map[string]any)) != 0 {
			t.Fatalf("signatures/upload: %d %v", st, body)
		}
		// A forged signature is reported.
		forged := map[string]any{"user_id": alice.UserID}
		signObject(t, forged, alice.UserID, pubOf(sskPriv), sskPriv)
		st, body = e2eeCall(t, ts, alice, http.MethodPost, "/keys/signatures/upload",
			map[string]any{string(alice.UserID): map[string]any{string(alice.DeviceID): forged}})
		if st != http.StatusOK || len(body["failures"].(map[string]any)) != 1 {
			t.Fatalf("forged signature: %d %v, want one failure", st, body)
		}

		// Bob sees alice's master and self-signing keys, not her
		// user-signing key, and the device signature.
		_, q := e2eeCall(t, ts, bob, http.MethodPost, "/keys/query", map[string]any{"device_keys": map[string]any{string(alice.UserID): []string{}}})
		if q["master_keys"].(map[string]any)[string(alice.UserID)] == nil || q["self_signing_keys"].(map[string]any)[string(alice.UserID)] == nil {
			t.Fatalf("query: %v", q)
		}
		if q["user_signing_keys"].(map[string]any)[string(alice.UserID)] != nil {
			t.Fatalf("bob sees alice's user-signing key")
		}
		dev := q["device_keys"].(map[string]any)[string(alice.UserID)].(map[string]any)[string(alice.DeviceID)].(map[string]any)
		sigs := dev["signatures"].(map[string]any)[string(alice.UserID)].(map[string]any)
		if sigs["ed25519:"+pubOf(sskPriv)] == nil || sigs["ed25519:"+string(alice.DeviceID)] == nil {
			t.Fatalf("device signatures = %v", sigs)
		}
		_, q = e2eeCall(t, ts, alice, http.MethodPost, "/keys/query", map[string]any{"device_keys": map[string]any{string(alice.UserID): []string{}}})
		if q["user_signing_keys"].(map[string]any)[string(alice.UserID)] == nil {
			t.Fatalf("alice does not see her user-signing key: %v", q)
		}
	})
}
