/**
 * Packages the edge agent as the zip Greengrass unarchives on a gateway:
 *
 *   npm run edge:package [-- --arch x64|arm64] [--out edge/dist]
 *
 * The zip holds `edge-agent/main.js` (the agent, the SDK and its pure-JS dependencies bundled by esbuild, with its
 * source map) and, under `edge-agent/node_modules/`, the packages esbuild cannot bundle with their production
 * dependency trees, copied from this repository's installed `node_modules`:
 *
 * - `better-sqlite3`: a native addon (`build/Release/better_sqlite3.node`, loaded by `bindings` from the package's own
 *   directory), so the zip is only valid for the OS, CPU architecture and Node ABI of the machine it was built on.
 * - `node-opcua`: bundling it succeeds but the bundle does not load: its packages locate their data files (the
 *   nodeset XML files, certificate templates) from `__dirname` and their own `package.json` at run time
 *   ("cannot find package.json at or above .../edge-agent"), which a single-file bundle cannot provide.
 * - `aws-crt` (the transport of the AWS IoT Device SDK's Greengrass IPC client, which is bundled): it loads a
 *   prebuilt N-API addon from `dist/bin/<os>-<arch>-<libc>/` by a computed path. Only the target's binaries (glibc
 *   and musl) are shipped, not the other platforms' nor its C sources.
 *
 * The zip is deterministic (entries sorted, fixed timestamps and permissions): the same inputs give the same bytes,
 * and its SHA-256 is the content address of the Greengrass artifact (S3 key and component version, see
 * infra/lib/recipe.ts). A manifest `edge-agent-<platform>-<arch>.json` is written beside it.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import { PassThrough } from "node:stream";
import { buildSync } from "esbuild";
import { ZipFile } from "yazl";

/** The CPU architectures of the factory gateways (Node's names). */
export type AgentArch = "x64" | "arm64";
/** The operating systems of the factory gateways (Node's names). */
export type AgentPlatform = "linux";

/** What {@link packageAgent} builds. */
export interface PackageOptions {
  /** Where the zip and its manifest are written (created when missing). */
  readonly outDir: string;
  /** The gateway's architecture; the builder's (`process.arch`) when omitted. */
  readonly arch?: AgentArch;
  /** The gateway's operating system; `linux` when omitted. */
  readonly platform?: AgentPlatform;
}

/** A packaged agent: the manifest written beside the zip (read by infra/components/edgeRuntime.ts). */
export interface AgentArtifact {
  /** Absolute path of the zip. */
  readonly file: string;
  /** SHA-256 of the zip's bytes, hex. */
  readonly sha256: string;
  /** Size of the zip in bytes. */
  readonly bytes: number;
  readonly arch: AgentArch;
  readonly platform: AgentPlatform;
  /** `process.versions.modules` of the builder: the gateway's Node.js must have the same ABI (native addons). */
  readonly nodeAbi: string;
  /** The agent's entry point inside the zip. */
  readonly entry: "edge-agent/main.js";
}

/** The packages esbuild must leave to `require` at run time (see the module comment for why). */
export const EXTERNAL_PACKAGES = ["better-sqlite3", "node-opcua", "aws-crt"] as const;

/**
 * Packages that ship prebuilt N-API addons for several platforms: where the binaries are (one folder per
 * `<os>-<arch>-<libc>`) and the top-level entries that are sources or other builds, not needed at run time.
 */
const PREBUILT: Readonly<Record<string, { readonly binaries: string; readonly drop: readonly string[] }>> = {
  "aws-crt": { binaries: "dist/bin", drop: ["source", "lib", "dist.browser", "scripts", "CMakeLists.txt", "format-check.py"] },
};

/** The folder inside the zip that holds the agent. */
const AGENT_DIR = "edge-agent";
const ENTRY = `${AGENT_DIR}/main.js` as const;
const ARCHES: readonly string[] = ["x64", "arm64"];
const PLATFORMS: readonly string[] = ["linux"];
/** The earliest DOS timestamp, as local time: yazl writes the DOS fields from the local clock, so this is 1980-01-01 00:00 in every time zone. */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
/** Regular file, rw-r--r--: nothing in the zip is executed directly (`node` runs main.js; `.node` addons are dlopen'ed). */
const FILE_MODE = 0o100644;

/** The repository root (this file lives in `<root>/edge`). */
const REPO_ROOT = path.resolve(__dirname, "..");

/** One installed package of the externals' dependency trees. */
interface InstalledPackage {
  readonly name: string;
  /** Where it is installed (as found, before resolving symlinks). */
  readonly dir: string;
  /** Its path inside the zip, relative to `edge-agent/`: `node_modules/<name>` or nested `node_modules/a/node_modules/b`. */
  readonly target: string;
  /** Whether it contains a native addon (it has a `binding.gyp`). */
  readonly native: boolean;
  /** Its dependencies: name -> the directory Node resolves it to from this package. */
  readonly dependencies: ReadonlyMap<string, string>;
}

interface PackageJson {
  readonly name?: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The directory of package `name` as Node resolves it from `fromDir`: the nearest `node_modules/<name>` up the tree. */
function resolvePackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== "node_modules") {
      const candidate = path.join(dir, "node_modules", name);
      if (fs.existsSync(path.join(candidate, "package.json"))) return candidate;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** The path of an installed package inside `edge-agent/`: its path from the first `node_modules` below the repository root. */
function targetOf(dir: string): string {
  const segments = path.relative(REPO_ROOT, dir).split(path.sep);
  const first = segments.indexOf("node_modules");
  if (segments[0] === ".." || first < 0) {
    throw new Error(`${dir} is not installed in the repository's node_modules: run npm ci at ${REPO_ROOT}`);
  }
  return segments.slice(first).join("/");
}

/**
 * The externals and their production dependency trees (`dependencies`, installed `optionalDependencies`, required
 * `peerDependencies`), each resolved the way Node resolves it from the package that depends on it.
 *
 * @throws Error when a required dependency is not installed, or when the copied layout would resolve a dependency to
 *   another copy than the installed layout does.
 */
function dependencyTree(): InstalledPackage[] {
  const packages = new Map<string, InstalledPackage>();
  const visit = (dir: string): void => {
    if (packages.has(dir)) return;
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson;
    const name = manifest.name ?? path.basename(dir);
    // Node resolves a package's own requires from its real location (it follows symlinks such as workspace links)
    const from = fs.realpathSync(dir);
    const wanted = new Map<string, boolean>(); // name -> optional
    for (const dep of Object.keys(manifest.peerDependencies ?? {})) {
      if (manifest.peerDependenciesMeta?.[dep]?.optional !== true) wanted.set(dep, false);
    }
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) wanted.set(dep, true);
    for (const dep of Object.keys(manifest.dependencies ?? {})) if (!wanted.has(dep)) wanted.set(dep, false);
    const dependencies = new Map<string, string>();
    for (const [dep, optional] of wanted) {
      const found = resolvePackageDir(dep, from);
      if (found === undefined) {
        if (optional) continue; // e.g. a platform-specific optional package that npm did not install here
        throw new Error(`${name} depends on ${dep}, which is not installed (from ${from}): run npm ci`);
      }
      dependencies.set(dep, found);
    }
    packages.set(dir, { name, dir, target: targetOf(dir), native: fs.existsSync(path.join(dir, "binding.gyp")), dependencies });
    for (const found of dependencies.values()) visit(found);
  };
  const entryDir = path.join(REPO_ROOT, "edge", "src");
  for (const external of EXTERNAL_PACKAGES) {
    const found = resolvePackageDir(external, entryDir);
    if (found === undefined) throw new Error(`${external} is not installed (from ${entryDir}): run npm ci`);
    visit(found);
  }

  // The copy keeps each package's path below node_modules; check that Node resolves every dependency in the copy to
  // the copy of the same installed package (two installed copies mapping to one path would break that).
  const byTarget = new Map<string, InstalledPackage>();
  for (const pkg of packages.values()) {
    const other = byTarget.get(pkg.target);
    if (other !== undefined) throw new Error(`${pkg.dir} and ${other.dir} would both be copied to ${pkg.target}`);
    byTarget.set(pkg.target, pkg);
  }
  for (const pkg of packages.values()) {
    for (const [dep, dir] of pkg.dependencies) {
      let resolved: string | undefined;
      for (let base = pkg.target; ; base = path.posix.dirname(base)) {
        if (path.posix.basename(base) !== "node_modules") {
          const candidate = path.posix.join(base, "node_modules", dep);
          if (byTarget.has(candidate)) {
            resolved = candidate;
            break;
          }
        }
        if (base === ".") break;
      }
      const expected = packages.get(dir)?.target;
      if (resolved !== expected) {
        throw new Error(`in the packaged layout ${pkg.target} would resolve ${dep} to ${resolved ?? "nothing"} instead of ${String(expected)}`);
      }
    }
  }
  return [...packages.values()];
}

/** TypeScript sources and declarations, source maps and build info: nothing Node loads. */
const NOT_RUNTIME_FILE = /(\.[mc]?ts|\.map|\.tsbuildinfo)$/;
/** Test files and folders of the dependencies. */
const TEST_FILE = /\.(test|spec)\.[mc]?js$/;
const TEST_DIR = new Set(["test", "tests", "__tests__"]);

/** Whether `rel` (a path inside an installed package, `/`-separated) belongs in the agent's zip for `target` (`linux-x64`). */
function shipped(pkg: InstalledPackage, rel: string, target: string): boolean {
  const segments = rel.split("/");
  const file = segments[segments.length - 1] ?? rel;
  if (NOT_RUNTIME_FILE.test(file) || TEST_FILE.test(file)) return false;
  if (segments.slice(0, -1).some((s) => TEST_DIR.has(s))) return false;
  const prebuilt = PREBUILT[pkg.name];
  if (prebuilt !== undefined) {
    if (prebuilt.drop.includes(segments[0] ?? "")) return false;
    const binaries = prebuilt.binaries.split("/");
    if (binaries.every((b, i) => segments[i] === b)) return segments.length > binaries.length + 1 && (segments[binaries.length] ?? "").startsWith(`${target}-`);
  }
  if (pkg.native) {
    // A native addon needs its compiled `.node` binaries only: not its C/C++ sources (`src/`, `deps/`), its
    // binding.gyp or the intermediate objects and static libraries of the build, nor its test extension.
    const top = segments[0];
    if (top === "src" || top === "deps" || file === "binding.gyp") return false;
    if (top === "build") return file.endsWith(".node") && !file.startsWith("test_") && !segments.slice(1, -1).some((s) => s.startsWith("obj"));
  }
  return true;
}

/** The files of an installed package that go into the zip: relative path -> absolute path (nested node_modules excluded). */
function packageFiles(pkg: InstalledPackage, target: string): [string, string][] {
  const files: [string, string][] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir)) {
      if (name === "node_modules") continue; // nested packages are copied as packages of the tree, when they are dependencies
      const absolute = path.join(dir, name);
      const relative = rel === "" ? name : `${rel}/${name}`;
      const stats = fs.statSync(absolute); // follows symlinks: the zip holds their targets' content
      if (stats.isDirectory()) walk(absolute, relative);
      else if (stats.isFile() && shipped(pkg, relative, target)) files.push([relative, absolute]);
    }
  };
  walk(pkg.dir, "");
  return files;
}

/** The agent bundled by esbuild: `main.js` and `main.js.map`. */
function bundleAgent(): { code: Buffer; map: Buffer } {
  let result: ReturnType<typeof buildSync>;
  try {
    result = buildSync({
      entryPoints: [path.join(REPO_ROOT, "edge", "src", "main.ts")],
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      conditions: ["@smart-factory/source"],
      external: [...EXTERNAL_PACKAGES],
      // main.js.map beside main.js, linked by a sourceMappingURL comment so that `node --enable-source-maps` (the
      // recipe's Run script) finds it; mappings only: the sources stay out of the artifact
      sourcemap: "linked",
      sourcesContent: false,
      // A fixed (never written) output path, so the map's relative source paths do not depend on outDir
      outfile: path.join(REPO_ROOT, "edge", "dist", AGENT_DIR, "main.js"),
      write: false,
      logLevel: "silent",
      absWorkingDir: REPO_ROOT,
    });
  } catch (error) {
    const messages = (error as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors ?? [];
    const detail = messages.map((m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ${m.text}` : m.text)).join("; ");
    throw new Error(`cannot bundle edge/src/main.ts: ${detail || String(error)}`, { cause: error });
  }
  const outputs = result.outputFiles ?? [];
  const code = outputs.find((o) => o.path.endsWith(".js"));
  const map = outputs.find((o) => o.path.endsWith(".js.map"));
  if (code === undefined || map === undefined) throw new Error("bundling edge/src/main.ts produced no main.js and main.js.map");
  return { code: Buffer.from(code.contents), map: Buffer.from(map.contents) };
}

/** Writes `entries` (zip path -> content or file) as a deterministic zip to `file`; resolves to its SHA-256 (hex) and size. */
async function writeZip(file: string, entries: ReadonlyMap<string, Buffer | string>): Promise<{ sha256: string; bytes: number }> {
  const zip = new ZipFile();
  const options = { mtime: FIXED_MTIME, mode: FILE_MODE, forceDosTimestamp: true, compress: true, compressionLevel: 6 };
  for (const name of [...entries.keys()].sort()) {
    const content = entries.get(name);
    if (typeof content === "string") zip.addFile(content, name, options);
    else if (content !== undefined) zip.addBuffer(content, name, options);
  }
  zip.end();
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  const tee = new PassThrough();
  tee.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  const partial = `${file}.${String(process.pid)}.partial`;
  try {
    await pipeline(zip.outputStream, tee, fs.createWriteStream(partial));
    fs.renameSync(partial, file);
  } catch (error) {
    fs.rmSync(partial, { force: true });
    throw error;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/**
 * Packages the agent for `platform`/`arch` into `<outDir>/edge-agent-<platform>-<arch>.zip` and writes its manifest
 * `<outDir>/edge-agent-<platform>-<arch>.json`.
 *
 * @throws Error when the target is not the builder's OS and architecture (the native addons are copied, not
 *   cross-compiled), when the agent does not bundle, or when a dependency of the externals is not installed.
 */
export async function packageAgent(options: PackageOptions): Promise<AgentArtifact> {
  const arch = options.arch ?? (process.arch as AgentArch);
  const platform = options.platform ?? "linux";
  if (!ARCHES.includes(arch)) throw new Error(`unsupported architecture ${JSON.stringify(arch)}: use one of ${ARCHES.join(", ")}`);
  if (!PLATFORMS.includes(platform)) throw new Error(`unsupported platform ${JSON.stringify(platform)}: use one of ${PLATFORMS.join(", ")}`);
  const tree = dependencyTree();
  if (arch !== process.arch || platform !== process.platform) {
    const natives = tree.filter((p) => p.native).map((p) => p.name).sort();
    throw new Error(
      `the artifact for ${platform}/${arch} must be built on a ${platform}/${arch} machine (native addons: ${natives.join(", ")}): run \`npm run edge:package\` there`,
    );
  }

  const { code, map } = bundleAgent();
  const entries = new Map<string, Buffer | string>([
    [ENTRY, code],
    [`${AGENT_DIR}/main.js.map`, map],
  ]);
  for (const pkg of tree) {
    for (const [rel, absolute] of packageFiles(pkg, `${platform}-${arch}`)) entries.set(`${AGENT_DIR}/${pkg.target}/${rel}`, absolute);
  }
  const missing = tree.filter(
    (p) =>
      (p.native && ![...entries.keys()].some((k) => k.startsWith(`${AGENT_DIR}/${p.target}/build/`) && k.endsWith(".node"))) ||
      (PREBUILT[p.name] !== undefined && ![...entries.keys()].some((k) => k.startsWith(`${AGENT_DIR}/${p.target}/${PREBUILT[p.name]?.binaries ?? ""}/${platform}-${arch}-`) && k.endsWith(".node"))),
  );
  if (missing.length > 0) throw new Error(`native addons without a compiled .node binary: ${missing.map((p) => p.name).join(", ")}: run npm ci (or npm rebuild)`);

  const outDir = path.resolve(options.outDir);
  fs.mkdirSync(outDir, { recursive: true });
  const base = `edge-agent-${platform}-${arch}`;
  const file = path.join(outDir, `${base}.zip`);
  const { sha256, bytes } = await writeZip(file, entries);
  const artifact: AgentArtifact = { file, sha256, bytes, arch, platform, nodeAbi: process.versions.modules, entry: ENTRY };
  fs.writeFileSync(path.join(outDir, `${base}.json`), `${JSON.stringify(artifact, null, 2)}\n`);
  return artifact;
}

/** `[--arch x64|arm64] [--out dir]` of the command line. */
function parseArgs(argv: readonly string[]): PackageOptions {
  let arch: string | undefined;
  let outDir = path.join(REPO_ROOT, "edge", "dist");
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((flag === "--arch" || flag === "--out") && value !== undefined && !value.startsWith("--")) {
      if (flag === "--arch") arch = value;
      else outDir = path.resolve(value);
      i++;
    } else {
      throw new Error(`usage: npm run edge:package -- [--arch x64|arm64] [--out dir] (unexpected ${JSON.stringify(flag)})`);
    }
  }
  if (arch !== undefined && !ARCHES.includes(arch)) throw new Error(`unsupported architecture ${JSON.stringify(arch)}: use one of ${ARCHES.join(", ")}`);
  return arch === undefined ? { outDir } : { outDir, arch: arch as AgentArch };
}

if (require.main === module) {
  let options: PackageOptions | undefined;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  }
  if (options !== undefined) {
    packageAgent(options).then(
      (artifact) => {
        process.stdout.write(`${JSON.stringify(artifact, null, 2)}\n`);
      },
      (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      },
    );
  }
}
