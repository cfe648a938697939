/**
 * The date check (`npm run test:dates`): the suite, run with the system clock moved a year ahead and a year back.
 *
 * A test that compares a fixed date with the real clock passes on the day it is written and fails some later day,
 * on every machine at once. Every test that needs "now" must take an injected clock; this run proves it by moving
 * the clock of the whole process tree (Node, and the openssl and brokers it starts) with libfaketime, so a new date
 * bomb fails CI the day it is written rather than the day it goes off.
 *
 * By default it runs the pure-logic specs (everything but {@link SERVER_SPECS}), which is what CI runs; `--all`
 * runs every spec, `--offsets` other shifts (libfaketime's syntax: `+365d`, `-2y`, `@2028-02-29 12:00:00`).
 * Any further arguments are handed to mocha.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { ensureSystemTools } from "./systemTools";

const ROOT = join(__dirname, "..", "..");

/**
 * Spec files that start servers or whole factories (brokers, PLCs, the factory box, a browser) and wait on the wall
 * clock (outages, a factory at 60x, publish budgets): the date logic they run is the pure specs' too, and their
 * waiting would add minutes to each shifted run. `--all` takes them in; the harness's test keeps this list true.
 */
export const SERVER_SPECS: readonly string[] = [
  "test/e2e/factory.test.ts",
  "test/edge/agent.test.ts",
  "test/edge/intake.test.ts",
  "test/edge/opcua.test.ts",
  "test/edge/pipeline.test.ts",
  "test/edge/publisher.test.ts",
  "test/edge/secrets.test.ts",
  "test/local/broker.test.ts",
  "test/local/browser.test.ts",
  "test/local/simulator.test.ts",
  "test/local/web.test.ts",
];

/** The clock shifts of the check: a year ahead and a year back. */
export const DEFAULT_OFFSETS = ["+365d", "-365d"] as const;

/** Every spec file under `test/`, as a path relative to the repository. */
export function specFiles(dir = join(ROOT, "test")): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return specFiles(path);
      return entry.name.endsWith(".test.ts") ? [relative(ROOT, path)] : [];
    })
    .sort();
}

/** The pure-logic specs: every spec but the server ones. */
export function pureSpecFiles(all = specFiles()): string[] {
  return all.filter((file) => !SERVER_SPECS.includes(file));
}

interface Options {
  readonly offsets: readonly string[];
  readonly all: boolean;
  readonly mochaArgs: readonly string[];
}

function parse(argv: readonly string[]): Options {
  let offsets: readonly string[] = DEFAULT_OFFSETS;
  let all = false;
  const mochaArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--all") all = true;
    else if (arg === "--offsets") {
      const value = argv[++i];
      if (value === undefined || value.trim() === "") throw new Error(`--offsets: expected offsets such as "+365d,-365d", got ${JSON.stringify(value ?? null)}`);
      offsets = value.split(",").map((o) => o.trim());
    } else mochaArgs.push(arg);
  }
  return { offsets, all, mochaArgs };
}

/** How long one shifted run may take before it is ended: a hung run must fail, never stall CI. */
const RUN_LIMIT_MS = 20 * 60_000;

/** One mocha run under libfaketime; resolves with what it printed and how it ended. */
function shiftedRun(faketime: string, offset: string, args: readonly string[]): Promise<{ output: string; failure?: string }> {
  return new Promise((resolve) => {
    const child = spawn(faketime, ["-f", offset, process.execPath, join(ROOT, "node_modules", "mocha", "bin", "mocha.js"), ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      // libfaketime moves the monotonic clock by the same offset (its default): Node's timers do not mind, and
      // Chromium, whose timers mix the two clocks, crawls when only the wall clock moves (FAKETIME_DONT_FAKE_MONOTONIC)
      env: process.env,
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr.on("data", (chunk: Buffer) => { output += chunk.toString(); });
    const limit = setTimeout(() => { child.kill("SIGKILL"); }, RUN_LIMIT_MS);
    child.once("error", (error) => {
      clearTimeout(limit);
      resolve({ output, failure: error.message });
    });
    child.once("close", (code, signal) => {
      clearTimeout(limit);
      resolve(code === 0 ? { output } : { output, failure: signal === "SIGKILL" ? `still running after ${RUN_LIMIT_MS / 60_000} minutes` : `exit ${String(code ?? signal)}` });
    });
  });
}

async function main(): Promise<number> {
  const options = parse(process.argv.slice(2));
  const faketime = ensureSystemTools(["faketime"]).get("faketime") ?? "faketime";
  const files = options.all ? specFiles() : pureSpecFiles();
  const what = `${options.all ? "every spec" : "the pure-logic specs"} (${files.length} files)`;
  // The pure-logic runs are independent and wait on nothing: side by side, two take little more than one on two
  // cores. The server specs wait on the wall clock (a factory at 60x, publish budgets), so those runs go one by one.
  const sideBySide = !options.all;
  process.stdout.write(`running ${what} with the clock at ${options.offsets.join(" and ")}, ${sideBySide ? "side by side" : "one after the other"}\n`);
  const args = ["--reporter", "dot", ...options.mochaArgs, ...files];
  const runs: { output: string; failure?: string }[] = [];
  if (sideBySide) runs.push(...(await Promise.all(options.offsets.map((offset) => shiftedRun(faketime, offset, args)))));
  else for (const offset of options.offsets) runs.push(await shiftedRun(faketime, offset, args));
  let failed = 0;
  for (const [i, run] of runs.entries()) {
    const offset = options.offsets[i] ?? "";
    process.stdout.write(`\n== ${what} with the clock at ${offset}\n${run.output}`);
    if (run.failure !== undefined) {
      failed++;
      process.stderr.write(`the run with the clock at ${offset} failed (${run.failure}): a test that compares a fixed date with the real clock needs an injected clock\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => { process.exitCode = code; },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
