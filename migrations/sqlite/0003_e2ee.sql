-- End-to-end encryption: device keys, one-time and fallback keys,
-- cross-signing keys and the signatures users upload for each other's keys,
-- device-list changes and the to-device inbox. The server stores keys and
-- opaque message contents; it never decrypts anything.

-- One row per device that uploaded its identity keys. key_json is the
-- signed device_keys object as uploaded (without "unsigned").
CREATE TABLE e2ee_device_keys (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    ed25519    TEXT NOT NULL,
    curve25519 TEXT NOT NULL,
    key_json   TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- key_id is "<algorithm>:<id>", unique per device.
CREATE TABLE e2ee_one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, key_id)
);
CREATE INDEX e2ee_one_time_keys_alg ON e2ee_one_time_keys (user_id, device_id, algorithm);

-- At most one fallback key per device and algorithm; replaced on upload.
CREATE TABLE e2ee_fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    used      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- usage is master, self_signing or user_signing; public_key is the
-- unpadded base64 ed25519 key.
CREATE TABLE e2ee_cross_signing_keys (
    user_id    TEXT NOT NULL,
    usage      TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_json   TEXT NOT NULL,
    PRIMARY KEY (user_id, usage)
);

-- Signatures uploaded through /keys/signatures/upload. target_key is a
-- device ID or a cross-signing public key of target_user; signer_key_id is
-- "ed25519:<device id or public key>".
CREATE TABLE e2ee_signatures (
    target_user   TEXT NOT NULL,
    target_key    TEXT NOT NULL,
    signer_user   TEXT NOT NULL,
    signer_key_id TEXT NOT NULL,
    signature     TEXT NOT NULL,
    PRIMARY KEY (target_user, target_key, signer_user, signer_key_id)
);

-- A user's device list (device keys or cross-signing keys) changed at
-- stream_pos.
CREATE TABLE e2ee_device_list_changes (
    user_id    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, stream_pos)
);
CREATE INDEX e2ee_device_list_changes_pos ON e2ee_device_list_changes (stream_pos);

-- The to-device inbox. sent_upto is the stream position of the first /sync
-- response that carried the message; it is deleted once the device syncs
-- with a since at or past that position.
CREATE TABLE e2ee_to_device (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    sender     TEXT NOT NULL,
    type       TEXT NOT NULL,
    content    TEXT NOT NULL,
    sent_upto  BIGINT,
    PRIMARY KEY (user_id, device_id, stream_pos)
);

-- Transaction IDs of PUT /sendToDevice, for idempotence.
CREATE TABLE e2ee_to_device_txns (
    sender     TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (sender, device_id, txn_id)
);
