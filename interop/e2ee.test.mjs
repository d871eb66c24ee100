// End-to-end encryption with matrix-js-sdk's Rust crypto against a real
// ward: device keys, cross-signing, an encrypted direct chat both ways, a
// key backup round trip and a dehydrated device (MSC3814). Every test names
// the section of the Matrix client-server API specification it checks.
//
// The suite is skipped, with a message, while the server does not know
// POST /_matrix/client/v3/keys/upload (404 M_UNRECOGNIZED); the key backup
// step likewise while it does not know /room_keys/version, and the
// dehydrated-device step while it does not know /dehydrated_device.

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";

import * as RustSdkCryptoJs from "@matrix-org/matrix-sdk-crypto-wasm";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";

import { backends, startWard } from "./lib/server.mjs";
import { scenario } from "./lib/steps.mjs";
import {
    cryptoClient,
    decrypted,
    eventually,
    localpart,
    login,
    PASSWORD,
    rawRequest,
    register,
    sdk,
    startAndSync,
    stopQuietly,
    syncBlocker,
    unrecognized,
    waitFor,
} from "./lib/matrix.mjs";

const { RoomEvent } = sdk;
const MEGOLM = "m.megolm.v1.aes-sha2";


for (const backend of backends()) {
    describe(`end-to-end encryption with matrix-js-sdk (Rust crypto) on ${backend}`, { timeout: 150_000 }, () => {
        let server;
        const clients = [];
        let aliceId, bobId, alice, bob, roomId;
        const { step, state } = scenario(() => server);

        before(async () => {
            server = await startWard(backend);
        });

        after(async () => {
            clients.forEach(stopQuietly);
            await server?.stop();
        });

        step("registers two users; the server offers the E2EE key endpoints (spec: Account registration; POST /keys/upload)", async () => {
            const a = await register(server.baseUrl, localpart("alice"));
            const b = await register(server.baseUrl, localpart("bob"));
            aliceId = a.user_id;
            bobId = b.user_id;
            if (await unrecognized(server.baseUrl, "POST", "/_matrix/client/v3/keys/upload", { accessToken: a.access_token, body: {} })) {
                state.skipAll =
                    "the server does not implement end-to-end encryption yet: POST /_matrix/client/v3/keys/upload answers 404 M_UNRECOGNIZED";
                return;
            }
            state.known = await syncBlocker(server.baseUrl, a.access_token);
        }, { critical: true });

        step("Rust crypto starts, uploads device keys and sees the other user's device (spec: End-to-End Encryption, POST /keys/upload, POST /keys/query)", async () => {
            alice = await cryptoClient(server.baseUrl, aliceId);
            clients.push(alice);
            bob = await cryptoClient(server.baseUrl, bobId);
            clients.push(bob);
            // The server holds alice's device keys as her client uploaded them.
            const own = await alice.getCrypto().getOwnDeviceKeys();
            assert.ok(own.ed25519 && own.curve25519);
            const devices = await eventually(
                async () => {
                    const map = await bob.getCrypto().getUserDeviceInfo([aliceId], true);
                    return map.get(aliceId)?.get(alice.getDeviceId());
                },
                { what: "bob to download alice's device keys" },
            );
            assert.equal(devices.getFingerprint(), own.ed25519, "bob sees another ed25519 key for alice's device");
            assert.equal(devices.getIdentityKey(), own.curve25519);
        }, { critical: true });

        step("an encrypted direct chat decrypts both ways (spec: End-to-End Encryption, m.megolm.v1.aes-sha2, PUT /sendToDevice, POST /keys/claim)", async () => {
            const invited = waitFor(bob, RoomEvent.MyMembership, (room, membership) => membership === "invite", {
                what: "bob's invite",
            });
            const res = await alice.createRoom({
                preset: sdk.Preset.TrustedPrivateChat,
                is_direct: true,
                invite: [bobId],
                initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
            });
            roomId = res.room_id;
            await invited;
            await bob.joinRoom(roomId);
            await eventually(
                () => alice.getRoom(roomId)?.getMember(bobId)?.membership === "join",
                { what: "alice to see bob join" },
            );
            assert.equal(await alice.getCrypto().isEncryptionEnabledInRoom(roomId), true);
            assert.equal(await bob.getCrypto().isEncryptionEnabledInRoom(roomId), true);

            const fromAlice = "secret from alice";
            await alice.sendMessage(roomId, { msgtype: "m.text", body: fromAlice });
            const ev1 = await decrypted(bob, roomId, fromAlice);
            assert.equal(ev1.getSender(), aliceId);

            const fromBob = "secret from bob";
            await bob.sendMessage(roomId, { msgtype: "m.text", body: fromBob });
            const ev2 = await decrypted(alice, roomId, fromBob);
            assert.equal(ev2.getSender(), bobId);

            // The server only ever held ciphertext.
            const page = await rawRequest(
                server.baseUrl,
                "GET",
                `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`,
                { accessToken: bob.getAccessToken() },
            );
            assert.equal(page.status, 200, page.text);
            assert.ok(!page.text.includes(fromAlice) && !page.text.includes(fromBob), "plaintext reached the server");
            const encrypted = page.json.chunk.filter((e) => e.type === "m.room.encrypted");
            assert.equal(encrypted.length, 2, `expected 2 m.room.encrypted events, got ${encrypted.length}`);
            for (const e of encrypted) assert.equal(e.content.algorithm, MEGOLM);
        }, { critical: true });

        step("alice bootstraps cross-signing and bob sees her cross-signing keys (spec: Cross-signing, POST /keys/device_signing/upload, POST /keys/signatures/upload; GET /sync device_lists)", async () => {
            const crypto = alice.getCrypto();
            let uiaStages = null;
            await crypto.bootstrapCrossSigning({
                setupNewCrossSigning: true,
                // The User-Interactive Authentication a client does: try
                // without auth, and answer a 401 with the password stage.
                authUploadDeviceSigningKeys: async (makeRequest) => {
                    try {
                        await makeRequest(null);
                        return;
                    } catch (err) {
                        if (err.httpStatus !== 401 || !err.data?.flows) throw err;
                        uiaStages = err.data.flows.flatMap((f) => f.stages || []);
                        assert.ok(
                            uiaStages.includes("m.login.password"),
                            `no m.login.password stage offered: ${JSON.stringify(err.data)}`,
                        );
                        await makeRequest({
                            type: "m.login.password",
                            identifier: { type: "m.id.user", user: aliceId },
                            password: PASSWORD,
                            session: err.data.session,
                        });
                    }
                },
            });
            const status = await crypto.getCrossSigningStatus();
            assert.equal(status.publicKeysOnDevice, true, `cross-signing status: ${JSON.stringify(status)}`);
            assert.deepEqual(status.privateKeysCachedLocally, { masterKey: true, selfSigningKey: true, userSigningKey: true });
            assert.equal(await crypto.isCrossSigningReady(), true);
            // Her own device is signed by her self-signing key, which takes
            // the signature upload to have worked and a key query to show it.
            await eventually(
                async () => (await crypto.getDeviceVerificationStatus(aliceId, alice.getDeviceId()))?.crossSigningVerified,
                { what: "alice's device to be cross-signed in her own view" },
            ).catch(async (err) => {
                const st = await crypto.getDeviceVerificationStatus(aliceId, alice.getDeviceId());
                err.message += ` (status: ${JSON.stringify(st)})`;
                throw err;
            });
            // Bob shares a room with her, so his sync lists her in
            // device_lists.changed; his client downloads her cross-signing
            // keys and sees her device signed by its owner.
            await eventually(() => bob.getCrypto().userHasCrossSigningKeys(aliceId, true), {
                what: "bob to see alice's cross-signing keys",
            });
            const seen = await eventually(
                async () => {
                    const s = await bob.getCrypto().getDeviceVerificationStatus(aliceId, alice.getDeviceId());
                    return s?.signedByOwner ? s : null;
                },
                { what: "bob to see alice's device signed by her self-signing key" },
            );
            assert.equal(seen.signedByOwner, true);
        });

        step("a key backup round trip restores the room keys on a new device (spec: Server-side key backups, /room_keys/version, /room_keys/keys)", async (t) => {
            if (await unrecognized(server.baseUrl, "GET", "/_matrix/client/v3/room_keys/version", { accessToken: alice.getAccessToken() })) {
                t.skip("the server does not implement key backup yet: GET /_matrix/client/v3/room_keys/version answers 404 M_UNRECOGNIZED");
                return;
            }
            const crypto = alice.getCrypto();
            await crypto.resetKeyBackup();
            const version = await eventually(() => crypto.getActiveSessionBackupVersion(), { what: "an active key backup" });
            const key = await crypto.getSessionBackupPrivateKey();
            assert.ok(key, "no backup decryption key cached after resetKeyBackup");

            // Alice's client uploads the room's megolm session(s) to the server.
            await eventually(
                async () => {
                    const res = await rawRequest(
                        server.baseUrl,
                        "GET",
                        `/_matrix/client/v3/room_keys/keys?version=${encodeURIComponent(version)}`,
                        { accessToken: alice.getAccessToken() },
                    );
                    if (res.status !== 200) throw new Error(`GET /room_keys/keys answered ${res.status} ${res.text}`);
                    return Object.keys(res.json?.rooms?.[roomId]?.sessions || {}).length >= 1;
                },
                { timeoutMs: 30_000, what: "alice's room keys to reach the backup" },
            );

            // A new device of alice has no keys for the old messages until it
            // restores them from the backup with the decryption key.
            const alice2 = await cryptoClient(server.baseUrl, aliceId);
            clients.push(alice2);
            await eventually(() => alice2.getRoom(roomId), { what: "the room on alice's new device" });
            await alice2.getCrypto().storeSessionBackupPrivateKey(key, version);
            const result = await alice2.getCrypto().restoreKeyBackup();
            assert.ok(result.imported >= 1, `restored ${result.imported} of ${result.total} keys`);
            await decrypted(alice2, roomId, "secret from alice");
            await decrypted(alice2, roomId, "secret from bob");
            state.alice2 = alice2;
        }, { timeout: 60_000 });

        step("a dehydrated device receives the room key of a message sent while the user had no device, and a later login rehydrates it (MSC3814, /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device)", async (t) => {
            if (await unrecognized(server.baseUrl, "GET", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device", { accessToken: alice.getAccessToken() })) {
                t.skip("the server does not implement dehydrated devices (MSC3814) yet");
                return;
            }
            // Element keeps the dehydration key in secret storage; the SDK's
            // manager takes it from its cache first, so caching a key skips
            // secret storage and runs the same requests Element makes.
            const manager = (client) => client.getCrypto().dehydratedDeviceManager;
            const key = RustSdkCryptoJs.DehydratedDeviceKey.createRandomKey();
            const keyBytes = Buffer.from(key.toBase64(), "base64");
            assert.equal(await alice.getCrypto().isDehydrationSupported(), true);
            await manager(alice).cacheKey(key);
            await manager(alice).createAndUploadDehydratedDevice();
            const stored = await rawRequest(server.baseUrl, "GET", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device", {
                accessToken: alice.getAccessToken(),
            });
            assert.equal(stored.status, 200, stored.text);
            const dehydratedId = stored.json.device_id;

            // Bob's client learns of the new device from device_lists.
            await eventually(
                async () => (await bob.getCrypto().getUserDeviceInfo([aliceId], true)).get(aliceId)?.get(dehydratedId),
                { what: "bob to see alice's dehydrated device" },
            );

            // Alice signs out everywhere; bob writes to her meanwhile.
            for (const c of [alice, state.alice2].filter(Boolean)) {
                c.stopClient();
                await c.logout(true);
            }
            const whileAway = "sent while alice had no device";
            await bob.sendMessage(roomId, { msgtype: "m.text", body: whileAway });

            // A new login rehydrates the device before it syncs: the room key
            // came to the dehydrated device and now decrypts the message.
            const alice3 = await login(server.baseUrl, aliceId);
            clients.push(alice3);
            await alice3.initRustCrypto({ useIndexedDB: false });
            await manager(alice3).cacheKey(RustSdkCryptoJs.DehydratedDeviceKey.createKeyFromArray(new Uint8Array(keyBytes)));
            let progress = null;
            manager(alice3).on(CryptoEvent.RehydrationProgress, (roomKeys, toDevice) => (progress = { roomKeys, toDevice }));
            assert.equal(await manager(alice3).rehydrateDeviceIfAvailable(), true, "no dehydrated device to rehydrate");
            assert.ok(progress?.roomKeys >= 1, `rehydration imported no room key: ${JSON.stringify(progress)}`);
            await startAndSync(alice3);
            await decrypted(alice3, roomId, whileAway);

            // Its inbox was read to the end: a second rehydration finds it empty.
            const events = await rawRequest(
                server.baseUrl,
                "POST",
                `/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/${encodeURIComponent(dehydratedId)}/events`,
                { accessToken: alice3.getAccessToken(), body: {} },
            );
            assert.equal(events.status, 200, events.text);
            assert.deepEqual(events.json.events, []);
        }, { timeout: 60_000 });
    });
}
