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
	"os"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// benchPost posts body to path as cli and fails on anything but 200.
func benchPost(tb testing.TB, ts *servertest.TS, cli *mautrix.Client, path string, body any) []byte {
	buf, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/_matrix/client/v3"+path, bytes.NewReader(buf))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	return raw
}

// benchDeviceKeys builds a signed device_keys object for cli's device.
func benchDeviceKeys(tb testing.TB, cli *mautrix.Client) map[string]any {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	obj := map[string]any{
		"user_id":    cli.UserID,
		"device_id":  cli.DeviceID,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]string{
			"ed25519:" + string(cli.DeviceID):    base64.RawStdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
			"curve25519:" + string(cli.DeviceID): "curve-" + string(cli.DeviceID),
		},
	}
	canon, err := json.Marshal(obj)
	if err != nil {
		tb.Fatal(err)
	}
	obj["signatures"] = map[string]any{string(cli.UserID): map[string]string{
		"ed25519:" + string(cli.DeviceID): base64.RawStdEncoding.EncodeToString(ed25519.Sign(priv, canon))}}
	return obj
}

// BenchmarkKeysClaimQuery50 measures POST /keys/query and POST /keys/claim
// as a member of a 50-member care-team room sees them before sending to
// the room: a query of all 50 members' device keys, and a claim of one
// one-time key from each member's device. It runs on SQLite, and on
// PostgreSQL when WARD_TEST_POSTGRES is set.
func BenchmarkKeysClaimQuery50(b *testing.B) {
	backends := []string{"sqlite"}
	if os.Getenv("WARD_TEST_POSTGRES") != "" {
		backends = append(backends, "postgres")
	}
	for _, name := range backends {
		b.Run(name, func(b *testing.B) {
			dsn := dbtest.SQLite(b)
			if name == "postgres" {
				dsn = dbtest.Postgres(b)
			}
			benchKeys50(b, servertest.Start(b, dbtest.Backend{Name: name, DSN: dsn}, nil))
		})
	}
}

func benchKeys50(b *testing.B, ts *servertest.TS) {
	const members, keysPerRound = 50, 100
	ctx := context.Background()
	clients := make([]*mautrix.Client, members)
	round := 0
	uploadOTKs := func() {
		round++
		for _, cli := range clients {
			benchPost(b, ts, cli, "/keys/upload", map[string]any{"one_time_keys": otks(fmt.Sprintf("r%d-", round), keysPerRound)})
		}
	}
	for i := range clients {
		cli, err := mautrix.NewClient(ts.URL, "", "")
		if err != nil {
			b.Fatal(err)
		}
		resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: fmt.Sprintf("member%02d", i), Password: "bench password"})
		if err != nil {
			b.Fatal(err)
		}
		cli.UserID, cli.DeviceID, cli.AccessToken = resp.UserID, resp.DeviceID, resp.AccessToken
		benchPost(b, ts, cli, "/keys/upload", map[string]any{
			"device_keys":   benchDeviceKeys(b, cli),
			"fallback_keys": map[string]any{"signed_curve25519:FB": map[string]any{"key": "fallback", "fallback": true}},
		})
		clients[i] = cli
	}
	uploadOTKs()
	invites := make([]id.UserID, 0, members-1)
	for _, cli := range clients[1:] {
		invites = append(invites, cli.UserID)
	}
	room, err := clients[0].CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: invites})
	if err != nil {
		b.Fatal(err)
	}
	for _, cli := range clients[1:] {
		if _, err := cli.JoinRoomByID(ctx, room.RoomID); err != nil {
			b.Fatal(err)
		}
	}
	caller := clients[0]
	query := map[string]any{"device_keys": map[string]any{}}
	claim := map[string]any{"one_time_keys": map[string]any{}}
	for _, cli := range clients {
		query["device_keys"].(map[string]any)[string(cli.UserID)] = []string{}
		claim["one_time_keys"].(map[string]any)[string(cli.UserID)] = map[string]string{string(cli.DeviceID): "signed_curve25519"}
	}

	b.Run("query", func(b *testing.B) {
		for range b.N {
			raw := benchPost(b, ts, caller, "/keys/query", query)
			if len(raw) < members*200 {
				b.Fatalf("query answer too short: %s", raw)
			}
		}
	})
	left := keysPerRound // one-time keys each device still holds
	b.Run("claim", func(b *testing.B) {
		for range b.N {
			if left == 0 {
				b.StopTimer()
				uploadOTKs()
				left = keysPerRound
				b.StartTimer()
			}
			var resp struct {
				OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
			}
			if err := json.Unmarshal(benchPost(b, ts, caller, "/keys/claim", claim), &resp); err != nil {
				b.Fatal(err)
			}
			if len(resp.OneTimeKeys) != members {
				b.Fatalf("claim gave keys of %d members, want %d", len(resp.OneTimeKeys), members)
			}
			for user, devs := range resp.OneTimeKeys {
				for _, keys := range devs {
					if _, fb := keys["signed_curve25519:FB"]; fb {
						b.Fatalf("claim handed out %s's fallback key while one-time keys were left", user)
					}
				}
			}
			left--
		}
	})
}
