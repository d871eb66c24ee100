-- The clinic's facts: roles, care teams and their members, provider–patient
-- assignments, and an outbox of users whose room memberships the running
-- server must re-check after a change of facts.

CREATE TABLE clinic_roles (
    user_id    TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    updated_ts BIGINT NOT NULL
);

CREATE TABLE care_teams (
    name       TEXT PRIMARY KEY,
    created_ts BIGINT NOT NULL
);

-- kind is 'clinician' (works in the team) or 'patient' (cared for by it).
CREATE TABLE care_team_members (
    team     TEXT NOT NULL REFERENCES care_teams (name) ON DELETE CASCADE,
    user_id  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    added_ts BIGINT NOT NULL,
    PRIMARY KEY (team, user_id)
);
CREATE INDEX care_team_members_user ON care_team_members (user_id);

CREATE TABLE assignments (
    provider_id TEXT NOT NULL,
    patient_id  TEXT NOT NULL,
    created_ts  BIGINT NOT NULL,
    PRIMARY KEY (provider_id, patient_id)
);
CREATE INDEX assignments_patient ON assignments (patient_id);

CREATE TABLE policy_recheck (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  TEXT NOT NULL,
    reason   TEXT NOT NULL,
    added_ts BIGINT NOT NULL
);
