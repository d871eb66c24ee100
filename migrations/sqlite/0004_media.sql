-- The content repository: metadata of uploaded media (the bodies live as
-- files under data_dir/media, named by their SHA-256), cached thumbnails,
-- and which room events reference which media, for the access rule.

-- One row per media id. sha256 is NULL while an item created with
-- POST /_matrix/media/v1/create waits for its upload (until expires_ts).
CREATE TABLE media (
    media_id     TEXT PRIMARY KEY,
    uploader     TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    filename     TEXT NOT NULL DEFAULT '',
    sha256       TEXT,
    size         BIGINT NOT NULL DEFAULT 0,
    created_ts   BIGINT NOT NULL,
    uploaded_ts  BIGINT,
    expires_ts   BIGINT
);
CREATE INDEX media_uploader ON media (uploader);

-- One row per generated thumbnail of a body (by the body's hash, so that
-- deduplicated uploads share thumbnails).
CREATE TABLE media_thumbnails (
    source_sha256 TEXT NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    method        TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    PRIMARY KEY (source_sha256, width, height, method)
);

-- Local media referenced by plaintext room events, written in the same
-- transaction that appends the event.
CREATE TABLE media_refs (
    media_id TEXT NOT NULL,
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (media_id, room_id, event_id)
);

-- Rooms that turned encryption on (it cannot be turned off): encrypted
-- attachments are readable by those who share such a room with the uploader.
CREATE TABLE media_encrypted_rooms (
    room_id TEXT PRIMARY KEY
);
