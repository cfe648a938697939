/**
 * What a suite's hooks started, stopped again by its `after` hook: whichever of it was started, newest first.
 *
 * Why: a `before` hook that fails half-way leaves the later variables unset. An `after` hook that then stops
 * everything by name throws a second, misleading error (`Cannot read properties of undefined`) on top of the real
 * cause, and stops nothing after that line, so a server that did start keeps the process alive and mocha never
 * exits. Registering each thing as it starts keeps the one real failure and ends everything that ran.
 *
 * @example
 * const teardown = new Teardown();
 * before(async () => {
 *   plc = teardown.add("the PLC server", await startPlcServer({ machines }), (s) => s.stop());
 *   broker = teardown.add("the broker", await startMosquitto(), (b) => b.dispose());
 * });
 * after(() => teardown.run());
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class Teardown {
  private readonly steps: { readonly what: string; readonly run: () => unknown }[] = [];

  /** Remember how to stop `resource` (named `what` in errors); returns the resource. */
  add<T>(what: string, resource: T, stop: (resource: T) => unknown): T {
    this.steps.push({ what, run: () => stop(resource) });
    return resource;
  }

  /** A new temporary directory named `<prefix>...`, deleted with everything in it at teardown. */
  directory(prefix: string): string {
    return this.add("the temporary directory", mkdtempSync(join(tmpdir(), prefix)), (dir) => { rmSync(dir, { recursive: true, force: true }); });
  }

  /** Remember a step to run at teardown (e.g. restoring a patched function). */
  defer(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  /**
   * Run every remembered step, newest first, each even when an earlier one failed, and forget them; then throw one
   * error naming every step that failed, if any did.
   */
  async run(): Promise<void> {
    const failures: string[] = [];
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        failures.push(`${step.what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (failures.length > 0) throw new Error(`teardown failed for ${failures.length} step(s):\n  ${failures.join("\n  ")}`);
  }
}
