/**
 * The SDK as another team gets it: `npm pack`, install the tarball into a fresh project, type-check and run a
 * consumer that imports the codecs, from CommonJS and from an ES module.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../helpers/stacks";

const SDK_DIR = path.join(REPO_ROOT, "sdk");
const TSC = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_fund: "false", npm_config_audit: "false", npm_config_update_notifier: "false" } });
}

const CONSUMER_TS = `
import {
  decode, decodeTelemetryBatch, encodeTelemetryBatch, convert, telemetryTopic,
  ContractError, TelemetryBatch, type Reading, type FactoryId, type GatewayId,
} from "@smart-factory/sdk";

const reading: Reading = decode(TelemetryBatch, {
  schemaVersion: 1, factoryId: "factory-c", gatewayId: "gw-final", sequence: 7, sentAt: 1764072000000,
  readings: [{ machineId: "torque-01", tag: "airPressure", timestamp: 1764071999000, clock: "source", value: 92.5, unit: "psi", quality: "good" }],
}).readings[0]!;
const batch = { schemaVersion: 1 as const, factoryId: "factory-c" as FactoryId, gatewayId: "gw-final" as GatewayId, sequence: 8, sentAt: 1764072000500, readings: [reading] };
const roundTrip = decodeTelemetryBatch(encodeTelemetryBatch(batch));
let rejected = "";
try { decode(TelemetryBatch, { ...batch, sequence: -1 }, "telemetry batch"); } catch (e) { if (e instanceof ContractError) rejected = e.issues[0]!.path; }
console.log(JSON.stringify({
  same: JSON.stringify(roundTrip) === JSON.stringify(batch),
  kPa: convert(reading.value ?? 0, reading.unit, "kPa"),
  topic: telemetryTopic(batch.factoryId, batch.gatewayId),
  rejected,
}));
`;

const CONSUMER_MJS = `
import { convert, TelemetryBatch, decode } from "@smart-factory/sdk";
const ok = decode(TelemetryBatch, { schemaVersion: 1, factoryId: "factory-a", gatewayId: "gw-cnc", sequence: 0, sentAt: 1764072000000, readings: [] });
console.log(JSON.stringify({ celsius: convert(212, "degF", "degC"), readings: ok.readings.length }));
`;

describe("the SDK package, as another team installs it", function () {
  this.timeout(240_000);
  let work: string;
  let files: string[];
  let project: string;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "sdk-pack-"));
    const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], SDK_DIR)) as { filename: string; files: { path: string }[] }[];
    const info = packed[0];
    assert.ok(info, "npm pack reported no tarball");
    files = info.files.map((f) => f.path);
    project = path.join(work, "consumer");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", path.join(work, info.filename)], project);
  });

  after(() => { fs.rmSync(work, { recursive: true, force: true }); });

  it("ships compiled JavaScript and declarations, and no sources or tests", () => {
    assert.ok(files.includes("dist/index.js"));
    assert.ok(files.includes("dist/index.d.ts"));
    assert.ok(files.includes("package.json"));
    assert.deepEqual(files.filter((f) => /(^|\/)(src|test)\//.test(f) || /\.test\.|\.spec\./.test(f)), []);
  });

  it("type-checks and runs a TypeScript consumer (CommonJS)", () => {
    fs.writeFileSync(path.join(project, "consumer.ts"), CONSUMER_TS);
    // No @types/node and no skipLibCheck: the published declarations must stand on their own.
    const compilerOptions = { strict: true, target: "ES2022", module: "node16", moduleResolution: "node16", types: [], skipLibCheck: false, outDir: "out" };
    fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["consumer.ts"] }));
    run(process.execPath, [TSC, "-p", "."], project);
    const { kPa, ...output } = JSON.parse(run(process.execPath, [path.join("out", "consumer.js")], project)) as Record<string, unknown>;
    assert.ok(Math.abs((kPa as number) - 92.5 * 6.894757293168361) < 1e-9, `92.5 psi came out as ${String(kPa)} kPa`);
    assert.deepEqual(output, {
      same: true,
      topic: "$aws/rules/sf_factory_c_telemetry/sf/v1/factory-c/factory-c-gw-final/telemetry",
      rejected: "sequence",
    });
  });

  it("is importable by name from an ES module", () => {
    fs.writeFileSync(path.join(project, "consumer.mjs"), CONSUMER_MJS);
    assert.deepEqual(JSON.parse(run(process.execPath, ["consumer.mjs"], project)), { celsius: 100, readings: 0 });
  });
});
