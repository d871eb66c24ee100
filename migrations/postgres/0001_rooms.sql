-- The server's signing keys, the one stream position, rooms and their events.

CREATE TABLE server_keys (
    key_id     TEXT PRIMARY KEY,
    seed       BYTEA NOT NULL,
    created_ts BIGINT NOT NULL
);

CREATE TABLE stream_position (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    pos BIGINT NOT NULL
);
INSERT INTO stream_position (id, pos) VALUES (1, 0);

CREATE TABLE rooms (
    room_id       TEXT PRIMARY KEY,
    room_version  TEXT NOT NULL,
    creator       TEXT NOT NULL,
    created_ts    BIGINT NOT NULL,
    is_public     BOOLEAN NOT NULL DEFAULT false,
    last_event_id TEXT NOT NULL DEFAULT '',
    depth         BIGINT NOT NULL DEFAULT 0
);

-- One row per event; stream_pos is the server's order (and, rooms being
-- linear, each room's topological order too).
CREATE TABLE events (
    stream_pos       BIGINT PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    room_id          TEXT NOT NULL,
    type             TEXT NOT NULL,
    state_key        TEXT,
    sender           TEXT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    depth            BIGINT NOT NULL,
    pdu              TEXT NOT NULL,
    membership       TEXT,
    replaces_state   TEXT,
    redacted_by      TEXT,
    relates_to       TEXT,
    rel_type         TEXT,
    txn_device       TEXT,
    txn_id           TEXT
);
CREATE INDEX events_room_pos ON events (room_id, stream_pos);
CREATE INDEX events_room_type ON events (room_id, type, stream_pos);
CREATE INDEX events_relates ON events (relates_to, rel_type);

CREATE TABLE current_state (
    room_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    membership TEXT,
    PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_member ON current_state (type, state_key);
CREATE INDEX current_state_pos ON current_state (room_id, stream_pos);

-- Every membership change, so that history visibility and /sync can ask
-- "what was this user's membership at position N" without replaying state.
CREATE TABLE membership_log (
    room_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    membership TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    event_id   TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id, stream_pos)
);
CREATE INDEX membership_log_user ON membership_log (user_id, stream_pos);
CREATE INDEX membership_log_pos ON membership_log (stream_pos);

CREATE TABLE txn_ids (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

CREATE TABLE room_aliases (
    alias      TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    creator    TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

CREATE TABLE receipts (
    room_id      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    thread_id    TEXT NOT NULL DEFAULT '',
    event_id     TEXT NOT NULL,
    ts           BIGINT NOT NULL,
    stream_pos   BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, receipt_type, thread_id)
);
CREATE INDEX receipts_pos ON receipts (room_id, stream_pos);
CREATE INDEX receipts_stream ON receipts (stream_pos);

CREATE TABLE forgotten_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
