/**
 * Mocha's global setup and teardown for every run (`.mocharc.json` requires this file).
 *
 * - Setup: the programs the loaded specs declared with `needs(...)` are found, or installed where the user may, or
 *   the run stops here, before its first test, with one message naming what is missing and how to install it.
 * - Teardown: a run whose tests are over must end by itself. Whatever a test left running (a server, a child
 *   process, a socket, a timer) would keep Node alive and the run would hang with no word; so if the process is
 *   still alive a while after the last test, this names the kinds of resource that hold it and fails the run.
 */
import { ensureSystemTools, neededSystemTools, rememberSystemTools } from "./systemTools";

/** How long the process may take to wind down after the last test before its leftovers are reported. */
export const WIND_DOWN_MS = Number(process.env["SF_TEST_WIND_DOWN_MS"] ?? "") || 10_000;

/** Resources by kind, e.g. `TCPServerWrap` -> 1. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** What the process held before the first test (its own stdio): not a test's leftovers. */
let before = new Map<string, number>();

export function mochaGlobalSetup(): void {
  rememberSystemTools(ensureSystemTools(neededSystemTools()));
  before = resources();
}

export function mochaGlobalTeardown(): void {
  const watchdog = setTimeout(() => {
    const left = [...resources()]
      .map(([kind, n]) => [kind, n - (before.get(kind) ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${n} x ${kind}`);
    process.stderr.write(
      `\nthe tests are over, but ${WIND_DOWN_MS / 1000} s later the process is still held by: ${left.join(", ") || "its own stdio and timers"}.\n` +
      "A test or hook did not stop what it started (a server, a child process, a client, an interval): the run fails.\n",
    );
    // mocha sets the exit code to the number of failures in its own exit listener; this one runs after it
    process.on("exit", () => { process.exitCode = Math.max(Number(process.exitCode ?? 0), 1); });
    process.exit(1);
  }, WIND_DOWN_MS);
  // the watchdog itself must not keep the process alive
  watchdog.unref();
}
