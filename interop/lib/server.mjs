// Starts and stops a real `ward serve` for the interop tests.
//
// Each server gets a fresh temporary data folder, a free port on 127.0.0.1
// and either a fresh SQLite file or a fresh PostgreSQL database created on
// the server named by WARD_TEST_POSTGRES (and dropped afterwards).
//
// By default the clinic policy is off and registration open (plain Matrix
// checks); a suite about the clinic passes { policy: "on" } and gets the
// server as clinics run it. `ward(args)` runs another ward command (such
// as `ward admin …`) against the same database and configuration, before
// the server starts (the `setup` option, after `ward migrate`) or while it
// runs.

import { execFile, spawn } from "node:child_process";
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
 * Runs `ward ARGS…` with `env`, writing `input` to its standard input.
 * Resolves with { stdout, stderr }; rejects when it exits non-zero, with
 * both outputs in the message.
 */
function runWard(env, args, { input = "", timeoutMs = 30_000 } = {}) {
    return new Promise((resolveRun, reject) => {
        const child = execFile(wardBinary(), args, { env, timeout: timeoutMs }, (err, stdout, stderr) => {
            if (err) {
                err.message = `ward ${args.join(" ")} failed (${err.code ?? err.signal}):\n${stdout}${stderr}`;
                reject(err);
                return;
            }
            resolveRun({ stdout, stderr });
        });
        child.stdin.end(input);
    });
}

/**
 * Starts `ward serve` on the given backend and waits until /health answers.
 *
 * Options: policy ("off" by default, "on" for the clinic policy),
 * registration ("open" by default), env (more WARD_* variables), and
 * setup(server), awaited after `ward migrate` has created the database and
 * before `ward serve` starts, with the same object that is returned.
 *
 * Returns { baseUrl, backend, dataDir, logTail(), ward(args, { input }), stop() };
 * stop() is safe to call twice.
 */
export async function startWard(
    backend = "sqlite",
    { timeoutMs = 30_000, policy = "off", registration = "open", env: extraEnv = {}, setup } = {},
) {
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
    const env = {
        ...process.env,
        WARD_CONFIG: "",
        WARD_DATABASE: database,
        WARD_DATA_DIR: dataDir,
        WARD_LISTEN: `127.0.0.1:${port}`,
        WARD_PUBLIC_BASE_URL: baseUrl,
        WARD_SERVER_NAME: SERVER_NAME,
        WARD_REGISTRATION: registration,
        // Most suites check plain Matrix behaviour with a stock client and
        // turn the clinic policy off; clinic.test.mjs turns it on.
        WARD_POLICY: policy,
        WARD_RATE_LIMIT_PER_SECOND: "1000",
        WARD_RATE_LIMIT_BURST: "1000",
        WARD_LOG_LEVEL: process.env.WARD_LOG_LEVEL || "info",
        ...extraEnv,
    };
    const ward = (args, opts) => runWard(env, args, opts);

    const cleanup = async () => {
        if (pgName) {
            try {
                await adminQuery(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);
            } catch (err) {
                console.error(`interop: could not drop database ${pgName}: ${err.message}`);
            }
        }
        rmSync(dataDir, { recursive: true, force: true });
    };

    const logPath = join(dataDir, "ward.log");
    const logTail = (lines = 40) => {
        try {
            return readFileSync(logPath, "utf8").split("\n").slice(-lines).join("\n");
        } catch {
            return "";
        }
    };
    const server = { baseUrl, backend, dataDir, logTail, ward, stop: cleanup };

    if (setup) {
        // Admin commands never create a database: migrate first.
        try {
            await ward(["migrate"]);
            await setup(server);
        } catch (err) {
            await cleanup();
            throw err;
        }
    }

    const logFd = openSync(logPath, "a");
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
        await cleanup();
    };
    server.stop = stop;

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
    return server;
}
