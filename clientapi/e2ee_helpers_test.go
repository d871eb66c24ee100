package clientapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/server/servertest"
)

// e2eeUser registers localpart and returns a logged-in client.
func e2eeUser(t *testing.T, ts *servertest.TS, localpart string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(ts.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.RegisterDummy(context.Background(), &mautrix.ReqRegister[any]{Username: localpart, Password: "e2ee test password"})
	if err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	cli.UserID, cli.DeviceID, cli.AccessToken = resp.UserID, resp.DeviceID, resp.AccessToken
	return cli
}

// e2eeCall makes a raw request with cli's token and decodes the answer.
func e2eeCall(t *testing.T, ts *servertest.TS, cli *mautrix.Client, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, ts.URL+"/_matrix/client/v3"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if cli != nil {
		req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// signedDeviceKeys builds a device_keys object signed with priv (whose
// public half is the device's ed25519 key unless edOverride is set).
func signedDeviceKeys(t *testing.T, user id.UserID, device id.DeviceID, priv ed25519.PrivateKey, curve string) map[string]any {
	t.Helper()
	pub := base64.RawStdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	obj := map[string]any{
		"user_id":    user,
		"device_id":  device,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]string{
			"ed25519:" + string(device):    pub,
			"curve25519:" + string(device): curve,
		},
	}
	// encoding/json sorts map keys and the values are plain ASCII, so this
	// is the canonical JSON the signature covers.
	canon, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	sig := base64.RawStdEncoding.EncodeToString(ed25519.Sign(priv, canon))
	obj["signatures"] = map[string]any{string(user): map[string]string{"ed25519:" + string(device): sig}}
	return obj
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// otks makes n one-time keys with the given prefix.
func otks(prefix string, n int) map[string]any {
	out := map[string]any{}
	for i := range n {
		out[fmt.Sprintf("signed_curve25519:%s%03d", prefix, i)] = map[string]any{"key": fmt.Sprintf("otk-%s-%d", prefix, i)}
	}
	return out
}

// rawSync syncs with since ("" for initial) and returns the body.
func rawSync(t *testing.T, ts *servertest.TS, cli *mautrix.Client, since string) map[string]any {
	t.Helper()
	path := "/sync?timeout=0"
	if since != "" {
		path += "&since=" + since
	}
	st, body := e2eeCall(t, ts, cli, http.MethodGet, path, nil)
	if st != http.StatusOK {
		t.Fatalf("sync: %d %v", st, body)
	}
	return body
}

func toDeviceEvents(body map[string]any) []any {
	td, _ := body["to_device"].(map[string]any)
	evs, _ := td["events"].([]any)
	return evs
}
