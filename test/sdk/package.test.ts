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

/** Fake AWS clients for the consumers: answers shaped like the API reference, chosen by command name. */
const FAKES = String.raw`
const T = Date.UTC(2026, 10, 23, 7, 0, 0);
const s = (v: string) => ({ ScalarValue: v });
const col = (Name: string, ScalarType: string) => ({ Name, Type: { ScalarType } });
const status = { ProgressPercentage: 100, CumulativeBytesScanned: 4096, CumulativeBytesMetered: 10485760 };
const ratios: Record<string, number> = { "p-availability": 0.8, "p-performance": 0.9, "p-quality": 1, "p-oee": 0.72 };
interface Command { constructor: { name: string }; input: any }
const fakeSitewise = {
  async send(command: Command) {
    const input = command.input;
    switch (command.constructor.name) {
      case "ListAssetModelsCommand":
        return { assetModelSummaries: [{ id: "m-1", arn: "arn:aws:iotsitewise:eu-central-1:123456789012:asset-model/m-1", name: "factory-a-machine-servo-press", description: "", creationDate: new Date(0), lastUpdateDate: new Date(0), status: { state: "ACTIVE" } }] };
      case "BatchGetAssetPropertyValueCommand":
        return { successEntries: input.entries.map((e: any) => ({ entryId: e.entryId, assetPropertyValue: { value: { doubleValue: ratios[e.propertyId] }, timestamp: { timeInSeconds: T / 1000, offsetInNanos: 0 }, quality: "GOOD" } })), errorEntries: [], skippedEntries: [] };
      default:
        throw new Error("unexpected SiteWise command " + command.constructor.name);
    }
  },
};
const fakeTimestream = {
  async send(command: Command) {
    const sql: string = command.input.QueryString;
    if (sql.startsWith("DESCRIBE")) {
      const columns = [["factory", "varchar", "DIMENSION"], ["line", "varchar", "DIMENSION"], ["machine_type", "varchar", "DIMENSION"], ["machine", "varchar", "DIMENSION"], ["measure_name", "varchar", "MEASURE_NAME"], ["time", "timestamp", "TIMESTAMP"], ["spindleTemperature", "double", "MULTI"], ["spindleTemperature_quality", "varchar", "MULTI"]];
      return { QueryId: "q-describe", ColumnInfo: [col("Column", "VARCHAR"), col("Type", "VARCHAR"), col("Timestream attribute type", "VARCHAR")], Rows: columns.map((c) => ({ Data: c.map(s) })), QueryStatus: status };
    }
    return {
      QueryId: "q-latest",
      ColumnInfo: [col("machine", "VARCHAR"), col("spindleTemperature_time", "TIMESTAMP"), col("spindleTemperature_value", "DOUBLE"), col("spindleTemperature_quality", "VARCHAR")],
      Rows: [{ Data: [s("press-01"), s("2026-11-23 06:59:58.000000000"), s("41.5"), { NullValue: true }] }],
      QueryStatus: status,
    };
  },
};
`;

/** Every query family against the fakes; the same body runs as compiled TypeScript (CommonJS) and as an ES module. */
const USE_QUERIES = String.raw`
async function main() {
  const client = createFactoryClient({ factoryId: "factory-a", sitewise: fakeSitewise as unknown as IoTSiteWiseClient, timestream: fakeTimestream as unknown as TimestreamQueryClient });
  const press: MachineRef = { level: "machine", assetId: "a-1", name: "factory-a/press-line-1/press-01", modelId: "m-1", modelKey: "machine-servo-press", lineId: "press-line-1", machineId: "press-01", properties: { availability: "p-availability", performance: "p-performance", quality: "p-quality", oee: "p-oee" } };
  const models = await client.assets.models();
  const [current] = await client.oee.current([press]);
  const latest = await client.telemetry.latest({ machineIds: ["press-01"], tags: ["spindleTemperature"] });
  let rejected = "";
  try { await client.telemetry.latest({ machineIds: ["press-01' OR '1'='1"], tags: ["spindleTemperature"] }); } catch (e) { if (e instanceof QueryValidationError) rejected = e.field; }
  console.log(JSON.stringify({
    models: models.map((m) => m.name),
    oee: current ? current.ratios.oee : null,
    latest: latest.data.map((v) => [v.machineId, v.tag, v.value, v.time.toISOString()]),
    bytesScanned: latest.bytesScanned,
    rejected,
  }));
}
void main();
`;

const QUERIES_TS = [
  'import { createFactoryClient, QueryValidationError, type MachineRef } from "@smart-factory/sdk";',
  'import type { IoTSiteWiseClient } from "@aws-sdk/client-iotsitewise";',
  'import type { TimestreamQueryClient } from "@aws-sdk/client-timestream-query";',
  FAKES,
  USE_QUERIES,
].join("\n");

/** The same consumer as an ES module: type annotations stripped by hand (the few there are). */
const QUERIES_MJS = [
  'import { createFactoryClient, QueryValidationError } from "@smart-factory/sdk";',
  FAKES.replace(/\(v: string\)/g, "(v)").replace(/\(Name: string, ScalarType: string\)/g, "(Name, ScalarType)").replace(/: Record<string, number>/g, "").replace(/interface Command \{[^\n]*\}\n/, "").replace(/\(command: Command\)/g, "(command)").replace(/: string = /g, " = ").replace(/\(e: any\)/g, "(e)"),
  USE_QUERIES.replace(/ as unknown as \w+/g, "").replace(/const press: MachineRef = /, "const press = "),
].join("\n");

const EXPECTED_QUERIES = {
  models: ["factory-a-machine-servo-press"],
  oee: 0.72,
  latest: [["press-01", "spindleTemperature", 41.5, "2026-11-23T06:59:58.000Z"]],
  bytesScanned: 4096,
  rejected: "machineIds[0]",
};

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
    // the AWS SDK's declarations need Node's types, as every Node project using it has them
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", path.join(work, info.filename), "@types/node@^20"], project);
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
    // No skipLibCheck: the published declarations (ours and the AWS SDK's) must type-check in a strict project.
    const compilerOptions = { strict: true, target: "ES2022", module: "node16", moduleResolution: "node16", types: ["node"], skipLibCheck: false, outDir: "out" };
    fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["consumer.ts", "queries.ts"] }));
    fs.writeFileSync(path.join(project, "queries.ts"), QUERIES_TS);
    run(process.execPath, [TSC, "-p", "."], project);
    const { kPa, ...output } = JSON.parse(run(process.execPath, [path.join("out", "consumer.js")], project)) as Record<string, unknown>;
    assert.ok(Math.abs((kPa as number) - 92.5 * 6.894757293168361) < 1e-9, `92.5 psi came out as ${String(kPa)} kPa`);
    assert.deepEqual(output, {
      same: true,
      topic: "$aws/rules/sf_factory_c_telemetry/sf/v1/factory-c/factory-c-gw-final/telemetry",
      rejected: "sequence",
    });
  });

  it("runs every query family (assets, OEE, telemetry) against mocked clients, compiled strict as CommonJS", () => {
    assert.ok(fs.existsSync(path.join(project, "out", "queries.js")), "compiled with the consumer above");
    assert.deepEqual(JSON.parse(run(process.execPath, [path.join("out", "queries.js")], project)), EXPECTED_QUERIES);
  });

  it("runs every query family from an ES module", () => {
    fs.writeFileSync(path.join(project, "queries.mjs"), QUERIES_MJS);
    assert.deepEqual(JSON.parse(run(process.execPath, ["queries.mjs"], project)), EXPECTED_QUERIES);
  });

  it("is importable by name from an ES module", () => {
    fs.writeFileSync(path.join(project, "consumer.mjs"), CONSUMER_MJS);
    assert.deepEqual(JSON.parse(run(process.execPath, ["consumer.mjs"], project)), { celsius: 100, readings: 0 });
  });
});
