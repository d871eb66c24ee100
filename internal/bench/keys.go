package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"maunium.net/go/mautrix/crypto/canonicaljson"
)

// runKeys: Members users in one room each upload device keys and Repeat+1
// one-time keys; one member then queries everyone's device keys and
// claims a one-time key of every other member's device, Repeat times each.
func runKeys(ctx context.Context, o Options, res *Result) error {
	members := max(2, o.Members)
	res.Params = map[string]any{"members": members, "repeat": o.Repeat, "registration": o.flow()}
	o.progress("keys: registering %d users", members)
	users, err := o.users(ctx, "k", members)
	if err != nil {
		return err
	}
	// Does the server have the endpoints at all?
	if err := uploadKeys(ctx, users[0], o.Repeat+1); err != nil {
		if IsUnsupported(err) {
			res.Notes = append(res.Notes, "the server lacks the E2EE key endpoints (/keys/upload answered: "+err.Error()+")")
			res.Figures["keys_supported"] = 0
			return nil
		}
		return err
	}
	res.Figures["keys_supported"] = 1
	room, err := users[0].CreateRoom(ctx, "public_chat", false)
	if err != nil {
		return err
	}
	if err := parallel(ctx, members-1, o.SetupWorkers, func(ctx context.Context, i int) error {
		u := users[i+1]
		if err := u.Join(ctx, room); err != nil {
			return err
		}
		return uploadKeys(ctx, u, o.Repeat+1)
	}); err != nil {
		return err
	}

	o.progress("keys: %d queries and %d claims over %d members", o.Repeat, o.Repeat, members)
	q := users[0]
	query := map[string]any{"device_keys": map[string][]string{}}
	claim := map[string]map[string]string{}
	for _, u := range users {
		query["device_keys"].(map[string][]string)[u.UserID] = []string{}
		if u != q {
			claim[u.UserID] = map[string]string{u.DeviceID: "signed_curve25519"}
		}
	}
	var qLat, cLat []time.Duration
	var qBytes, cBytes int
	claimed := 0
	for range o.Repeat {
		t0 := time.Now()
		n, err := q.Do(ctx, http.MethodPost, clientV3+"/keys/query", nil, query, nil)
		if err != nil {
			return err
		}
		qLat = append(qLat, time.Since(t0))
		qBytes = n
	}
	for range o.Repeat {
		var out struct {
			OneTimeKeys map[string]map[string]map[string]any `json:"one_time_keys"`
		}
		t0 := time.Now()
		n, err := q.Do(ctx, http.MethodPost, clientV3+"/keys/claim", nil, map[string]any{"one_time_keys": claim}, &out)
		if err != nil {
			return err
		}
		cLat = append(cLat, time.Since(t0))
		cBytes = n
		for _, devs := range out.OneTimeKeys {
			claimed += len(devs)
		}
	}
	res.Latency["keys_query"] = Summarize(qLat)
	res.Latency["keys_claim"] = Summarize(cLat)
	res.Figures["keys_query_bytes"] = float64(qBytes)
	res.Figures["keys_claim_bytes"] = float64(cBytes)
	res.Figures["keys_claimed"] = float64(claimed)
	res.Figures["keys_claim_wanted"] = float64(o.Repeat * (members - 1))
	return nil
}

var b64 = base64.RawStdEncoding

// signJSON adds the signature of obj's canonical form (without
// signatures and unsigned) by user's device key.
func signJSON(obj map[string]any, user, device string, key ed25519.PrivateKey) error {
	plain := map[string]any{}
	for k, v := range obj {
		if k != "signatures" && k != "unsigned" {
			plain[k] = v
		}
	}
	raw, err := json.Marshal(plain)
	if err != nil {
		return err
	}
	sig := ed25519.Sign(key, canonicaljson.CanonicalJSONAssumeValid(raw))
	obj["signatures"] = map[string]any{user: map[string]string{"ed25519:" + device: b64.EncodeToString(sig)}}
	return nil
}

// uploadKeys uploads signed device keys and otks signed one-time keys.
func uploadKeys(ctx context.Context, c *Client, otks int) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	curve := make([]byte, 32)
	_, _ = rand.Read(curve)
	dk := map[string]any{
		"user_id": c.UserID, "device_id": c.DeviceID,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]string{
			"ed25519:" + c.DeviceID:    b64.EncodeToString(pub),
			"curve25519:" + c.DeviceID: b64.EncodeToString(curve),
		},
	}
	if err := signJSON(dk, c.UserID, c.DeviceID, priv); err != nil {
		return err
	}
	one := map[string]any{}
	for i := range otks {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		otk := map[string]any{"key": b64.EncodeToString(k)}
		if err := signJSON(otk, c.UserID, c.DeviceID, priv); err != nil {
			return err
		}
		one[fmt.Sprintf("signed_curve25519:AAAA%04d", i)] = otk
	}
	_, err = c.Do(ctx, http.MethodPost, clientV3+"/keys/upload", nil, map[string]any{"device_keys": dk, "one_time_keys": one}, nil)
	return err
}
