-- The audit trail: an append-only, hash-chained record of who did what,
-- when and from where (package audit). Never message content, a token or a
-- password. Each entry's hash is SHA-256 over its canonical form together
-- with prev_hash, the hash of the entry before it; audit_head holds the
-- latest sequence number and hash, and its row lock (PostgreSQL) or the
-- single writer (SQLite) serialises appends inside the writers'
-- transactions. Entries are removed only by a recorded, signed truncation.

CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    ts           BIGINT NOT NULL,
    actor_user   TEXT NOT NULL DEFAULT '',
    actor_device TEXT NOT NULL DEFAULT '',
    remote_addr  TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    action       TEXT NOT NULL,
    target_user  TEXT NOT NULL DEFAULT '',
    room_id      TEXT NOT NULL DEFAULT '',
    event_id     TEXT NOT NULL DEFAULT '',
    event_type   TEXT NOT NULL DEFAULT '',
    media_id     TEXT NOT NULL DEFAULT '',
    team         TEXT NOT NULL DEFAULT '',
    token_id     TEXT NOT NULL DEFAULT '',
    outcome      TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    request_id   TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '',
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE INDEX audit_log_actor ON audit_log (actor_user, seq);
CREATE INDEX audit_log_target ON audit_log (target_user, seq);
CREATE INDEX audit_log_room ON audit_log (room_id, seq);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY,
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
