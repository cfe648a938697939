import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  RejectedRecordsException,
  ThrottlingException,
  TimestreamWriteClient,
  WriteRecordsCommand,
  type _Record,
  type WriteRecordsCommandInput,
} from "@aws-sdk/client-timestream-write";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import {
  agentClientId,
  tagSetOf,
  decode,
  FactoryConfig,
  type Reading,
  type TelemetryBatch,
  telemetryTopic,
  thingName,
} from "@smart-factory/sdk";
import { mockClient } from "aws-sdk-client-mock";
import { type DeadLetter, Enricher, MAX_RECORDS_PER_WRITE, recordVersion } from "../../lambdas/enrich/enrich";
import { createEnrichHandler, type EnrichHandler, type EnrichLogger, type EnrichMetrics } from "../../lambdas/enrich/handler";
import { BUNDLED_CONFIG_FILE, createHandlerFromEnvironment, loadBundledConfig, readEnvironment } from "../../lambdas/enrich/index";
import { random, realisticReadings, batch, reading, telemetryRuleEvent, READINGS_START } from "../helpers/readings";
import { rawFactoryConfig } from "../helpers/factoryConfig";

// ---------------------------------------------------------------------------------------------- fixtures

const START = READINGS_START;
const NOW = START + 3_600_000;
const DAY = 86_400_000;

/** The stack file's sections as the FactoryConfig codec takes them (what factory.json holds). */

const configs = new Map<string, FactoryConfig>();
function factoryConfig(stack: string): FactoryConfig {
  let config = configs.get(stack);
  if (config === undefined) configs.set(stack, (config = decode(FactoryConfig, rawFactoryConfig(stack), `stack ${stack}`)));
  return config;
}

const eventOf = telemetryRuleEvent;

/** 250 readings of gw-cnc, each its own (machine, timestamp): 10 machines x 25 seconds from `start`, spindle temperature. */
function distinctReadings(count = 250, start = START): Reading[] {
  return Array.from({ length: count }, (_, i) =>
    reading(`cnc-${String((i % 10) + 1).padStart(2, "0")}`, "spindleTemperature", 40 + Math.floor(i / 10) / 4, "degC", start + Math.floor(i / 10) * 1000),
  );
}

// ---------------------------------------------------------------------------------------------- harness

interface LogEntry {
  level: string;
  message: string;
  attributes: Record<string, unknown>[];
}

function harness(stack = "factory-a") {
  const ts = mockClient(TimestreamWriteClient);
  const s3 = mockClient(S3Client);
  ts.on(WriteRecordsCommand).resolves({});
  s3.on(PutObjectCommand).resolves({});
  const logs: LogEntry[] = [];
  const log =
    (level: string) =>
    (message: string, ...attributes: Record<string, unknown>[]): void => {
      logs.push({ level, message, attributes });
    };
  const logger: EnrichLogger = { info: log("info"), warn: log("warn"), error: log("error") };
  const stored: Record<string, number> = {};
  const published: Record<string, number>[] = [];
  const metrics: EnrichMetrics = {
    addMetric: (name, _unit, value) => {
      stored[name] = (stored[name] ?? 0) + value;
    },
    publishStoredMetrics: () => {
      published.push({ ...stored });
      for (const k of Object.keys(stored)) Reflect.deleteProperty(stored, k);
    },
  };
  const handler: EnrichHandler = createEnrichHandler({
    config: factoryConfig(stack),
    timestream: new TimestreamWriteClient({ region: "eu-central-1" }),
    s3: new S3Client({ region: "eu-central-1" }),
    databaseName: "factory-a-telemetry",
    tableName: "telemetry",
    deadLetterBucket: "factory-a-dead-letters",
    logger,
    metrics,
    now: () => NOW,
  });
  return {
    handler,
    ts,
    s3,
    logs,
    published,
    writes: (): WriteRecordsCommandInput[] => ts.commandCalls(WriteRecordsCommand).map((c) => c.args[0].input),
    records: (): _Record[] => ts.commandCalls(WriteRecordsCommand).flatMap((c) => c.args[0].input.Records ?? []),
    deadLetters: (): { key: string; bucket: string; letter: DeadLetter }[] =>
      s3.commandCalls(PutObjectCommand).map((c) => ({
        key: c.args[0].input.Key ?? "",
        bucket: c.args[0].input.Bucket ?? "",
        letter: JSON.parse(c.args[0].input.Body as string) as DeadLetter,
      })),
    restore: (): void => {
      ts.restore();
      s3.restore();
    },
  };
}

type Harness = ReturnType<typeof harness>;

function dims(record: _Record): Record<string, string | undefined> {
  return Object.fromEntries((record.Dimensions ?? []).map((d) => [d.Name, d.Value]));
}

function measures(record: _Record): Record<string, string | undefined> {
  return Object.fromEntries((record.MeasureValues ?? []).map((m) => [`${m.Name}:${m.Type}`, m.Value]));
}

function recordOf(records: _Record[], machine: string, time: number): _Record {
  const found = records.find((r) => dims(r).machine === machine && r.Time === String(time));
  assert.ok(found, `no record for ${machine} at ${time}`);
  return found;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rand = random(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function sortRecords(records: _Record[]): _Record[] {
  return [...records].sort((a, b) => {
    const ma = dims(a).machine ?? "";
    const mb = dims(b).machine ?? "";
    return ma < mb ? -1 : ma > mb ? 1 : Number(a.Time) - Number(b.Time);
  });
}

// ---------------------------------------------------------------------------------------------- tests

describe("lambdas/enrich: enrichment handler", () => {
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });
  afterEach(() => {
    h.restore();
  });

  describe("writing records", () => {
    it("writes 250 readings of 250 machine/timestamps in exactly 3 WriteRecords calls of 100, 100 and 50", async () => {
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", distinctReadings())));
      const writes = h.writes();
      assert.deepEqual(writes.map((w) => w.Records?.length), [100, 100, 50]);
      for (const w of writes) {
        assert.equal(w.DatabaseName, "factory-a-telemetry");
        assert.equal(w.TableName, "telemetry");
        assert.deepEqual(w.CommonAttributes, { MeasureName: "telemetry", MeasureValueType: "MULTI", TimeUnit: "MILLISECONDS" });
      }
      const records = h.records();
      const first = recordOf(records, "cnc-01", START);
      assert.deepEqual(first.Dimensions, [
        { Name: "factory", Value: "factory-a", DimensionValueType: "VARCHAR" },
        { Name: "line", Value: "cnc-cell-1", DimensionValueType: "VARCHAR" },
        { Name: "machine_type", Value: "cnc-mill", DimensionValueType: "VARCHAR" },
        { Name: "machine", Value: "cnc-01", DimensionValueType: "VARCHAR" },
        { Name: "tag_set", Value: tagSetOf(["spindleTemperature"]), DimensionValueType: "VARCHAR" },
      ]);
      assert.deepEqual(first.MeasureValues, [{ Name: "spindleTemperature", Value: "40", Type: "DOUBLE" }]);
      assert.deepEqual(measures(recordOf(records, "cnc-07", START + 24_000)), { "spindleTemperature:DOUBLE": "46" });
      assert.deepEqual(measures(recordOf(records, "cnc-10", START + 3_000)), { "spindleTemperature:DOUBLE": "40.75" });
      for (const r of records) {
        assert.ok(Number.isSafeInteger(r.Version) && (r.Version ?? 0) >= 1, "a positive integer version");
        assert.equal(r.Version, recordVersion(r));
      }
      assert.equal(new Set(records.map((r) => `${dims(r).machine}@${r.Time}`)).size, 250);
      assert.equal(result.status, "processed");
      assert.equal(result.writeCalls, 3);
      assert.equal(result.readingsWritten, 250);
      assert.equal(result.recordsWritten, 250);
      assert.deepEqual(h.deadLetters(), []);
      assert.deepEqual(h.published, [
        {
          BatchesReceived: 1,
          ReadingsReceived: 250,
          ReadingsWritten: 250,
          ReadingsRejected: 0,
          RecordsWritten: 250,
          DuplicateRecords: 0,
          RecordsRejectedByTimestream: 0,
          WriteRecordsCalls: 3,
          WriteRecordsFailures: 0,
          DeadLettersWritten: 0,
        },
      ]);
    });

    it("merges the tags of one machine and timestamp into one multi-measure record, in canonical units, measures sorted", async () => {
      const t = START + 5_000;
      await h.handler(
        eventOf(
          batch("factory-a", "gw-cnc", [
            reading("cnc-01", "vibration", 2.8, "mm/s", t),
            reading("cnc-01", "spindleSpeed", 12000, "rpm", t),
            reading("cnc-01", "spindleLoad", 62.5, "%", t, "uncertain"),
            reading("cnc-01", "axisPower", 18.7, "kW", t),
            reading("cnc-01", "coolantTemperature", null, "degC", t, "bad"),
            reading("cnc-01", "spindleTemperature", 41.25, "degC", t),
          ]),
        ),
      );
      const records = h.records();
      assert.equal(records.length, 1);
      assert.deepEqual(records[0]?.MeasureValues, [
        { Name: "axisPower", Value: "18700", Type: "DOUBLE" }, // kW -> W
        { Name: "coolantTemperature_quality", Value: "bad", Type: "VARCHAR" }, // no value: only its quality
        { Name: "spindleLoad", Value: "0.625", Type: "DOUBLE" }, // % -> ratio 1
        { Name: "spindleLoad_quality", Value: "uncertain", Type: "VARCHAR" },
        { Name: "spindleSpeed", Value: "200", Type: "DOUBLE" }, // 12000 rpm -> 200 Hz
        { Name: "spindleTemperature", Value: "41.25", Type: "DOUBLE" },
        { Name: "vibration", Value: "0.0028", Type: "DOUBLE" }, // mm/s -> m/s
      ]);
      assert.equal(records[0].Time, String(t));
    });

    it("writes a realistic batch as one record per machine and timestamp, in the fewest calls", async () => {
      const readings = realisticReadings(600); // 10 machines x 6 tags x 10 s, each reading with its own source time
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", readings)));
      assert.equal(result.readingsWritten, 600);
      assert.equal(result.readingsRejected, 0);
      const keys = new Set(readings.map((r) => `${r.machineId}@${r.timestamp}`));
      const records = h.records();
      assert.equal(records.length, keys.size);
      const sizes = h.writes().map((w) => w.Records?.length);
      assert.equal(sizes.length, Math.ceil(keys.size / 100));
      assert.ok(sizes.slice(0, -1).every((n) => n === 100));
      const measureCount = records.reduce((n, r) => n + (r.MeasureValues ?? []).filter((m) => m.Type === "DOUBLE").length, 0);
      assert.equal(measureCount, readings.filter((r) => r.value !== null).length);
    });
  });

  describe("factory C's US units", () => {
    let c: Harness;
    beforeEach(() => {
      h.restore();
      c = harness("factory-c");
    });
    afterEach(() => {
      c.restore();
      h = harness();
    });

    it("converts degF, psi and lbf.ft to degC, Pa and N.m exactly", async () => {
      const t = START + 1_000;
      await c.handler(
        eventOf(
          batch("factory-c", "gw-body", [
            reading("weld-robot-01", "tipTemperature", 212, "degF", t),
            reading("weld-robot-01", "airPressure", 14.5, "psi", t),
            reading("weld-robot-02", "tipTemperature", 32, "degF", t),
            reading("weld-robot-02", "airPressure", 0, "psi", t),
            reading("weld-robot-03", "tipTemperature", 400, "degC", t), // another unit of the same quantity: fine
          ]),
        ),
      );
      await c.handler(
        eventOf(
          batch("factory-c", "gw-final", [
            reading("torque-01", "finalTorque", 100, "lbf.ft", t),
            reading("torque-01", "motorTemperature", 98.6, "degF", t),
            reading("leak-test-01", "leakRate", 3, "L/min", t),
          ]),
        ),
      );
      const records = c.records();
      // (212 - 32) x 5/9 = 100 exactly.
      assert.equal(Number(measures(recordOf(records, "weld-robot-01", t))["tipTemperature:DOUBLE"]), 100);
      // 1 psi = 4.4482216152605 N / 0.00064516 m^2, so 14.5 psi = 14.5 x 4.4482216152605 / 0.00064516 Pa
      // = 99973.98075094123938... Pa, whose nearest double is 99973.98075094123.
      assert.equal(Number(measures(recordOf(records, "weld-robot-01", t))["airPressure:DOUBLE"]), 99973.98075094123);
      assert.equal(Number(measures(recordOf(records, "weld-robot-02", t))["tipTemperature:DOUBLE"]), 0);
      assert.equal(Number(measures(recordOf(records, "weld-robot-02", t))["airPressure:DOUBLE"]), 0);
      assert.equal(Number(measures(recordOf(records, "weld-robot-03", t))["tipTemperature:DOUBLE"]), 400);
      // 1 lbf.ft = 4.4482216152605 N x 0.3048 m, so 100 lbf.ft = 135.58179483314004 N.m (exact in decimal).
      assert.equal(Number(measures(recordOf(records, "torque-01", t))["finalTorque:DOUBLE"]), 135.58179483314004);
      // (98.6 - 32) x 5/9 = 37
      assert.equal(Number(measures(recordOf(records, "torque-01", t))["motorTemperature:DOUBLE"]), 37);
      // 3 L/min = 3 / 60000 m^3/s
      assert.equal(Number(measures(recordOf(records, "leak-test-01", t))["leakRate:DOUBLE"]), 0.00005);
      assert.deepEqual(c.deadLetters(), []);
    });

    it("checks the valid range in the tag's configured unit, and says which", async () => {
      const t = START + 1_000;
      const result = await c.handler(
        eventOf(
          batch("factory-c", "gw-body", [
            reading("weld-robot-01", "tipTemperature", 950, "degF", t), // max 900 degF
            reading("weld-robot-02", "tipTemperature", 500, "degC", t), // = 932 degF
            reading("weld-robot-03", "tipTemperature", 482.2, "degC", t), // = 899.96 degF: inside
            reading("weld-robot-04", "airPressure", -1, "psi", t),
          ]),
        ),
      );
      assert.equal(result.readingsRejected, 3);
      const [letter] = c.deadLetters();
      assert.ok(letter);
      const items = letter.letter.items as unknown as { reason: string; field: string; value: unknown; message: string }[];
      assert.deepEqual(items.map((i) => [i.reason, i.field, i.value]), [
        ["outOfRange", "value", 950],
        ["outOfRange", "value", 500],
        ["outOfRange", "value", -1],
      ]);
      assert.match(items[0]?.message ?? "", /value 950 degF is outside the valid range of tipTemperature, 32 to 900 degF \(compared in degF/);
      assert.match(items[1]?.message ?? "", /value 500 degC \(932 degF\) is outside the valid range of tipTemperature, 32 to 900 degF/);
      assert.equal(c.records().length, 1);
    });
  });

  describe("refused readings", () => {
    it("dead-letters each kind of bad reading with its field, value and reason, and writes the good ones", async () => {
      const t = START + 2_000;
      const readings = [
        reading("cnc-01", "spindleSpeed", 12000, "rpm", t), // 0 good
        reading("cnc-99", "spindleSpeed", 12000, "rpm", t), // 1 unknown machine
        reading("press-01", "ramForce", 1200, "kN", t), // 2 machine of the other gateway
        reading("cnc-01", "ramForce", 1200, "kN", t), // 3 tag of another machine type
        reading("cnc-01", "spindleTemperature", 2, "bar", t), // 4 unit of another quantity
        reading("cnc-01", "vibration", 31, "mm/s", t), // 5 above max 30 mm/s
        reading("cnc-02", "spindleSpeed", 12000, "rpm", NOW - 1826 * DAY), // 6 older than magnetic retention (1825 d)
        reading("cnc-02", "spindleSpeed", 12000, "rpm", NOW + 121_000), // 7 beyond the 120 s future skew
        reading("cnc-03", "spindleSpeed", 12010, "rpm", t), // 8 conflicts with 9: loses (larger value)
        reading("cnc-03", "spindleSpeed", 12000, "rpm", t), // 9 kept
        reading("cnc-04", "spindleLoad", 50, "%", t), // 10 good
        reading("cnc-04", "spindleLoad", 50, "%", t), // 11 exact duplicate of 10: merged, not refused
        reading("cnc-05", "spindleLoad", 60, "%", t, "uncertain"), // 12 loses to 13 (worse quality)
        reading("cnc-05", "spindleLoad", 61, "%", t), // 13 kept
        reading("cnc-01", "vibration", 30, "mm/s", t), // 14 good: the bound itself is valid
      ];
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", readings)));

      const records = h.records();
      assert.deepEqual(
        sortRecords(records).map((r) => [dims(r).machine, measures(r)]),
        [
          ["cnc-01", { "spindleSpeed:DOUBLE": "200", "vibration:DOUBLE": "0.03" }],
          ["cnc-03", { "spindleSpeed:DOUBLE": "200" }],
          ["cnc-04", { "spindleLoad:DOUBLE": "0.5" }],
          ["cnc-05", { "spindleLoad:DOUBLE": "0.61" }],
        ],
      );
      const letters = h.deadLetters();
      assert.equal(letters.length, 1);
      const { key, bucket, letter } = letters[0]!;
      assert.equal(bucket, "factory-a-dead-letters");
      assert.match(key, /^enrich\/factory-a\/2026\/11\/25\/gw-cnc-42-[0-9a-f]{16}-readings\.json$/);
      assert.equal(letter.reason, "readingsRejected");
      assert.equal(letter.factoryId, "factory-a");
      assert.equal(letter.gatewayId, "gw-cnc");
      assert.equal(letter.sequence, 42);
      assert.equal(letter.topic, "sf/v1/factory-a/factory-a-gw-cnc/telemetry");
      assert.equal(letter.clientId, "factory-a-gw-cnc-agent");
      assert.equal(letter.receivedAt, START + 61_000);
      assert.equal(letter.payload, undefined, "an accepted batch's readings dead letter does not repeat the payload");
      const items = letter.items as { index: number; reason: string; field: string; value: unknown; message: string; reading: Reading }[];
      assert.deepEqual(
        items.map((i) => [i.index, i.reason, i.field, i.value]),
        [
          [1, "unknownMachine", "machineId", "cnc-99"],
          [2, "machineNotOnGateway", "machineId", "press-01"],
          [3, "unknownTag", "tag", "ramForce"],
          [4, "unitMismatch", "unit", "bar"],
          [5, "outOfRange", "value", 31],
          [6, "timestampTooOld", "timestamp", NOW - 1826 * DAY],
          [7, "timestampInFuture", "timestamp", NOW + 121_000],
          [8, "duplicateConflict", "value", 12010],
          [12, "duplicateConflict", "value", 60],
        ],
      );
      const message = (index: number): string => items.find((i) => i.index === index)?.message ?? "";
      assert.match(message(1), /machineId "cnc-99" is not a machine of factory factory-a/);
      assert.match(message(2), /machineId "press-01" stands on line press-line-1, served by gateway gw-press, not by gw-cnc/);
      assert.match(message(3), /tag "ramForce" is not a tag of machine type cnc-mill/);
      assert.match(message(4), /unit "bar" measures pressure, but tag spindleTemperature is a temperature/);
      assert.match(message(5), /value 31 mm\/s is outside the valid range of vibration, 0 to 30 mm\/s/);
      assert.match(message(6), /timestamp \d{4}-\d\d-\d\dT.* old .*at most 1825d accepted/);
      assert.match(message(7), /timestamp .* is 2m 1s ahead of .*at most 2m allowed/);
      assert.match(message(8), /value 12010 rpm \(good\) .* conflicts with 12000 rpm \(good\) of reading 9/);
      assert.deepEqual(items[0]?.reading, readings[1]);

      assert.equal(result.readingsRejected, 9);
      assert.equal(result.readingsWritten, 6, "readings 0, 9, 10, 11 (duplicate of 10), 13, 14");
      assert.equal(h.published[0]!.ReadingsRejected, 9);
      assert.equal(h.published[0]!.ReadingsWritten, 6);
      assert.equal(h.published[0]!.DeadLettersWritten, 1);
      const warning = h.logs.find((l) => l.message === "readings rejected");
      assert.deepEqual(warning?.attributes[0]?.byReason, {
        unknownMachine: 1,
        machineNotOnGateway: 1,
        unknownTag: 1,
        unitMismatch: 1,
        outOfRange: 1,
        timestampTooOld: 1,
        timestampInFuture: 1,
        duplicateConflict: 2,
      });
    });

    it("resolves conflicting readings the same way whatever their order", async () => {
      const t = START;
      const a = reading("cnc-01", "spindleSpeed", 12010, "rpm", t);
      const b = reading("cnc-01", "spindleSpeed", 12000, "rpm", t);
      await h.handler(eventOf(batch("factory-a", "gw-cnc", [a, b])));
      await h.handler(eventOf(batch("factory-a", "gw-cnc", [b, a])));
      const [first, second] = h.writes();
      assert.deepEqual(first?.Records, second?.Records);
      const losers = h.deadLetters().map((d) => (d.letter.items[0] as { reading: Reading }).reading);
      assert.deepEqual(losers, [a, a]);
    });
  });

  describe("refused batches (envelope checks)", () => {
    const good = (): TelemetryBatch => batch("factory-a", "gw-cnc", distinctReadings(20));

    async function expectBatchRejected(event: unknown, reason: string, pattern: RegExp): Promise<DeadLetter> {
      const result = await h.handler(event);
      assert.equal(result.status, "rejected");
      assert.equal(h.ts.commandCalls(WriteRecordsCommand).length, 0, "nothing written");
      const letters = h.deadLetters();
      assert.equal(letters.length, 1, "one dead letter");
      const { key, letter } = letters[0]!;
      assert.equal(letter.reason, reason);
      assert.match(letter.message, pattern);
      assert.match(key, /^enrich\/factory-a\/(\d{4}\/\d\d\/\d\d|undated)\/[A-Za-z0-9_-]+-[a-z0-9]+-[0-9a-f]{16}-batch\.json$/);
      assert.deepEqual(result.deadLetterKeys, [key]);
      assert.equal(h.published[0]!.BatchesRejected, 1);
      const payload = (event as { payload?: unknown }).payload;
      if (typeof payload === "string") {
        assert.equal(letter.payload, payload, "the original payload is kept");
        assert.ok(!JSON.stringify(h.logs).includes(payload), "the payload is never logged");
      }
      return letter;
    }

    it("refuses a batch whose gatewayId is not the topic's thing", async () => {
      const spoofed = batch("factory-a", "gw-press", distinctReadings(20));
      const event = eventOf(spoofed, { topic: telemetryTopic(spoofed.factoryId, "gw-cnc" as TelemetryBatch["gatewayId"], "plain"), clientId: "factory-a-gw-cnc-agent" });
      const letter = await expectBatchRejected(event, "gatewayMismatch", /batch gatewayId "gw-press" \(thing factory-a-gw-press\) arrived on topic .* of thing factory-a-gw-cnc/);
      assert.equal(letter.gatewayId, "gw-press");
      assert.equal(letter.sequence, 42);
    });

    it("refuses a batch published with the client id of another gateway", async () => {
      const event = eventOf(good(), { clientId: agentClientId(good().factoryId, "gw-press" as TelemetryBatch["gatewayId"]) });
      await expectBatchRejected(event, "clientIdMismatch", /client id "factory-a-gw-press-agent" published as gateway gw-cnc; only "factory-a-gw-cnc-agent" \(or -2 \.\.\. -8\) or "factory-a-gw-cnc" may/);
    });

    it("takes a batch from the agent's further connections (-agent-2 ... -agent-8), and refuses -agent-9", async () => {
      const result = await h.handler(eventOf(good(), { clientId: agentClientId(good().factoryId, good().gatewayId, 2) }));
      assert.notEqual(result.status, "rejected");
      assert.deepEqual(h.deadLetters(), []);
      assert.ok(h.records().length > 0);
      h.restore();
      h = harness();
      await expectBatchRejected(eventOf(good(), { clientId: "factory-a-gw-cnc-agent-9" }), "clientIdMismatch", /client id "factory-a-gw-cnc-agent-9"/);
      assert.throws(() => agentClientId(good().factoryId, good().gatewayId, 9), /connection: expected a whole number from 1 to 8, got 9/);
    });

    it("refuses a batch of another factory, by its envelope or by its topic", async () => {
      const other = batch("factory-b", "gw-cnc", distinctReadings(20));
      await expectBatchRejected(eventOf(other, { topic: "sf/v1/factory-a/factory-a-gw-cnc/telemetry" }), "factoryMismatch", /batch factoryId "factory-b"/);
      h.restore();
      h = harness();
      await expectBatchRejected(eventOf(other), "factoryMismatch", /topic .* is of factory factory-b; this function serves factory factory-a/);
    });

    it("refuses a gateway the factory does not have, an undecodable payload, a bad topic and an invalid event", async () => {
      await expectBatchRejected(eventOf(batch("factory-a", "gw-ghost", distinctReadings(3))), "unknownGateway", /gateway "gw-ghost" is not a gateway of factory factory-a/);
      h.restore();
      h = harness();
      await expectBatchRejected(eventOf(good(), { payload: Buffer.from("Hello, world").toString("base64") }), "undecodablePayload", /does not decode: not a telemetry batch/);
      h.restore();
      h = harness();
      await expectBatchRejected(eventOf(good(), { topic: "sf/v1/factory-a/factory-a-gw-cnc/health" }), "badTopic", /health topic, not a telemetry topic/);
      h.restore();
      h = harness();
      const letter = await expectBatchRejected({ payload: 5, topic: "x" }, "invalidEvent", /not a telemetry rule event: payload: expected base64 text, got 5/);
      assert.equal(letter.topic, "x");
    });

    it("accepts the thing name as client id (Greengrass IPC publishes with the core's connection)", async () => {
      const result = await h.handler(eventOf(good(), { clientId: thingName(good().factoryId, good().gatewayId) }));
      assert.equal(result.status, "processed");
      assert.equal(result.recordsWritten, 20);
    });
  });

  describe("records Timestream rejects", () => {
    it("dead-letters rejected records, counts the rest written, and takes a same-version rejection as a duplicate", async () => {
      let call = 0;
      let existing: _Record | undefined;
      let conflicting: _Record | undefined;
      let old: _Record | undefined;
      h.ts.on(WriteRecordsCommand).callsFake((input: WriteRecordsCommandInput) => {
        call++;
        if (call !== 2) return {};
        const records = input.Records ?? [];
        existing = records[5];
        conflicting = records[3];
        old = records[60];
        throw new RejectedRecordsException({
          $metadata: {},
          message: "One or more records have been rejected. See RejectedRecords for details.",
          RejectedRecords: [
            { RecordIndex: 3, Reason: "A record already exists with the same time, dimensions, measure name, and record version.", ExistingVersion: 7 },
            { RecordIndex: 5, Reason: "A record already exists with the same time, dimensions, measure name, and record version.", ExistingVersion: records[5]?.Version },
            { RecordIndex: 60, Reason: "The record timestamp is outside the time range of the data ingestion window." },
          ],
        });
      });
      const result = await h.handler(eventOf(batch("factory-a", "gw-cnc", distinctReadings())));
      assert.equal(h.writes().length, 3, "the other chunks are still written");
      assert.ok(existing && conflicting && old);
      assert.equal(result.status, "processed");
      assert.equal(result.recordsWritten, 248);
      assert.equal(result.duplicateRecords, 1);
      assert.equal(result.recordsRejected, 2);
      assert.equal(result.readingsWritten, 248);
      assert.equal(result.readingsRejected, 2);
      const letters = h.deadLetters();
      assert.equal(letters.length, 1);
      assert.match(letters[0]!.key, /^enrich\/factory-a\/2026\/11\/25\/gw-cnc-42-[0-9a-f]{16}-records\.json$/);
      const letter = letters[0]!.letter;
      assert.equal(letter.reason, "recordsRejectedByTimestream");
      const items = letter.items as unknown as { reason: string; existingVersion: number | null; machineId: string; timestamp: number; record: _Record }[];
      assert.deepEqual(
        items.map((i) => [i.machineId, i.timestamp, i.existingVersion]),
        [
          [dims(conflicting).machine, Number(conflicting.Time), 7],
          [dims(old).machine, Number(old.Time), null],
        ],
      );
      assert.match(items[0]?.reason ?? "", /already exists/);
      assert.deepEqual(items[0]?.record, { MeasureName: "telemetry", MeasureValueType: "MULTI", TimeUnit: "MILLISECONDS", ...conflicting });
      assert.equal(h.published[0]!.RecordsRejectedByTimestream, 2);
      assert.equal(h.published[0]!.DuplicateRecords, 1);
      assert.equal(h.published[0]!.RecordsWritten, 248);
    });

    it("throws when a chunk still fails after the SDK's retries, after writing the rest and the dead letters", async () => {
      let call = 0;
      h.ts.on(WriteRecordsCommand).callsFake(() => {
        call++;
        if (call === 2) throw new ThrottlingException({ $metadata: {}, message: "Rate exceeded", Message: "Rate exceeded" });
        return {};
      });
      const readings = [...distinctReadings(), reading("cnc-99", "spindleSpeed", 1, "rpm", START)];
      await assert.rejects(h.handler(eventOf(batch("factory-a", "gw-cnc", readings))), /WriteRecords failed for 1 of 3 chunks .*ThrottlingException: Rate exceeded/);
      assert.equal(h.writes().length, 3);
      const letters = h.deadLetters();
      assert.deepEqual(letters.map((l) => l.letter.reason), ["readingsRejected"], "the failed chunk is not dead-lettered: the retry writes it");
      assert.equal(h.published.length, 1, "metrics are published even when the invocation fails");
      assert.equal(h.published[0]!.WriteRecordsFailures, 1);
      assert.equal(h.published[0]!.RecordsWritten, 150);
      assert.ok(h.logs.some((l) => l.level === "error"));
    });

    it("throws when S3 refuses a dead letter, so that nothing is lost", async () => {
      h.s3.on(PutObjectCommand).rejects(new Error("Access Denied"));
      await assert.rejects(h.handler(eventOf(batch("factory-a", "gw-cnc", [reading("cnc-99", "spindleSpeed", 1, "rpm", START)]))), /Access Denied/);
      assert.equal(h.published.length, 1);
    });
  });

  describe("idempotency and determinism", () => {
    it("gives identical WriteRecords inputs and dead-letter keys when the same batch is delivered twice", async () => {
      const readings = [...realisticReadings(600), reading("cnc-99", "spindleSpeed", 1, "rpm", START)];
      const event = eventOf(batch("factory-a", "gw-cnc", readings));
      const first = await h.handler(event);
      const second = await h.handler(event);
      const writes = h.writes();
      assert.equal(writes.length % 2, 0);
      assert.ok(writes.length >= 2);
      assert.deepEqual(writes.slice(0, writes.length / 2), writes.slice(writes.length / 2));
      const letters = h.deadLetters();
      assert.equal(letters.length, 2);
      assert.equal(letters[0]?.key, letters[1]?.key, "the second delivery overwrites the first dead letter");
      assert.deepEqual(letters[0]?.letter, letters[1]?.letter);
      assert.deepEqual(first, second);
    });

    it("gives the same records for the same readings shuffled, or split into two batches at machine/timestamp boundaries", async () => {
      // Tags sampled together (one timestamp per machine and second) so that records hold several measures, and
      // one conflicting pair, which must stay in one batch like every reading of its machine and timestamp.
      const readings = [
        ...realisticReadings(600, { seed: 7 }).map((r) => ({ ...r, timestamp: Math.floor(r.timestamp / 1000) * 1000 })),
        reading("cnc-02", "vibration", 9.5, "mm/s", START + 3_000),
      ];
      await h.handler(eventOf(batch("factory-a", "gw-cnc", readings)));
      const reference = sortRecords(h.records());

      h.restore();
      h = harness();
      await h.handler(eventOf(batch("factory-a", "gw-cnc", shuffled(readings, 3), 43)));
      assert.equal(reference.length, 100);
      assert.ok(reference.every((r) => (r.MeasureValues ?? []).length >= 6));
      assert.deepEqual(h.records(), reference, "the order of readings does not matter (records come sorted)");

      const groups = new Map<string, Reading[]>();
      for (const r of readings) {
        const key = `${r.machineId}@${r.timestamp}`;
        groups.set(key, [...(groups.get(key) ?? []), r]);
      }
      const order = shuffled([...groups.keys()], 11);
      const half = Math.floor(order.length / 2);
      const part = (keys: string[]): Reading[] => shuffled(keys.flatMap((k) => groups.get(k) ?? []), 5);
      h.restore();
      h = harness();
      await h.handler(eventOf(batch("factory-a", "gw-cnc", part(order.slice(0, half)), 44)));
      await h.handler(eventOf(batch("factory-a", "gw-cnc", part(order.slice(half)), 45)));
      assert.deepEqual(sortRecords(h.records()), reference);
    });

    it("a machine's timestamp split over two batches gives two records of their own (tag_set), neither conflicting with nor replacing the other", () => {
      const enricher = new Enricher(factoryConfig("factory-a"));
      const scan = [reading("cnc-01", "spindleSpeed", 12000, "rpm", START), reading("cnc-01", "vibration", 2, "mm/s", START), reading("cnc-01", "spindleTemperature", 41, "degC", START)];
      const whole = enricher.enrichReadings(scan, "gw-cnc", NOW).records;
      const early = enricher.enrichReadings(scan.slice(0, 2), "gw-cnc", NOW).records;
      const late = enricher.enrichReadings(scan.slice(2), "gw-cnc", NOW).records;
      assert.equal(whole.length, 1);
      const identity = (r: (typeof whole)[number]): string => JSON.stringify([r.record.Dimensions, r.record.Time]);
      assert.notEqual(identity(early[0]!), identity(late[0]!), "the late part is another record");
      assert.notEqual(identity(early[0]!), identity(whole[0]!));
      const tagSet = (r: (typeof whole)[number]): string | undefined => r.record.Dimensions?.find((d) => d.Name === "tag_set")?.Value;
      assert.equal(tagSet(whole[0]!), tagSetOf(["spindleSpeed", "vibration", "spindleTemperature"]));
      assert.equal(tagSet(late[0]!), tagSetOf(["spindleTemperature"]));
      // every reading is in exactly one of the two records
      const measures = [...early, ...late].flatMap((r) => (r.record.MeasureValues ?? []).map((m) => m.Name)).sort();
      assert.deepEqual(measures, ["spindleSpeed", "spindleTemperature", "vibration"]);
    });

    it("derives a record's version from its content alone", () => {
      const enricher = new Enricher(factoryConfig("factory-a"));
      const r = [reading("cnc-01", "spindleSpeed", 12000, "rpm", START), reading("cnc-01", "vibration", 2, "mm/s", START)];
      const a = enricher.enrichReadings(r, "gw-cnc", NOW).records[0]?.record;
      const b = enricher.enrichReadings([...r].reverse(), "gw-cnc", NOW).records[0]?.record;
      const c = enricher.enrichReadings([r[0]!, reading("cnc-01", "vibration", 2.1, "mm/s", START)], "gw-cnc", NOW).records[0]?.record;
      assert.equal(a?.Version, b?.Version);
      assert.notEqual(a?.Version, c?.Version);
      assert.equal(MAX_RECORDS_PER_WRITE, 100);
    });
  });
});

describe("lambdas/enrich/index.ts: cold start", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "enrich-"));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = {
    TIMESTREAM_DATABASE: "factory-a-telemetry",
    TIMESTREAM_TABLE: "telemetry",
    DEAD_LETTER_BUCKET: "factory-a-dead-letters",
    POWERTOOLS_SERVICE_NAME: "enrich",
    POWERTOOLS_METRICS_NAMESPACE: "SmartFactory",
  };

  it("loads and validates the bundled factory.json (the decoded FactoryConfig as JSON, as the build writes it)", () => {
    fs.writeFileSync(path.join(dir, BUNDLED_CONFIG_FILE), JSON.stringify(factoryConfig("factory-c")));
    const config = loadBundledConfig(dir);
    assert.equal(config.factory.id, "factory-c");
    assert.deepEqual(config, factoryConfig("factory-c"));
  });

  it("stops with an error naming the field of a bad factory.json", () => {
    const raw = rawFactoryConfig("factory-a") as { lines: { machines: { idealRunRate: number }[] }[] };
    raw.lines[0]!.machines[1]!.idealRunRate = -5;
    fs.writeFileSync(path.join(dir, BUNDLED_CONFIG_FILE), JSON.stringify(raw));
    assert.throws(() => loadBundledConfig(dir), /invalid factory\.json .*lines\[0\]\.machines\[1\]\.idealRunRate: expected .*, got -5/);
  });

  it("stops with an error naming the file when it is missing or not JSON", () => {
    assert.throws(() => loadBundledConfig(dir), (e: Error) => e.message.includes(path.join(dir, BUNDLED_CONFIG_FILE)) && /cannot read/.test(e.message));
    fs.writeFileSync(path.join(dir, BUNDLED_CONFIG_FILE), "{ not json");
    assert.throws(() => loadBundledConfig(dir), /factory\.json is not JSON/);
  });

  it("names each missing environment variable", () => {
    assert.deepEqual(readEnvironment(env), {
      databaseName: "factory-a-telemetry",
      tableName: "telemetry",
      deadLetterBucket: "factory-a-dead-letters",
      serviceName: "enrich",
      metricsNamespace: "SmartFactory",
    });
    const { TIMESTREAM_TABLE: _t, ...withoutTable } = env;
    assert.throws(() => readEnvironment(withoutTable), /environment variable TIMESTREAM_TABLE \(missing or empty\)/);
    assert.throws(() => readEnvironment({ ...env, DEAD_LETTER_BUCKET: " ", POWERTOOLS_METRICS_NAMESPACE: "" }), /variables DEAD_LETTER_BUCKET, POWERTOOLS_METRICS_NAMESPACE/);
  });

  it("builds a working handler with Powertools' Logger and Metrics, which print JSON logs and EMF metrics", async () => {
    fs.writeFileSync(path.join(dir, BUNDLED_CONFIG_FILE), JSON.stringify(rawFactoryConfig("factory-a")));
    const ts = mockClient(TimestreamWriteClient);
    const s3 = mockClient(S3Client);
    ts.on(WriteRecordsCommand).resolves({});
    s3.on(PutObjectCommand).resolves({});
    const saved = { dev: process.env.POWERTOOLS_DEV, disabled: process.env.POWERTOOLS_METRICS_DISABLED, region: process.env.AWS_REGION };
    const printed: string[] = [];
    const original = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug, trace: console.trace };
    const capture = (...args: unknown[]): void => {
      printed.push(args.map(String).join(" "));
    };
    try {
      process.env.POWERTOOLS_DEV = "true"; // Powertools then prints through the global console...
      process.env.POWERTOOLS_METRICS_DISABLED = "false"; // ...and would not emit metrics unless told to
      process.env.AWS_REGION = "eu-central-1";
      Object.assign(console, { log: capture, info: capture, warn: capture, error: capture, debug: capture });
      const handler = createHandlerFromEnvironment(dir, env);
      // the deployed entry point reads the real clock (no clock to inject), so the readings are a minute old by it:
      // readings of a fixed date would be skewed into the future on a machine whose clock is behind that date
      const result = await handler(eventOf(batch("factory-a", "gw-cnc", distinctReadings(120, Date.now() - 60_000))));
      assert.equal(result.recordsWritten, 120);
      assert.equal(ts.commandCalls(WriteRecordsCommand).length, 2);
    } finally {
      Object.assign(console, original);
      for (const [key, value] of [["POWERTOOLS_DEV", saved.dev], ["POWERTOOLS_METRICS_DISABLED", saved.disabled], ["AWS_REGION", saved.region]] as const) {
        if (value === undefined) Reflect.deleteProperty(process.env, key);
        else process.env[key] = value;
      }
      ts.restore();
      s3.restore();
    }
    const json = printed.map((p) => {
      try {
        return JSON.parse(p) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
    const emf = json.find((j) => j._aws !== undefined);
    assert.ok(emf, `an EMF document among ${printed.length} lines`);
    assert.equal(emf.RecordsWritten, 120);
    assert.equal(emf.factory, "factory-a");
    assert.ok(json.some((j) => j.message === "telemetry batch written" && j.service === "enrich"));
    // Loggers and Metrics come from the real packages: the handler's interfaces accept them.
    const _types: [EnrichLogger, EnrichMetrics] = [new Logger({ serviceName: "x" }), new Metrics({ namespace: "x", serviceName: "x" })];
  });
});
