package e2ee

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/db"
)

const (
	usageMaster      = "master"
	usageSelfSigning = "self_signing"
	usageUserSigning = "user_signing"
)

type csKey struct {
	public string
	json   string
}

func crossSigningKeys(ctx context.Context, q db.Querier, user id.UserID) (map[string]csKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT usage, public_key, key_json FROM e2ee_cross_signing_keys WHERE user_id = $1`, user)
	if err != nil {
		return nil, fmt.Errorf("read cross-signing keys: %w", err)
	}
	defer rows.Close()
	out := map[string]csKey{}
	for rows.Next() {
		var usage string
		var k csKey
		if err := rows.Scan(&usage, &k.public, &k.json); err != nil {
			return nil, err
		}
		out[usage] = k
	}
	return out, rows.Err()
}

// ErrAuthNeeded means that replacing existing cross-signing keys needs
// User-Interactive Auth, which the caller must answer with a 401 offering
// the m.login.password flow.
var ErrAuthNeeded = errors.New("replacing cross-signing keys needs user-interactive auth")

// CrossSigningRequest is the body of POST /keys/device_signing/upload
// (without auth, which the handler reads).
type CrossSigningRequest struct {
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
	UserSigningKey json.RawMessage `json:"user_signing_key,omitempty"`
}

type crossSigningKey struct {
	UserID id.UserID         `json:"user_id"`
	Usage  []string          `json:"usage"`
	Keys   map[string]string `json:"keys"`
}

// checkCrossSigningKey validates one uploaded key and returns its public
// key and the JSON to store.
func checkCrossSigningKey(raw json.RawMessage, user id.UserID, usage string) (string, json.RawMessage, error) {
	if len(raw) > maxKeyJSONLength {
		return "", nil, mautrix.MInvalidParam.WithMessage("%s key is too large", usage)
	}
	var k crossSigningKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", nil, mautrix.MBadJSON.WithMessage("%s key is malformed", usage)
	}
	if k.UserID != user {
		return "", nil, mautrix.MInvalidParam.WithMessage("%s key must be for %s", usage, user)
	}
	if !slices.Contains(k.Usage, usage) {
		return "", nil, mautrix.MInvalidParam.WithMessage("%s key must have usage %q", usage, usage)
	}
	if len(k.Keys) != 1 {
		return "", nil, mautrix.MInvalidParam.WithMessage("%s key must contain exactly one key", usage)
	}
	var pub string
	for keyID, v := range k.Keys {
		name, ok := strings.CutPrefix(keyID, "ed25519:")
		if !ok || name != v || v == "" {
			return "", nil, mautrix.MInvalidParam.WithMessage("%s key must be an ed25519 key named by itself", usage)
		}
		pub = v
	}
	stripped, err := stripUnsigned(raw)
	if err != nil {
		return "", nil, err
	}
	return pub, stripped, nil
}

// UploadCrossSigningKeys stores the user's cross-signing keys. The first
// upload needs no further authentication; replacing keys the user already
// has returns ErrAuthNeeded unless authenticated is true (the handler
// decides that), and uploading the same keys again is a no-op.
//
// Spec: client-server-api POST /_matrix/client/v3/keys/device_signing/upload.
func (s *Service) UploadCrossSigningKeys(ctx context.Context, user id.UserID, req CrossSigningRequest, authenticated bool) error {
	type upload struct {
		usage string
		pub   string
		json  json.RawMessage
	}
	var ups []upload
	for _, u := range []struct {
		usage string
		raw   json.RawMessage
	}{{usageMaster, req.MasterKey}, {usageSelfSigning, req.SelfSigningKey}, {usageUserSigning, req.UserSigningKey}} {
		if !present(u.raw) {
			continue
		}
		pub, js, err := checkCrossSigningKey(u.raw, user, u.usage)
		if err != nil {
			return err
		}
		ups = append(ups, upload{u.usage, pub, js})
	}
	if len(ups) == 0 {
		return nil
	}
	changed := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		existing, err := crossSigningKeys(ctx, tx, user)
		if err != nil {
			return err
		}
		masterPub := existing[usageMaster].public
		if ups[0].usage == usageMaster {
			masterPub = ups[0].pub
		}
		var todo []upload
		for _, u := range ups {
			if old, ok := existing[u.usage]; ok && old.public == u.pub && sameJSON(old.json, string(u.json)) {
				continue
			}
			if u.usage != usageMaster {
				if masterPub == "" {
					return mautrix.MInvalidParam.WithMessage("Upload a master key before the %s key", u.usage)
				}
				ok, err := signatures.VerifySignatureJSON(u.json, user, masterPub, id.Ed25519(masterPub))
				if err != nil || !ok {
					return mautrix.MInvalidParam.WithMessage("The %s key must be signed by the master key", u.usage)
				}
			}
			todo = append(todo, u)
		}
		if len(todo) == 0 {
			return nil
		}
		if _, hasMaster := existing[usageMaster]; hasMaster && !authenticated {
			return ErrAuthNeeded
		}
		for _, u := range todo {
			if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_cross_signing_keys WHERE user_id = $1 AND usage = $2`, user, u.usage); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_cross_signing_keys (user_id, usage, public_key, key_json) VALUES ($1, $2, $3, $4)`,
				user, u.usage, u.pub, string(u.json)); err != nil {
				return fmt.Errorf("store cross-signing key: %w", err)
			}
		}
		changed = true
		if err := recordChange(ctx, tx, user); err != nil {
			return err
		}
		usages := make([]string, len(todo))
		for i, u := range todo {
			usages[i] = string(u.usage)
		}
		return s.record(ctx, tx, audit.ActionCrossSigning, user, map[string]string{"keys": strings.Join(usages, ",")})
	})
	if err != nil {
		return err
	}
	if changed {
		s.wakePeers(ctx, user)
	}
	return nil
}

// SignatureFailure is one refused signature of /keys/signatures/upload.
type SignatureFailure struct {
	ErrCode string `json:"errcode"`
	Err     string `json:"error"`
}

// UploadSignatures stores signatures the caller made with their own keys
// (a device key, or a cross-signing key) over device keys or cross-signing
// keys, after checking each against the stored key. Refused signatures are
// reported per user and key.
//
// Spec: client-server-api POST /_matrix/client/v3/keys/signatures/upload.
func (s *Service) UploadSignatures(ctx context.Context, caller id.UserID, body map[id.UserID]map[string]json.RawMessage) (map[id.UserID]map[string]SignatureFailure, error) {
	failures := map[id.UserID]map[string]SignatureFailure{}
	fail := func(u id.UserID, key, code, msg string) {
		if failures[u] == nil {
			failures[u] = map[string]SignatureFailure{}
		}
		failures[u][key] = SignatureFailure{ErrCode: code, Err: msg}
	}
	n := 0
	for _, keys := range body {
		n += len(keys)
	}
	if n > maxKeysPerUpload {
		return nil, mautrix.MInvalidParam.WithMessage("Too many signatures in one upload")
	}
	// The caller's signing keys: key ID -> ed25519 public key.
	signers := map[string]string{}
	csk, err := crossSigningKeys(ctx, s.db.Read, caller)
	if err != nil {
		return nil, err
	}
	for _, k := range csk {
		signers["ed25519:"+k.public] = k.public
	}
	drows, err := s.db.Read.QueryContext(ctx, `SELECT device_id, ed25519 FROM e2ee_device_keys WHERE user_id = $1`, caller)
	if err != nil {
		return nil, err
	}
	for drows.Next() {
		var dev, ed string
		if err := drows.Scan(&dev, &ed); err != nil {
			drows.Close()
			return nil, err
		}
		signers["ed25519:"+dev] = ed
	}
	drows.Close()
	if err := drows.Err(); err != nil {
		return nil, err
	}

	type sig struct {
		target            id.UserID
		targetKey, signer string
		signature         string
	}
	var accepted []sig
	for target, keys := range body {
		var targetCSK map[string]csKey
		for keyID, raw := range keys {
			var obj struct {
				Signatures map[id.UserID]map[string]string `json:"signatures"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil {
				fail(target, keyID, "M_BAD_JSON", "Malformed signed object")
				continue
			}
			stored, err := s.storedKey(ctx, target, keyID, &targetCSK)
			if err != nil {
				return nil, err
			}
			if stored == "" {
				fail(target, keyID, "M_NOT_FOUND", "No such key")
				continue
			}
			mine := obj.Signatures[caller]
			if len(mine) == 0 {
				fail(target, keyID, "M_INVALID_SIGNATURE", "No signature by the uploader")
				continue
			}
			for signerID, signature := range mine {
				pub, ok := signers[signerID]
				if !ok {
					fail(target, keyID, "M_INVALID_SIGNATURE", "Unknown signing key "+signerID)
					continue
				}
				withSig, err := mergeSignatures(stored, sigMap{string(caller): {signerID: signature}}, nil)
				if err != nil {
					return nil, err
				}
				ok, err = signatures.VerifySignatureJSON(withSig, caller, strings.TrimPrefix(signerID, "ed25519:"), id.Ed25519(pub))
				if err != nil || !ok {
					fail(target, keyID, "M_INVALID_SIGNATURE", "Invalid signature by "+signerID)
					continue
				}
				accepted = append(accepted, sig{target, keyID, signerID, signature})
			}
		}
	}
	if len(accepted) == 0 {
		return failures, nil
	}
	targets := map[id.UserID]bool{}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, a := range accepted {
			if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_signatures WHERE target_user = $1 AND target_key = $2 AND signer_user = $3 AND signer_key_id = $4`,
				a.target, a.targetKey, caller, a.signer); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_signatures (target_user, target_key, signer_user, signer_key_id, signature) VALUES ($1, $2, $3, $4, $5)`,
				a.target, a.targetKey, caller, a.signer, a.signature); err != nil {
				return fmt.Errorf("store signature: %w", err)
			}
			targets[a.target] = true
		}
		for t := range targets {
			if err := recordChange(ctx, tx, t); err != nil {
				return err
			}
		}
		if len(accepted) == 0 {
			return nil
		}
		return s.record(ctx, tx, audit.ActionCrossSigning, caller, map[string]string{"signatures": strconv.Itoa(len(accepted))})
	})
	if err != nil {
		return nil, err
	}
	for t := range targets {
		s.wakePeers(ctx, t)
	}
	return failures, nil
}

// storedKey returns the stored JSON of user's device keyID or of the
// cross-signing key whose public key is keyID ("" when there is none).
func (s *Service) storedKey(ctx context.Context, user id.UserID, keyID string, csk *map[string]csKey) (string, error) {
	var js string
	err := s.db.Read.QueryRowContext(ctx, `SELECT key_json FROM e2ee_device_keys WHERE user_id = $1 AND device_id = $2`, user, keyID).Scan(&js)
	if err == nil {
		return js, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	if *csk == nil {
		if *csk, err = crossSigningKeys(ctx, s.db.Read, user); err != nil {
			return "", err
		}
	}
	for _, k := range *csk {
		if k.public == keyID {
			return k.json, nil
		}
	}
	return "", nil
}
