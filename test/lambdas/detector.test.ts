import { strict as assert } from "node:assert";
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type GetItemCommandInput,
  type PutItemCommandInput,
  type QueryCommandInput,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { InvokeEndpointCommand, SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { PublishCommand, SNSClient, type PublishCommandInput } from "@aws-sdk/client-sns";
import {
  agentClientId,
  decode,
  encodeTelemetryBatch,
  FactoryConfig,
  HEALTH_SCHEMA_VERSION,
  telemetryTopic,
  toSiteWiseStateMessage,
  type HealthMessage,
  type MachineState,
  type Reading,
  trainingColumns,
  type TelemetryBatch,
} from "@smart-factory/sdk";
import { mockClient } from "aws-sdk-client-mock";
import { fmt, MAX_SUBJECT_LENGTH, subjectLine, type MachineDoc } from "../../lambdas/detector/detector";
import { InputReader, SWEEP_ACTION } from "../../lambdas/detector/events";
import { createDetectorHandler, DEAD_LETTER_PREFIX, parseScore, type DetectorHandler, type DetectorLogger, type DetectorMetrics, type DetectorResult } from "../../lambdas/detector/handler";
import { readEnvironment } from "../../lambdas/detector/index";
import { rawFactoryConfig } from "../helpers/factoryConfig";

// ---------------------------------------------------------------------------------------------- fixtures

const T = Date.UTC(2026, 10, 25, 8, 0, 0);
const S = 1000;
const MIN = 60 * S;
const iso = (ms: number): string => new Date(ms).toISOString();

/** factory-a's config; without its rate alert unless asked, so that the threshold tests' steep steps page only thresholds. */
function factoryA(withRates = false): FactoryConfig {
  const input = rawFactoryConfig("factory-a");
  if (!withRates) delete input.alerts.rates;
  return decode(FactoryConfig, input, "stack factory-a");
}

const UNITS: Record<string, string> = { ramForce: "kN", motorTemperature: "degC", hydraulicPressure: "bar", strokeRate: "rpm", vibration: "mm/s" };

function reading(machineId: string, tag: string, value: number, timestamp: number): Reading {
  return { machineId, tag, timestamp, clock: "source", value, unit: UNITS[tag] ?? "1", quality: "good" } as Reading;
}

/** Readings of one tag every `stepMs` from `from` (inclusive) to `to` (exclusive), valued by `value(t)`. */
function series(machineId: string, tag: string, from: number, to: number, stepMs: number, value: (t: number) => number): Reading[] {
  const out: Reading[] = [];
  for (let t = from; t < to; t += stepMs) out.push(reading(machineId, tag, value(t), t));
  return out;
}

let sequence = 0;
/** The telemetry rule's event for a batch of `readings` from `gatewayId`, received at `receivedAt`. */
function telemetry(gatewayId: string, readings: Reading[], receivedAt: number): Record<string, unknown> {
  const batch: TelemetryBatch = { schemaVersion: 1, factoryId: "factory-a", gatewayId, sequence: ++sequence, sentAt: receivedAt - 200, readings } as TelemetryBatch;
  return {
    payload: Buffer.from(encodeTelemetryBatch(batch)).toString("base64"),
    topic: telemetryTopic(batch.factoryId, batch.gatewayId, "plain"),
    clientId: agentClientId(batch.factoryId, batch.gatewayId),
    receivedAt,
  };
}

/** The state rule's event (`SELECT *`): the fixed-shape message itself. */
function stateEvent(machineId: string, lineId: string, state: MachineState, timestamp: number): Record<string, unknown> {
  return toSiteWiseStateMessage(
    { machineId, timestamp, clock: "source", state, goodIncrement: 0, badIncrement: 0 } as Parameters<typeof toSiteWiseStateMessage>[0],
    { factoryId: "factory-a", gatewayId: "gw-press", lineId, sequence: ++sequence } as Parameters<typeof toSiteWiseStateMessage>[1],
  );
}

/** The health rule's event (`SELECT *`): the health message itself. */
function health(gatewayId: string, sentAt: number, backlog: { readings: number; ageSeconds: number } = { readings: 0, ageSeconds: 0 }): HealthMessage {
  return {
    schemaVersion: HEALTH_SCHEMA_VERSION,
    factoryId: "factory-a",
    gatewayId,
    sentAt,
    backlogReadings: backlog.readings,
    backlogBytes: backlog.readings * 12,
    backlogAgeSeconds: backlog.ageSeconds,
    droppedReadings: 0,
    opcuaSessionsUp: 14,
    opcuaSessionsConfigured: 14,
    deadLetters: 0,
    publishedReadingsPerSecond: 40,
    staleMachines: [],
    lastValueAt: {},
  } as unknown as HealthMessage;
}

const SWEEP = { action: SWEEP_ACTION, scheduledTime: "2026-11-25T08:00:00Z" };

// ---------------------------------------------------------------------------------------------- a DynamoDB table in memory

/**
 * The state table as DynamoDB keeps it, for the expressions the store uses: conditional puts on the version,
 * outbox claims and removals, queries by partition. A gate can hold the first reads of one item until a number of
 * invocations have read it, to make two of them race for the same version.
 */
class MemoryTable {
  readonly items = new Map<string, Record<string, AttributeValue>>();
  readonly failedPuts: string[] = [];
  private gate: { sk: string; parties: number; arrived: number; open: () => void; opened: Promise<void> } | undefined;

  holdReadsOf(sk: string, parties: number): void {
    let open = (): void => undefined;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gate = { sk, parties, arrived: 0, open, opened };
  }

  doc(sk: string): MachineDoc {
    const item = this.items.get(`factory-a|${sk}`);
    assert.ok(item?.doc?.S, `item ${sk} is stored`);
    return JSON.parse(item.doc.S) as MachineDoc;
  }

  async get(input: GetItemCommandInput): Promise<{ Item?: Record<string, AttributeValue> }> {
    const sk = input.Key?.sk?.S ?? "";
    const gate = this.gate;
    if (gate !== undefined && gate.sk === sk && gate.arrived < gate.parties) {
      gate.arrived++;
      if (gate.arrived === gate.parties) gate.open();
      await gate.opened;
    }
    const item = this.items.get(`${input.Key?.pk?.S}|${sk}`);
    return item === undefined ? {} : { Item: structuredClone(item) };
  }

  put(input: PutItemCommandInput): Record<string, never> {
    const item = input.Item ?? {};
    const key = `${item.pk?.S}|${item.sk?.S}`;
    const existing = this.items.get(key);
    const ok =
      input.ConditionExpression === "attribute_not_exists(#pk)"
        ? existing === undefined
        : input.ConditionExpression === "#version = :expected" && existing?.version?.N === input.ExpressionAttributeValues?.[":expected"]?.N;
    if (!ok) {
      this.failedPuts.push(item.sk?.S ?? "");
      throw new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
    }
    this.items.set(key, structuredClone(item));
    return {};
  }

  update(input: UpdateItemCommandInput): Record<string, never> {
    const key = `${input.Key?.pk?.S}|${input.Key?.sk?.S}`;
    const item = this.items.get(key);
    const id = input.ExpressionAttributeNames?.["#id"] ?? "";
    const outbox = item?.outbox?.M;
    const fail = (): never => {
      throw new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
    };
    if (item === undefined || outbox === undefined) return fail();
    if (input.UpdateExpression === "REMOVE #outbox.#id ADD #version :one") {
      if (outbox[id] === undefined) fail();
      Reflect.deleteProperty(outbox, id);
    } else if (input.UpdateExpression === "SET #outbox.#id = :claimed ADD #version :one") {
      if (outbox[id]?.S !== input.ExpressionAttributeValues?.[":seen"]?.S) fail();
      outbox[id] = { S: input.ExpressionAttributeValues?.[":claimed"]?.S ?? "" };
    } else {
      throw new Error(`the memory table does not know ${input.UpdateExpression}`);
    }
    item.version = { N: String(Number(item.version?.N ?? "0") + 1) };
    return {};
  }

  query(input: QueryCommandInput): { Items: Record<string, AttributeValue>[] } {
    const pk = input.ExpressionAttributeValues?.[":pk"]?.S;
    return { Items: [...this.items.values()].filter((i) => i.pk?.S === pk).map((i) => structuredClone(i)) };
  }
}

// ---------------------------------------------------------------------------------------------- harness

interface Options {
  scoreEndpoint?: string;
  withRates?: boolean;
}

function harness(options: Options = {}) {
  const clock = { now: T };
  const table = new MemoryTable();
  const ddb = mockClient(DynamoDBClient);
  const sns = mockClient(SNSClient);
  const s3 = mockClient(S3Client);
  const sagemaker = mockClient(SageMakerRuntimeClient);
  ddb.on(GetItemCommand).callsFake((input: GetItemCommandInput) => table.get(input));
  ddb.on(PutItemCommand).callsFake((input: PutItemCommandInput) => table.put(input));
  ddb.on(UpdateItemCommand).callsFake((input: UpdateItemCommandInput) => table.update(input));
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => table.query(input));
  sns.on(PublishCommand).resolves({ MessageId: "m-1" });
  s3.on(PutObjectCommand).resolves({});
  const logs: { level: string; message: string; attributes: Record<string, unknown>[] }[] = [];
  const log =
    (level: string) =>
    (message: string, ...attributes: Record<string, unknown>[]): void => {
      logs.push({ level, message, attributes });
    };
  const logger: DetectorLogger = { info: log("info"), warn: log("warn"), error: log("error") };
  const counted: Record<string, number> = {};
  const metrics: DetectorMetrics = {
    addMetric: (name, _unit, value) => {
      counted[name] = (counted[name] ?? 0) + value;
    },
    publishStoredMetrics: () => undefined,
  };
  const handler: DetectorHandler = createDetectorHandler({
    config: factoryA(options.withRates ?? false),
    ddb: new DynamoDBClient({ region: "eu-central-1" }),
    sns: new SNSClient({ region: "eu-central-1" }),
    s3: new S3Client({ region: "eu-central-1" }),
    tableName: "factory-a-detector-state",
    topicArn: "arn:aws:sns:eu-central-1:123456789012:factory-a-notifications",
    deadLetterBucket: "factory-a-dead-letters-123456789012-eu-central-1",
    ...(options.scoreEndpoint === undefined ? {} : { sagemaker: new SageMakerRuntimeClient({ region: "eu-central-1" }), scoreEndpoint: options.scoreEndpoint }),
    logger,
    metrics,
    now: () => clock.now,
  });
  return {
    clock,
    table,
    ddb,
    sns,
    s3,
    sagemaker,
    logs,
    counted,
    /** Invoke the handler at wall-clock `at`. */
    at: async (at: number, event: unknown): Promise<DetectorResult> => {
      clock.now = at;
      return handler(event);
    },
    handler,
    published: (): PublishCommandInput[] => {
      const calls = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
      for (const p of calls) {
        assert.ok((p.Subject ?? "").length <= MAX_SUBJECT_LENGTH && (p.Subject ?? "").length > 0, `subject ${JSON.stringify(p.Subject)} fits SNS`);
        assert.equal(p.TopicArn, "arn:aws:sns:eu-central-1:123456789012:factory-a-notifications");
      }
      return calls;
    },
    restore: (): void => {
      ddb.restore();
      sns.restore();
      s3.restore();
      sagemaker.restore();
    },
  };
}

type Harness = ReturnType<typeof harness>;

/** Send `readings` of gw-press in batches of `batchMs` of event time, each received just after its newest reading. */
async function sendInBatches(h: Harness, readings: Reading[], batchMs: number, receivedAfter = S): Promise<DetectorResult[]> {
  const sorted = [...readings].sort((a, b) => a.timestamp - b.timestamp);
  const results: DetectorResult[] = [];
  let start = 0;
  while (start < sorted.length) {
    const first = (sorted[start] as Reading).timestamp;
    let end = start;
    while (end < sorted.length && (sorted[end] as Reading).timestamp < first + batchMs) end++;
    const part = sorted.slice(start, end);
    const newest = (part[part.length - 1] as Reading).timestamp;
    results.push(await h.at(newest + receivedAfter, telemetry("gw-press", part, newest + receivedAfter)));
    start = end;
  }
  return results;
}

// ---------------------------------------------------------------------------------------------- tests

describe("lambdas/detector: alerts on event time", () => {
  let h: Harness;
  beforeEach(() => {
    sequence = 0;
    h = harness();
  });
  afterEach(() => {
    h.restore();
  });

  describe("thresholds", () => {
    it("fires once when a limit is held for forSeconds, and clears once, with what on-call needs", async () => {
      // press-motor-hot: motorTemperature above 95 degC for 120 s, hysteresis 5, warning
      const temperature = (t: number): number => (t < T + 60 * S ? 90 : t < T + 180 * S ? 97 : t < T + 240 * S ? 98 : t < T + 300 * S ? 89 : 85);
      await sendInBatches(h, series("press-01", "motorTemperature", T, T + 360 * S, 10 * S, temperature), 60 * S);
      const published = h.published();
      assert.equal(published.length, 2, published.map((p) => p.Subject).join(" | "));
      const [raise, clear] = published as [PublishCommandInput, PublishCommandInput];
      assert.equal(raise.Subject, "[WARNING] factory-a press-01: motorTemperature > 95 degC");
      const message = raise.Message ?? "";
      for (const expected of ["(factory-a)", "Press line 1 (body panels) (press-line-1)", "Servo press 1 (press-01, Servo press 400 t)", "press-motor-hot: motorTemperature above 95 degC for 2m", "Value:     97 degC", `Since:     ${iso(T + 60 * S)}`, `active since ${iso(T + 180 * S)}`, "Severity:  warning"]) {
        assert.ok(message.includes(expected), `raise message has ${JSON.stringify(expected)}:\n${message}`);
      }
      assert.ok(!message.includes("delayed data"), "a live condition is not reported as delayed");
      assert.deepEqual(
        Object.fromEntries(Object.entries(raise.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue])),
        { factory: "factory-a", line: "press-line-1", machine: "press-01", gateway: "gw-press", condition: "threshold:press-motor-hot", severity: "warning", event: "raise" },
      );
      assert.equal(clear.Subject, "[CLEARED] factory-a press-01: motorTemperature > 95 degC after 3m");
      const cleared = clear.Message ?? "";
      for (const expected of ["CLEARED after 3m", `Cleared:   ${iso(T + 240 * S)} (after 3m)`, "Value:     89 degC at the end (worst 98 degC)", `Since:     ${iso(T + 60 * S)}`]) {
        assert.ok(cleared.includes(expected), `clear message has ${JSON.stringify(expected)}:\n${cleared}`);
      }
      assert.equal(h.table.doc("machine#press-01").conditions["threshold:press-motor-hot"]?.status, "ok");
    });

    it("does not page an excursion shorter than forSeconds, however often it is evaluated", async () => {
      const temperature = (t: number): number => (t >= T + 60 * S && t < T + 150 * S ? 97 : 88);
      await sendInBatches(h, series("press-01", "motorTemperature", T, T + 600 * S, 10 * S, temperature), 30 * S);
      await h.at(T + 601 * S, health("gw-press", T + 600 * S));
      await h.at(T + 602 * S, SWEEP);
      assert.equal(h.published().length, 0);
      const state = h.table.doc("machine#press-01").conditions["threshold:press-motor-hot"];
      assert.equal(state?.status, "ok");
      assert.equal(state.lastEpisode, null, "it never became active");
    });

    it("fires when a steady value is held past forSeconds with no new reading (deadband), as the gateway's watermark advances", async () => {
      // one reading of 97 degC, then nothing: the value holds; the health messages say nothing newer exists
      await h.at(T + S, telemetry("gw-press", [reading("press-01", "motorTemperature", 97, T)], T + S));
      await h.at(T + 61 * S, health("gw-press", T + 60 * S));
      await h.at(T + 62 * S, SWEEP);
      assert.equal(h.published().length, 0, "held 50 s of 120 s");
      await h.at(T + 151 * S, health("gw-press", T + 150 * S));
      await h.at(T + 152 * S, SWEEP);
      const published = h.published();
      assert.equal(published.length, 1);
      assert.ok((published[0]?.Message ?? "").includes(`active since ${iso(T + 120 * S)}`));
    });

    it("hysteresis: a value oscillating around the limit neither flaps an active alert nor fires a pending one", async () => {
      // pending phase: 94.9 / 95.1 alternating for 10 minutes: never above 95 for 120 s without a break
      const oscillating = (t: number): number => (Math.round((t - T) / (10 * S)) % 2 === 0 ? 94.9 : 95.1);
      await sendInBatches(h, series("press-01", "motorTemperature", T, T + 600 * S, 10 * S, oscillating), 60 * S);
      assert.equal(h.published().length, 0, "never held above the limit for 120 s");
      // active phase: 97 for 3 minutes, then between 91 and 96 (inside the hysteresis band), then 89.9
      const start = T + 600 * S;
      const band = [94, 96, 93, 95.5, 91, 96, 92, 95.2, 90.5, 96.5];
      const value = (t: number): number => {
        const i = Math.round((t - start) / (10 * S));
        if (i < 18) return 97;
        if (i < 18 + 3 * band.length) return band[(i - 18) % band.length] as number;
        return 89.9;
      };
      await sendInBatches(h, series("press-01", "motorTemperature", start, start + 900 * S, 10 * S, value), 60 * S);
      const published = h.published();
      assert.deepEqual(
        published.map((p) => p.MessageAttributes?.event?.StringValue),
        ["raise", "clear"],
        "one raise and one clear: the value crossing 95 again and again inside the band changes nothing",
      );
      assert.ok((published[1]?.Message ?? "").includes(`Cleared:   ${iso(start + (18 + 3 * band.length) * 10 * S)}`), "cleared only below 95 - 5");
    });

    it("compares in the threshold's unit when the PLC reports in another unit", async () => {
      // press-pressure-low: hydraulicPressure below 180 bar for 30 s, critical; the PLC reports kPa here
      const kpa = (t: number): Reading => ({ ...reading("press-02", "hydraulicPressure", t < T + 60 * S ? 20_000 : 17_500, t), unit: "kPa" });
      const readings: Reading[] = [];
      for (let t = T; t < T + 150 * S; t += 10 * S) readings.push(kpa(t));
      await sendInBatches(h, readings, 30 * S);
      const published = h.published();
      assert.equal(published.length, 1);
      assert.equal(published[0]?.Subject, "[CRITICAL] factory-a press-02: hydraulicPressure < 180 bar");
      assert.ok((published[0].Message ?? "").includes("Value:     175 bar"), published[0].Message);
    });
  });

  describe("rates of change", () => {
    beforeEach(() => {
      h.restore();
      h = harness({ withRates: true });
    });

    it("fires when a tag changes faster than maxRatePerSecond and clears once it holds still", async () => {
      // press-motor-heating: motorTemperature faster than 0.5 degC/s; here +1 degC/s for 20 s (from 60 to 80 degC)
      const value = (t: number): number => (t < T + 60 * S ? 60 : t < T + 80 * S ? 60 + (t - T - 60 * S) / S : 80);
      await sendInBatches(h, series("press-01", "motorTemperature", T, T + 200 * S, 5 * S, value), 30 * S);
      const published = h.published();
      assert.deepEqual(published.map((p) => p.Subject), ["[WARNING] factory-a press-01: motorTemperature changing > 0.5 degC/s", "[CLEARED] factory-a press-01: motorTemperature changing > 0.5 degC/s after 20s"]);
      assert.ok((published[0]?.Message ?? "").includes("Value:     1 degC/s"), published[0]?.Message);
    });
  });

  describe("machine faults", () => {
    it("alerts a fault held longer than faultAlertSeconds, on the state events' own times", async () => {
      await h.at(T + S, stateEvent("press-02", "press-line-1", "fault", T));
      await h.at(T + 31 * S, stateEvent("press-02", "press-line-1", "running", T + 30 * S));
      assert.equal(h.published().length, 0, "a 30 s fault is below faultAlertSeconds (60)");
      await h.at(T + 101 * S, stateEvent("press-02", "press-line-1", "fault", T + 100 * S));
      await h.at(T + 201 * S, health("gw-press", T + 200 * S));
      await h.at(T + 202 * S, SWEEP);
      await h.at(T + 401 * S, stateEvent("press-02", "press-line-1", "running", T + 400 * S));
      const published = h.published();
      assert.deepEqual(published.map((p) => p.Subject), ["[CRITICAL] factory-a press-02: machine in fault", "[CLEARED] factory-a press-02: machine in fault after 5m"]);
      assert.ok((published[0]?.Message ?? "").includes(`Since:     ${iso(T + 100 * S)} (active since ${iso(T + 160 * S)}`));
    });
  });

  describe("silence", () => {
    const machines = ["press-01", "press-02", "press-03"];
    /** One minute of gw-press: telemetry of `machines` in its first 30 s, a health message at 45 s, a sweep at 50 s. */
    async function minute(m: number, reporting: readonly string[], healthy = true): Promise<void> {
      const from = T + m * MIN;
      const readings = reporting.flatMap((id) => series(id, "vibration", from, from + 31 * S, 30 * S, () => 2.5));
      if (readings.length > 0) await h.at(from + 31 * S, telemetry("gw-press", readings, from + 31 * S));
      if (healthy) await h.at(from + 46 * S, health("gw-press", from + 45 * S));
      await h.at(from + 50 * S, SWEEP);
    }

    it("finds a silent machine while its gateway and its siblings report, once, and tells when it reports again", async () => {
      for (let m = 0; m <= 7; m++) await minute(m, m <= 1 ? machines : ["press-01", "press-02"]);
      let published = h.published();
      assert.equal(published.length, 1, published.map((p) => p.Subject).join(" | "));
      assert.equal(published[0]?.Subject, "[WARNING] factory-a press-03: no telemetry (machine silent)");
      const message = published[0].Message ?? "";
      assert.ok(message.includes(`Since:     ${iso(T + 90 * S)}`) && message.includes("Gateway:   gw-press"), message);
      await minute(8, machines);
      published = h.published();
      assert.equal(published.length, 2);
      assert.equal(published[1]?.Subject, "[CLEARED] factory-a press-03: no telemetry (machine silent) after 6m 30s");
    });

    it("raises one uplink-down alert for a gateway that went quiet, not one per machine, and clears it when it is back", async () => {
      await minute(0, machines);
      await minute(1, machines);
      for (let m = 2; m <= 9; m++) await minute(m, [], false);
      let published = h.published();
      assert.equal(published.length, 1, published.map((p) => p.Subject).join(" | "));
      assert.equal(published[0]?.Subject, "[CRITICAL] factory-a gateway gw-press: gateway uplink down");
      const message = published[0].Message ?? "";
      for (const expected of ["Gateway:   Press hall gateway (gw-press)", "Machines:  14 (press-01, press-02", "not alerted one by one", `Since:     ${iso(T + 106 * S)}`]) {
        assert.ok(message.includes(expected), `uplink message has ${JSON.stringify(expected)}:\n${message}`);
      }
      assert.equal(published[0].MessageAttributes?.gateway?.StringValue, "gw-press");
      // back, with a backlog of what it buffered meanwhile
      await h.at(T + 10 * MIN, health("gw-press", T + 10 * MIN - S, { readings: 1200, ageSeconds: 500 }));
      await h.at(T + 10 * MIN + 10 * S, SWEEP);
      published = h.published();
      assert.equal(published.length, 2, published.map((p) => p.Subject).join(" | "));
      assert.ok((published[1]?.Subject ?? "").startsWith("[CLEARED] factory-a gateway gw-press: gateway uplink down after 8m"), published[1]?.Subject);
      assert.ok((published[1]?.Message ?? "").includes("backlog of 1200 readings"), published[1]?.Message);
    });
  });

  describe("a backlog replayed after an outage", () => {
    it("pages only what is still active when the data catches up, once, with its original start; what ended an hour ago is recorded", async () => {
      const now = T + 60 * MIN;
      // the gateway is back: its health says it holds an hour of readings
      await h.at(now, health("gw-press", now - S, { readings: 240, ageSeconds: 3600 }));
      const temperature = (t: number): number => (t < T + 6 * MIN ? 97 : 85); // hot for 6 min, an hour ago
      const pressure = (t: number): number => (t < T + 30 * MIN ? 200 : 150); // low for the last 30 min, still
      const backlog = [...series("press-01", "motorTemperature", T, now - 30 * S, 30 * S, temperature), ...series("press-01", "hydraulicPressure", T, now - 30 * S, 30 * S, pressure)];
      const results: DetectorResult[] = [];
      let received = now;
      for (let from = T; from < now; from += 10 * MIN) {
        const part = backlog.filter((r) => r.timestamp >= from && r.timestamp < from + 10 * MIN);
        received += 2 * S;
        results.push(await h.at(received, telemetry("gw-press", part, received)));
      }
      let published = h.published();
      assert.equal(published.length, 1, published.map((p) => p.Subject).join(" | "));
      assert.equal(published[0]?.Subject, "[CRITICAL] factory-a press-01: hydraulicPressure < 180 bar");
      const message = published[0].Message ?? "";
      assert.ok(message.includes(`Since:     ${iso(T + 30 * MIN)}`), message);
      assert.ok(message.includes("found in delayed data") && message.includes(`still active at ${iso(now - 60 * S)}`), message);
      assert.equal(results.reduce((n, r) => n + r.recorded, 0), 1, "the hour-old episode is recorded");
      const hot = h.table.doc("machine#press-01").conditions["threshold:press-motor-hot"];
      assert.equal(hot?.recorded, 1);
      assert.deepEqual(hot.lastEpisode, { since: T, activeAt: T + 2 * MIN, until: T + 6 * MIN, peak: 97, notified: false });
      assert.ok(h.logs.some((l) => l.message.includes("recorded, not paged")));
      // the next sweeps and a redelivered batch change nothing: it was paged once
      await h.at(now + MIN, SWEEP);
      await h.at(now + MIN + S, telemetry("gw-press", backlog.slice(-4), now + MIN + S));
      assert.equal(h.published().length, 1);
      // live data: the pressure is back
      await h.at(now + 31 * S, telemetry("gw-press", [reading("press-01", "hydraulicPressure", 205, now + 30 * S)], now + 31 * S));
      published = h.published();
      assert.equal(published.length, 2);
      assert.equal(published[1]?.Subject, "[CLEARED] factory-a press-01: hydraulicPressure < 180 bar after 30m 30s");
    });

    it("pages a machine whose PLC clock lags, since its gateway says nothing is buffered", async () => {
      // the PLC stamps readings 20 minutes behind the cloud's clock; the gateway (right clock) has an empty buffer
      const lag = 20 * MIN;
      await h.at(T + S, health("gw-press", T, { readings: 0, ageSeconds: 0 }));
      await sendInBatches(h, series("press-01", "motorTemperature", T - lag, T - lag + 150 * S, 10 * S, () => 97), 30 * S, lag + S);
      const published = h.published();
      assert.equal(published.length, 1);
      assert.equal(published[0]?.Subject, "[WARNING] factory-a press-01: motorTemperature > 95 degC");
      assert.ok(!(published[0].Message ?? "").includes("delayed data"));
    });

    it("tells the end of a condition that was paged before the outage, even when the end is found in delayed data", async () => {
      await sendInBatches(h, series("press-01", "motorTemperature", T, T + 3 * MIN, 10 * S, () => 97), MIN);
      assert.equal(h.published().length, 1);
      // the uplink drops; an hour later the backlog shows the motor cooled at T+5min
      const now = T + 63 * MIN;
      const backlog = series("press-01", "motorTemperature", T + 3 * MIN, T + 60 * MIN, 30 * S, (t) => (t < T + 5 * MIN ? 97 : 80));
      await h.at(now, telemetry("gw-press", backlog, now));
      const published = h.published();
      assert.equal(published.length, 2);
      assert.equal(published[1]?.Subject, "[CLEARED] factory-a press-01: motorTemperature > 95 degC after 5m");
      assert.ok((published[1].Message ?? "").includes("reported late: found in delayed data"), published[1].Message);
    });
  });

  describe("concurrency", () => {
    it("two invocations evaluating the same transition send one alert: the loser's conditional write fails, it re-reads and finds it done", async () => {
      await h.at(T + 101 * S, telemetry("gw-press", series("press-01", "motorTemperature", T, T + 101 * S, 10 * S, () => 97), T + 101 * S));
      assert.equal(h.published().length, 0, "pending: held 100 s of 120 s");
      // the same batch delivered twice (IoT Core and Lambda deliver at least once), evaluated at the same time
      const event = telemetry("gw-press", series("press-01", "motorTemperature", T + 110 * S, T + 151 * S, 10 * S, () => 98), T + 151 * S);
      h.table.holdReadsOf("machine#press-01", 2);
      h.clock.now = T + 152 * S;
      const [a, b] = await Promise.all([h.handler(event), h.handler(event)]);
      const published = h.published();
      assert.equal(published.length, 1, "exactly one alert");
      assert.equal(published[0]?.Subject, "[WARNING] factory-a press-01: motorTemperature > 95 degC");
      assert.equal(h.table.failedPuts.filter((sk) => sk === "machine#press-01").length, 1, "the loser's conditional write failed once");
      assert.ok(a.versionConflicts + b.versionConflicts >= 1);
      assert.equal(a.notificationsSent + b.notificationsSent, 1);
      const stored = h.table.items.get("factory-a|machine#press-01");
      assert.deepEqual(stored?.outbox?.M, {}, "the sent notification left the outbox");
      assert.equal(h.table.doc("machine#press-01").conditions["threshold:press-motor-hot"]?.notified, true);
    });

    it("a notification SNS refused stays in the outbox and a later sweep sends it once", async () => {
      h.sns.on(PublishCommand).rejectsOnce(new Error("SNS unavailable")).resolves({ MessageId: "m-2" });
      const result = await h.at(T + 131 * S, telemetry("gw-press", series("press-01", "motorTemperature", T, T + 131 * S, 10 * S, () => 97), T + 131 * S));
      assert.equal(result.notificationsPending, 1);
      await h.at(T + 140 * S, SWEEP);
      assert.equal(h.published().length, 1, "not yet: the claim is recent");
      await h.at(T + 131 * S + 3 * MIN, SWEEP);
      await h.at(T + 131 * S + 4 * MIN, SWEEP);
      const published = h.published();
      assert.equal(published.length, 2, "one failed attempt, one delivery");
      assert.equal(published[1]?.Subject, "[WARNING] factory-a press-01: motorTemperature > 95 degC");
      assert.deepEqual(h.table.items.get("factory-a|machine#press-01")?.outbox?.M, {});
    });
  });

  describe("malformed input", () => {
    const cases: [string, () => unknown, string, string][] = [
      ["an object that is no rule event", () => ({ hello: "world" }), "unknown", "unrecognizedEvent"],
      ["a telemetry event whose payload does not decode", () => ({ ...telemetry("gw-press", [], T), payload: "AAAAAAAA" }), "telemetry", "undecodablePayload"],
      ["a telemetry event whose client id is not the gateway's", () => ({ ...telemetry("gw-press", [reading("press-01", "vibration", 1, T)], T), clientId: "intruder" }), "telemetry", "clientIdMismatch"],
      ["a state message of a machine the factory lacks", () => ({ ...stateEvent("press-01", "press-line-1", "fault", T), machineId: "press-99" }), "state", "unknownMachine"],
      ["a state message of a line its gateway does not serve", () => ({ ...stateEvent("cnc-01", "cnc-cell-1", "fault", T) }), "state", "lineNotOnGateway"],
      ["a health message of another factory", () => ({ ...health("gw-press", T), factoryId: "factory-b" }), "health", "factoryMismatch"],
      ["a health message missing fields", () => ({ ...health("gw-press", T), backlogBytes: undefined, sentAt: "yesterday" }), "health", "invalidEvent"],
      ["a health message from a gateway whose clock runs an hour ahead", () => health("gw-press", T + 60 * MIN), "health", "timestampOutOfBounds"],
      ["a string", () => "sweep", "unknown", "unrecognizedEvent"],
    ];
    for (const [title, event, kind, reason] of cases) {
      it(`dead-letters ${title} with its reason, and goes on`, async () => {
        const input = event();
        const result = await h.at(T + S, input);
        assert.equal(result.status, "deadLettered");
        assert.equal(result.reason, reason);
        const [put] = h.s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
        assert.ok(put);
        assert.equal(put.Bucket, "factory-a-dead-letters-123456789012-eu-central-1");
        assert.ok((put.Key ?? "").startsWith(`${DEAD_LETTER_PREFIX}factory-a/${kind}/2026/11/25/`), put.Key);
        const letter = JSON.parse(put.Body as string) as { reason: string; message: string; event: unknown; kind: string };
        assert.equal(letter.reason, reason);
        assert.equal(letter.kind, kind);
        assert.ok(letter.message.length > 10);
        assert.deepEqual(letter.event, JSON.parse(JSON.stringify(input)));
        assert.equal(h.ddb.commandCalls(PutItemCommand).length, 0, "no state was written");
        assert.equal(h.published().length, 0);
        assert.equal(h.counted.DeadLettersWritten, 1);
      });
    }

    it("skips the readings the inventory refuses and evaluates the rest of the batch", async () => {
      const readings = [...series("press-01", "motorTemperature", T, T + 131 * S, 10 * S, () => 97), reading("press-99", "vibration", 1, T), reading("cnc-01", "spindleLoad", 50, T)];
      const result = await h.at(T + 132 * S, telemetry("gw-press", readings, T + 132 * S));
      assert.equal(result.status, "processed");
      assert.equal(h.published().length, 1);
      assert.equal(h.counted.ReadingsRefused, 2);
    });
  });

  describe("contract details", () => {
    it("reads the scheduler's sweep input and plain scheduled events as sweeps", () => {
      const reader = new InputReader(factoryA());
      for (const event of [SWEEP, { source: "aws.scheduler", "detail-type": "Scheduled Event", time: "2026-11-25T08:00:00Z" }]) {
        const read = reader.read(event, T);
        assert.ok(read.ok && read.input.kind === "sweep");
      }
    });

    it("subjects are ASCII and shorter than 100 characters; numbers read as people write them", () => {
      assert.equal(subjectLine(`[WARNING] ${"x".repeat(200)}`).length, MAX_SUBJECT_LENGTH);
      assert.equal(subjectLine("motor 95 °C\n"), "motor 95 ?C?");
      assert.deepEqual([fmt(97), fmt(97.4321), fmt(0.5), fmt(1234.56), fmt(-0)], ["97", "97.43", "0.5", "1234.6", "0"]);
    });

    it("reads the environment, with the score settings optional and checked", () => {
      const env = { STATE_TABLE: "t", NOTIFICATION_TOPIC_ARN: "arn", DEAD_LETTER_BUCKET: "b", POWERTOOLS_SERVICE_NAME: "detector", POWERTOOLS_METRICS_NAMESPACE: "SmartFactory/factory-a" };
      assert.deepEqual(readEnvironment(env), { tableName: "t", topicArn: "arn", deadLetterBucket: "b", serviceName: "detector", metricsNamespace: "SmartFactory/factory-a", scoreThreshold: 0.8, scoreHysteresis: 0.1 });
      assert.equal(readEnvironment({ ...env, SCORE_ENDPOINT: "factory-a-failure-risk", SCORE_THRESHOLD: "0.9" }).scoreEndpoint, "factory-a-failure-risk");
      assert.throws(() => readEnvironment({ ...env, STATE_TABLE: " ", SCORE_THRESHOLD: "high" }), /STATE_TABLE \(missing or empty\), SCORE_THRESHOLD \("high" is not a number from 0 to 1\)/);
    });

    it("parses the endpoint's answer in its usual forms", () => {
      assert.deepEqual(["0.93", "0.93\n", "0.93,0.07", "[0.93]", '{"score":0.93}', '{"predictions":[{"score":0.93}]}', '{"predictions":[0.93]}'].map(parseScore), Array(7).fill(0.93));
      assert.equal(parseScore("high"), undefined);
      assert.equal(parseScore("{}"), undefined);
    });
  });
});

describe("lambdas/detector: the failure-window score of each completed hour", () => {
  let h: Harness;
  beforeEach(() => {
    sequence = 0;
    h = harness({ scoreEndpoint: "factory-a-failure-risk" });
  });
  afterEach(() => {
    h.restore();
  });

  const HOUR = 60 * MIN;
  const columns = trainingColumns(factoryA());
  const bodies = (): string[] => h.sagemaker.commandCalls(InvokeEndpointCommand).map((c) => Buffer.from(c.args[0].input.Body as Uint8Array).toString("utf8"));
  /** A row as sent, parsed: numbers, and `""` for a missing value. */
  const parse = (line: string): (number | "")[] => line.split(",").map((f) => (f === "" ? "" : Number(f)));
  /** Assert a row is the expected one: one field per column, empty where no value is expected, numbers equal to 1e-12. */
  const assertRow = (line: string, expected: Record<string, number>): void => {
    const row = parse(line);
    assert.equal(row.length, columns.length, `one field per training column (${columns.length}): ${line}`);
    columns.forEach((column, i) => {
      const want = expected[column];
      const got = row[i];
      if (want === undefined) assert.equal(got, "", `${column} is missing (empty), not ${String(got)}`);
      else assert.ok(typeof got === "number" && Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${column}: ${String(got)}, expected ${want}`);
    });
  };
  /** Send readings of gw-press received a second after the newest of them. */
  const send = async (readings: Reading[]): Promise<DetectorResult> => {
    const newest = Math.max(...readings.map((r) => r.timestamp));
    return h.at(newest + S, telemetry("gw-press", readings, newest + S));
  };
  const state = async (value: MachineState, t: number): Promise<DetectorResult> => h.at(t + S, stateEvent("press-01", "press-line-1", value, t));
  /** A health message saying nothing is buffered, then the sweep. */
  const sweepAt = async (t: number): Promise<void> => {
    await h.at(t, health("gw-press", t - S));
    await h.at(t + S, SWEEP);
  };

  it("sends the hour's row of the training set once the hour is over: the feature tags' statistics in SI units, records, fault time and entries, bad readings, the type one-hot", async () => {
    h.sagemaker.on(InvokeEndpointCommand).callsFake(() => ({ Body: new TextEncoder().encode("0.2") }));
    // 07:59:50: the machine's first data; the hour it falls in was not accumulated whole and is not scored
    await send([reading("press-01", "vibration", 2, T - 10 * S)]);
    await state("fault", T - 5 * S); // a fault episode across 08:00: 20 s of it in the hour, its entry before
    await send([reading("press-01", "motorTemperature", 70, T + 10 * S), reading("press-01", "vibration", 2, T + 10 * S), reading("press-01", "ramForce", 2500, T + 10 * S)]);
    await state("running", T + 20 * S);
    // a reading of bad quality still has its value in the telemetry column (and counts as a bad reading)
    await send([reading("press-01", "motorTemperature", 72, T + 20 * MIN), { ...reading("press-01", "vibration", 4, T + 20 * MIN), quality: "bad" }]);
    await send([{ ...reading("press-01", "ramForce", 0, T + 30 * MIN), value: null, quality: "bad" }]);
    // a redelivered reading is a duplicate; one record's readings split over two batches are one record
    await send([reading("press-01", "motorTemperature", 74, T + 40 * MIN), reading("press-01", "motorTemperature", 72, T + 20 * MIN)]);
    await h.at(T + 40 * MIN + 5 * S, telemetry("gw-press", [reading("press-01", "vibration", 3, T + 40 * MIN)], T + 40 * MIN + 5 * S));
    await sweepAt(T + 45 * MIN);
    assert.equal(bodies().length, 0, "nothing is scored before the hour is over");
    await state("fault", T + 59 * MIN); // a fault episode across 09:00: 60 s of it and its entry in the hour
    await state("running", T + HOUR + 30 * S);

    const sent = bodies();
    assert.equal(sent.length, 1, "the completed hour is scored once; the partial hour before it is not");
    const call = h.sagemaker.commandCalls(InvokeEndpointCommand)[0]?.args[0].input;
    assert.equal(call?.EndpointName, "factory-a-failure-risk");
    assert.equal(call.ContentType, "text/csv");
    // motorTemperature 70, 72, 74 degC; vibration 2, 4, 3 mm/s = 0.002, 0.004, 0.003 m/s; the cnc-mill's tags: missing
    assertRow(sent[0] ?? "", {
      motorTemperature_avg: 72,
      motorTemperature_stddev: 2,
      motorTemperature_min: 70,
      motorTemperature_max: 74,
      vibration_avg: 0.003,
      vibration_stddev: 0.001,
      vibration_min: 0.002,
      vibration_max: 0.004,
      samples: 4, // 08:00:10, 08:20, 08:30, 08:40
      fault_seconds: 80,
      fault_entries: 1,
      bad_readings: 2,
      type_servo_press: 1,
      type_cnc_mill: 0,
    });
    assert.match(sent[0] ?? "", /^72,2,70,74,0\.00[0-9]+,0\.00[0-9]+,0\.002,0\.004,,,,,,,,,4,80,1,2,1,0$/, "integers as integers, missing as empty fields");

    // the next hour goes on: nothing more is scored until it is over
    await send([reading("press-01", "motorTemperature", 75, T + HOUR + 40 * S)]);
    await sweepAt(T + HOUR + MIN);
    await sweepAt(T + HOUR + 4 * MIN);
    assert.equal(bodies().length, 1, "one call per completed hour, not per sweep");
    assert.equal(h.table.doc("machine#press-01").features?.pending, null, "the scored hour is no longer pending");
    assert.ok(JSON.stringify(h.table.doc("machine#press-01")).length < 2000, "the document keeps one hour");
  });

  it("scores each completed hour once and alerts at the threshold, with hysteresis", async () => {
    const answers = ["0.93", "0.75", '{"predictions":[{"score":0.6}]}'];
    h.sagemaker.on(InvokeEndpointCommand).callsFake(() => ({ Body: new TextEncoder().encode(answers.shift() ?? "0") }));
    await send([reading("press-01", "motorTemperature", 70, T - MIN)]);
    for (let hour = 0; hour < 3; hour++) {
      for (let m = 0; m < 60; m += 10) {
        const t = T + hour * HOUR + m * MIN + 30 * S;
        await send([reading("press-01", "motorTemperature", 70 + m / 10, t), reading("press-01", "vibration", 2 + m / 100, t)]);
        await sweepAt(t + MIN);
      }
    }
    assert.equal(bodies().length, 2, "two hours completed (the third is not over)");
    await send([reading("press-01", "motorTemperature", 71, T + 3 * HOUR + 30 * S)]);
    const sent = bodies();
    assert.equal(sent.length, 3, "three hours, three calls");
    const at = (line: string, names: readonly string[]): (number | "")[] => names.map((c) => parse(line)[columns.indexOf(c)] ?? "");
    for (const line of sent) {
      // 70, 71, ... 75 degC at :00:30, :10:30, ... :50:30 of each hour
      assert.deepEqual(at(line, ["motorTemperature_avg", "motorTemperature_min", "motorTemperature_max", "samples", "fault_seconds", "fault_entries", "bad_readings", "type_servo_press", "type_cnc_mill"]), [72.5, 70, 75, 6, 0, 0, 0, 1, 0]);
    }
    const published = h.published();
    assert.deepEqual(published.map((p) => p.Subject), ["[WARNING] factory-a press-01: failure-window score 0.93", "[CLEARED] factory-a press-01: failure-window score 0.93 after 2h"]);
    assert.ok((published[0]?.Message ?? "").includes("Value:     0.93"), published[0]?.Message);
    assert.ok((published[0]?.Message ?? "").includes(`Since:     ${iso(T + HOUR + 30 * S)}`), published[0]?.Message);
  });

  it("gives empty fields for a tag without values in the hour, and no standard deviation of a single value", async () => {
    h.sagemaker.on(InvokeEndpointCommand).callsFake(() => ({ Body: new TextEncoder().encode("0.1") }));
    await send([reading("press-01", "strokeRate", 30, T - MIN)]);
    await send([reading("press-01", "motorTemperature", 71.5, T + 5 * MIN), reading("press-01", "strokeRate", 30, T + 5 * MIN)]);
    await send([reading("press-01", "strokeRate", 31, T + 35 * MIN)]);
    await send([reading("press-01", "strokeRate", 32, T + HOUR + 5 * S)]);
    const sent = bodies();
    assert.equal(sent.length, 1);
    // no vibration reading in the hour: its four fields are empty, as are the cnc-mill's tags
    assertRow(sent[0] ?? "", {
      motorTemperature_avg: 71.5,
      motorTemperature_min: 71.5,
      motorTemperature_max: 71.5,
      samples: 2,
      fault_seconds: 0,
      fault_entries: 0,
      bad_readings: 0,
      type_servo_press: 1,
      type_cnc_mill: 0,
    });
    assert.equal(sent[0], "71.5,,71.5,71.5,,,,,,,,,,,,,2,0,0,0,1,0");
  });

  it("does not score the hours of a replayed backlog as if current: only the newest completed hour, once the data caught up", async () => {
    h.sagemaker.on(InvokeEndpointCommand).callsFake(() => ({ Body: new TextEncoder().encode("0.95") }));
    const now = T + 2 * HOUR + 30 * MIN; // 10:30: the gateway is back with 2 h 40 min of readings
    await h.at(now, health("gw-press", now - S, { readings: 960, ageSeconds: 9600 }));
    const backlog = series("press-01", "motorTemperature", T - 10 * MIN, now - 10 * S, 30 * S, (t) => 70 + (t - T) / HOUR); // 70 degC at 08:00, 71 at 09:00
    let received = now;
    for (let from = T - 10 * MIN; from < now; from += 20 * MIN) {
      received += 2 * S;
      await h.at(received, telemetry("gw-press", backlog.filter((r) => r.timestamp >= from && r.timestamp < from + 20 * MIN), received));
      if (from + 20 * MIN < now - 5 * MIN) assert.equal(bodies().length, 0, `nothing scored while the replay is behind (up to ${iso(from + 20 * MIN)})`);
    }
    // caught up at 10:29:30, which is live: 08:00-09:00 closed while the replay was behind and was superseded;
    // 09:00-10:00, the hour before the live one, is scored, once
    const sent = bodies();
    assert.equal(sent.length, 1, "one hour scored");
    assert.equal(parse(sent[0] ?? "")[columns.indexOf("samples")], 120);
    assert.equal(parse(sent[0] ?? "")[columns.indexOf("motorTemperature_min")], 71, "the hour 09:00-10:00");
    await h.at(now + MIN, health("gw-press", now + MIN - S));
    await h.at(now + MIN + S, SWEEP);
    assert.equal(bodies().length, 1);
    assert.equal(h.published().length, 1, "its score pages");
    assert.ok(!(h.published()[0]?.Message ?? "").includes("delayed data"), "scored live, not found in delayed data");
  });

  it("never scores an hour that is long past when it closes, even when the gateway's watermark closes it live", async () => {
    h.sagemaker.on(InvokeEndpointCommand).callsFake(() => ({ Body: new TextEncoder().encode("0.95") }));
    const now = T + 2 * HOUR + 30 * MIN;
    await h.at(now, health("gw-press", now - S, { readings: 240, ageSeconds: 9600 }));
    // the machine stopped sending at 08:50; its backlog is replayed at 10:30
    await h.at(now + S, telemetry("gw-press", series("press-01", "motorTemperature", T - 10 * MIN, T + 50 * MIN, 30 * S, () => 70), now + S));
    await h.at(now + 2 * S, SWEEP);
    // the gateway is current again: its watermark (10:30) passes 09:00, the end of an hour that ended 90 minutes ago
    await h.at(now + MIN, health("gw-press", now + MIN - S));
    await h.at(now + MIN + S, SWEEP);
    await h.at(now + 2 * MIN + S, SWEEP);
    assert.equal(bodies().length, 0);
    // a reading of 09:30 that arrives after all (a tag not heard from since) is of an hour the clock passed: it opens
    // no hour of its own (which the watermark would close at once and score on this one reading)
    await h.at(now + 3 * MIN, telemetry("gw-press", [reading("press-01", "vibration", 2, T + HOUR + 30 * MIN)], now + 3 * MIN));
    await h.at(now + 3 * MIN + S, SWEEP);
    assert.equal(bodies().length, 0);
    const features = h.table.doc("machine#press-01").features;
    assert.deepEqual([features?.hour, features?.pending, features?.closedUntil], [null, null, T + 2 * HOUR], "the hours before the clock's are closed, nothing pending");
  });

  it("drops a completed hour that waited for the replay to catch up once the machine's clock is past the hour after it", async () => {
    h.sagemaker.on(InvokeEndpointCommand).callsFake(() => ({ Body: new TextEncoder().encode("0.95") }));
    const now = T + 2 * HOUR + 30 * MIN;
    await h.at(now, health("gw-press", now - S, { readings: 240, ageSeconds: 9600 }));
    await h.at(now + S, telemetry("gw-press", series("press-01", "motorTemperature", T - 10 * MIN, T + 50 * MIN, 30 * S, () => 70), now + S));
    // still replaying: the oldest buffered reading is of 09:20, so the watermark closes 08:00-09:00, which waits
    await h.at(now + 20 * S, health("gw-press", now + 19 * S, { readings: 100, ageSeconds: (now + 19 * S - (T + HOUR + 20 * MIN)) / S }));
    await h.at(now + 21 * S, SWEEP);
    assert.equal(h.table.doc("machine#press-01").features?.pending?.hour, T, "08:00-09:00 completed, not scored while behind");
    // caught up: the machine's clock is 10:30, past 09:00-10:00: the hour is long past
    await h.at(now + MIN, health("gw-press", now + MIN - S));
    await h.at(now + MIN + S, SWEEP);
    assert.equal(bodies().length, 0);
    assert.equal(h.table.doc("machine#press-01").features?.pending, null, "dropped");
  });

  it("goes on without a score when the endpoint fails, and a later sweep tries the hour again", async () => {
    h.sagemaker.on(InvokeEndpointCommand).rejectsOnce(new Error("ModelError: the model is warming up")).callsFake(() => ({ Body: new TextEncoder().encode("0.9") }));
    await send([reading("press-01", "motorTemperature", 70, T - MIN)]);
    await send([reading("press-01", "motorTemperature", 71, T + MIN)]);
    const result = await send([reading("press-01", "motorTemperature", 72, T + HOUR + S)]);
    assert.equal(result.status, "processed");
    assert.equal(h.published().length, 0);
    assert.equal(h.counted.ScoreFailures, 1);
    assert.ok(h.logs.some((l) => l.level === "error" && l.message.includes("score not available")));
    await sweepAt(T + HOUR + MIN);
    assert.equal(bodies().length, 1, "not again at once");
    await sweepAt(T + HOUR + 4 * MIN);
    assert.equal(bodies().length, 2, "tried again after the retry interval");
    assert.equal(bodies()[1], bodies()[0], "the same hour");
    assert.equal(h.published()[0]?.Subject, "[WARNING] factory-a press-01: failure-window score 0.9");
    await sweepAt(T + HOUR + 8 * MIN);
    assert.equal(bodies().length, 2, "scored: not tried again");
  });

  describe("without an endpoint", () => {
    beforeEach(() => {
      h.restore();
      h = harness();
    });

    it("keeps no features in the documents and calls nothing", async () => {
      await send([reading("press-01", "motorTemperature", 70, T - MIN)]);
      await send([reading("press-01", "motorTemperature", 71, T + HOUR + S)]);
      await sweepAt(T + HOUR + MIN);
      assert.equal(h.table.doc("machine#press-01").features, undefined);
      assert.equal(h.sagemaker.commandCalls(InvokeEndpointCommand).length, 0);
    });
  });
});
