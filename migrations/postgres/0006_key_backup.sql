-- Server-side key backups: per user, numbered versions, each holding the
-- encrypted room keys its user's devices uploaded. The server stores
-- auth_data and session_data exactly as given and never looks inside.

-- version is a number per user; a deleted version keeps its row (with
-- deleted set and its keys removed) so that its number is never reused and
-- deleting it again succeeds. etag counts the changes to the version's keys.
CREATE TABLE e2ee_backup_versions (
    user_id   TEXT NOT NULL,
    version   BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag      BIGINT NOT NULL DEFAULT 0,
    deleted   BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, version)
);

-- One backed-up key per (version, room, session).
CREATE TABLE e2ee_backup_keys (
    user_id             TEXT NOT NULL,
    version             BIGINT NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count     BIGINT NOT NULL,
    is_verified         BOOLEAN NOT NULL DEFAULT false,
    session_data        TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);
