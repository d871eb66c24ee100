-- Pushers: where a user's devices want their notifications sent. One row
-- per user, app ID and push key (the spec's identity of a pusher);
-- device_id is the device that set it, so that deleting the device deletes
-- its pushers. data is the client's JSON object, kept as given (the gateway
-- is owed all of it but url). Push rules need no table: they are the
-- user's m.push_rules account data.
CREATE TABLE pushers (
    user_id             TEXT NOT NULL,
    app_id              TEXT NOT NULL,
    pushkey             TEXT NOT NULL,
    device_id           TEXT NOT NULL,
    kind                TEXT NOT NULL,
    app_display_name    TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag         TEXT NOT NULL,
    lang                TEXT NOT NULL,
    data                TEXT NOT NULL,
    created_ts          BIGINT NOT NULL,
    PRIMARY KEY (user_id, app_id, pushkey)
);

CREATE INDEX pushers_by_key ON pushers (app_id, pushkey);
CREATE INDEX pushers_by_device ON pushers (user_id, device_id);
