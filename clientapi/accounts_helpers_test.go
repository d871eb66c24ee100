package clientapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"maunium.net/go/mautrix"

	"ward/internal/server/servertest"
)

const testPassword = "correct horse battery staple"

// anonClient is a mautrix client with no access token.
func anonClient(t *testing.T, ts *servertest.TS) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(ts.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// registerUser registers localpart with testPassword through the dummy
// User-Interactive Auth flow and returns a logged-in client.
func registerUser(t *testing.T, ts *servertest.TS, localpart string) *mautrix.Client {
	t.Helper()
	cli := anonClient(t, ts)
	resp, err := cli.RegisterDummy(context.Background(), &mautrix.ReqRegister[any]{Username: localpart, Password: testPassword})
	if err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	cli.UserID, cli.DeviceID, cli.AccessToken = resp.UserID, resp.DeviceID, resp.AccessToken
	return cli
}

// login logs localpart in again as a new client (a second device).
func login(t *testing.T, ts *servertest.TS, localpart, password string) *mautrix.Client {
	t.Helper()
	cli := anonClient(t, ts)
	_, err := cli.Login(context.Background(), &mautrix.ReqLogin{
		Type:             mautrix.AuthTypePassword,
		Identifier:       mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: localpart},
		Password:         password,
		StoreCredentials: true,
	})
	if err != nil {
		t.Fatalf("login %s: %v", localpart, err)
	}
	return cli
}

// call makes a raw request and decodes the JSON answer (nil when empty).
func call(t *testing.T, ts *servertest.TS, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// wantError checks a Matrix error answer.
func wantError(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["errcode"] != wantCode {
		t.Fatalf("%s: got %d %v, want %d %s", what, status, body, wantStatus, wantCode)
	}
	if _, ok := body["error"].(string); !ok {
		t.Fatalf("%s: error answer without an error message: %v", what, body)
	}
}

func wantOK(t *testing.T, what string, status int, body map[string]any) {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("%s: got %d %v, want 200", what, status, body)
	}
}

const v3 = "/_matrix/client/v3"
