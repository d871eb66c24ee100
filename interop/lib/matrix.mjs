// matrix-js-sdk helpers: register and log in through the SDK, start a
// client and wait for its sync, wait for an emitter's event with a timeout.

import { randomBytes } from "node:crypto";

import * as sdk from "matrix-js-sdk";

// matrix-js-sdk and its Rust crypto log every request, sync and key
// operation to the console, each child logger at debug level. Keep the
// test output readable: errors only, unless WARD_INTEROP_SDK_LOG asks for
// "warn" or "debug".
const sdkLog = process.env.WARD_INTEROP_SDK_LOG || "error";
const quiet = () => {};
if (sdkLog !== "debug") {
    console.debug = quiet;
    console.info = quiet;
    console.log = quiet;
    console.trace = quiet;
    if (sdkLog !== "warn") console.warn = quiet;
}

export { sdk };

export const PASSWORD = "correct horse battery staple";

/** A localpart unique to this run. */
export function localpart(prefix) {
    return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/**
 * Resolves with the arguments of the first `event` on `emitter` for which
 * `predicate(...args)` is true, or rejects after `timeoutMs`.
 */
export function waitFor(emitter, event, predicate = () => true, { timeoutMs = 15_000, what } = {}) {
    return new Promise((resolve, reject) => {
        const listener = (...args) => {
            let ok;
            try {
                ok = predicate(...args);
            } catch (err) {
                cleanup();
                reject(err);
                return;
            }
            if (ok) {
                cleanup();
                resolve(args);
            }
        };
        const timer = setTimeout(() => {
            cleanup();
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what || event}`));
        }, timeoutMs);
        const cleanup = () => {
            clearTimeout(timer);
            emitter.removeListener(event, listener);
        };
        emitter.on(event, listener);
    });
}

/** Polls `check()` until it returns a truthy value, or throws after `timeoutMs`. */
export async function eventually(check, { timeoutMs = 15_000, intervalMs = 100, what = "condition" } = {}) {
    const deadline = Date.now() + timeoutMs;
    let lastErr;
    for (;;) {
        try {
            const v = await check();
            if (v) return v;
        } catch (err) {
            lastErr = err;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (lastErr ? `: ${lastErr.message}` : ""));
        }
        await new Promise((r) => setTimeout(r, intervalMs));
    }
}

/**
 * Registers `username` with the User-Interactive Authentication flow a
 * client follows: a first request without `auth` must answer 401 with a
 * session and an m.login.dummy flow, the second completes that stage.
 */
export async function register(baseUrl, username, password = PASSWORD) {
    const client = sdk.createClient({ baseUrl });
    let session;
    try {
        await client.registerRequest({ username, password, initial_device_display_name: "interop" });
        throw new Error("POST /register without auth did not answer 401 with UIA flows");
    } catch (err) {
        if (err.httpStatus !== 401 || !err.data) throw err;
        const flows = err.data.flows || [];
        if (!flows.some((f) => (f.stages || []).includes("m.login.dummy"))) {
            throw new Error(`no m.login.dummy flow in the 401 answer: ${JSON.stringify(err.data)}`);
        }
        session = err.data.session;
    }
    const res = await client.registerRequest({
        username,
        password,
        initial_device_display_name: "interop",
        auth: { type: "m.login.dummy", session },
    });
    client.stopClient();
    return res; // { user_id, access_token, device_id }
}

/** Logs in with a password through the SDK; returns a client with the new credentials. */
export async function login(baseUrl, userId, password = PASSWORD, extra = {}) {
    const anon = sdk.createClient({ baseUrl });
    const res = await anon.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: userId },
        password,
        initial_device_display_name: "interop",
    });
    anon.stopClient();
    return sdk.createClient({
        baseUrl,
        userId: res.user_id,
        accessToken: res.access_token,
        deviceId: res.device_id,
        ...extra,
    });
}

/** Starts the client's sync loop and waits until it is PREPARED (or SYNCING). */
export async function startAndSync(client, opts = {}, { timeoutMs = 20_000 } = {}) {
    const ready = waitFor(
        client,
        sdk.ClientEvent.Sync,
        (state, _prev, data) => {
            if (state === "ERROR") throw new Error(`sync failed: ${data?.error?.message || JSON.stringify(data)}`);
            return state === "PREPARED" || state === "SYNCING";
        },
        { timeoutMs, what: `first sync of ${client.getUserId()}` },
    );
    await client.startClient({ initialSyncLimit: 20, lazyLoadMembers: false, ...opts });
    await ready;
}

/** Stops a client, ignoring errors (for cleanup). */
export function stopQuietly(client) {
    try {
        client?.stopClient();
    } catch {
        // already stopped
    }
}

/** A raw client-server request with an access token, for checks the SDK does not expose. */
export async function rawRequest(baseUrl, method, path, { accessToken, body } = {}) {
    const res = await fetch(baseUrl + path, {
        method,
        headers: {
            ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}),
            ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(10_000),
    });
    let json = null;
    const text = await res.text();
    try {
        json = JSON.parse(text);
    } catch {
        json = null;
    }
    return { status: res.status, json, text };
}

/**
 * Whether the server does not know an endpoint at all: 404 with
 * M_UNRECOGNIZED (spec: "API Standards", unknown endpoints). A 404 with
 * another errcode (say M_NOT_FOUND for a missing key backup) is an answer.
 */
export async function unrecognized(baseUrl, method, path, { accessToken, body } = {}) {
    const res = await rawRequest(baseUrl, method, path, { accessToken, body });
    return res.status === 404 && res.json?.errcode === "M_UNRECOGNIZED";
}

/**
 * Endpoints matrix-js-sdk needs before its first sync completes. When the
 * server lacks one, the SDK retries forever and never reaches PREPARED.
 * Returns a reason string, or null when nothing is missing.
 */
export async function syncBlocker(baseUrl, accessToken) {
    if (await unrecognized(baseUrl, "GET", "/_matrix/client/v3/pushrules/", { accessToken })) {
        return (
            "server answers GET /_matrix/client/v3/pushrules/ with 404 M_UNRECOGNIZED; " +
            "matrix-js-sdk fetches push rules before its first /sync and retries forever " +
            "(spec: Push Notifications, Push Rules API, GET /_matrix/client/v3/pushrules/)"
        );
    }
    return null;
}

/** A client logged in with a new device, Rust crypto in memory, synced. */
export async function cryptoClient(baseUrl, userId, password = PASSWORD) {
    const client = await login(baseUrl, userId, password);
    await client.initRustCrypto({ useIndexedDB: false });
    await startAndSync(client);
    return client;
}

/** How decryption of the encrypted events in a room went, for error messages. */
export function decryptionReport(client, roomId) {
    const room = client.getRoom(roomId);
    if (!room) return "room unknown to the client";
    return room
        .getLiveTimeline()
        .getEvents()
        .filter((ev) => ev.getWireType() === "m.room.encrypted")
        .map((ev) => `${ev.getId()}: ${ev.isDecryptionFailure() ? `failure ${ev.decryptionFailureReason}` : ev.getType()}`)
        .join("; ");
}

/**
 * Waits until `client` holds a decrypted message `body` in `roomId` that was
 * sent encrypted (wire type m.room.encrypted), and returns the event; on
 * time-out the error tells how decryption went in the room.
 */
export async function decrypted(client, roomId, body, { timeoutMs = 20_000 } = {}) {
    return eventually(
        () =>
            client
                .getRoom(roomId)
                ?.getLiveTimeline()
                .getEvents()
                .find(
                    (ev) =>
                        ev.getWireType() === "m.room.encrypted" &&
                        !ev.isDecryptionFailure() &&
                        ev.getType() === "m.room.message" &&
                        ev.getContent()?.body === body,
                ),
        { timeoutMs, what: `${client.getUserId()} to decrypt "${body}"` },
    ).catch((err) => {
        err.message += ` (its view: ${decryptionReport(client, roomId) || "no encrypted event"})`;
        throw err;
    });
}
