import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FirehoseClient, PutRecordBatchCommand, ServiceUnavailableException, ResourceNotFoundException, type PutRecordBatchCommandInput } from "@aws-sdk/client-firehose";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ThrottlingException, TimestreamWriteClient, WriteRecordsCommand } from "@aws-sdk/client-timestream-write";
import {
  convert,
  LAKE_COLUMNS,
  LAKE_PARTITION_KEYS,
  type LakeRow,
  type Reading,
} from "@smart-factory/sdk";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";
import { createEnrichHandler, METRICS, type EnrichHandler, type EnrichLogger, type EnrichMetrics } from "../../lambdas/enrich/handler";
import { BUNDLED_CONFIG_FILE, createHandlerFromEnvironment, readEnvironment } from "../../lambdas/enrich/index";
import { backoffMs, MAX_BYTES_PER_PUT, MAX_RECORD_BYTES, MAX_RECORDS_PER_PUT, packRecords, putBatches, type LakeDeadLetter } from "../../lambdas/enrich/lake";
import { loadFactoryConfigFromStack, rawFactoryConfig } from "../helpers/factoryConfig";
import { realisticReadings, batch, reading, telemetryRuleEvent, READINGS_START } from "../helpers/readings";

const START = READINGS_START;
const NOW = START + 3_600_000;
const STREAM = "factory-a-lake-readings";
const DEAD_LETTERS = "factory-a-dead-letters";

const eventOf = telemetryRuleEvent;

/** Every PutRecordBatch call succeeds for every record. */
function accept(input: PutRecordBatchCommandInput): { FailedPutCount: number; Encrypted: boolean; RequestResponses: { RecordId: string }[] } {
  return { FailedPutCount: 0, Encrypted: true, RequestResponses: (input.Records ?? []).map((_, i) => ({ RecordId: `id-${i}` })) };
}

const text = (data: Uint8Array | undefined): string => Buffer.from(data ?? new Uint8Array()).toString("utf8");
const linesOf = (data: Uint8Array | undefined): LakeRow[] =>
  text(data)
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as LakeRow);

interface Harness {
  handler: EnrichHandler;
  ts: AwsClientStub<TimestreamWriteClient>;
  s3: AwsClientStub<S3Client>;
  fh: AwsClientStub<FirehoseClient>;
  sleeps: number[];
  metrics: Record<string, number>;
  errors: { message: string; attributes: Record<string, unknown>[] }[];
  puts: () => PutRecordBatchCommandInput[];
  rows: () => LakeRow[];
  deadLetters: () => { key: string; bucket: string; body: Record<string, unknown> }[];
}

function harness(stack: string, options: { maxRecordBytes?: number; maxAttempts?: number } = {}): Harness {
  const ts = mockClient(TimestreamWriteClient);
  const s3 = mockClient(S3Client);
  const fh = mockClient(FirehoseClient);
  ts.on(WriteRecordsCommand).resolves({});
  s3.on(PutObjectCommand).resolves({});
  fh.on(PutRecordBatchCommand).callsFake(accept);
  const sleeps: number[] = [];
  const metrics: Record<string, number> = {};
  const errors: Harness["errors"] = [];
  const logger: EnrichLogger = { info: () => undefined, warn: () => undefined, error: (message, ...attributes) => errors.push({ message, attributes }) };
  const sink: EnrichMetrics = {
    addMetric: (name, _unit, value) => {
      metrics[name] = (metrics[name] ?? 0) + value;
    },
    publishStoredMetrics: () => undefined,
  };
  const handler = createEnrichHandler({
    config: loadFactoryConfigFromStack(stack),
    timestream: new TimestreamWriteClient({ region: "eu-central-1" }),
    s3: new S3Client({ region: "eu-central-1" }),
    databaseName: `${stack}-telemetry`,
    tableName: "telemetry",
    deadLetterBucket: DEAD_LETTERS,
    logger,
    metrics: sink,
    now: () => NOW,
    lake: {
      firehose: new FirehoseClient({ region: "eu-central-1" }),
      deliveryStreamName: STREAM,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      random: () => 0.5,
      ...options,
    },
  });
  const puts = (): PutRecordBatchCommandInput[] => fh.commandCalls(PutRecordBatchCommand).map((c) => c.args[0].input);
  return {
    handler,
    ts,
    s3,
    fh,
    sleeps,
    metrics,
    errors,
    puts,
    rows: () => puts().flatMap((p) => (p.Records ?? []).flatMap((r) => linesOf(r.Data))),
    deadLetters: () =>
      s3.commandCalls(PutObjectCommand).map((c) => ({ key: c.args[0].input.Key ?? "", bucket: c.args[0].input.Bucket ?? "", body: JSON.parse(c.args[0].input.Body as string) as Record<string, unknown> })),
  };
}

/** 60 readings of gw-cnc: 10 machines x 6 tags, one second. */
const cncReadings = (count = 60): Reading[] => realisticReadings(count, { seed: 7, start: START });

describe("lambdas/enrich: the data lake (Firehose)", () => {
  let h: Harness | undefined;
  afterEach(() => {
    h?.ts.restore();
    h?.s3.restore();
    h?.fh.restore();
    h = undefined;
  });

  describe("what reaches the stream", () => {
    beforeEach(() => {
      h = harness("factory-c");
    });

    it("sends each accepted reading as one JSON line: SI value and unit, the inventory's factory, line, type and machine, quality, day", async () => {
      const t = START + 5_000;
      const readings = [
        reading("torque-01", "motorTemperature", 212, "degF", t),
        reading("torque-01", "airPressure", 100, "psi", t, "uncertain"),
        reading("torque-01", "finalTorque", null, "lbf.ft", t, "bad"),
        reading("torque-01", "finalTorque", 40, "lbf.ft", t + 1000),
        reading("leak-test-02", "testPressure", 999, "psi", t), // unknown tag or out of range: refused, not sent
      ];
      const result = await h!.handler(eventOf(batch("factory-c", "gw-final", readings)));
      assert.equal(result.status, "processed");

      const puts = h!.puts();
      assert.equal(puts.length, 1);
      assert.equal(puts[0]?.DeliveryStreamName, STREAM);
      for (const record of puts[0].Records ?? []) assert.ok(text(record.Data).endsWith("\n"), "every line ends with a newline");
      const base = { factory: "factory-c", line: "final-assembly", machine_type: "torque-station", machine: "torque-01", dt: "2026-11-25" };
      assert.deepEqual(h!.rows(), [
        { ...base, time: t, tag: "airPressure", value: convert(100, "psi", "Pa"), unit: "Pa", quality: "uncertain" },
        { ...base, time: t, tag: "finalTorque", value: null, unit: "N.m", quality: "bad" },
        { ...base, time: t, tag: "motorTemperature", value: 100, unit: "degC", quality: "good" },
        { ...base, time: t + 1000, tag: "finalTorque", value: convert(40, "lbf.ft", "N.m"), unit: "N.m", quality: "good" },
      ]);
      // the rows carry exactly the Glue table's columns and partition keys
      const schema = [...LAKE_COLUMNS, ...LAKE_PARTITION_KEYS].map((c) => c.name).sort();
      for (const row of h!.rows()) assert.deepEqual(Object.keys(row).sort(), schema);
      assert.deepEqual(result.lake, { readings: 4, delivered: 4, deadLettered: 0, calls: 1, retriedRecords: 0 });
      assert.equal(h!.metrics[METRICS.lakeReadingsDelivered], 4);
      assert.equal(h!.metrics[METRICS.lakeReadingsDeadLettered], 0);
      // the refused reading is dead-lettered as before, and Timestream gets the same readings
      assert.equal(result.readingsRejected, 1);
      assert.equal(h!.ts.commandCalls(WriteRecordsCommand).length, 1);
    });

    it("sends nothing for a batch refused as a whole", async () => {
      const bad = batch("factory-c", "gw-body", [reading("torque-01", "motorTemperature", 100, "degF", START)]);
      const result = await h!.handler({ ...eventOf(bad), clientId: "someone-else" });
      assert.equal(result.status, "rejected");
      assert.equal(h!.puts().length, 0);
      assert.equal(result.lake, undefined);
    });
  });

  describe("batching", () => {
    it("packs readings into records of whole lines of at most 1,000 KiB, and calls of at most 500 records and 4 MiB", () => {
      const row = (i: number): LakeRow => ({ factory: "f", line: "l", machine_type: "t", machine: `m-${i}`, time: START + i, tag: "x".repeat(200), value: i, unit: "Pa", quality: "good", dt: "2026-11-25" });
      const rows = Array.from({ length: 20_000 }, (_, i) => row(i));
      const { records, tooLarge } = packRecords(rows);
      assert.deepEqual(tooLarge, []);
      assert.ok(records.length >= 5, `${records.length} records`);
      for (const r of records) {
        assert.ok(r.data.length <= MAX_RECORD_BYTES, `${r.data.length} bytes`);
        assert.ok(text(r.data).endsWith("\n"));
        assert.deepEqual(linesOf(r.data), r.rows, "a record is exactly its rows, none split");
      }
      assert.deepEqual(records.flatMap((r) => r.rows), rows, "every row once, in order");

      const big = Array.from({ length: 10 }, (_, i) => ({ id: i, data: new Uint8Array(MAX_RECORD_BYTES) }));
      const byBytes = putBatches(big);
      assert.deepEqual(byBytes.map((b) => b.length), [4, 4, 2]);
      for (const b of byBytes) assert.ok(b.reduce((n, r) => n + r.data.length, 0) <= MAX_BYTES_PER_PUT);
      const small = Array.from({ length: 1_234 }, (_, i) => ({ id: i, data: new Uint8Array(10) }));
      const byCount = putBatches(small);
      assert.deepEqual(byCount.map((b) => b.length), [MAX_RECORDS_PER_PUT, MAX_RECORDS_PER_PUT, 234]);
      assert.deepEqual(byCount.flat().map((r) => r.id), small.map((r) => r.id));
    });

    it("a large batch goes out in several calls within the limits, every reading exactly once", async () => {
      h = harness("factory-a", { maxRecordBytes: 1024 });
      const readings = cncReadings(6_000);
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", readings)));
      const puts = h.puts();
      assert.ok(puts.length >= 2, `${puts.length} calls`);
      for (const p of puts) {
        assert.ok((p.Records ?? []).length <= MAX_RECORDS_PER_PUT);
        assert.ok((p.Records ?? []).reduce((n, r) => n + (r.Data?.length ?? 0), 0) <= MAX_BYTES_PER_PUT);
        for (const r of p.Records ?? []) assert.ok((r.Data?.length ?? 0) <= 1024);
      }
      const rows = h.rows();
      assert.equal(rows.length, result.readingsWritten);
      assert.equal(new Set(rows.map((r) => `${r.machine}/${r.tag}/${r.time}`)).size, rows.length);
      assert.equal(result.lake?.delivered, rows.length);
      assert.equal(result.lake.calls, puts.length);
    });
  });

  describe("failures", () => {
    it("sends again only the records Firehose failed, after a backoff, and nothing is dead-lettered once they are in", async () => {
      h = harness("factory-a", { maxRecordBytes: 2048 });
      let call = 0;
      h.fh.on(PutRecordBatchCommand).callsFake((input: PutRecordBatchCommandInput) => {
        call++;
        if (call > 1) return accept(input);
        const responses = (input.Records ?? []).map((_, i) => (i === 1 ? { ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down." } : { RecordId: `id-${i}` }));
        return { FailedPutCount: 1, RequestResponses: responses };
      });
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", cncReadings(120))));
      const puts = h.puts();
      assert.equal(puts.length, 2);
      assert.ok((puts[0]?.Records ?? []).length >= 3);
      assert.deepEqual(puts[1]?.Records?.map((r) => text(r.Data)), [text(puts[0]?.Records?.[1]?.Data)], "the retry holds only the failed record");
      assert.deepEqual(h.sleeps, [backoffMs(1, () => 0.5)]);
      assert.equal(result.lake?.deadLettered, 0);
      assert.equal(result.lake.retriedRecords, 1);
      assert.equal(h.deadLetters().length, 0);
      assert.equal(h.metrics[METRICS.lakeRecordsRetried], 1);
    });

    it("dead-letters under enrich/lake/ what still fails after the last attempt, with the error, and counts it", async () => {
      h = harness("factory-a", { maxRecordBytes: 2048 });
      h.fh.on(PutRecordBatchCommand).callsFake((input: PutRecordBatchCommandInput) => {
        const records = input.Records ?? [];
        const failing = (i: number): boolean => linesOf(records[i]?.Data).some((r) => r.machine === "cnc-03");
        const responses = records.map((_, i) => (failing(i) ? { ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down." } : { RecordId: `id-${i}` }));
        return { FailedPutCount: responses.filter((r) => "ErrorCode" in r).length, RequestResponses: responses };
      });
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", cncReadings(120))));
      assert.equal(result.status, "processed", "a lake failure does not fail the invocation");
      assert.equal(h.puts().length, 4, "the first attempt and three retries");
      assert.deepEqual(h.sleeps, [1, 2, 3].map((a) => backoffMs(a, () => 0.5)));
      assert.ok(h.sleeps[0]! < h.sleeps[1]! && h.sleeps[1]! < h.sleeps[2]!, "the backoff grows");

      // the records holding cnc-03's readings fail each time, and only they are sent again
      const puts = h.puts();
      const failing = (puts[0]?.Records ?? []).filter((r) => linesOf(r.Data).some((row) => row.machine === "cnc-03"));
      for (const retry of puts.slice(1)) assert.deepEqual(retry.Records?.map((r) => text(r.Data)), failing.map((r) => text(r.Data)));
      const letters = h.deadLetters().filter((d) => d.key.startsWith("enrich/lake/"));
      assert.equal(letters.length, 1);
      const letter = letters[0]!;
      assert.equal(letter.bucket, DEAD_LETTERS);
      assert.match(letter.key, /^enrich\/lake\/factory-a\/2026\/11\/25\/gw-cnc-42-[0-9a-f]{16}-lake\.json$/);
      const body = letter.body as unknown as LakeDeadLetter;
      assert.equal(body.reason, "lakeDeliveryFailed");
      assert.equal(body.deliveryStream, STREAM);
      assert.equal(body.gatewayId, "gw-cnc");
      assert.equal(body.sequence, 42);
      assert.equal(body.items.length, 1);
      assert.equal(body.items[0]?.errorCode, "ServiceUnavailableException");
      assert.equal(body.items[0].attempts, 4);
      const deadRows = body.items.flatMap((i) => i.rows);
      assert.deepEqual(deadRows, failing.flatMap((r) => linesOf(r.Data)), "the dead letter holds the undelivered rows, ready to be sent again");
      assert.ok(deadRows.some((r) => r.machine === "cnc-03"));
      assert.equal(result.lake?.deadLettered, deadRows.length);
      assert.equal(result.lake.delivered, result.lake.readings - deadRows.length);
      assert.equal(h.metrics[METRICS.lakeReadingsDeadLettered], deadRows.length);
      assert.ok(result.deadLetterKeys.includes(letter.key));
      assert.match(h.errors[0]?.message ?? "", /not delivered to the data lake/);
      // Timestream got everything
      assert.equal(result.readingsWritten, 120);
    });

    it("Timestream is still written when Firehose fails entirely, and a permanent error is not retried", async () => {
      h = harness("factory-a");
      h.fh.on(PutRecordBatchCommand).rejects(new ResourceNotFoundException({ message: "Firehose factory-a-lake-readings not found", $metadata: {} }));
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", cncReadings(120))));
      assert.equal(result.status, "processed");
      assert.equal(result.readingsWritten, 120);
      assert.equal(h.ts.commandCalls(WriteRecordsCommand).flatMap((c) => c.args[0].input.Records ?? []).length, result.recordsWritten);
      assert.equal(h.puts().length, 1, "not retried");
      const letter = h.deadLetters().find((d) => d.key.startsWith("enrich/lake/"))?.body as unknown as LakeDeadLetter | undefined;
      assert.equal(letter?.items[0]?.errorCode, "ResourceNotFoundException");
      assert.equal(letter.items.flatMap((i) => i.rows).length, 120);
    });

    it("a whole call failing with a transient error is retried like failed records", async () => {
      h = harness("factory-a");
      h.fh.on(PutRecordBatchCommand).rejectsOnce(new ServiceUnavailableException({ message: "busy", $metadata: {} })).callsFake(accept);
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", cncReadings(60))));
      assert.equal(h.puts().length, 2);
      assert.deepEqual(h.puts()[1]?.Records, h.puts()[0]?.Records);
      assert.equal(result.lake?.delivered, 60);
      assert.equal(h.deadLetters().length, 0);
    });

    it("the lake still gets the readings when Timestream fails (the invocation fails for Timestream's sake)", async () => {
      h = harness("factory-a");
      h.ts.on(WriteRecordsCommand).rejects(new ThrottlingException({ $metadata: {}, message: "slow down", Message: "slow down" }));
      await assert.rejects(h.handler(eventOf(batch("factory-a", "gw-cnc", cncReadings(60)))), /WriteRecords failed/);
      assert.equal(h.rows().length, 60);
      assert.equal(h.deadLetters().filter((d) => d.key.startsWith("enrich/lake/")).length, 0);
    });

    it("fails the invocation when the lake's dead letter cannot be written, so that the event is retried", async () => {
      h = harness("factory-a", { maxAttempts: 1 });
      h.fh.on(PutRecordBatchCommand).rejects(new ServiceUnavailableException({ message: "busy", $metadata: {} }));
      h.s3.on(PutObjectCommand).rejects(new Error("S3 is down"));
      await assert.rejects(h.handler(eventOf(batch("factory-a", "gw-cnc", cncReadings(60)))), /S3 is down/);
      assert.ok(h.ts.commandCalls(WriteRecordsCommand).length > 0, "Timestream was written before");
    });
  });

  describe("an unexpected error on the lake path", () => {
    it("still lets Timestream be written, then fails the invocation so that the event is retried", async () => {
      h = harness("factory-a");
      h.fh.on(PutRecordBatchCommand).rejects(new ServiceUnavailableException({ message: "busy", $metadata: {} }));
      const handler = createEnrichHandler({
        config: loadFactoryConfigFromStack("factory-a"),
        timestream: new TimestreamWriteClient({ region: "eu-central-1" }),
        s3: new S3Client({ region: "eu-central-1" }),
        databaseName: "factory-a-telemetry",
        tableName: "telemetry",
        deadLetterBucket: DEAD_LETTERS,
        logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
        metrics: { addMetric: () => undefined, publishStoredMetrics: () => undefined },
        now: () => NOW,
        lake: { firehose: new FirehoseClient({ region: "eu-central-1" }), deliveryStreamName: STREAM, sleep: () => Promise.reject(new Error("timer broke")) },
      });
      const readings = cncReadings(60);
      await assert.rejects(handler(eventOf(batch("factory-a", "gw-cnc", readings))), /data lake failed: Error: timer broke; Timestream was written/);
      const records = new Set(readings.map((r) => `${r.machineId}@${r.timestamp}`)).size;
      assert.equal(h.ts.commandCalls(WriteRecordsCommand).flatMap((c) => c.args[0].input.Records ?? []).length, records, "one record per machine and timestamp, all written");
    });
  });

  describe("from the environment", () => {
    const saved: Record<string, string | undefined> = {};
    const vars = ["AWS_REGION", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_DISABLED"];
    let dir = "";
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "enrich-lake-"));
      for (const v of vars) saved[v] = process.env[v];
      Object.assign(process.env, { AWS_REGION: "eu-central-1", POWERTOOLS_LOG_LEVEL: "SILENT", POWERTOOLS_METRICS_DISABLED: "true" });
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      for (const v of vars) {
        if (saved[v] === undefined) Reflect.deleteProperty(process.env, v);
        else process.env[v] = saved[v];
      }
    });
    const env = {
      TIMESTREAM_DATABASE: "factory-a-telemetry",
      TIMESTREAM_TABLE: "telemetry",
      DEAD_LETTER_BUCKET: DEAD_LETTERS,
      POWERTOOLS_SERVICE_NAME: "enrich",
      POWERTOOLS_METRICS_NAMESPACE: "SmartFactory",
    };

    it("LAKE_DELIVERY_STREAM switches the lake on; without it nothing goes to Firehose", async () => {
      assert.equal(readEnvironment({ ...env, LAKE_DELIVERY_STREAM: ` ${STREAM} ` }).lakeDeliveryStream, STREAM);
      assert.equal("lakeDeliveryStream" in readEnvironment(env), false);
      assert.equal("lakeDeliveryStream" in readEnvironment({ ...env, LAKE_DELIVERY_STREAM: "" }), false);

      const raw = rawFactoryConfig("factory-a");
      fs.writeFileSync(path.join(dir, BUNDLED_CONFIG_FILE), JSON.stringify(raw));
      h = { ts: mockClient(TimestreamWriteClient), s3: mockClient(S3Client), fh: mockClient(FirehoseClient) } as Harness;
      h.ts.on(WriteRecordsCommand).resolves({});
      h.s3.on(PutObjectCommand).resolves({});
      h.fh.on(PutRecordBatchCommand).callsFake(accept);
      const event = eventOf(batch("factory-a", "gw-cnc", cncReadings(60).map((r) => ({ ...r, timestamp: Date.now() - 60_000 }))));

      const without = await createHandlerFromEnvironment(dir, env)(event);
      assert.equal(without.lake, undefined);
      assert.equal(h.fh.commandCalls(PutRecordBatchCommand).length, 0);

      const withLake = await createHandlerFromEnvironment(dir, { ...env, LAKE_DELIVERY_STREAM: STREAM })(event);
      assert.equal(withLake.lake?.delivered, withLake.readingsWritten);
      const calls = h.fh.commandCalls(PutRecordBatchCommand);
      assert.equal(calls.length, 1);
      assert.equal(calls[0]?.args[0].input.DeliveryStreamName, STREAM);
    });
  });
});
