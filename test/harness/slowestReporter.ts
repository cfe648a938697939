/**
 * Mocha's spec reporter, followed by the run's slowest tests and hooks (`.mocharc.json` makes it the default).
 *
 * The spec reporter marks a slow test, but not a slow `before` hook, where the servers start and the end-to-end
 * scenarios run: the suite's time is mostly there. Ten lines at the end of every run keep that visible.
 */
import Mocha from "mocha";
import { relative } from "node:path";

const { EVENT_HOOK_BEGIN, EVENT_HOOK_END, EVENT_RUN_BEGIN, EVENT_RUN_END, EVENT_TEST_FAIL, EVENT_TEST_PASS } = Mocha.Runner.constants;

/** How many of the slowest the report lists. */
const SHOWN = 10;

interface Timed {
  readonly ms: number;
  readonly file: string;
  readonly title: string;
}

/** `12.3 s` or `850 ms`. */
function formatDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** The slowest `count` of `timed`, slowest first, as report lines. */
function slowestLines(timed: readonly Timed[], count = SHOWN): string[] {
  return [...timed]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, count)
    .map((t) => `${formatDuration(t.ms).padStart(8)}  ${t.file}  ${t.title}`);
}

class SpecWithSlowest extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const timed: Timed[] = [];
    const hookStarts = new Map<Mocha.Hook, number>();
    let runStart = Date.now();
    const fileOf = (runnable: Mocha.Runnable): string => (runnable.file === undefined ? "" : relative(process.cwd(), runnable.file));
    runner.once(EVENT_RUN_BEGIN, () => { runStart = Date.now(); });
    runner.on(EVENT_HOOK_BEGIN, (hook: Mocha.Hook) => { hookStarts.set(hook, Date.now()); });
    runner.on(EVENT_HOOK_END, (hook: Mocha.Hook) => {
      const start = hookStarts.get(hook);
      if (start !== undefined) timed.push({ ms: Date.now() - start, file: fileOf(hook), title: hook.fullTitle() });
    });
    const test = (t: Mocha.Test): void => { timed.push({ ms: t.duration ?? 0, file: fileOf(t), title: t.fullTitle() }); };
    runner.on(EVENT_TEST_PASS, test);
    runner.on(EVENT_TEST_FAIL, (t: Mocha.Test) => { test(t); });
    // registered after the spec reporter's own: printed after its summary
    runner.once(EVENT_RUN_END, () => {
      if (timed.length === 0) return;
      Mocha.reporters.Base.consoleLog(`  the ${Math.min(SHOWN, timed.length)} slowest tests and hooks of ${formatDuration(Date.now() - runStart)}:`);
      for (const line of slowestLines(timed)) Mocha.reporters.Base.consoleLog(`  ${line}`);
      Mocha.reporters.Base.consoleLog();
    });
  }
}

export = SpecWithSlowest;
