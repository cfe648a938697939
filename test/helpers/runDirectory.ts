/**
 * A directory for one test run (one mocha process), made on first use and deleted when the process exits.
 *
 * For what several spec files share within a run but must not carry over to the next one: certificates, above
 * all. A certificate is stamped with the clock of the run that made it, so one left in `/tmp` by an earlier run is
 * not yet valid on a machine whose clock is behind that run's (and one day it has expired).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let root: string | undefined;

/** `<this run's directory>/<name>` (not created: the caller makes what it needs in it). */
export function runDirectory(name: string): string {
  if (root === undefined) {
    const made = mkdtempSync(join(tmpdir(), "sf-test-run-"));
    process.once("exit", () => { rmSync(made, { recursive: true, force: true }); });
    root = made;
  }
  return join(root, name);
}
