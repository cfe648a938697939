import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as yauzl from "yauzl";
import { packageAgent, type AgentArtifact } from "../../edge/package";

const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** The entries of a zip, in archive order, with their DOS timestamp and Unix mode. */
async function zipEntries(file: string): Promise<{ name: string; mtime: Date; mode: number }[]> {
  const zip = await yauzl.openPromise(file);
  const entries: { name: string; mtime: Date; mode: number }[] = [];
  for await (const entry of zip.eachEntry()) {
    entries.push({ name: entry.fileName, mtime: entry.getLastModDate(), mode: entry.externalFileAttributes >>> 16 });
  }
  return entries;
}

/** Extracts `file` into `dir` (which must not hold anything yet). */
async function unzip(file: string, dir: string): Promise<void> {
  const zip = await yauzl.openPromise(file);
  for await (const entry of zip.eachEntry()) {
    const problem = yauzl.validateFileName(entry.fileName);
    if (problem !== null) throw new Error(problem);
    const target = path.join(dir, entry.fileName);
    if (entry.fileName.endsWith("/")) {
      fs.mkdirSync(target, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await pipeline(await zip.openReadStreamPromise(entry), fs.createWriteStream(target));
  }
}

/** The environment of a child process that may resolve nothing outside its own directory, and has no agent configuration. */
function isolatedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: "", NODE_PATH: "" };
  delete env.SF_AGENT_CONFIG;
  delete env.AWS_IOT_THING_NAME;
  delete env.AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT;
  delete env.SVCUID;
  return env;
}

describe("edge package: the agent as a deterministic Greengrass zip", function () {
  this.timeout(120_000);
  let tmp: string;
  let first: AgentArtifact;
  let second: AgentArtifact;
  let names: string[];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edge-package-"));
    first = await packageAgent({ outDir: path.join(tmp, "first") });
    second = await packageAgent({ outDir: path.join(tmp, "second"), arch: process.arch as "x64" | "arm64", platform: "linux" });
    names = (await zipEntries(first.file)).map((e) => e.name);
  });

  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("gives the same bytes and sha256 when packaged twice, and writes the manifest beside the zip", () => {
    assert.equal(first.sha256, second.sha256);
    assert.equal(first.bytes, second.bytes);
    const bytes = fs.readFileSync(first.file);
    assert.ok(bytes.equals(fs.readFileSync(second.file)));
    assert.equal(crypto.createHash("sha256").update(bytes).digest("hex"), first.sha256);
    assert.match(first.sha256, /^[0-9a-f]{64}$/);
    assert.equal(first.bytes, bytes.length);
    assert.equal(first.file, path.join(tmp, "first", `edge-agent-linux-${process.arch}.zip`));
    assert.ok(path.isAbsolute(first.file));
    assert.deepEqual(first, {
      file: first.file,
      sha256: first.sha256,
      bytes: first.bytes,
      arch: process.arch,
      platform: "linux",
      nodeAbi: process.versions.modules,
      entry: "edge-agent/main.js",
    });
    const manifest = JSON.parse(fs.readFileSync(path.join(tmp, "first", `edge-agent-linux-${process.arch}.json`), "utf8")) as AgentArtifact;
    assert.deepEqual(manifest, first);
    assert.deepEqual(fs.readdirSync(path.join(tmp, "first")).sort(), [`edge-agent-linux-${process.arch}.json`, `edge-agent-linux-${process.arch}.zip`]);
  });

  it("holds the bundle and the externals' trees, with sorted entries, fixed timestamps and modes, and no sources or tests", async () => {
    const entries = await zipEntries(first.file);
    assert.deepEqual(names, [...names].sort(), "entries are sorted");
    assert.equal(new Set(names).size, names.length);
    for (const e of entries) {
      assert.deepEqual([e.mtime.getFullYear(), e.mtime.getMonth(), e.mtime.getDate(), e.mtime.getHours(), e.mtime.getMinutes()], [1980, 0, 1, 0, 0], e.name);
      assert.equal(e.mode, 0o100644, e.name);
    }
    for (const expected of [
      "edge-agent/main.js",
      "edge-agent/main.js.map",
      "edge-agent/node_modules/better-sqlite3/package.json",
      "edge-agent/node_modules/better-sqlite3/lib/index.js",
      "edge-agent/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
      "edge-agent/node_modules/bindings/bindings.js",
      "edge-agent/node_modules/node-opcua/package.json",
    ]) {
      assert.ok(names.includes(expected), `missing ${expected}`);
    }
    assert.ok(names.every((n) => n.startsWith("edge-agent/")));
    assert.ok(names.some((n) => n.startsWith("edge-agent/node_modules/node-opcua-client/")), "node-opcua's dependencies are shipped");
    assert.ok(names.some((n) => /^edge-agent\/node_modules\/node-opcua-nodesets\/.*\.xml$/.test(n)), "node-opcua's data files are shipped");
    // bundled, not shipped as packages: the SDK and the pure-JS dependencies
    for (const bundled of ["mqtt", "io-ts", "fp-ts", "@smart-factory/sdk"]) {
      assert.ok(!names.some((n) => n.startsWith(`edge-agent/node_modules/${bundled}/`)), `${bundled} is bundled`);
    }
    assert.deepEqual(names.filter((n) => /\.[mc]?ts$/.test(n) || n.startsWith("edge-agent/src/")), [], "no TypeScript");
    assert.deepEqual(names.filter((n) => /\/(test|tests|__tests__)\//.test(n) || /\.(test|spec)\.[mc]?[jt]s$/.test(n)), [], "no tests");
    // native addon build inputs and intermediates stay behind
    assert.deepEqual(names.filter((n) => /better-sqlite3\/(src|deps)\/|\.(o|a|c|cpp|h|gyp)$|test_extension/.test(n)), []);
    // aws-crt (the Greengrass IPC transport): the target's prebuilt addons only, none of its sources or other builds
    const crtBinaries = names.filter((n) => n.startsWith("edge-agent/node_modules/aws-crt/") && n.endsWith(".node"));
    assert.deepEqual(crtBinaries, [`edge-agent/node_modules/aws-crt/dist/bin/linux-${process.arch}-glibc/aws-crt-nodejs.node`, `edge-agent/node_modules/aws-crt/dist/bin/linux-${process.arch}-musl/aws-crt-nodejs.node`]);
    assert.deepEqual(names.filter((n) => /^edge-agent\/node_modules\/aws-crt\/(source|lib|dist\.browser|scripts|CMakeLists)/.test(n)), []);
    assert.ok(!names.some((n) => n.startsWith("edge-agent/node_modules/aws-iot-device-sdk-v2/")), "the IPC client is bundled");
  });

  it("runs unzipped: main.js loads with its externals and exits 2 without configuration; better-sqlite3's addon opens a database", async () => {
    const dir = path.join(tmp, "unzipped");
    await unzip(first.file, dir);
    const run = spawnSync(process.execPath, ["edge-agent/main.js"], { cwd: dir, env: isolatedEnv(), encoding: "utf8", timeout: 60_000 });
    assert.equal(run.status, 2, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    const logs = run.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level?: string; message?: string; fatal?: boolean });
    const fatal = logs.find((l) => l.fatal === true);
    assert.ok(fatal !== undefined, `no fatal log in ${run.stdout}`);
    assert.equal(fatal.level, "error");
    assert.match(fatal.message ?? "", /^no configuration: pass --config <file>/);

    // the agent opens its store only once configured: load the addon from the unzipped tree directly
    const probe = [
      "const path = require('node:path');",
      "const resolved = require.resolve('better-sqlite3');",
      "if (!resolved.startsWith(path.resolve('node_modules') + path.sep)) throw new Error('resolved outside the zip: ' + resolved);",
      "const Database = require('better-sqlite3');",
      "const db = new Database(':memory:');",
      "db.exec('create table t (x integer)');",
      "db.prepare('insert into t values (?)').run(41);",
      "const row = db.prepare('select x + 1 as y, sqlite_version() as v from t').get();",
      "db.close();",
      "require('node-opcua');",
      "const crt = require('aws-crt');",
      "if (typeof crt.io.SocketOptions !== 'function') throw new Error('aws-crt did not load its addon');",
      "process.stdout.write('\\nRESULT ' + JSON.stringify({ row, opcua: require.resolve('node-opcua') }) + '\\n');",
    ].join("\n");
    const check = spawnSync(process.execPath, ["-e", probe], { cwd: path.join(dir, "edge-agent"), env: isolatedEnv(), encoding: "utf8", timeout: 60_000 });
    assert.equal(check.status, 0, check.stderr);
    const line = check.stdout.split("\n").find((l) => l.startsWith("RESULT "));
    assert.ok(line !== undefined, check.stdout);
    const result = JSON.parse(line.slice("RESULT ".length)) as { row: { y: number; v: string }; opcua: string };
    assert.equal(result.row.y, 42);
    assert.match(result.row.v, /^3\.\d+\.\d+$/);
    assert.ok(result.opcua.startsWith(path.join(dir, "edge-agent", "node_modules", "node-opcua") + path.sep), result.opcua);
  });

  it("runs as npm run edge:package, printing the manifest (same sha256 from another process)", () => {
    const out = path.join(tmp, "cli");
    const run = spawnSync(process.execPath, ["--conditions=@smart-factory/source", "--import", "tsx", path.join(REPO_ROOT, "edge", "package.ts"), "--out", out], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: "" },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const printed = JSON.parse(run.stdout) as AgentArtifact;
    assert.equal(printed.sha256, first.sha256);
    assert.equal(printed.file, path.join(out, `edge-agent-linux-${process.arch}.zip`));
  });

  it("refuses a foreign architecture, naming the native addons and where to build it", async () => {
    const foreign = process.arch === "arm64" ? "x64" : "arm64";
    const out = path.join(tmp, "foreign");
    await assert.rejects(
      packageAgent({ outDir: out, arch: foreign }),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal(
          error.message,
          `the artifact for linux/${foreign} must be built on a linux/${foreign} machine (native addons: better-sqlite3): run \`npm run edge:package\` there`,
        );
        return true;
      },
    );
    assert.ok(!fs.existsSync(out), "nothing is written");
    const cli = spawnSync(process.execPath, ["--conditions=@smart-factory/source", "--import", "tsx", path.join(REPO_ROOT, "edge", "package.ts"), "--arch", "sparc"], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: "" },
      encoding: "utf8",
    });
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /unsupported architecture "sparc": use one of x64, arm64/);
  });
});
