/**
 * The programs of the machine that some tests start (a broker, a browser, openssl, faketime), found once and, on a
 * fresh Debian or Ubuntu machine, installed before any test runs.
 *
 * Design: a helper that starts one of these programs declares it with {@link needs} when it is imported. The
 * suite's global setup (`test/harness/mochaSetup.ts`) then calls {@link ensureSystemTools} with what the loaded spec
 * files declared, so `npm test`, `npm run test:dates` and a single `npx mocha test/edge/publisher.test.ts` all check
 * exactly what they will start. A missing program is installed with apt-get when the user may (root, or
 * passwordless sudo); otherwise the run stops before its first test with one message that names every missing
 * program and the command that installs them. `.ci/run` has no install step of its own: it runs the same check.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

/** A program some tests start. */
export interface SystemTool {
  /** How the messages name it. */
  readonly name: string;
  /** What the tests use it for (said when it is missing). */
  readonly purpose: string;
  /** The Debian/Ubuntu package that provides it. */
  readonly debianPackage: string;
  /** An environment variable that names the binary and overrides the search. */
  readonly pathVariable?: string;
  /** Names searched on `PATH`, in order. */
  readonly commands: readonly string[];
  /** Absolute paths tried after `PATH` (e.g. `/usr/sbin`, which is not on a Debian user's `PATH`). */
  readonly alsoAt?: readonly string[];
  /** Arguments that make the binary print its version, and what the output must match to count as working. */
  readonly probe: { readonly args: readonly string[]; readonly expect: RegExp };
}

/** Every program a test may start, by the name helpers declare it with. */
export const SYSTEM_TOOLS = {
  mosquitto: {
    name: "mosquitto",
    purpose: "the MQTT broker the edge tests start on 127.0.0.1",
    debianPackage: "mosquitto",
    pathVariable: "MOSQUITTO_PATH",
    commands: ["mosquitto"],
    alsoAt: ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"],
    // `mosquitto -h` prints its version and usage, and exits with 3
    probe: { args: ["-h"], expect: /mosquitto version \d/ },
  },
  openssl: {
    name: "openssl",
    purpose: "makes the throw-away certificates of the test brokers and PLCs",
    debianPackage: "openssl",
    commands: ["openssl"],
    probe: { args: ["version"], expect: /SSL \d/ },
  },
  chromium: {
    name: "Chromium",
    purpose: "the browser the web view's test drives",
    debianPackage: "chromium",
    pathVariable: "CHROMIUM_PATH",
    // Debian's package first; a CI runner's Chrome where there is no Chromium (Ubuntu's `chromium` is a snap stub)
    commands: ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"],
    probe: { args: ["--version"], expect: /(Chromium|Chrome) \d/ },
  },
  faketime: {
    name: "faketime",
    purpose: "moves the clock of the date check (npm run test:dates) a year ahead and back",
    debianPackage: "faketime",
    commands: ["faketime"],
    probe: { args: ["--version"], expect: /faketime/i },
  },
} as const satisfies Record<string, SystemTool>;

/** The name a helper declares a program with. */
export type SystemToolName = keyof typeof SYSTEM_TOOLS;

const REGISTRY = Symbol.for("smart-factory.test.systemTools");
type Registry = { needed: Set<SystemToolName>; found: Map<SystemToolName, string> };
/** Shared through `globalThis`: the setup file and the helpers must see one registry however each was loaded. */
const registry: Registry = ((globalThis as Record<symbol, unknown>)[REGISTRY] as Registry | undefined)
  ?? ((globalThis as Record<symbol, unknown>)[REGISTRY] = { needed: new Set(), found: new Map() }) as Registry;

/** Declare, at import time of a helper or spec, that its tests start these programs. */
export function needs(...tools: SystemToolName[]): void {
  for (const tool of tools) registry.needed.add(tool);
}

/** What the loaded helpers and specs declared. */
export function neededSystemTools(): SystemToolName[] {
  return [...registry.needed];
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function works(tool: SystemTool, file: string): boolean {
  const run = spawnSync(file, tool.probe.args, { encoding: "utf8", timeout: 20_000, stdio: ["ignore", "pipe", "pipe"] });
  return run.error === undefined && tool.probe.expect.test(`${run.stdout}${run.stderr}`);
}

/** Why a program named by its environment variable cannot be used. */
export class BadToolPathError extends Error {
  constructor(tool: SystemTool, value: string) {
    super(`${tool.pathVariable ?? ""} is "${value}", which is not a working ${tool.name} (${tool.probe.args.join(" ")} did not print its version)`);
    this.name = "BadToolPathError";
  }
}

/**
 * Where a program is, or `undefined` when this machine lacks it: its environment variable when set (a bad one is
 * an error, never silently replaced), else the first working one on `PATH` or at the tool's other places.
 */
export function locateSystemTool(name: SystemToolName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const tool: SystemTool = SYSTEM_TOOLS[name];
  const named = tool.pathVariable === undefined ? undefined : env[tool.pathVariable];
  if (named !== undefined && named !== "") {
    if (!isExecutable(named) || !works(tool, named)) throw new BadToolPathError(tool, named);
    return named;
  }
  const onPath = (env["PATH"] ?? "").split(delimiter).filter((dir) => dir !== "");
  const candidates = [...tool.commands.flatMap((command) => onPath.map((dir) => join(dir, command))), ...(tool.alsoAt ?? [])];
  return candidates.find((file) => isExecutable(file) && works(tool, file));
}

/**
 * The path of a program a helper declared with {@link needs}: the one the global setup found, or found now (a
 * spec run without the setup). Throws one clear error, with the install command, when the machine lacks it.
 */
export function systemTool(name: SystemToolName): string {
  const known = registry.found.get(name);
  if (known !== undefined) return known;
  const found = locateSystemTool(name);
  if (found === undefined) throw new MissingSystemToolsError([name], installPlan());
  registry.found.set(name, found);
  return found;
}

/** Where {@link ensureSystemTools} looks and how it may install: this process's by default. */
export interface SystemToolsContext {
  readonly env?: NodeJS.ProcessEnv;
  readonly platform?: NodeJS.Platform;
  /** The user id (0 is root); `undefined` where there are none (Windows). */
  readonly uid?: number | undefined;
  /** Where progress goes (stderr). */
  readonly log?: (line: string) => void;
}

/** How this machine can install packages: apt-get directly (root), through sudo without a password, or not at all. */
export interface InstallPlan {
  /** The command that installs (`["apt-get"]` or `["sudo", "-n", "apt-get"]`), `undefined` when none may. */
  readonly aptGet: readonly string[] | undefined;
  /** Whether this is a Debian-like system (apt-get present). */
  readonly debian: boolean;
  /** Whether the user is root (the install command needs no sudo). */
  readonly root: boolean;
  /** Why nothing is installed, when `aptGet` is undefined. */
  readonly reason?: string;
}

/** Set to `1` to never install: a missing program then stops the run with the install command. */
export const NO_INSTALL_VARIABLE = "SF_TEST_NO_INSTALL";

function commandExists(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env["PATH"] ?? "").split(delimiter).some((dir) => dir !== "" && isExecutable(join(dir, command)));
}

/** Decide whether and how this machine may install the missing programs. */
export function installPlan(context: SystemToolsContext = {}): InstallPlan {
  const env = context.env ?? process.env;
  const root = (context.uid ?? process.getuid?.()) === 0;
  const debian = (context.platform ?? process.platform) === "linux" && commandExists("apt-get", env);
  if (!debian) return { aptGet: undefined, debian, root, reason: "this is not a Debian or Ubuntu system (no apt-get)" };
  if (env[NO_INSTALL_VARIABLE] === "1") return { aptGet: undefined, debian, root, reason: `${NO_INSTALL_VARIABLE}=1` };
  if (root) return { aptGet: ["apt-get"], debian, root };
  if (!commandExists("sudo", env)) return { aptGet: undefined, debian, root, reason: "this user is not root and there is no sudo" };
  const sudo = spawnSync("sudo", ["-n", "true"], { env, stdio: "ignore", timeout: 10_000 }).status === 0;
  if (sudo) return { aptGet: ["sudo", "-n", "apt-get"], debian, root };
  return { aptGet: undefined, debian, root, reason: "this user is not root and sudo asks for a password" };
}

/** The command a person types to install these programs. */
export function installCommand(tools: readonly SystemToolName[], plan: InstallPlan): string {
  const packages = [...new Set(tools.map((t) => SYSTEM_TOOLS[t].debianPackage))].join(" ");
  if (plan.debian) return `${plan.root ? "" : "sudo "}apt-get install -y --no-install-recommends ${packages}`;
  return `install ${packages} with your system's package manager (e.g. brew install ${packages})`;
}

/** The one message of a run that cannot start because programs are missing. */
export class MissingSystemToolsError extends Error {
  constructor(readonly tools: readonly SystemToolName[], plan: InstallPlan, installFailure?: string) {
    const list = tools.map((t) => `  - ${SYSTEM_TOOLS[t].name}: ${SYSTEM_TOOLS[t].purpose}`).join("\n");
    const variables = tools.flatMap((t) => {
      const variable = (SYSTEM_TOOLS[t] as SystemTool).pathVariable;
      return variable === undefined ? [] : [`${variable}=/path/to/${t}`];
    });
    const why = installFailure !== undefined ? `installing them failed:\n${installFailure}\n` : plan.reason !== undefined ? `they were not installed: ${plan.reason}.\n` : "";
    super(
      `these tests need programs this machine lacks:\n${list}\n${why}` +
      `Install them with:\n  ${installCommand(tools, plan)}\n` +
      (variables.length > 0 ? `or name a binary you have with ${variables.join(", ")}; ` : "") +
      "then run the tests again.",
    );
    this.name = "MissingSystemToolsError";
    // the message is the whole story: a stack of the harness would bury it
    this.stack = `${this.name}: ${this.message}`;
  }
}

function apt(plan: InstallPlan, args: string[], env: NodeJS.ProcessEnv): { ok: boolean; output: string } {
  const [command, ...prefix] = plan.aptGet ?? [];
  if (command === undefined) return { ok: false, output: "" };
  const run = spawnSync(command, [...prefix, ...args], {
    encoding: "utf8",
    env: { ...env, DEBIAN_FRONTEND: "noninteractive" },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 15 * 60_000,
  });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}${run.error?.message ?? ""}` };
}

/**
 * Make sure every named program is here: install the missing ones with apt-get when this user may (after an
 * `apt-get update` if the first attempt fails: a fresh image has no package lists), report progress on `log`,
 * and throw {@link MissingSystemToolsError} (one message for all of them) when some remain missing.
 * Returns where each program is.
 */
export function ensureSystemTools(tools: readonly SystemToolName[], context: SystemToolsContext = {}): Map<SystemToolName, string> {
  const env = context.env ?? process.env;
  const log = context.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const found = new Map<SystemToolName, string>();
  const missing = (): SystemToolName[] => tools.filter((t) => {
    const at = locateSystemTool(t, env);
    if (at !== undefined) found.set(t, at);
    return at === undefined;
  });
  let absent = missing();
  if (absent.length > 0) {
    const plan = installPlan(context);
    if (plan.aptGet === undefined) throw new MissingSystemToolsError(absent, plan);
    const packages = [...new Set(absent.map((t) => SYSTEM_TOOLS[t].debianPackage))];
    log(`installing ${packages.join(", ")} with ${plan.aptGet.join(" ")}: ${absent.map((t) => SYSTEM_TOOLS[t].purpose).join("; ")}`);
    const install = ["install", "-y", "-q", "--no-install-recommends", ...packages];
    let result = apt(plan, install, env);
    if (!result.ok) {
      const update = apt(plan, ["update", "-q"], env);
      result = update.ok ? apt(plan, install, env) : update;
    }
    absent = missing();
    if (absent.length > 0) {
      const tail = result.output.trim().split("\n").slice(-8).map((line) => `    ${line}`).join("\n");
      throw new MissingSystemToolsError(absent, plan, result.ok ? "    apt-get succeeded, but the programs are still not found" : tail);
    }
  }
  return found;
}

/** Remember where the setup found the programs, for {@link systemTool}. */
export function rememberSystemTools(found: ReadonlyMap<SystemToolName, string>): void {
  for (const [name, at] of found) registry.found.set(name, at);
}
