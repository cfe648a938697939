/**
 * `npm start [-- --factory factory-b] [--speed 10] [--outage 30s] ...`: a whole factory's pipeline on this machine,
 * from the stack's config, with a live view in the terminal and on http://127.0.0.1. Ctrl-C stops everything.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { setErrorLogger, setWarningLogger } from "node-opcua";
import { parseDuration } from "@smart-factory/sdk";
import { stackNames } from "../infra/stackFiles";
import { SPEED_RANGE, startFactoryBox, type FactoryBox } from "./box";
import { startTerminalView, type TerminalView } from "./view/terminal";
import { startWebView, type WebView } from "./view/web";

/** What `npm start` was asked to do. */
export interface StartOptions {
  readonly stack: string;
  readonly speed: number;
  readonly seed: number;
  /** Cut the uplink for this long (ms), `outageAfterMs` after the start. */
  readonly outageMs: number | undefined;
  readonly outageAfterMs: number;
  /** Stop by itself after this long (ms); else run until Ctrl-C. */
  readonly durationMs: number | undefined;
  /** The web view's port; `undefined`: 8080, or any free port when 8080 is taken. */
  readonly port: number | undefined;
  readonly web: boolean;
  readonly keepRunDir: boolean;
}

/** A command line `npm start` cannot run; the message names the option and the value. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const USAGE = `usage: npm start [-- options]
  --factory <stack>      the stack to run (${stackNames().join(", ")}; default factory-a)
  --speed <n>            how much faster than real time the factory behaves (${SPEED_RANGE.min} to ${SPEED_RANGE.max}; default 10)
  --outage <duration>    cut the factory's uplink for that long (30s, 2m ...), to watch the buffers fill and drain
  --outage-after <dur>   when the outage starts (default 20s after the start)
  --duration <duration>  stop by itself after that long (default: run until Ctrl-C)
  --port <n>             the web view's port on 127.0.0.1 (default 8080, or a free one when 8080 is taken)
  --no-web               no web view, only the terminal
  --seed <n>             another simulated factory (default 1)
  --keep                 keep the run directory (certificates, buffers, logs) when stopping`;

function durationOf(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(option, value).ms;
  } catch {
    throw new UsageError(`${option}: expected a duration such as 30s, 5m or 1h, got ${JSON.stringify(value)}`);
  }
}

function numberOf(option: string, value: string | undefined, check: (n: number) => boolean, expected: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !check(n)) throw new UsageError(`${option}: expected ${expected}, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * The options of a command line (the arguments after `npm start --`).
 *
 * @throws UsageError naming the option and the value for anything it cannot use.
 */
export function parseStartArgs(argv: readonly string[]): StartOptions | "help" {
  let parsed: ReturnType<typeof parse>;
  function parse(args: string[]) {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        factory: { type: "string" },
        speed: { type: "string" },
        outage: { type: "string" },
        "outage-after": { type: "string" },
        duration: { type: "string" },
        port: { type: "string" },
        "no-web": { type: "boolean" },
        seed: { type: "string" },
        keep: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  }
  try {
    parsed = parse([...argv]);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  if (v.help === true) return "help";
  const stack = v.factory ?? "factory-a";
  if (!stackNames().includes(stack)) throw new UsageError(`--factory: no stack ${JSON.stringify(stack)} (stacks: ${stackNames().join(", ")})`);
  return {
    stack,
    speed: numberOf("--speed", v.speed, (n) => Number.isFinite(n) && n >= SPEED_RANGE.min && n <= SPEED_RANGE.max, `a number from ${SPEED_RANGE.min} to ${SPEED_RANGE.max}`) ?? 10,
    seed: numberOf("--seed", v.seed, (n) => Number.isSafeInteger(n) && n >= 0, "a whole number") ?? 1,
    outageMs: durationOf("--outage", v.outage),
    outageAfterMs: durationOf("--outage-after", v["outage-after"]) ?? 20_000,
    durationMs: durationOf("--duration", v.duration),
    port: numberOf("--port", v.port, (n) => Number.isInteger(n) && n >= 1 && n <= 65_535, "a port from 1 to 65535"),
    web: v["no-web"] !== true,
    keepRunDir: v.keep === true,
  };
}

async function webViewOn(box: FactoryBox, port: number | undefined): Promise<WebView> {
  if (port !== undefined) return startWebView(box, { port });
  try {
    return await startWebView(box, { port: 8080 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    return startWebView(box, { port: 0 });
  }
}

async function main(): Promise<void> {
  // the AWS SDK's notice that its 2027 releases need Node.js 22 concerns upgrades, not this run: kept off the live view
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  let options: StartOptions | "help";
  try {
    options = parseStartArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (options === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  process.stdout.write(`starting ${options.stack} at ${options.speed}x: simulator, edge agents, brokers, local cloud...\n`);
  // node-opcua prints its warnings on the console, where they would tear the live view: they go to the box's log
  const early: string[] = [];
  let opcuaLog = (line: string): void => {
    early.push(line);
  };
  const toLog = (...args: unknown[]): void => {
    opcuaLog(JSON.stringify({ time: new Date().toISOString(), level: "warn", message: args.map(String).join(" "), source: "node-opcua" }));
  };
  setWarningLogger(toLog);
  setErrorLogger(toLog);
  const box = await startFactoryBox({ stack: options.stack, speed: options.speed, seed: options.seed, keepRunDir: options.keepRunDir });
  const logFile = path.join(box.runDir, "box.log");
  opcuaLog = (line) => {
    fs.appendFileSync(logFile, `${line}\n`);
  };
  for (const line of early.splice(0)) opcuaLog(line);
  const views: { web?: WebView; terminal?: TerminalView } = {};
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    for (const t of timers) clearTimeout(t);
    views.terminal?.stop();
    process.stdout.write(`\n${why}: stopping (the agents flush their buffers)...\n`);
    await views.web?.close();
    await box.stop();
    process.stdout.write(options.keepRunDir ? `stopped; the run directory is kept: ${box.runDir}\n` : "stopped\n");
  };
  process.on("SIGINT", () => {
    void stop("Ctrl-C").then(() => process.exit(0));
  });
  process.on("SIGTERM", () => {
    void stop("SIGTERM").then(() => process.exit(0));
  });
  if (options.web) views.web = await webViewOn(box, options.port);
  const web = views.web;
  const machines = box.config.lines.reduce((n, l) => n + l.machines.length, 0);
  process.stdout.write(
    [
      `${box.config.factory.name} (${box.stack}): ${machines} machines on ${box.config.lines.length} lines, ${box.agents.length} gateways, at ${box.speed}x`,
      `  OPC UA simulator  ${box.simulator.endpointUrl}`,
      `  cloud broker      ${box.cloudBroker.url} (mutual TLS; the agents reach it through the uplink on port ${box.uplink.port})`,
      `  run directory     ${box.runDir} (certificates, buffers, box.log)`,
      ...(web === undefined ? [] : [`  live view         ${web.url}`]),
      "",
    ].join("\n"),
  );
  if (options.outageMs !== undefined) {
    const outage = options.outageMs;
    timers.push(
      setTimeout(() => {
        box.outage(outage);
      }, options.outageAfterMs),
    );
  }
  const duration = options.durationMs;
  if (duration !== undefined) {
    timers.push(
      setTimeout(() => {
        void stop(`after ${duration / 1000} s`).then(() => process.exit(0));
      }, duration),
    );
  }
  views.terminal = startTerminalView(box, { intervalMs: 1000 });
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
