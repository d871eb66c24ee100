// Ordered steps of one scenario on one server, on top of node:test.
//
// The steps of a suite share state (users, a room), so a failed setup step
// makes the rest meaningless: they are then skipped, or marked todo when
// the failure itself was a known, reported server gap (see `known`).
// A failing step's error carries the tail of the server's log.

import { it } from "node:test";

export const STEP_TIMEOUT_MS = 30_000;

export function scenario(getServer) {
    const state = {
        // A reason every step shares, such as an endpoint the SDK needs and
        // the server lacks: the steps still run, and fail as todo.
        known: null,
        // Set when the server does not offer what the scenario is about:
        // every later step is skipped with this reason.
        skipAll: null,
        // Set when a critical step failed: later steps do not run.
        blocked: null,
        blockedKnown: false,
    };

    /**
     * step(name, fn, { critical, todo, timeout }):
     * critical: later steps depend on this one.
     * todo: a reason this step is known to fail (reported server bug).
     */
    const step = (name, fn, { critical = false, todo, timeout = STEP_TIMEOUT_MS } = {}) =>
        it(name, { timeout, todo }, async (t) => {
            if (state.skipAll) {
                t.skip(state.skipAll);
                return;
            }
            if (state.blocked) {
                const why = `not run: an earlier step failed (${state.blocked})`;
                if (state.blockedKnown) t.todo(why);
                else t.skip(why);
                return;
            }
            if (state.known) t.todo(state.known);
            try {
                await fn(t);
            } catch (err) {
                if (critical) {
                    state.blocked = name;
                    state.blockedKnown = Boolean(state.known || todo);
                }
                const tail = getServer()?.logTail(25);
                if (tail) err.message += `\n--- ward log (tail) ---\n${tail}`;
                throw err;
            }
        });

    return { step, state };
}
