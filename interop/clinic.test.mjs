// A clinic day with matrix-js-sdk (Rust crypto) against a real ward run as
// clinics run it: the clinic policy on (the default), registration closed,
// the people imported from a roster. Every step names the README section
// ("Clinic policy", "Roster import", "Intake tokens", "Admin commands and
// API") or the section of the Matrix client-server specification it checks.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe } from "node:test";

import { backends, SERVER_NAME, startWard } from "./lib/server.mjs";
import { scenario } from "./lib/steps.mjs";
import { cryptoClient, decrypted, eventually, login, rawRequest, sdk, startAndSync, stopQuietly, waitFor } from "./lib/matrix.mjs";

const { RoomEvent, RoomMemberEvent } = sdk;
const MEGOLM = "m.megolm.v1.aes-sha2";
const PURPOSE = "org.ward.room.purpose";

const uid = (localpart) => `@${localpart}:${SERVER_NAME}`;

// The roster (README "Roster import"; columns as in the clinic's roster
// file): a provider, a nurse of the cardiology team, two patients of that
// team of whom only the first is assigned to the provider, and office staff.
const people = {
    provider: { localpart: "dr.okafor", name: "Dr. Ada Okafor", role: "provider", teams: "cardiology", providers: "" },
    nurse: { localpart: "nurse.reyes", name: "Nurse Camila Reyes", role: "nurse", teams: "cardiology", providers: "" },
    patient: { localpart: "p.alvarez", name: "Maria Alvarez", role: "patient", teams: "cardiology", providers: "dr.okafor" },
    other: { localpart: "p.novak", name: "Tomas Novak", role: "patient", teams: "cardiology", providers: "" },
    staff: { localpart: "frontdesk.kim", name: "Jin Kim", role: "staff", teams: "", providers: "" },
};
for (const p of Object.values(people)) {
    p.id = uid(p.localpart);
    p.password = `${p.localpart} walks to the clinic`;
}

function rosterCsv() {
    const rows = Object.values(people).map((p) => [p.localpart, p.name, p.role, p.teams, p.providers, p.password].join(","));
    return ["localpart,display_name,role,care_teams,providers,password", ...rows].join("\n") + "\n";
}

/** A client of `person` logged in with a new device, Rust crypto in memory, synced. */
function cryptoClientOf(baseUrl, person) {
    return cryptoClient(baseUrl, person.id, person.password);
}

/** An access token of `person` from a password login, for raw requests. */
async function token(baseUrl, person) {
    const res = await rawRequest(baseUrl, "POST", "/_matrix/client/v3/login", {
        body: { type: "m.login.password", identifier: { type: "m.id.user", user: person.id }, password: person.password },
    });
    assert.equal(res.status, 200, `login of ${person.id}: ${res.text}`);
    return res.json.access_token;
}

/** The rooms a full /sync shows `accessToken`'s user, in any section. */
async function syncedRooms(baseUrl, accessToken) {
    const res = await rawRequest(baseUrl, "GET", "/_matrix/client/v3/sync?timeout=0", { accessToken });
    assert.equal(res.status, 200, res.text);
    const rooms = res.json.rooms || {};
    return new Set(["join", "invite", "leave", "knock"].flatMap((s) => Object.keys(rooms[s] || {})));
}

/** The user IDs a user directory search for `term` gives `accessToken`'s user. */
async function directory(baseUrl, accessToken, term) {
    const res = await rawRequest(baseUrl, "POST", "/_matrix/client/v3/user_directory/search", {
        accessToken,
        body: { search_term: term, limit: 50 },
    });
    assert.equal(res.status, 200, res.text);
    return res.json.results.map((r) => r.user_id);
}

/** The device IDs /keys/query gives `accessToken`'s user for `userId`. */
async function queriedDevices(baseUrl, accessToken, userId) {
    const res = await rawRequest(baseUrl, "POST", "/_matrix/client/v3/keys/query", {
        accessToken,
        body: { device_keys: { [userId]: [] } },
    });
    assert.equal(res.status, 200, res.text);
    return Object.keys(res.json.device_keys?.[userId] || {});
}

/** PUT /rooms/{roomId}/send/{type}/{txnId} with a raw access token. */
function rawSend(baseUrl, accessToken, roomId, type, content) {
    const txn = `clinic-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    return rawRequest(baseUrl, "PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${type}/${txn}`, {
        accessToken,
        body: content,
    });
}

function roomState(baseUrl, accessToken, roomId, type) {
    return rawRequest(baseUrl, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${type}/`, { accessToken });
}

for (const backend of backends()) {
    describe(`a clinic day with matrix-js-sdk (Rust crypto) and the clinic policy on, on ${backend}`, { timeout: 240_000 }, () => {
        let server;
        const clients = [];
        let imported; // the roster import's output
        let provider, patient, other; // matrix-js-sdk clients with Rust crypto
        let dmId, schedulingId;
        const { step } = scenario(() => server);

        before(async () => {
            server = await startWard(backend, {
                policy: "on",
                registration: "closed",
                // README "Creating the first admin": admin commands need the
                // database to exist, so the roster is imported after
                // `ward migrate` and before `ward serve` starts.
                setup: async (s) => {
                    const file = join(s.dataDir, "roster.csv");
                    writeFileSync(file, rosterCsv());
                    imported = (await s.ward(["admin", "roster", "import", file])).stdout;
                },
            });
        });

        after(async () => {
            clients.forEach(stopQuietly);
            await server?.stop();
        });

        step("the roster import creates the clinic's people and their care relationships (README: Roster import; Admin commands and API)", async () => {
            assert.match(
                imported,
                /users: 5 created, 0 updated, 0 unchanged; teams: 1 created; assignments: 1 added, 0 removed; team memberships: 4 added, 0 removed; tokens: 0 issued/,
                `roster import said:\n${imported}`,
            );
            const { stdout } = await server.ward(["admin", "assignment", "list"]);
            assert.match(stdout, new RegExp(`${people.provider.id}\\s+${people.patient.id}`), stdout);
            assert.doesNotMatch(stdout, new RegExp(people.other.id), stdout);
            // Registration stays closed: no m.login.dummy flow.
            const probe = await rawRequest(server.baseUrl, "POST", "/_matrix/client/v3/register", { body: {} });
            assert.equal(probe.status, 401, probe.text);
            assert.ok(!probe.json.flows.some((f) => f.stages.includes("m.login.dummy")), probe.text);
        }, { critical: true });

        step("the provider, his assigned patient and the other patient log in with their roster passwords, Rust crypto uploads their keys (README: Roster import, password; spec: Login, POST /keys/upload)", async () => {
            provider = await cryptoClientOf(server.baseUrl, people.provider);
            clients.push(provider);
            patient = await cryptoClientOf(server.baseUrl, people.patient);
            clients.push(patient);
            other = await cryptoClientOf(server.baseUrl, people.other);
            clients.push(other);
            for (const c of [provider, patient, other]) {
                const own = await c.getCrypto().getOwnDeviceKeys();
                assert.ok(own.ed25519 && own.curve25519, `${c.getUserId()} has no device keys`);
            }
        }, { critical: true });

        step("1. a DM the provider creates with his assigned patient without asking for encryption comes out encrypted; the patient joins (README: Clinic policy, \"Clinical rooms are always end-to-end encrypted\"; spec: Direct Messaging, is_direct)", async () => {
            const invited = waitFor(patient, RoomEvent.MyMembership, (room, membership) => membership === "invite", {
                what: "the patient's invite",
            });
            const res = await provider.createRoom({
                preset: sdk.Preset.TrustedPrivateChat,
                is_direct: true,
                invite: [people.patient.id],
            });
            dmId = res.room_id;
            const [room] = await invited;
            assert.equal(room.roomId, dmId);
            assert.equal(room.getMember(people.patient.id)?.getDMInviter(), people.provider.id, "the invite is not marked is_direct");

            const enc = await roomState(server.baseUrl, provider.getAccessToken(), dmId, "m.room.encryption");
            assert.equal(enc.status, 200, `no m.room.encryption state in the new DM: ${enc.text}`);
            assert.equal(enc.json.algorithm, MEGOLM);

            await patient.joinRoom(dmId);
            await eventually(() => provider.getRoom(dmId)?.getMember(people.patient.id)?.membership === "join", {
                what: "the provider to see the patient join",
            });
            for (const c of [provider, patient]) {
                await eventually(() => c.getCrypto().isEncryptionEnabledInRoom(dmId), {
                    what: `${c.getUserId()}'s client to know the DM is encrypted`,
                });
            }
        }, { critical: true });

        step("2. provider and patient exchange encrypted messages and decrypt them; the server holds only ciphertext (README: Clinic policy, keys and to-device follow the reach rules; spec: m.megolm.v1.aes-sha2, POST /keys/query, POST /keys/claim, PUT /sendToDevice)", async () => {
            const fromProvider = "Your results are in: all within range.";
            await provider.sendMessage(dmId, { msgtype: "m.text", body: fromProvider });
            const ev1 = await decrypted(patient, dmId, fromProvider);
            assert.equal(ev1.getSender(), people.provider.id);

            const fromPatient = "Thank you, doctor. Should I keep the dose?";
            await patient.sendMessage(dmId, { msgtype: "m.text", body: fromPatient });
            const ev2 = await decrypted(provider, dmId, fromPatient);
            assert.equal(ev2.getSender(), people.patient.id);

            const page = await rawRequest(server.baseUrl, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(dmId)}/messages?dir=b&limit=50`, {
                accessToken: patient.getAccessToken(),
            });
            assert.equal(page.status, 200, page.text);
            assert.ok(!page.text.includes(fromProvider) && !page.text.includes(fromPatient), "plaintext reached the server");
            assert.equal(page.json.chunk.filter((e) => e.type === "m.room.encrypted").length, 2);
        }, { critical: true });

        step("3. a plaintext m.room.message into the DM is refused with 403 M_FORBIDDEN \"encryption required\" (README: Clinic policy, what a clinical room accepts)", async () => {
            const res = await rawSend(server.baseUrl, provider.getAccessToken(), dmId, "m.room.message", {
                msgtype: "m.text",
                body: "plaintext that must not be stored",
            });
            assert.equal(res.status, 403, res.text);
            assert.equal(res.json.errcode, "M_FORBIDDEN");
            assert.match(res.json.error, /encryption required/i);
            const page = await rawRequest(server.baseUrl, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(dmId)}/messages?dir=b&limit=50`, {
                accessToken: provider.getAccessToken(),
            });
            assert.ok(!page.text.includes("plaintext that must not be stored"), "the refused message is in the room's history");
        });

        step("4. a patient cannot create a room with another patient: 403 M_FORBIDDEN, and no room appears in either's sync (README: Clinic policy, patients never share a room unless an admin made it)", async () => {
            const err = await patient
                .createRoom({ preset: sdk.Preset.TrustedPrivateChat, is_direct: true, invite: [people.other.id] })
                .then(
                    (res) => assert.fail(`createRoom with another patient succeeded: ${res.room_id}`),
                    (e) => e,
                );
            assert.equal(err.httpStatus, 403, err.message);
            assert.equal(err.errcode, "M_FORBIDDEN", err.message);
            // A patient reads no other person's role or care, only that they
            // cannot reach them (README: Clinic policy, what a refusal says).
            assert.equal(err.data?.error, `Refused by clinic policy: you cannot reach ${people.other.id}`);

            const theirs = await syncedRooms(server.baseUrl, patient.getAccessToken());
            assert.deepEqual([...theirs], [dmId], "the patient's sync shows a room besides the DM");
            const others = await syncedRooms(server.baseUrl, other.getAccessToken());
            assert.deepEqual([...others], [], "the other patient's sync shows a room");
            assert.deepEqual(other.getRooms().map((r) => r.roomId), [], "the other patient's client holds a room");
        });

        step("5. the other patient finds neither the first patient in the user directory nor her devices in /keys/query; the nurse of their team finds both (README: Clinic policy, keys follow the reach rules; /user_directory/search)", async () => {
            const otherToken = other.getAccessToken();
            const nurseToken = await token(server.baseUrl, people.nurse);
            const patientDevice = patient.getDeviceId();

            for (const term of ["alvarez", people.patient.localpart]) {
                const found = await directory(server.baseUrl, otherToken, term);
                assert.ok(!found.includes(people.patient.id), `the other patient found ${people.patient.id} searching "${term}"`);
            }
            // The same search works for them: they find the nurse of their team.
            assert.ok((await directory(server.baseUrl, otherToken, "reyes")).includes(people.nurse.id), "the other patient does not find the nurse of their team");
            assert.ok((await directory(server.baseUrl, nurseToken, "alvarez")).includes(people.patient.id), "the nurse does not find a patient of her team");

            assert.deepEqual(await queriedDevices(server.baseUrl, otherToken, people.patient.id), [], "the other patient got the first patient's devices");
            assert.deepEqual(await queriedDevices(server.baseUrl, nurseToken, people.patient.id), [patientDevice], "the nurse does not get the patient's device");
            // Nor does their client learn of her devices.
            const seen = await other.getCrypto().getUserDeviceInfo([people.patient.id], true);
            assert.equal(seen.get(people.patient.id)?.size ?? 0, 0, "the other patient's client holds the first patient's devices");
        });

        step("6. office staff creates a scheduling room with a patient; a plaintext message there is accepted and read by the patient (README: Clinic policy, org.ward.room.purpose scheduling; encrypt_scheduling_rooms)", async () => {
            const staffToken = await token(server.baseUrl, people.staff);
            const staff = sdk.createClient({ baseUrl: server.baseUrl, userId: people.staff.id, accessToken: staffToken });
            clients.push(staff);
            const invited = waitFor(other, RoomEvent.MyMembership, (room, membership) => membership === "invite", {
                what: "the patient's invite to the scheduling room",
            });
            const res = await staff.createRoom({
                invite: [people.other.id],
                initial_state: [{ type: PURPOSE, state_key: "", content: { purpose: "scheduling" } }],
            });
            schedulingId = res.room_id;
            const [room] = await invited;
            assert.equal(room.roomId, schedulingId);

            const purpose = await roomState(server.baseUrl, staffToken, schedulingId, PURPOSE);
            assert.equal(purpose.status, 200, purpose.text);
            assert.equal(purpose.json.purpose, "scheduling");
            // Encrypted from creation too, since encrypt_scheduling_rooms defaults to true.
            const enc = await roomState(server.baseUrl, staffToken, schedulingId, "m.room.encryption");
            assert.equal(enc.status, 200, enc.text);

            await other.joinRoom(schedulingId);
            const notice = "Your appointment is on Tuesday at 10:30.";
            const seen = waitFor(
                other,
                RoomEvent.Timeline,
                (ev, r, toStart) => !toStart && r?.roomId === schedulingId && ev.getContent()?.body === notice,
                { what: "the patient to see the plaintext notice" },
            );
            const sent = await rawSend(server.baseUrl, staffToken, schedulingId, "m.room.message", { msgtype: "m.text", body: notice });
            assert.equal(sent.status, 200, `plaintext in a scheduling room refused: ${sent.text}`);
            const [ev] = await seen;
            assert.equal(ev.getWireType(), "m.room.message");
            assert.equal(ev.getSender(), people.staff.id);
            assert.equal(ev.getId(), sent.json.event_id);
        });

        step("7. a new patient signs up with an intake token the way Element does, and logs in (README: Intake tokens; spec: Token-authenticated registration, m.login.registration_token; User-Interactive Authentication API)", async () => {
            const { stdout } = await server.ward([
                "admin", "token", "create", "--role", "patient", "--team", "cardiology", "--provider", people.provider.localpart,
            ]);
            assert.match(stdout, /^intake token it_\w+ \(patient, 1 use\(s\)/, stdout);
            const secret = stdout.trim().split("\n").at(-1).trim();
            assert.ok(secret && !secret.includes(" "), `no token in: ${stdout}`);

            const validity = async () => {
                const res = await rawRequest(
                    server.baseUrl,
                    "GET",
                    `/_matrix/client/v1/register/m.login.registration_token/validity?token=${encodeURIComponent(secret)}`,
                );
                assert.equal(res.status, 200, res.text);
                return res.json.valid;
            };
            assert.equal(await validity(), true);

            const newcomer = { localpart: "p.haddad", password: "a fresh start at the clinic" };
            newcomer.id = uid(newcomer.localpart);
            const anon = sdk.createClient({ baseUrl: server.baseUrl });
            clients.push(anon);
            const uia = async (body) => {
                try {
                    const res = await anon.registerRequest(body);
                    assert.fail(`POST /register answered 200 where 401 was due: ${JSON.stringify(res)}`);
                } catch (err) {
                    if (err.httpStatus !== 401 || !err.data?.flows) throw err;
                    return err.data;
                }
            };
            // Element's probe: only the device's display name.
            const probe = await uia({ initial_device_display_name: "Element clinic test" });
            const stages = probe.flows.flatMap((f) => f.stages);
            assert.ok(stages.includes("m.login.registration_token"), `no m.login.registration_token flow: ${JSON.stringify(probe)}`);
            assert.ok(!stages.includes("m.login.dummy"), "registration is closed, yet m.login.dummy is offered");
            // The form: username and password, no auth yet.
            const form = { username: newcomer.localpart, password: newcomer.password, initial_device_display_name: "Element clinic test" };
            const started = await uia(form);
            assert.ok(started.session, `no UIA session: ${JSON.stringify(started)}`);
            // The token stage.
            const done = await anon.registerRequest({
                ...form,
                auth: { type: "m.login.registration_token", token: secret, session: started.session },
            });
            assert.equal(done.user_id, newcomer.id);
            assert.ok(done.access_token && done.device_id);
            assert.equal(await validity(), false, "a single-use token is still valid after its use");

            const { stdout: roles } = await server.ward(["admin", "role", "list"]);
            assert.match(roles, new RegExp(`${newcomer.id}\\s+patient`), roles);

            const c = await login(server.baseUrl, newcomer.id, newcomer.password);
            clients.push(c);
            await startAndSync(c);
            assert.equal((await c.whoami()).user_id, newcomer.id);
            // The token's care applies: the new patient reaches the provider it names.
            const found = await directory(server.baseUrl, c.getAccessToken(), "okafor");
            assert.ok(found.includes(people.provider.id), `the new patient does not find the provider the token assigned: ${found}`);
            assert.ok(!(await directory(server.baseUrl, c.getAccessToken(), "alvarez")).includes(people.patient.id));
        });

        step("8. unassigning the provider while the server runs takes him out of the DM: the patient's client sees his leave (README: Admin commands and API, ward admin unassign, recheck queue; Clinic policy, removal when care ends)", async () => {
            const left = waitFor(
                patient,
                RoomMemberEvent.Membership,
                (ev, member) => member.roomId === dmId && member.userId === people.provider.id && member.membership === "leave",
                { timeoutMs: 20_000, what: "the patient's client to see the provider leave the DM" },
            );
            const { stdout } = await server.ward(["admin", "unassign", people.provider.localpart, people.patient.localpart]);
            assert.match(stdout, /unassigned/, stdout);
            const [ev] = await left;
            assert.equal(ev.getStateKey(), people.provider.id);
            assert.ok(ev.getContent().reason, `the leave gives no reason: ${JSON.stringify(ev.getContent())}`);
            assert.equal(patient.getRoom(dmId).getMember(people.provider.id).membership, "leave");
            // The history stays with the patient.
            await decrypted(patient, dmId, "Your results are in: all within range.");
            // And the provider no longer reaches her keys.
            assert.deepEqual(await queriedDevices(server.baseUrl, provider.getAccessToken(), people.patient.id), []);
        });
    });
}
