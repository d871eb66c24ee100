// Starts and stops a real `ward serve` for the interop tests.
//
// Each server gets a fresh temporary data folder, a free port on 127.0.0.1
// and either a fresh SQLite file or a fresh PostgreSQL database created on
// the server named by WARD_TEST_POSTGRES (and dropped afterwards).

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import pg from "pg";

export const SERVER_NAME = "ward.test";

/** The binary under test: WARD_BIN, relative to this folder, default ../bin/ward. */
export function wardBinary() {
    return resolve(import.meta.dirname, "..", process.env.WARD_BIN || "../bin/ward");
}

/**
 * The database backends to run a suite on: always SQLite, and PostgreSQL
 * when WARD_TEST_POSTGRES names a server whose user may create databases.
 */
export function backends() {
    const list = ["sqlite"];
    if (process.env.WARD_TEST_POSTGRES) list.push("postgres");
    return list;
}

async function freePort() {
    return new Promise((resolvePort, reject) => {
        const srv = createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            srv.close(() => resolvePort(port));
        });
    });
}

function withDatabase(url, name) {
    const u = new URL(url);
    u.pathname = "/" + name;
    return u.toString();
}

async function adminQuery(sql) {
    const client = new pg.Client({ connectionString: process.env.WARD_TEST_POSTGRES });
    await client.connect();
    try {
        await client.query(sql);
    } finally {
        await client.end();
    }
}

// Servers still running if the process exits abruptly (an uncaught error).
const running = new Set();
process.on("exit", () => {
    for (const child of running) {
        try {
            child.kill("SIGKILL");
        } catch {
            // already gone
        }
    }
});

/**
 * Starts `ward serve` on the given backend and waits until /health answers.
 * Returns { baseUrl, backend, logTail(), stop() }; stop() is safe to call twice.
 */
export async function startWard(backend = "sqlite", { timeoutMs = 30_000 } = {}) {
    const dataDir = mkdtempSync(join(tmpdir(), "ward-interop-"));
    let database = join(dataDir, "ward.db");
    let pgName = null;
    if (backend === "postgres") {
        if (!process.env.WARD_TEST_POSTGRES) throw new Error("WARD_TEST_POSTGRES is not set");
        pgName = "ward_interop_" + randomBytes(6).toString("hex");
        await adminQuery(`CREATE DATABASE ${pgName}`);
        database = withDatabase(process.env.WARD_TEST_POSTGRES, pgName);
    }

    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const logPath = join(dataDir, "ward.log");
    const logFd = openSync(logPath, "a");
    const env = {
        ...process.env,
        WARD_CONFIG: "",
        WARD_DATABASE: database,
        WARD_DATA_DIR: dataDir,
        WARD_LISTEN: `127.0.0.1:${port}`,
        WARD_PUBLIC_BASE_URL: baseUrl,
        WARD_SERVER_NAME: SERVER_NAME,
        WARD_REGISTRATION: "open",
        // These suites check plain Matrix behaviour with a stock client; the
        // clinic policy (roles, care teams) is tested by the Go suites.
        WARD_POLICY: "off",
        WARD_RATE_LIMIT_PER_SECOND: "1000",
        WARD_RATE_LIMIT_BURST: "1000",
        WARD_LOG_LEVEL: process.env.WARD_LOG_LEVEL || "info",
    };
    const child = spawn(wardBinary(), ["serve"], {
        env,
        stdio: ["ignore", logFd, logFd],
    });
    closeSync(logFd);
    running.add(child);
    let exited = null;
    const exitPromise = new Promise((res) => {
        child.on("exit", (code, signal) => {
            exited = { code, signal };
            running.delete(child);
            res();
        });
        child.on("error", (err) => {
            exited = { error: err };
            running.delete(child);
            res();
        });
    });

    const logTail = (lines = 40) => {
        try {
            return readFileSync(logPath, "utf8").split("\n").slice(-lines).join("\n");
        } catch {
            return "";
        }
    };

    let stopped = false;
    const stop = async () => {
        if (stopped) return;
        stopped = true;
        if (!exited) {
            child.kill("SIGTERM");
            const killTimer = setTimeout(() => child.kill("SIGKILL"), 10_000);
            await exitPromise;
            clearTimeout(killTimer);
        }
        if (pgName) {
            try {
                await adminQuery(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);
            } catch (err) {
                console.error(`interop: could not drop database ${pgName}: ${err.message}`);
            }
        }
        rmSync(dataDir, { recursive: true, force: true });
    };

    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (exited) {
            const tail = logTail();
            await stop();
            throw new Error(`ward serve exited before answering /health (${JSON.stringify(exited)}):\n${tail}`);
        }
        try {
            const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
            if (res.ok) break;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            const tail = logTail();
            await stop();
            throw new Error(`ward serve did not answer /health within ${timeoutMs} ms:\n${tail}`);
        }
        await sleep(100);
    }
    return { baseUrl, backend, logTail, stop };
}
