import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { PutObjectCommand, S3Client, type PutObjectCommandInput } from "@aws-sdk/client-s3";
import { QueryCommand, TimestreamQueryClient, ValidationException, type ColumnInfo, type QueryCommandInput, type Row } from "@aws-sdk/client-timestream-query";
import { lakeFeatureColumns, lakeFeaturesKey, type LakeFeatureRow } from "@smart-factory/sdk";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";
import { createExportHandler, ExportInputError, hourOf, hourQuery, METRICS, type ExportHandler } from "../../lambdas/features-export/handler";
import { BUNDLED_CONFIG_FILE, createHandlerFromEnvironment, readEnvironment } from "../../lambdas/features-export/index";
import { loadFactoryConfigFromStack, rawFactoryConfig } from "../helpers/factoryConfig";

const HOUR = Date.UTC(2026, 10, 25, 8, 0, 0);
const NOW = Date.UTC(2026, 10, 25, 9, 40, 3);
const SCHEDULED = { action: "export", scheduledTime: "2026-11-25T09:40:00Z" };
const config = loadFactoryConfigFromStack("factory-a");
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };

const scalar = (Name: string, ScalarType: string): ColumnInfo => ({ Name, Type: { ScalarType: ScalarType as "VARCHAR" } });
/** The features table's columns as Timestream returns them for `SELECT *` (dimensions, measure name, time, measures). */
const COLUMNS: ColumnInfo[] = [
  scalar("factory", "VARCHAR"),
  scalar("line", "VARCHAR"),
  scalar("machine_type", "VARCHAR"),
  scalar("machine", "VARCHAR"),
  scalar("measure_name", "VARCHAR"),
  scalar("time", "TIMESTAMP"),
  scalar("motorTemperature_avg", "DOUBLE"),
  scalar("motorTemperature_stddev", "DOUBLE"),
  scalar("vibration_max", "DOUBLE"),
  scalar("samples", "BIGINT"),
  // a feature of a tag the config no longer has: not a column of the lake's table
  scalar("oldTag_avg", "DOUBLE"),
];

/** A row of the features table; `null` values are Timestream's NullValue. */
function row(line: string, type: string, machine: string, values: { motorAvg?: number | null; motorStd?: number | null; vibMax?: number | null; samples: number }): Row {
  const v = (x: number | null | undefined) => (x === null || x === undefined ? { NullValue: true } : { ScalarValue: String(x) });
  return {
    Data: [
      { ScalarValue: "factory-a" },
      { ScalarValue: line },
      { ScalarValue: type },
      { ScalarValue: machine },
      { ScalarValue: "features" },
      { ScalarValue: "2026-11-25 08:00:00.000000000" },
      v(values.motorAvg),
      v(values.motorStd),
      v(values.vibMax),
      { ScalarValue: String(values.samples) },
      { ScalarValue: "1.5" },
    ],
  };
}

interface Harness {
  handler: ExportHandler;
  ts: AwsClientStub<TimestreamQueryClient>;
  s3: AwsClientStub<S3Client>;
  warnings: { message: string; attributes: Record<string, unknown>[] }[];
  metrics: Record<string, number>;
  puts: () => PutObjectCommandInput[];
  rowsOf: (key: string) => LakeFeatureRow[];
}

function harness(): Harness {
  const ts = mockClient(TimestreamQueryClient);
  const s3 = mockClient(S3Client);
  s3.on(PutObjectCommand).resolves({});
  const warnings: Harness["warnings"] = [];
  const metrics: Record<string, number> = {};
  const handler = createExportHandler({
    config,
    timestream: new TimestreamQueryClient({ region: "eu-central-1", credentials }),
    s3: new S3Client({ region: "eu-central-1", credentials }),
    database: "factory-a-telemetry",
    table: "machine_features",
    bucket: "factory-a-lake-123456789012-eu-central-1",
    logger: { info: () => undefined, warn: (message, ...attributes) => warnings.push({ message, attributes }) },
    metrics: { addMetric: (name, _unit, value) => (metrics[name] = (metrics[name] ?? 0) + value), publishStoredMetrics: () => undefined },
    now: () => NOW,
  });
  const puts = (): PutObjectCommandInput[] => s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
  const rowsOf = (key: string): LakeFeatureRow[] => {
    const put = puts().find((p) => p.Key === key);
    assert.ok(put, `an object ${key}`);
    return gunzipSync(put.Body as Buffer)
      .toString("utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as LakeFeatureRow);
  };
  return { handler, ts, s3, warnings, metrics, puts, rowsOf };
}

describe("lambdas/features-export: the hourly machine features into the data lake", () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });
  afterEach(() => {
    h.ts.restore();
    h.s3.restore();
  });

  it("exports the hour before the scheduled hour, one gzip'd JSON-lines object per line, in the columns of the lake's table", async () => {
    h.ts.on(QueryCommand).resolves({
      QueryId: "q-1",
      ColumnInfo: COLUMNS,
      Rows: [
        row("press-line-1", "servo-press", "press-01", { motorAvg: 41.25, motorStd: 0.5, vibMax: 0.0042, samples: 3600 }),
        row("press-line-1", "servo-press", "press-02", { motorAvg: 40, motorStd: null, vibMax: null, samples: 1 }),
        row("machining-line-1", "cnc-mill", "cnc-01", { samples: 3598 }),
      ],
    });
    const result = await h.handler(SCHEDULED);

    assert.equal(result.hour, "2026-11-25T08:00:00.000Z");
    assert.equal(result.rows, 3);
    const sql = (h.ts.commandCalls(QueryCommand)[0]?.args[0].input as QueryCommandInput).QueryString;
    assert.equal(sql, hourQuery("factory-a-telemetry", "machine_features", HOUR));
    assert.match(sql, new RegExp(`FROM "factory-a-telemetry"\\."machine_features" WHERE time >= from_milliseconds\\(${HOUR}\\) AND time < from_milliseconds\\(${HOUR + 3_600_000}\\)`));

    const pressKey = lakeFeaturesKey("factory-a", "press-line-1", HOUR);
    const millKey = lakeFeaturesKey("factory-a", "machining-line-1", HOUR);
    assert.equal(pressKey, "features/factory=factory-a/line=press-line-1/dt=2026-11-25/2026-11-25T08.json.gz");
    assert.deepEqual([...result.objects].sort(), [millKey, pressKey].sort());
    for (const put of h.puts()) {
      assert.equal(put.Bucket, "factory-a-lake-123456789012-eu-central-1");
      assert.equal(put.ContentType, "application/gzip");
    }

    const columns = lakeFeatureColumns(config).map((c) => c.name);
    const [p1, p2] = h.rowsOf(pressKey);
    assert.ok(p1 && p2);
    // every column of the table, in its order; features the config does not have are left out
    assert.deepEqual(Object.keys(p1), columns);
    assert.equal(p1.machine, "press-01");
    assert.equal(p1.machine_type, "servo-press");
    assert.equal(p1.hour, "2026-11-25 08:00:00.000");
    assert.equal(p1.samples, 3600);
    assert.equal(p1.motorTemperature_avg, 41.25);
    assert.equal(p1.vibration_max, 0.0042);
    // a column Timestream does not have yet and a null value are both null, never 0
    assert.equal(p1.spindleTemperature_avg, null);
    assert.equal(p2.motorTemperature_stddev, null);
    assert.equal(p2.vibration_max, null);
    assert.ok(!("oldTag_avg" in p1));
    assert.deepEqual(h.rowsOf(millKey).map((r) => [r.machine, r.samples]), [["cnc-01", 3598]]);
    assert.equal(h.metrics[METRICS.rows], 3);
    assert.equal(h.metrics[METRICS.objects], 2);
  });

  it("reads every page Timestream returns", async () => {
    h.ts
      .on(QueryCommand, { NextToken: undefined })
      .resolves({ QueryId: "q-2", NextToken: "page-2", ColumnInfo: COLUMNS, Rows: [row("press-line-1", "servo-press", "press-01", { samples: 10 })] })
      .on(QueryCommand, { NextToken: "page-2" })
      .resolves({ QueryId: "q-2", ColumnInfo: COLUMNS, Rows: [row("press-line-1", "servo-press", "press-02", { samples: 20 })] });
    const result = await h.handler(SCHEDULED);
    assert.equal(h.ts.commandCalls(QueryCommand).length, 2);
    assert.equal(result.rows, 2);
    assert.deepEqual(h.rowsOf(lakeFeaturesKey("factory-a", "press-line-1", HOUR)).map((r) => r.machine), ["press-01", "press-02"]);
  });

  it("exporting an hour again writes the same keys and bytes: a retry or redrive replaces, never duplicates", async () => {
    h.ts.on(QueryCommand).resolves({ QueryId: "q-3", ColumnInfo: COLUMNS, Rows: [row("press-line-1", "servo-press", "press-01", { motorAvg: 40, samples: 5 })] });
    await h.handler(SCHEDULED);
    await h.handler({ action: "export", hour: "2026-11-25T08:00:00Z" });
    const [first, second] = h.puts();
    assert.ok(first && second);
    assert.equal(first.Key, second.Key);
    assert.deepEqual(first.Body, second.Body);
  });

  it("skips, counts and logs a row of a machine the inventory does not have, and writes the rest", async () => {
    h.ts.on(QueryCommand).resolves({
      QueryId: "q-4",
      ColumnInfo: COLUMNS,
      Rows: [row("press-line-1", "servo-press", "press-99", { samples: 5 }), row("press-line-1", "servo-press", "press-01", { samples: 6 })],
    });
    const result = await h.handler(SCHEDULED);
    assert.equal(result.rows, 1);
    assert.equal(result.skipped, 1);
    assert.equal(h.metrics[METRICS.rowsSkipped], 1);
    assert.ok(h.warnings.some((w) => /not in the factory's inventory/.test(w.message) && w.attributes[0]?.machine === "press-99"));
  });

  it("an hour without features writes nothing and says so", async () => {
    h.ts.on(QueryCommand).resolves({ QueryId: "q-5", ColumnInfo: COLUMNS, Rows: [] });
    const result = await h.handler(SCHEDULED);
    assert.deepEqual(result, { hour: "2026-11-25T08:00:00.000Z", rows: 0, objects: [], skipped: 0 });
    assert.equal(h.puts().length, 0);
    assert.ok(h.warnings.some((w) => /no features for the hour/.test(w.message) && w.attributes[0]?.hour === "2026-11-25T08:00:00.000Z"));
    assert.equal(h.metrics[METRICS.rows], 0);
  });

  it("fails the invocation when Timestream or S3 fails, so Lambda retries it and then keeps it in the DLQ", async () => {
    h.ts.on(QueryCommand).rejects(new ValidationException({ message: "The table machine_features does not exist.", $metadata: {} }));
    await assert.rejects(h.handler(SCHEDULED), /machine_features does not exist/);
    h.ts.reset();
    h.ts.on(QueryCommand).resolves({ QueryId: "q-6", ColumnInfo: COLUMNS, Rows: [row("press-line-1", "servo-press", "press-01", { samples: 6 })] });
    h.s3.on(PutObjectCommand).rejects(new Error("Access Denied"));
    await assert.rejects(h.handler(SCHEDULED), /Access Denied/);
  });

  describe("its input", () => {
    const cases: [string, unknown, RegExp][] = [
      ["not an object", "export", /input event: expected an object, got "export"/],
      ["another action", { action: "sweep", scheduledTime: "2026-11-25T09:40:00Z" }, /input action: expected "export", got "sweep"/],
      ["no time", { action: "export" }, /input hour: expected "hour" or "scheduledTime", got nothing/],
      ["a time that is no time", { action: "export", scheduledTime: "yesterday" }, /input scheduledTime: expected an ISO 8601 time.*got "yesterday"/],
      ["an hour that does not start on the hour", { action: "export", hour: "2026-11-25T08:30:00Z" }, /input hour: expected the start of an hour.*got "2026-11-25T08:30:00Z"/],
      ["an hour not over yet", { action: "export", hour: "2026-11-25T09:00:00Z" }, /input hour: the hour is not over yet, got "2026-11-25T09:00:00Z"/],
    ];
    for (const [title, event, message] of cases) {
      it(`refuses ${title}, naming the field and the value, before querying anything`, async () => {
        await assert.rejects(h.handler(event), (e: Error) => e instanceof ExportInputError && message.test(e.message));
        assert.equal(h.ts.commandCalls(QueryCommand).length, 0);
      });
    }

    it("a backfill names the hour; Scheduler's input names the run, and the hour before it is exported", () => {
      assert.equal(hourOf({ action: "export", hour: "2026-11-24T23:00:00Z" }, NOW), Date.UTC(2026, 10, 24, 23));
      assert.equal(hourOf({ action: "export", scheduledTime: "2026-11-25T00:40:00Z" }, NOW), Date.UTC(2026, 10, 24, 23));
      // a late delivery (Scheduler retries for hours) still exports the scheduled run's hour
      assert.equal(hourOf(SCHEDULED, NOW + 5 * 3_600_000), HOUR);
    });
  });

  describe("its deployment", () => {
    it("reads its environment and names every missing variable", () => {
      assert.throws(() => readEnvironment({ FEATURES_DATABASE: "db" }), /FEATURES_TABLE \(missing or empty\), LAKE_BUCKET \(missing or empty\), POWERTOOLS_SERVICE_NAME/);
      assert.deepEqual(
        readEnvironment({ FEATURES_DATABASE: "db", FEATURES_TABLE: "t", LAKE_BUCKET: "b", POWERTOOLS_SERVICE_NAME: "features-export", POWERTOOLS_METRICS_NAMESPACE: "SmartFactory/factory-a" }),
        { database: "db", table: "t", bucket: "b", serviceName: "features-export", metricsNamespace: "SmartFactory/factory-a" },
      );
    });

    it("builds from the bundled factory.json, and a bad one stops it naming the field", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "features-export-"));
      try {
        const env = { FEATURES_DATABASE: "db", FEATURES_TABLE: "t", LAKE_BUCKET: "b", POWERTOOLS_SERVICE_NAME: "features-export", POWERTOOLS_METRICS_NAMESPACE: "SmartFactory/factory-a", AWS_REGION: "eu-central-1" };
        const stackConfig = rawFactoryConfig("factory-a");
        fs.writeFileSync(path.join(dir, BUNDLED_CONFIG_FILE), JSON.stringify(stackConfig));
        assert.equal(typeof createHandlerFromEnvironment(dir, env), "function");
        fs.writeFileSync(path.join(dir, BUNDLED_CONFIG_FILE), JSON.stringify({ ...stackConfig, region: 42 }));
        assert.throws(() => createHandlerFromEnvironment(dir, env), /region/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
