-- Intake tokens: registration tokens an admin hands to a new patient or
-- colleague. Redeeming one (the spec's m.login.registration_token stage of
-- /register) creates the account and applies the role, care teams and
-- assigned providers bound to the token in the same transaction. Only a
-- hash of the token is stored; token_id names it in lists and revocations.
-- A token bound to a localpart (roster rows without a password) claims
-- that already-created, password-less account instead of making a new one.

CREATE TABLE intake_tokens (
    token_id     TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    care_teams   TEXT NOT NULL DEFAULT '',
    providers    TEXT NOT NULL DEFAULT '',
    localpart    TEXT NOT NULL DEFAULT '',
    uses_allowed INTEGER NOT NULL,
    uses         INTEGER NOT NULL DEFAULT 0,
    expires_ts   BIGINT NOT NULL,
    revoked_ts   BIGINT NOT NULL DEFAULT 0,
    created_by   TEXT NOT NULL,
    created_ts   BIGINT NOT NULL
);
CREATE INDEX intake_tokens_localpart ON intake_tokens (localpart);
