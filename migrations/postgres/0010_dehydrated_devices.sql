-- Dehydrated devices (MSC3814): at most one per user, a device that no
-- one logs in as. Other users' clients encrypt to it like to any device,
-- and the user's next login fetches device_data (an opaque, client-
-- encrypted JSON object) and the device's to-device messages to recover
-- the room keys sent while no device of theirs was online. Its keys and
-- inbox live in the e2ee tables under device_id, like any device's; it has
-- no row in devices and no token.
CREATE TABLE e2ee_dehydrated_devices (
    user_id      TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    device_data  TEXT NOT NULL,
    created_ts   BIGINT NOT NULL
);
