package e2ee

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/matrixid"
)

// Limits on one request, so that a client cannot make the server do
// unbounded work.
const (
	maxKeysPerUpload = 1000
	maxQueryUsers    = 1000
	maxClaimDevices  = 1000
	maxKeyIDLength   = 255
	maxKeyJSONLength = 4096
)

// UploadRequest is the body of POST /keys/upload.
type UploadRequest struct {
	DeviceKeys   json.RawMessage            `json:"device_keys,omitempty"`
	OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys,omitempty"`
	FallbackKeys map[string]json.RawMessage `json:"fallback_keys,omitempty"`
}

// deviceKeys is the part of a device_keys object the server checks.
type deviceKeys struct {
	UserID     id.UserID         `json:"user_id"`
	DeviceID   id.DeviceID       `json:"device_id"`
	Algorithms []string          `json:"algorithms"`
	Keys       map[string]string `json:"keys"`
}

func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

// splitKeyID splits "<algorithm>:<id>".
func splitKeyID(keyID string) (algorithm, name string, err error) {
	alg, name, ok := strings.Cut(keyID, ":")
	if !ok || alg == "" || name == "" || len(keyID) > maxKeyIDLength {
		return "", "", mautrix.MInvalidParam.WithMessage("Invalid key ID %q", keyID)
	}
	return alg, name, nil
}

// stripUnsigned removes the "unsigned" member of a JSON object, which the
// server fills itself on the way out.
func stripUnsigned(raw json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, mautrix.MBadJSON.WithMessage("Key object must be a JSON object")
	}
	delete(obj, "unsigned")
	return json.Marshal(obj)
}

// UploadKeys stores the device's identity keys, one-time keys and fallback
// keys and returns the count of one-time keys left per algorithm.
//
// Spec: client-server-api POST /_matrix/client/v3/keys/upload.
func (s *Service) UploadKeys(ctx context.Context, user id.UserID, device id.DeviceID, req UploadRequest) (map[string]int, error) {
	up, err := checkUpload(req, user, device)
	if err != nil {
		return nil, err
	}
	changed := false
	var counts map[string]int
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if changed, err = storeUpload(ctx, tx, user, device, up); err != nil {
			return err
		}
		if changed {
			if err := recordChange(ctx, tx, user); err != nil {
				return err
			}
		}
		counts, err = oneTimeKeyCounts(ctx, tx, user, device)
		return err
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.wakePeers(ctx, user)
	}
	return counts, nil
}

// upload is a checked /keys/upload body.
type upload struct {
	dk        *deviceKeys // nil: none uploaded
	dkJSON    json.RawMessage
	otks      map[string][2]string // key id -> algorithm, json
	fallbacks map[string][2]string // algorithm -> key id, json
}

// checkUpload validates an upload of device's keys: the identity keys'
// owner and signature, the key IDs and sizes.
func checkUpload(req UploadRequest, user id.UserID, device id.DeviceID) (*upload, error) {
	if len(req.OneTimeKeys)+len(req.FallbackKeys) > maxKeysPerUpload {
		return nil, mautrix.MInvalidParam.WithMessage("Too many keys in one upload")
	}
	up := &upload{otks: make(map[string][2]string, len(req.OneTimeKeys)), fallbacks: map[string][2]string{}}
	if present(req.DeviceKeys) {
		var err error
		if up.dk, up.dkJSON, err = checkDeviceKeys(req.DeviceKeys, user, device); err != nil {
			return nil, err
		}
	}
	for keyID, raw := range req.OneTimeKeys {
		alg, _, err := splitKeyID(keyID)
		if err != nil {
			return nil, err
		}
		if len(raw) > maxKeyJSONLength || !present(raw) {
			return nil, mautrix.MInvalidParam.WithMessage("Invalid one-time key %q", keyID)
		}
		up.otks[keyID] = [2]string{alg, string(raw)}
	}
	for keyID, raw := range req.FallbackKeys {
		alg, _, err := splitKeyID(keyID)
		if err != nil {
			return nil, err
		}
		if len(raw) > maxKeyJSONLength || !present(raw) {
			return nil, mautrix.MInvalidParam.WithMessage("Invalid fallback key %q", keyID)
		}
		if _, dup := up.fallbacks[alg]; dup {
			return nil, mautrix.MInvalidParam.WithMessage("Only one fallback key per algorithm")
		}
		up.fallbacks[alg] = [2]string{keyID, string(raw)}
	}
	return up, nil
}

// storeUpload stores a checked upload of device's keys inside tx and
// reports whether the device's identity keys changed (the caller records
// the device-list change).
func storeUpload(ctx context.Context, tx *sql.Tx, user id.UserID, device id.DeviceID, up *upload) (bool, error) {
	changed := false
	if up.dk != nil {
		var err error
		if changed, err = storeDeviceKeys(ctx, tx, up.dk, up.dkJSON); err != nil {
			return false, err
		}
	}
	for keyID, v := range up.otks {
		var existing string
		err := tx.QueryRowContext(ctx, `SELECT key_json FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 AND key_id = $3`,
			user, device, keyID).Scan(&existing)
		switch {
		case err == nil:
			if !sameJSON(existing, v[1]) {
				return false, mautrix.MInvalidParam.WithMessage("One-time key %s already exists with different content", keyID)
			}
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_one_time_keys (user_id, device_id, algorithm, key_id, key_json) VALUES ($1, $2, $3, $4, $5)`,
			user, device, v[0], keyID, v[1]); err != nil {
			return false, fmt.Errorf("store one-time key: %w", err)
		}
	}
	for alg, v := range up.fallbacks {
		var oldID, oldJSON string
		err := tx.QueryRowContext(ctx, `SELECT key_id, key_json FROM e2ee_fallback_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3`,
			user, device, alg).Scan(&oldID, &oldJSON)
		switch {
		case err == nil:
			if oldID == v[0] && sameJSON(oldJSON, v[1]) {
				continue // the same key again keeps its used flag
			}
			_, err = tx.ExecContext(ctx, `UPDATE e2ee_fallback_keys SET key_id = $4, key_json = $5, used = $6
				WHERE user_id = $1 AND device_id = $2 AND algorithm = $3`, user, device, alg, v[0], v[1], false)
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO e2ee_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
				VALUES ($1, $2, $3, $4, $5, $6)`, user, device, alg, v[0], v[1], false)
		}
		if err != nil {
			return false, fmt.Errorf("store fallback key: %w", err)
		}
	}
	return changed, nil
}

// sameJSON compares two JSON texts by value.
func sameJSON(a, b string) bool {
	if a == b {
		return true
	}
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return string(ca) == string(cb)
}

// checkDeviceKeys validates an uploaded device_keys object: it must name the
// caller's user and device, carry an ed25519 and a curve25519 key for the
// device, and be signed by that ed25519 key.
func checkDeviceKeys(raw json.RawMessage, user id.UserID, device id.DeviceID) (*deviceKeys, json.RawMessage, error) {
	if len(raw) > 16*maxKeyJSONLength {
		return nil, nil, mautrix.MInvalidParam.WithMessage("device_keys is too large")
	}
	var dk deviceKeys
	if err := json.Unmarshal(raw, &dk); err != nil {
		return nil, nil, mautrix.MBadJSON.WithMessage("device_keys is malformed: %s", err.Error())
	}
	if dk.UserID != user || dk.DeviceID != device {
		return nil, nil, mautrix.MInvalidParam.WithMessage("device_keys must be for user %s and device %s", user, device)
	}
	ed := dk.Keys["ed25519:"+string(device)]
	curve := dk.Keys["curve25519:"+string(device)]
	if ed == "" || curve == "" {
		return nil, nil, mautrix.MInvalidParam.WithMessage("device_keys must contain ed25519:%s and curve25519:%s", device, device)
	}
	stripped, err := stripUnsigned(raw)
	if err != nil {
		return nil, nil, err
	}
	ok, err := signatures.VerifySignatureJSON(stripped, user, string(device), id.Ed25519(ed))
	if err != nil || !ok {
		return nil, nil, mautrix.MInvalidParam.WithMessage("device_keys is not signed by the device's ed25519 key")
	}
	return &dk, stripped, nil
}

// storeDeviceKeys stores a device's identity keys, refusing different keys
// for a device that already has some. It reports whether anything changed.
func storeDeviceKeys(ctx context.Context, tx *sql.Tx, dk *deviceKeys, raw json.RawMessage) (bool, error) {
	ed := dk.Keys["ed25519:"+string(dk.DeviceID)]
	curve := dk.Keys["curve25519:"+string(dk.DeviceID)]
	var oldEd, oldCurve, oldJSON string
	err := tx.QueryRowContext(ctx, `SELECT ed25519, curve25519, key_json FROM e2ee_device_keys WHERE user_id = $1 AND device_id = $2`,
		dk.UserID, dk.DeviceID).Scan(&oldEd, &oldCurve, &oldJSON)
	switch {
	case err == nil:
		if oldEd != ed || oldCurve != curve {
			return false, mautrix.MInvalidParam.WithMessage("Device %s already has different identity keys; log in as a new device instead", dk.DeviceID)
		}
		if sameJSON(oldJSON, string(raw)) {
			return false, nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE e2ee_device_keys SET key_json = $3 WHERE user_id = $1 AND device_id = $2`,
			dk.UserID, dk.DeviceID, string(raw))
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO e2ee_device_keys (user_id, device_id, ed25519, curve25519, key_json) VALUES ($1, $2, $3, $4, $5)`,
			dk.UserID, dk.DeviceID, ed, curve, string(raw))
	}
	if err != nil {
		return false, fmt.Errorf("store device keys: %w", err)
	}
	return true, nil
}

func oneTimeKeyCounts(ctx context.Context, q db.Querier, user id.UserID, device id.DeviceID) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT algorithm, COUNT(*) FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm`,
		user, device)
	if err != nil {
		return nil, fmt.Errorf("count one-time keys: %w", err)
	}
	defer rows.Close()
	// signed_curve25519 is always present, as clients expect.
	out := map[string]int{"signed_curve25519": 0}
	for rows.Next() {
		var alg string
		var n int
		if err := rows.Scan(&alg, &n); err != nil {
			return nil, err
		}
		out[alg] = n
	}
	return out, rows.Err()
}

func unusedFallbackTypes(ctx context.Context, q db.Querier, user id.UserID, device id.DeviceID) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT algorithm FROM e2ee_fallback_keys WHERE user_id = $1 AND device_id = $2 AND used = $3 ORDER BY algorithm`,
		user, device, false)
	if err != nil {
		return nil, fmt.Errorf("read fallback keys: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var alg string
		if err := rows.Scan(&alg); err != nil {
			return nil, err
		}
		out = append(out, alg)
	}
	return out, rows.Err()
}

// QueryRequest is the body of POST /keys/query.
type QueryRequest struct {
	DeviceKeys map[id.UserID][]id.DeviceID `json:"device_keys"`
	Timeout    int64                       `json:"timeout,omitempty"`
}

// QueryResponse is the answer of POST /keys/query.
type QueryResponse struct {
	DeviceKeys      map[id.UserID]map[id.DeviceID]json.RawMessage `json:"device_keys"`
	MasterKeys      map[id.UserID]json.RawMessage                 `json:"master_keys"`
	SelfSigningKeys map[id.UserID]json.RawMessage                 `json:"self_signing_keys"`
	UserSigningKeys map[id.UserID]json.RawMessage                 `json:"user_signing_keys"`
	Failures        map[string]any                                `json:"failures"`
}

// sigMap is signer user -> signer key ID -> signature.
type sigMap map[string]map[string]string

// QueryKeys returns the device keys and cross-signing keys of the requested
// users, with the signatures others uploaded for them merged in. The
// user-signing key is only shown to its owner. Users of other servers are
// reported under failures (this server does not federate).
//
// Spec: client-server-api POST /_matrix/client/v3/keys/query.
func (s *Service) QueryKeys(ctx context.Context, caller id.UserID, req QueryRequest) (*QueryResponse, error) {
	if len(req.DeviceKeys) > maxQueryUsers {
		return nil, mautrix.MInvalidParam.WithMessage("Too many users in one query")
	}
	resp := &QueryResponse{
		DeviceKeys:      map[id.UserID]map[id.DeviceID]json.RawMessage{},
		MasterKeys:      map[id.UserID]json.RawMessage{},
		SelfSigningKeys: map[id.UserID]json.RawMessage{},
		UserSigningKeys: map[id.UserID]json.RawMessage{},
		Failures:        map[string]any{},
	}
	users := make([]id.UserID, 0, len(req.DeviceKeys))
	for user := range req.DeviceKeys {
		if err := matrixid.CheckUserID(user); err != nil {
			return nil, mautrix.MInvalidParam.WithMessage("Invalid user ID %q", user)
		}
		if s.isLocal(user) {
			users = append(users, user)
		}
	}
	hidden, err := s.unreachable(ctx, caller, users)
	if err != nil {
		return nil, err
	}
	var visible []id.UserID
	for user := range req.DeviceKeys {
		switch {
		case !s.isLocal(user):
			resp.Failures[user.Homeserver()] = map[string]any{"errcode": "M_UNRECOGNIZED", "error": "This server does not federate"}
		case hidden[user]:
			// Answered as for a user without devices.
			resp.DeviceKeys[user] = map[id.DeviceID]json.RawMessage{}
		default:
			visible = append(visible, user)
		}
	}
	// Three queries for all the users, not three per user: a client asks
	// for every member of a room at once.
	keys, err := s.keysOf(ctx, visible)
	if err != nil {
		return nil, err
	}
	for _, user := range visible {
		k := keys[user]
		want := map[id.DeviceID]bool{}
		for _, d := range req.DeviceKeys[user] {
			want[d] = true
		}
		out := map[id.DeviceID]json.RawMessage{}
		for _, dk := range k.devices {
			if len(want) > 0 && !want[dk.device] {
				continue
			}
			var unsigned map[string]any
			if dk.name != "" {
				unsigned = map[string]any{"device_display_name": dk.name}
			}
			merged, err := mergeSignatures(dk.json, k.sigs[string(dk.device)], unsigned)
			if err != nil {
				return nil, err
			}
			out[dk.device] = merged
		}
		resp.DeviceKeys[user] = out
		for usage, ck := range k.crossSigning {
			merged, err := mergeSignatures(ck.json, k.sigs[ck.public], nil)
			if err != nil {
				return nil, err
			}
			switch usage {
			case usageMaster:
				resp.MasterKeys[user] = merged
			case usageSelfSigning:
				resp.SelfSigningKeys[user] = merged
			case usageUserSigning:
				if user == caller {
					resp.UserSigningKeys[user] = merged
				}
			}
		}
	}
	return resp, nil
}

// userKeys is what /keys/query shows of one user: device keys, cross-signing
// keys, and the signatures others uploaded for them (target key, a device
// ID or a cross-signing public key -> signer -> key ID -> signature).
type userKeys struct {
	devices      []deviceKey
	crossSigning map[string]csKey
	sigs         map[string]sigMap
}

type deviceKey struct {
	device id.DeviceID
	json   string
	name   string
}

// keysOf reads the keys of users in three queries.
func (s *Service) keysOf(ctx context.Context, users []id.UserID) (map[id.UserID]*userKeys, error) {
	out := make(map[id.UserID]*userKeys, len(users))
	if len(users) == 0 {
		return out, nil
	}
	args := make([]any, len(users))
	ph := make([]string, len(users))
	for i, u := range users {
		out[u] = &userKeys{crossSigning: map[string]csKey{}, sigs: map[string]sigMap{}}
		args[i] = string(u)
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	in := "(" + strings.Join(ph, ",") + ")"
	// The keys of the users' devices and of their dehydrated devices
	// (MSC3814), which others' clients must encrypt to as well; keys left
	// behind by a deleted device are not shown.
	rows, err := s.db.Read.QueryContext(ctx, `SELECT k.user_id, k.device_id, k.key_json, COALESCE(d.display_name, h.display_name, '')
		FROM e2ee_device_keys k
		LEFT JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
		LEFT JOIN e2ee_dehydrated_devices h ON h.user_id = k.user_id AND h.device_id = k.device_id
		WHERE k.user_id IN `+in+` AND (d.device_id IS NOT NULL OR h.device_id IS NOT NULL)`, args...)
	if err != nil {
		return nil, fmt.Errorf("query device keys: %w", err)
	}
	for rows.Next() {
		var user string
		var dk deviceKey
		if err := rows.Scan(&user, &dk.device, &dk.json, &dk.name); err != nil {
			rows.Close()
			return nil, err
		}
		if u := out[id.UserID(user)]; u != nil {
			u.devices = append(u.devices, dk)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.Read.QueryContext(ctx, `SELECT user_id, usage, public_key, key_json FROM e2ee_cross_signing_keys
		WHERE user_id IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("read cross-signing keys: %w", err)
	}
	for rows.Next() {
		var user, usage string
		var k csKey
		if err := rows.Scan(&user, &usage, &k.public, &k.json); err != nil {
			rows.Close()
			return nil, err
		}
		if u := out[id.UserID(user)]; u != nil {
			u.crossSigning[usage] = k
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.Read.QueryContext(ctx, `SELECT target_user, target_key, signer_user, signer_key_id, signature
		FROM e2ee_signatures WHERE target_user IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("read signatures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user, target, signer, keyID, sig string
		if err := rows.Scan(&user, &target, &signer, &keyID, &sig); err != nil {
			return nil, err
		}
		u := out[id.UserID(user)]
		if u == nil {
			continue
		}
		if u.sigs[target] == nil {
			u.sigs[target] = sigMap{}
		}
		if u.sigs[target][signer] == nil {
			u.sigs[target][signer] = map[string]string{}
		}
		u.sigs[target][signer][keyID] = sig
	}
	return out, rows.Err()
}

// mergeSignatures adds extra signatures (and, when given, an unsigned
// section) to a stored key object.
func mergeSignatures(keyJSON string, extra sigMap, unsigned map[string]any) (json.RawMessage, error) {
	if len(extra) == 0 && unsigned == nil {
		return json.RawMessage(keyJSON), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(keyJSON), &obj); err != nil {
		return nil, fmt.Errorf("stored key is not a JSON object: %w", err)
	}
	if len(extra) > 0 {
		sigs := sigMap{}
		if raw, ok := obj["signatures"]; ok {
			_ = json.Unmarshal(raw, &sigs)
			if sigs == nil {
				sigs = sigMap{}
			}
		}
		for signer, keys := range extra {
			if sigs[signer] == nil {
				sigs[signer] = map[string]string{}
			}
			for k, v := range keys {
				sigs[signer][k] = v
			}
		}
		b, err := json.Marshal(sigs)
		if err != nil {
			return nil, err
		}
		obj["signatures"] = b
	}
	if unsigned != nil {
		b, err := json.Marshal(unsigned)
		if err != nil {
			return nil, err
		}
		obj["unsigned"] = b
	}
	return json.Marshal(obj)
}

// ClaimRequest is the body of POST /keys/claim.
type ClaimRequest struct {
	OneTimeKeys map[id.UserID]map[id.DeviceID]string `json:"one_time_keys"`
	Timeout     int64                                `json:"timeout,omitempty"`
}

// ClaimResponse is the answer of POST /keys/claim.
type ClaimResponse struct {
	OneTimeKeys map[id.UserID]map[id.DeviceID]map[string]json.RawMessage `json:"one_time_keys"`
	Failures    map[string]any                                           `json:"failures"`
}

// ClaimKeys hands out one one-time key of the requested algorithm for each
// requested device, removing it so that no other claimer gets it; when a
// device has none left its fallback key is given (and marked used).
// Devices without either are left out of the answer, and so are the
// devices of users the caller may not reach (whose keys stay unclaimed).
//
// Spec: client-server-api POST /_matrix/client/v3/keys/claim.
func (s *Service) ClaimKeys(ctx context.Context, caller id.UserID, req ClaimRequest) (*ClaimResponse, error) {
	n := 0
	for _, devs := range req.OneTimeKeys {
		n += len(devs)
	}
	if n > maxClaimDevices {
		return nil, mautrix.MInvalidParam.WithMessage("Too many devices in one claim")
	}
	// As /keys/query: a user ID that is not one is the request's fault,
	// not a server's failure to answer.
	users := make([]id.UserID, 0, len(req.OneTimeKeys))
	for user := range req.OneTimeKeys {
		if err := matrixid.CheckUserID(user); err != nil {
			return nil, mautrix.MInvalidParam.WithMessage("Invalid user ID %q", user)
		}
		if s.isLocal(user) {
			users = append(users, user)
		}
	}
	hidden, err := s.unreachable(ctx, caller, users)
	if err != nil {
		return nil, err
	}
	resp := &ClaimResponse{OneTimeKeys: map[id.UserID]map[id.DeviceID]map[string]json.RawMessage{}, Failures: map[string]any{}}
	// One row chosen by the subquery is deleted; on PostgreSQL the row lock
	// with SKIP LOCKED makes a concurrent claimer pick another row instead
	// of both picking the same one (on SQLite there is one writer).
	lock := ""
	if s.db.Dialect == db.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	claimOTK := `DELETE FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 AND key_id = (
		SELECT key_id FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
		ORDER BY key_id LIMIT 1` + lock + `) RETURNING key_id, key_json`
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		for user, devs := range req.OneTimeKeys {
			if !s.isLocal(user) {
				resp.Failures[user.Homeserver()] = map[string]any{"errcode": "M_UNRECOGNIZED", "error": "This server does not federate"}
				continue
			}
			if hidden[user] {
				continue
			}
			for dev, alg := range devs {
				var keyID, keyJSON string
				err := tx.QueryRowContext(ctx, claimOTK, user, dev, alg).Scan(&keyID, &keyJSON)
				if errors.Is(err, sql.ErrNoRows) {
					err = tx.QueryRowContext(ctx, `UPDATE e2ee_fallback_keys SET used = $4
						WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 RETURNING key_id, key_json`,
						user, dev, alg, true).Scan(&keyID, &keyJSON)
					if errors.Is(err, sql.ErrNoRows) {
						continue
					}
				}
				if err != nil {
					return fmt.Errorf("claim key: %w", err)
				}
				if resp.OneTimeKeys[user] == nil {
					resp.OneTimeKeys[user] = map[id.DeviceID]map[string]json.RawMessage{}
				}
				resp.OneTimeKeys[user][dev] = map[string]json.RawMessage{keyID: json.RawMessage(keyJSON)}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
