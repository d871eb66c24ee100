-- Accounts: users, devices, access and refresh tokens (hashed), User-
-- Interactive Auth sessions, shared-secret registration nonces, account
-- data and filters.

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    localpart     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL DEFAULT '',
    is_admin      BOOLEAN NOT NULL DEFAULT false,
    deactivated   BOOLEAN NOT NULL DEFAULT false,
    displayname   TEXT NOT NULL DEFAULT '',
    avatar_url    TEXT NOT NULL DEFAULT '',
    created_ts    BIGINT NOT NULL
);

CREATE TABLE devices (
    user_id              TEXT NOT NULL,
    device_id            TEXT NOT NULL,
    display_name         TEXT NOT NULL DEFAULT '',
    created_ts           BIGINT NOT NULL,
    last_seen_ts         BIGINT NOT NULL DEFAULT 0,
    last_seen_ip         TEXT NOT NULL DEFAULT '',
    last_seen_user_agent TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, device_id)
);

-- Tokens are stored only as SHA-256 hashes (hex). prev_refresh_hash names
-- the refresh token this one was issued from: it stays valid until the new
-- pair is first used.
CREATE TABLE access_tokens (
    token_hash        TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    device_id         TEXT NOT NULL,
    refresh_hash      TEXT NOT NULL DEFAULT '',
    prev_refresh_hash TEXT NOT NULL DEFAULT '',
    expires_ts        BIGINT NOT NULL DEFAULT 0,
    created_ts        BIGINT NOT NULL,
    last_seen_ts      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_hash);

CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,
    device_id         TEXT NOT NULL,
    prev_refresh_hash TEXT NOT NULL DEFAULT '',
    created_ts        BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_prev ON refresh_tokens (prev_refresh_hash);

CREATE TABLE uia_sessions (
    session_id TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL DEFAULT '',
    purpose    TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);

CREATE TABLE registration_nonces (
    nonce      TEXT PRIMARY KEY,
    created_ts BIGINT NOT NULL
);

-- room_id is '' for global account data.
CREATE TABLE account_data (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    content    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_pos ON account_data (user_id, stream_pos);

CREATE TABLE filters (
    filter_id BIGSERIAL PRIMARY KEY,
    user_id   TEXT NOT NULL,
    filter    TEXT NOT NULL
);
