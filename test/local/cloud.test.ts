import { strict as assert } from "node:assert";
import {
  agentClientId,
  tagSetOf,
  canonicalUnitOf,
  encodeTelemetryBatch,
  healthTopic,
  machineCounters,
  machinePropertyAlias,
  stateTopic,
  telemetryTopic,
  toSiteWiseStateMessage,
  type FactoryConfig,
  type HealthMessage,
  type LakeRow,
  type MachineState,
  type MachineStateEvent,
  type Reading,
  type TelemetryBatch,
} from "@smart-factory/sdk";
import { compressConfig, createLocalCloud, TREND_POINTS, type LocalCloud } from "../../local/cloud/index";
import { localMiddlewareName } from "../../local/cloud/serveLocally";
import { LocalTwin } from "../../local/cloud/twin";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";
import { reading } from "../helpers/readings";

const T0 = Date.UTC(2026, 10, 25, 8, 0, 0);
const S = 1000;
const MIN = 60 * S;
const FACTORY = "factory-a";

let config: FactoryConfig | undefined;
function factoryA(): FactoryConfig {
  return (config ??= loadFactoryConfigFromStack(FACTORY));
}

/** A local cloud of factory-a at `speed`, on a clock the test moves. */
function harness(speed: number) {
  const clock = { now: T0 };
  const cloud = createLocalCloud({ config: factoryA(), speed, now: () => clock.now });
  let sequence = 0;
  return {
    clock,
    cloud,
    /** Publish a telemetry batch of `gatewayId` at wall-clock `at`, as its agent would (or as `clientId`). */
    telemetry: (gatewayId: string, readings: Reading[], at: number, clientId = agentClientId(FACTORY as never, gatewayId as never)) => {
      clock.now = at;
      const batch = { schemaVersion: 1, factoryId: FACTORY, gatewayId, sequence: ++sequence, sentAt: at - 100, readings } as TelemetryBatch;
      return cloud.deliver(telemetryTopic(batch.factoryId, batch.gatewayId), Buffer.from(encodeTelemetryBatch(batch)), clientId);
    },
    /** Publish a machine state event of a gw-press machine on its state topic, received just after it happened. */
    state: (lineId: string, machineId: string, state: MachineState, timestamp: number, good = 0, bad = 0) => {
      clock.now = timestamp + 500;
      const message = toSiteWiseStateMessage(
        { machineId, timestamp, clock: "source", state, goodIncrement: good, badIncrement: bad } as Parameters<typeof toSiteWiseStateMessage>[0],
        { factoryId: FACTORY, gatewayId: "gw-press", lineId, sequence: ++sequence } as Parameters<typeof toSiteWiseStateMessage>[1],
      );
      return cloud.deliver(stateTopic(FACTORY as never, "gw-press" as never, lineId as never, machineId as never), Buffer.from(JSON.stringify(message)), agentClientId(FACTORY as never, "gw-press" as never));
    },
    /** Publish a health message of `gatewayId` at wall-clock `at`. */
    health: (gatewayId: string, at: number, backlog = 0) => {
      clock.now = at;
      const message = {
        schemaVersion: 1,
        factoryId: FACTORY,
        gatewayId,
        sentAt: at,
        backlogReadings: backlog,
        backlogBytes: backlog * 12,
        backlogAgeSeconds: backlog === 0 ? 0 : 30,
        droppedReadings: 0,
        opcuaSessionsUp: 10,
        opcuaSessionsConfigured: 10,
        deadLetters: 2,
        publishedReadingsPerSecond: 40,
        staleMachines: [],
        lastValueAt: {},
      } as unknown as HealthMessage;
      return cloud.deliver(healthTopic(FACTORY as never, gatewayId as never), Buffer.from(JSON.stringify(message)), agentClientId(FACTORY as never, gatewayId as never));
    },
    sweep: (at: number) => {
      clock.now = at;
      return cloud.sweep();
    },
  };
}

function machineView(cloud: LocalCloud, machineId: string) {
  const found = cloud.snapshot().lines.flatMap((l) => l.machines).find((m) => m.id === machineId);
  assert.ok(found, `machine ${machineId} is in the snapshot`);
  return found;
}

function close(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${String(actual)}`);
}

describe("local/cloud: the rules router with the real handlers", () => {
  describe("telemetry", () => {
    it("a batch the agent publishes on its telemetry topic ends in the local Timestream in SI units, in the lake, and in the snapshot", async () => {
      const h = harness(1);
      const at = T0 + S;
      const readings = [reading("press-01", "hydraulicPressure", 200, "bar", at), reading("press-01", "vibration", 2.5, "mm/s", at), reading("press-01", "motorTemperature", 61.5, "degC", at)];
      const result = await h.telemetry("gw-press", readings, at + S);
      assert.deepEqual(result, { topic: telemetryTopic(FACTORY as never, "gw-press" as never), kind: "telemetry", outcome: "routed", actionErrors: 0, failedInvocations: 0 });
      const records = h.cloud.telemetryRecords();
      assert.equal(records.length, 1);
      const [r] = records;
      assert.deepEqual(r?.dimensions, { factory: FACTORY, line: "press-line-1", machine_type: "servo-press", machine: "press-01", tag_set: tagSetOf(["hydraulicPressure", "vibration", "motorTemperature"]) });
      assert.equal(r.time, at);
      assert.equal(r.measures.hydraulicPressure?.value, "20000000", "200 bar stored in pascal");
      close(Number(r.measures.vibration?.value), 0.0025, "2.5 mm/s stored in m/s");
      assert.equal(r.measures.motorTemperature?.value, "61.5");
      assert.equal(h.cloud.readingCount(), 3);
      const lake = h.cloud.lakeRows().readings.rows as LakeRow[];
      assert.deepEqual(lake.map((row) => [row.tag, row.unit]).sort(), [
        ["hydraulicPressure", canonicalUnitOf("bar")],
        ["motorTemperature", canonicalUnitOf("degC")],
        ["vibration", canonicalUnitOf("mm/s")],
      ]);
      assert.equal(machineView(h.cloud, "press-01").lastReadingAt, at);
      assert.equal(h.cloud.snapshot().totals.readingsWritten, 3);
      assert.equal(h.cloud.metrics().detector.DetectorInputs, 1, "the detector got the batch too");
      // the same batch again (a QoS 1 redelivery): the records are identical, nothing changes, nothing is dead-lettered
      await h.cloud.deliver(telemetryTopic(FACTORY as never, "gw-press" as never), Buffer.from(encodeTelemetryBatch({ schemaVersion: 1, factoryId: FACTORY, gatewayId: "gw-press", sequence: 1, sentAt: at, readings } as TelemetryBatch)), agentClientId(FACTORY as never, "gw-press" as never));
      assert.equal(h.cloud.readingCount(), 3);
      assert.equal(h.cloud.deadLetters().size, 0);
    });

    it("a batch whose client id is not the gateway's agent is dead-lettered by the enrichment handler and written nowhere", async () => {
      const h = harness(1);
      await h.telemetry("gw-press", [reading("press-01", "motorTemperature", 60, "degC", T0)], T0 + S, "factory-a-gw-cnc-agent");
      assert.equal(h.cloud.telemetryRecords().length, 0);
      const letters = [...h.cloud.deadLetters()];
      const enrich = letters.filter(([key]) => key.startsWith("enrich/factory-a/") && key.endsWith("-batch.json"));
      assert.equal(enrich.length, 1, letters.map(([k]) => k).join(", "));
      const letter = JSON.parse(enrich[0]![1].body.toString("utf8")) as { reason: string; clientId: string };
      assert.equal(letter.reason, "clientIdMismatch");
      assert.equal(letter.clientId, "factory-a-gw-cnc-agent");
      assert.ok(letters.some(([key]) => key.startsWith("detector/factory-a/telemetry/")), "the detector dead-letters it too");
      assert.equal(h.cloud.snapshot().totals.cloudDeadLetters, 2);
      assert.deepEqual(h.cloud.failures(), [], "a refusal is not a failed invocation");
    });
  });

  describe("state and OEE", () => {
    it("state messages build the twin's history by alias, and a machine's OEE equals the hand-computed value", async () => {
      // speed 1, press-01 (ideal 30 parts/min): 30 min running at exactly the ideal rate with 2 % bad, 10 min fault
      const h = harness(1);
      await h.state("press-line-1", "press-01", "running", T0);
      for (let m = 1; m <= 30; m++) {
        // 30 parts a minute; one of them bad in each of the first 18 minutes: 882 good, 18 bad
        await h.state("press-line-1", "press-01", m === 30 ? "fault" : "running", T0 + m * MIN, m <= 18 ? 29 : 30, m <= 18 ? 1 : 0);
      }
      await h.state("press-line-1", "press-01", "running", T0 + 40 * MIN);
      // the fault message delivered again (QoS 1): SiteWise keeps one value per time, so nothing is counted twice
      await h.state("press-line-1", "press-01", "fault", T0 + 30 * MIN, 30, 0);
      h.clock.now = T0 + 40 * MIN;
      const stateAlias = machinePropertyAlias(FACTORY as never, "press-line-1" as never, "press-01" as never, "state");
      const history = h.cloud.twin.propertyValues(stateAlias);
      assert.equal(history.length, 32);
      assert.deepEqual(history.slice(-2), [
        { time: T0 + 30 * MIN, value: 2 },
        { time: T0 + 40 * MIN, value: 1 },
      ]);
      const press = machineView(h.cloud, "press-01");
      close(press.oee.availability, 0.75, "availability");
      close(press.oee.performance, 1, "performance");
      close(press.oee.quality, 0.98, "quality");
      close(press.oee.oee, 0.735, "oee");
      assert.deepEqual([press.state, press.stateSince, press.goodParts, press.badParts], ["running", T0 + 40 * MIN, 882, 18]);
      const snapshot = h.cloud.snapshot();
      const line = snapshot.lines.find((l) => l.id === "press-line-1");
      close(line?.oee.oee ?? null, 0.735, "the line's OEE (its other machines reported nothing)");
      close(snapshot.oee.oee, 0.735, "the factory's OEE");
      assert.equal(machineView(h.cloud, "press-02").oee.oee, null, "a machine without state has no data");
      assert.equal(snapshot.totals.stateEvents, 33);
      assert.equal(h.cloud.lakeRows().states.total, 33, "every state message went to the lake's states stream");
      assert.equal(h.cloud.counts().routed.state, 33);
    });

    it("a fault held longer than the compressed faultAlertSeconds raises one notification and, once running again, clears it", async () => {
      const h = harness(10); // faultAlertSeconds 60 -> 6
      await h.state("press-line-1", "press-02", "running", T0);
      await h.state("press-line-1", "press-02", "fault", T0 + 60 * S);
      await h.health("gw-press", T0 + 90 * S); // its watermark passes the fault's 6 s
      await h.sweep(T0 + 91 * S);
      await h.sweep(T0 + 100 * S);
      assert.deepEqual(h.cloud.notifications().map((n) => n.subject), ["[CRITICAL] factory-a press-02: machine in fault"]);
      const raised = h.cloud.snapshot();
      assert.equal(raised.activeAlerts, 1);
      assert.equal(machineView(h.cloud, "press-02").activeAlerts, 1);
      assert.deepEqual(
        { ...raised.alerts[0], at: 0 },
        { id: `machine#press-02/fault/${T0 + 60 * S}/raise`, kind: "raised", severity: "critical", lineId: "press-line-1", machineId: "press-02", gatewayId: "gw-press", subject: "machine in fault", at: 0 },
      );
      await h.state("press-line-1", "press-02", "running", T0 + 120 * S);
      assert.deepEqual(h.cloud.notifications().map((n) => n.subject), ["[CRITICAL] factory-a press-02: machine in fault", "[CLEARED] factory-a press-02: machine in fault after 1m"]);
      const cleared = h.cloud.snapshot();
      assert.equal(cleared.activeAlerts, 0);
      assert.deepEqual(cleared.alerts.map((a) => [a.kind, a.id]), [
        ["cleared", `machine#press-02/fault/${T0 + 60 * S}/clear`],
        ["raised", `machine#press-02/fault/${T0 + 60 * S}/raise`],
      ]);
    });
  });

  describe("the twin's OEE after a replayed backlog", () => {
    it("equals the SDK's computation over the whole history when older events arrive after newer ones", () => {
      const twin = new LocalTwin(compressConfig(factoryA(), 1), T0);
      const event = (minute: number, state: MachineState, good: number, bad: number): MachineStateEvent =>
        ({ machineId: "press-01", timestamp: T0 + minute * MIN, clock: "source", state, goodIncrement: good, badIncrement: bad }) as MachineStateEvent;
      const put = (e: MachineStateEvent): void => {
        const message = toSiteWiseStateMessage(e, { factoryId: FACTORY, gatewayId: "gw-press", lineId: "press-line-1", sequence: 1 } as Parameters<typeof toSiteWiseStateMessage>[1]);
        twin.putStateMessage(message, { factory: FACTORY, line: "press-line-1", machine: "press-01" }, T0 + 30 * MIN);
      };
      const live = [event(1, "running", 0, 0), ...Array.from({ length: 19 }, (_, i) => event(i + 2, "running", 28, 2))];
      const backlog = [event(5.5, "fault", 3, 0), event(8.25, "idle", 0, 0), event(8.75, "running", 0, 0)];
      for (const e of live) put(e);
      const before = twin.machine("press-01", T0 + 25 * MIN).counters; // folds the older events into a checkpoint
      for (const e of backlog) put(e);
      const after = twin.machine("press-01", T0 + 25 * MIN).counters;
      const expected = machineCounters([...live, ...backlog], { from: T0, to: T0 + 25 * MIN }, 30);
      assert.notDeepEqual(before, expected, "the backlog changes the figures");
      for (const key of Object.keys(expected) as (keyof typeof expected)[]) close(after[key], expected[key], key);
      assert.deepEqual(twin.machine("press-01", T0 + 25 * MIN).stateSince, T0 + 8.75 * MIN, "running since the backlog's last event");
    });
  });

  describe("gateways", () => {
    it("a sweep after a gateway's health stops raises its uplink-down alert once, and its next message clears it", async () => {
      const h = harness(10); // silentMachineSeconds 300 -> 30
      await h.health("gw-cnc", T0);
      await h.sweep(T0 + 20 * S);
      assert.equal(h.cloud.notifications().length, 0, "20 s of silence is within the compressed 30 s");
      await h.sweep(T0 + 45 * S);
      await h.sweep(T0 + 50 * S);
      assert.deepEqual(h.cloud.notifications().map((n) => n.subject), ["[CRITICAL] factory-a gateway gw-cnc: gateway uplink down"]);
      h.cloud.setUplink(false, T0 + 2 * MIN);
      let snapshot = h.cloud.snapshot();
      assert.deepEqual(snapshot.uplink, { up: false, downUntil: T0 + 2 * MIN });
      const gateway = snapshot.gateways.find((g) => g.id === "gw-cnc");
      assert.deepEqual(gateway, { id: "gw-cnc", thing: "factory-a-gw-cnc", bufferDepth: 0, oldestUnsentSeconds: null, publishedPerSecond: 40, deadLetters: 2, connected: false, lastHealthAt: T0 });
      assert.equal(snapshot.totals.edgeDeadLetters, 2);
      assert.deepEqual(
        { ...snapshot.alerts[0], at: 0 },
        { id: `gateway#gw-cnc/uplink/${T0}/raise`, kind: "raised", severity: "critical", lineId: null, machineId: null, gatewayId: "gw-cnc", subject: "gateway uplink down", at: 0 },
      );
      h.cloud.setUplink(true, null);
      await h.health("gw-cnc", T0 + 70 * S, 120);
      snapshot = h.cloud.snapshot();
      assert.equal(h.cloud.notifications()[1]?.subject, "[CLEARED] factory-a gateway gw-cnc: gateway uplink down after 1m 10s");
      assert.equal(snapshot.activeAlerts, 0);
      assert.deepEqual(
        snapshot.gateways.filter((g) => g.id === "gw-cnc").map((g) => [g.connected, g.bufferDepth, g.oldestUnsentSeconds]),
        [[true, 120, 30]],
      );
    });
  });

  describe("what the rules do not route", () => {
    it("counts a message on an unknown topic or one the WHERE clause drops, and goes on routing", async () => {
      const h = harness(1);
      const client = agentClientId(FACTORY as never, "gw-press" as never);
      const results = [
        await h.cloud.deliver("sf/v1/factory-a/factory-a-gw-press/bogus", Buffer.from("{}"), client),
        await h.cloud.deliver("$aws/rules/sf_factory_a_state/sf/v1/factory-a/factory-a-gw-press/health", Buffer.from("{}"), client),
        await h.cloud.deliver(healthTopic("factory-b" as never, "gw-mould" as never), Buffer.from("{}"), client),
        await h.cloud.deliver(stateTopic(FACTORY as never, "gw-press" as never, "press-line-1" as never, "press-01" as never), Buffer.from(JSON.stringify({ schemaVersion: 2 })), client),
        await h.cloud.deliver(healthTopic(FACTORY as never, "gw-press" as never), Buffer.from("not json"), client),
      ];
      assert.deepEqual(results.map((r) => r.outcome), ["unknownTopic", "unknownTopic", "unknownTopic", "droppedByRule", "droppedByRule"]);
      assert.ok((results[3]?.reason ?? "").includes("schemaVersion is 2"), results[3]?.reason);
      await h.health("gw-press", T0 + S);
      const counts = h.cloud.counts();
      assert.deepEqual([counts.messages, counts.unknownTopic, counts.droppedByRule, counts.routed.health, counts.failedInvocations], [6, 3, 2, 1, 0]);
      assert.equal(h.cloud.snapshot().gateways.find((g) => g.id === "gw-press")?.lastHealthAt, T0 + S);
    });

    it("a state message for a machine not on the topic's line fails the SiteWise action: the error action dead-letters it", async () => {
      const h = harness(1);
      const message = toSiteWiseStateMessage(
        { machineId: "cnc-01", timestamp: T0, clock: "source", state: "running", goodIncrement: 0, badIncrement: 0 } as Parameters<typeof toSiteWiseStateMessage>[0],
        { factoryId: FACTORY, gatewayId: "gw-press", lineId: "press-line-1", sequence: 1 } as Parameters<typeof toSiteWiseStateMessage>[1],
      );
      const result = await h.cloud.deliver(stateTopic(FACTORY as never, "gw-press" as never, "press-line-1" as never, "cnc-01" as never), Buffer.from(JSON.stringify(message)), "factory-a-gw-press-agent");
      assert.equal(result.actionErrors, 1);
      const ruleErrors = [...h.cloud.deadLetters()].filter(([key]) => key.startsWith("rule-errors/state/factory-a-gw-press/"));
      assert.equal(ruleErrors.length, 1);
      const body = JSON.parse(ruleErrors[0]![1].body.toString("utf8")) as { ruleName: string; failures: { failedAction: string; errorMessage: string }[]; base64OriginalPayload: string };
      assert.equal(body.ruleName, "sf_factory_a_state");
      const [failure] = body.failures;
      assert.equal(failure?.failedAction, "iotSiteWise");
      assert.ok(failure.errorMessage.includes("/sf/factory-a/press-line-1/cnc-01/state"), failure.errorMessage);
      assert.deepEqual(JSON.parse(Buffer.from(body.base64OriginalPayload, "base64").toString("utf8")), message);
      assert.equal(h.cloud.counts().ruleErrors, 1);
    });

    it("a handler that throws is retried, then listed as a failed invocation, and the router keeps going", async () => {
      const h = harness(1);
      const timestream = h.cloud.aws.clients.timestream;
      timestream.middlewareStack.addRelativeTo(() => () => Promise.reject(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" })), {
        relation: "before",
        toMiddleware: localMiddlewareName("Timestream"),
        name: "outage",
      });
      const readings = [reading("press-01", "motorTemperature", 60, "degC", T0)];
      const result = await h.telemetry("gw-press", readings, T0 + S);
      assert.equal(result.failedInvocations, 1);
      const failures = h.cloud.failures();
      assert.equal(failures.length, 1);
      assert.equal(failures[0]?.function, "enrich");
      assert.equal(failures[0].attempts, 3);
      assert.ok(failures[0].error.includes("WriteRecords failed"), failures[0].error);
      timestream.middlewareStack.remove("outage");
      await h.telemetry("gw-press", readings, T0 + 2 * S);
      assert.equal(h.cloud.telemetryRecords().length, 1, "the next delivery is written");
      assert.equal(h.cloud.counts().failedInvocations, 1);
    });
  });

  describe("the snapshot's trend", () => {
    it("keeps at most 120 points, one per tick interval, with the readings per second", async () => {
      const h = harness(1);
      for (let i = 1; i <= 150; i++) {
        h.clock.now = T0 + i * S;
        if (i === 100) await h.telemetry("gw-press", [reading("press-01", "motorTemperature", 60, "degC", T0 + 99 * S), reading("press-01", "strokeRate", 20, "rpm", T0 + 99 * S)], T0 + 100 * S);
        h.cloud.tick();
        h.cloud.tick(); // a second tick within the interval adds nothing
      }
      const trend = h.cloud.snapshot().trend;
      assert.equal(trend.length, TREND_POINTS);
      assert.equal(trend[trend.length - 1]?.at, T0 + 150 * S);
      assert.equal(trend.find((p) => p.at === T0 + 100 * S)?.readingsPerSecond, 2);
      assert.deepEqual(Object.keys(trend[0]?.lines ?? {}), ["press-line-1", "press-line-2", "cnc-cell-1"]);
    });
  });
});

describe("local/cloud: compressConfig", () => {
  it("multiplies ideal run rates and rate-of-change limits by the speed, divides the alert durations by it, and leaves the input untouched", () => {
    const original = factoryA();
    const before = structuredClone(original);
    const fast = compressConfig(original, 10);
    assert.deepEqual(original, before);
    assert.deepEqual(
      fast.lines.flatMap((l) => l.machines.map((m) => m.idealRunRate)),
      original.lines.flatMap((l) => l.machines.map((m) => m.idealRunRate * 10)),
    );
    assert.equal(fast.alerts.silentMachineSeconds, original.alerts.silentMachineSeconds / 10);
    assert.equal(fast.alerts.faultAlertSeconds, original.alerts.faultAlertSeconds / 10);
    assert.deepEqual(fast.alerts.thresholds.map((t) => t.forSeconds), original.alerts.thresholds.map((t) => t.forSeconds / 10));
    assert.ok((original.alerts.rates ?? []).length > 0, "factory-a has a rate alert");
    assert.deepEqual(fast.alerts.rates?.map((r) => r.maxRatePerSecond), original.alerts.rates?.map((r) => r.maxRatePerSecond * 10));
    assert.deepEqual({ ...fast, lines: original.lines, alerts: original.alerts }, original, "nothing else changes");
    assert.throws(() => compressConfig(original, 0), /speed must be a finite number greater than 0, got 0/);
  });
});
