import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DataType, StatusCodes } from "node-opcua";
import type { Reading, SiteWiseStateMessage } from "@smart-factory/sdk";
import { planGateway, type GatewayPlan } from "../../edge/src/config";
import { Intake } from "../../edge/src/intake";
import { counterStep, OpcUaAdapter, planSubscriptions, qualityOf, readingOf, stateOfRegister } from "../../edge/src/opcua";
import { openStore, type EdgeStore } from "../../edge/src/store";
import { agentDocument } from "../helpers/agentConfig";
import { freePort, startPlcServer, TEST_PKI_ROOT, type PlcServer } from "../helpers/opcuaServer";
import { Teardown } from "../helpers/teardown";

const NONE = { securityMode: "None", securityPolicy: "None" } as const;
/** The client PKI in a temp folder, not the user's home. */
const PKI = path.join(TEST_PKI_ROOT, "client");

/** The factory-a press gateway, its tags sampled fast enough for tests (50 to 200 ms), narrowed to `machines`. */
function pressPlan(bufferPath: string, machines: readonly string[], intervals: Record<string, number>): GatewayPlan {
  const doc = agentDocument("factory-a", bufferPath);
  for (const type of doc.factory.machineTypes) for (const tag of type.tags) tag.samplingIntervalMs = intervals[tag.name] ?? tag.samplingIntervalMs;
  const plan = planGateway(doc, "factory-a-gw-press");
  return { ...plan, machines: plan.machines.filter((m) => machines.includes(m.machine.id)) };
}

function openTestStore(dir: string, plan: GatewayPlan): EdgeStore {
  return openStore({ path: path.join(dir, "buffer.db"), factoryId: plan.config.factory.factory.id, gatewayId: plan.gateway.id, limits: { maxBytes: 64 * 1024 ** 2, maxAgeHours: 24, onOverflow: "rejectNew" } });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("edge OPC UA adapter", function () {
  this.timeout(60_000);

  describe("conversions", () => {
    const tag = { name: "ramForce", unit: "kN" } as const;
    const at = Date.UTC(2026, 10, 23, 7);

    it("turns samples into readings: numbers, booleans, status classes, the timestamp policy", () => {
      const good = readingOf({ value: { dataType: DataType.Double, value: 12.5 }, statusCode: StatusCodes.Good, sourceTimestamp: new Date(at - 10), serverTimestamp: new Date(at - 5) }, "press-01", tag, at);
      assert.deepEqual(good, { ok: true, reading: { machineId: "press-01", tag: "ramForce", timestamp: at - 10, clock: "source", value: 12.5, unit: "kN", quality: "good" } });
      const bool = readingOf({ value: { dataType: DataType.Boolean, value: true }, statusCode: StatusCodes.Good, sourceTimestamp: new Date(Date.UTC(1601, 0, 1)), serverTimestamp: new Date(at - 5) }, "press-01", tag, at);
      assert.ok(bool.ok);
      assert.deepEqual([bool.reading.value, bool.reading.clock, bool.reading.timestamp], [1, "server", at - 5]);
      const gateway = readingOf({ value: { dataType: DataType.Int64, value: [0, 7] }, statusCode: StatusCodes.UncertainLastUsableValue, sourceTimestamp: null, serverTimestamp: null }, "press-01", tag, at);
      assert.ok(gateway.ok);
      assert.deepEqual([gateway.reading.value, gateway.reading.clock, gateway.reading.timestamp, gateway.reading.quality], [7, "gateway", at, "uncertain"]);
      const bad = readingOf({ value: { dataType: DataType.Null, value: null }, statusCode: StatusCodes.BadSensorFailure }, "press-01", tag, at);
      assert.ok(bad.ok);
      assert.deepEqual([bad.reading.value, bad.reading.quality], [null, "bad"]);
      const text = readingOf({ value: { dataType: DataType.String, value: "high" }, statusCode: StatusCodes.Good }, "press-01", tag, at);
      assert.deepEqual(text, { ok: false, reason: 'ramForce: a String value "high" is not a number (only numeric and boolean tags are readings)' });
      assert.equal(qualityOf(StatusCodes.BadCommunicationError), "bad");
    });

    it("counts counter increments across rollover and reset, maps state codes, splits subscriptions", () => {
      assert.deepEqual(counterStep(100, 103, 65536), { increment: 3, kind: "normal" });
      assert.deepEqual(counterStep(65530, 4, 65536), { increment: 10, kind: "rollover" });
      assert.deepEqual(counterStep(500, 3, 65536), { increment: 3, kind: "reset" });
      assert.deepEqual(counterStep(500, 3, undefined), { increment: 3, kind: "reset" });
      const codes = { running: [2], idle: [1], fault: [9, 10], plannedStop: [5] };
      assert.deepEqual([stateOfRegister(codes, 10), stateOfRegister(codes, 5), stateOfRegister(codes, 42)], ["fault", "plannedStop", undefined]);
      const items = [100, 100, 100, 100, 100, 100, 100, 500].map((publishingIntervalMs) => ({ publishingIntervalMs }));
      assert.deepEqual(planSubscriptions(items, 3).map((s) => [s.publishingIntervalMs, s.items.length]), [[100, 3], [100, 3], [100, 1], [500, 1]]);
    });
  });

  describe("against simulated PLCs on 127.0.0.1", () => {
    let dir: string;
    let store: EdgeStore;
    let plan: GatewayPlan;
    let serverA: PlcServer; // press-01
    let serverB: PlcServer; // press-02
    let adapter: OpcUaAdapter;
    const logs: string[] = [];
    const readings: Reading[] = [];
    const states: SiteWiseStateMessage[] = [];

    const drain = (): void => {
      for (let batch = store.nextBatch(256 * 1024); batch !== undefined; batch = store.nextBatch(256 * 1024)) {
        readings.push(...batch.readings);
        store.ackBatch(batch.id);
      }
      for (let pending = store.nextStates(100); pending.length > 0; pending = store.nextStates(100)) {
        states.push(...pending.map((p) => p.message));
        store.ackStates(pending.map((p) => p.id));
      }
    };
    const waitFor = async <T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        drain();
        const result = probe();
        if (result !== undefined && result !== false) return result;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs: ${logs.join(" | ")}`);
        await sleep(20);
      }
    };
    const readingsOf = (machineId: string, tag: string, from: number) => readings.slice(from).filter((r) => r.machineId === machineId && r.tag === tag);
    const machineNodes = (machineId: string) => {
      const m = plan.machines.find((p) => p.machine.id === machineId);
      if (m === undefined) throw new Error(machineId);
      return m.machine;
    };

    const tagNode = (machineId: string, tag: string): string => {
      const nodeId = (machineNodes(machineId).tags as Record<string, string | undefined>)[tag];
      if (nodeId === undefined) throw new Error(`${machineId} has no OPC UA tag ${tag}`);
      return nodeId;
    };

    const teardown = new Teardown();

    before(async () => {
      dir = teardown.directory("sf-opcua-");
      plan = pressPlan(path.join(dir, "buffer.db"), ["press-01", "press-02"], { ramForce: 50, hydraulicPressure: 100, motorTemperature: 200, strokeRate: 200 });
      store = teardown.add("the store", openTestStore(dir, plan), (s) => { s.close(); });
      const intake = new Intake(plan, store);
      serverA = teardown.add("PLC server A", await startPlcServer({ machines: plan.machines.slice(0, 1) }), (s) => s.stop());
      serverB = teardown.add("PLC server B", await startPlcServer({ machines: plan.machines.slice(1, 2) }), (s) => s.stop());
      serverA.set(machineNodes("press-01").signals.state, 1); // idle
      const p2 = machineNodes("press-02");
      serverB.set(p2.signals.state, 2); // running
      serverB.set(p2.signals.goodCount, 100);
      serverB.set(p2.signals.badCount, 5);
      adapter = teardown.add("the adapter", new OpcUaAdapter({
        plan,
        intake,
        endpointOverride: (machine) => (machine.id === "press-01" ? serverA.endpointUrl : serverB.endpointUrl),
        security: NONE,
        pkiFolder: PKI,
        signalSamplingIntervalMs: 50,
        // every counter change its own message: the steps below check each (gathering is tested on its own)
        countIntervalMs: 0,
        reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
        log: (level, message) => logs.push(`${level}: ${message}`),
      }), (a) => a.stop());
      await adapter.start();
      // the initial values of every tag, before the tests set their own
      await waitFor("the initial values", () => plan.machines.every((m) => Object.keys(m.machine.tags).every((tag) => readingsOf(m.machine.id, tag, 0).length > 0)));
    });
    after(() => teardown.run());

    it("opens one session per endpoint, subscriptions grouped by publishing interval", () => {
      const status = adapter.status();
      assert.deepEqual(
        status.endpoints.map((e) => [e.endpoint, e.machines, e.connected, e.subscriptions.map((s) => [s.publishingIntervalMs, s.monitoredItems])]),
        [
          [serverA.endpointUrl, ["press-01"], true, [[50, 4], [100, 1], [200, 2]]],
          [serverB.endpointUrl, ["press-02"], true, [[50, 4], [100, 1], [200, 2]]],
        ],
      );
      assert.deepEqual(serverA.subscriptions().map((s) => [s.publishingInterval, s.monitoredItems]).sort((a, b) => a[0]! - b[0]!), [[50, 4], [100, 1], [200, 2]]);
    });

    it("delivers readings with value, unit, quality, source or server timestamp, in order", async () => {
      const ramForce = tagNode("press-01", "ramForce");
      const from = readings.length;
      const t1 = new Date(Date.now() - 1500);
      const steps: [Parameters<PlcServer["set"]>[1], number | null][] = [
        [{ value: 1000, sourceTimestamp: t1 }, 1000],
        [{ value: 1100, status: StatusCodes.UncertainLastUsableValue }, 1100],
        [{ value: 1200, sourceTimestamp: null }, 1200],
        [{ value: null, status: StatusCodes.BadSensorFailure }, null],
      ];
      for (const [value, expected] of steps) {
        serverA.set(ramForce, value);
        await waitFor(`ramForce ${String(expected)}`, () => readingsOf("press-01", "ramForce", from).some((r) => r.value === expected));
      }
      const stale = adapter.status().machines.find((m) => m.machineId === "press-01");
      assert.equal(stale?.stale, true);
      assert.match(stale.reasons.join(), /bad status on ns=3;s=PL1.Press01.Ram.Force/);
      const before = Date.now();
      serverA.set(ramForce, 1300);
      await waitFor("ramForce 1300", () => readingsOf("press-01", "ramForce", from).some((r) => r.value === 1300));
      const got = readingsOf("press-01", "ramForce", from);
      assert.deepEqual(got.map((r) => [r.value, r.unit, r.quality, r.clock]), [
        [1000, "kN", "good", "source"],
        [1100, "kN", "uncertain", "source"],
        [1200, "kN", "good", "server"],
        [null, "kN", "bad", "source"],
        [1300, "kN", "good", "source"],
      ]);
      assert.equal(got[0]?.timestamp, t1.getTime());
      assert.ok(Math.abs((got[2]?.timestamp ?? 0) - Date.now()) < 5000, "the server timestamp is the server's now");
      assert.ok((got[4]?.timestamp ?? 0) >= before - 5);
      assert.equal(adapter.status().machines.find((m) => m.machineId === "press-01")?.stale, false);
    });

    it("sends nothing for a change inside the deadband (absolute and percent)", async () => {
      const from = readings.length;
      serverA.set(tagNode("press-01", "ramForce"), 2000);
      serverA.set(tagNode("press-01", "hydraulicPressure"), 100);
      await waitFor("first values", () => readingsOf("press-01", "ramForce", from).length > 0 && readingsOf("press-01", "hydraulicPressure", from).length > 0);
      serverA.set(tagNode("press-01", "ramForce"), 2003); // < 5 kN
      serverA.set(tagNode("press-01", "hydraulicPressure"), 101); // < 0.5 % of 0..350 bar = 1.75
      await sleep(400); // several sampling and publishing intervals
      serverA.set(tagNode("press-01", "ramForce"), 2010);
      serverA.set(tagNode("press-01", "hydraulicPressure"), 103);
      await waitFor("values past the deadband", () => readingsOf("press-01", "ramForce", from).length > 1 && readingsOf("press-01", "hydraulicPressure", from).length > 1);
      await sleep(200);
      drain();
      assert.deepEqual(readingsOf("press-01", "ramForce", from).map((r) => r.value), [2000, 2010]);
      assert.deepEqual(readingsOf("press-01", "hydraulicPressure", from).map((r) => r.value), [100, 103]);
    });

    it("turns the state register and cumulative counters into state messages (rollover, reset, unknown code)", async () => {
      const p2 = machineNodes("press-02").signals;
      const initial = await waitFor("the initial state", () => states.find((s) => s.machineId === "press-02"));
      assert.deepEqual([initial.stateCode, initial.goodIncrement, initial.badIncrement, initial.lineId, initial.gatewayId, initial.factoryId], [1, 0, 0, "press-line-1", "gw-press", "factory-a"]);
      const from = states.length;
      const steps: [string, number, string][] = [
        [p2.goodCount, 103, "running +3 good"],
        [p2.state, 9, "fault"],
        [p2.state, 42, "unknown code: no message"],
        [p2.badCount, 7, "fault +2 bad"],
        [p2.state, 2, "running"],
        [p2.goodCount, 65530, "running +65427 good"],
        [p2.goodCount, 4, "rollover: +10"],
        [p2.goodCount, 500, "+496"],
        [p2.goodCount, 3, "reset (PLC restart): +3"],
      ];
      for (const [nodeId, value, what] of steps) {
        const count = states.length;
        const letters = store.stats().deadLetters;
        serverB.set(nodeId, value);
        await waitFor(what, () => states.length > count || store.stats().deadLetters > letters);
      }
      const got = states.slice(from).filter((s) => s.machineId === "press-02");
      assert.deepEqual(got.map((s) => [s.stateCode, s.goodIncrement, s.badIncrement]), [
        [1, 3, 0],
        [2, 0, 0],
        [2, 0, 2],
        [1, 0, 0],
        [1, 65427, 0],
        [1, 10, 0],
        [1, 496, 0],
        [1, 3, 0],
      ]);
      const sequences = got.map((s) => s.sequence);
      assert.deepEqual(sequences, sequences.map((_, i) => (sequences[0] ?? 0) + i), "one gateway sequence, no gaps");
      assert.ok(got.every((s) => s.clock === "source"));
      const letter = store.listDeadLetters().find((l) => l.reason.includes("press-02: state register"));
      assert.match(letter?.reason ?? "", /opcua:press-02: state register ns=3;s=PL1.Press02.State value 42 is no state code of machine type servo-press/);
      assert.ok(logs.some((l) => /press-02 goodCount dropped from 500 to 3 \(counter reset/.test(l)));
    });

    it("gathers the part counts of a machine whose state holds into one message per count interval; a state change sends them at once", async () => {
      const p2 = machineNodes("press-02").signals;
      const ownDir = fs.mkdtempSync(path.join(os.tmpdir(), "sf-opcua-counts-"));
      const own = openTestStore(ownDir, plan);
      const gathering = new OpcUaAdapter({
        plan,
        intake: new Intake(plan, own),
        endpointOverride: (machine) => (machine.id === "press-01" ? serverA.endpointUrl : serverB.endpointUrl),
        security: NONE,
        pkiFolder: PKI,
        signalSamplingIntervalMs: 50,
        countIntervalMs: 1500,
        reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
        log: () => undefined,
      });
      const messages: SiteWiseStateMessage[] = [];
      const take = (): SiteWiseStateMessage[] => {
        for (let pending = own.nextStates(100); pending.length > 0; pending = own.nextStates(100)) {
          messages.push(...pending.map((p) => p.message).filter((m) => m.machineId === "press-02"));
          own.ackStates(pending.map((p) => p.id));
        }
        return messages;
      };
      try {
        serverB.set(p2.state, 2);
        serverB.set(p2.goodCount, 1000);
        serverB.set(p2.badCount, 50);
        await gathering.start();
        await waitFor("the first state", () => take().length > 0);
        const from = messages.length;
        // five parts, 100 ms apart: one message when the interval has passed, stamped with the last counter's time
        let lastAt = 0;
        for (let i = 1; i <= 5; i++) {
          lastAt = Date.now();
          serverB.set(p2.goodCount, { value: 1000 + i, sourceTimestamp: new Date(lastAt) });
          await sleep(100);
        }
        await waitFor("the fifth part counted", () => gathering.gatheredParts() === 5);
        assert.equal(take().length, from, "gathered, not sent yet");
        await waitFor("the gathered parts", () => take().length > from, 5000);
        assert.equal(gathering.gatheredParts(), 0, "nothing gathered once sent");
        await sleep(300);
        const gathered = take().slice(from);
        assert.deepEqual(gathered.map((m) => [m.stateCode, m.goodIncrement, m.badIncrement]), [[1, 5, 0]]);
        assert.equal(gathered[0]!.timeInSeconds * 1000 + Math.floor(gathered[0]!.offsetInNanos / 1e6), lastAt);
        // two more parts, then a fault: the parts go with the state change, at once
        const before = messages.length;
        serverB.set(p2.goodCount, 1007);
        await sleep(200);
        serverB.set(p2.state, 9);
        await waitFor("the fault", () => take().length > before, 1000);
        assert.deepEqual(take().slice(before).map((m) => [m.stateCode, m.goodIncrement]), [[2, 2]]);
      } finally {
        await gathering.stop();
        own.close();
        fs.rmSync(ownDir, { recursive: true, force: true });
        serverB.set(p2.state, 2);
      }
    });

    it("marks the outage with a bad reading per tag and resumes by itself after the server restarts", async () => {
      const from = readings.length;
      const lostAt = Date.now();
      await serverA.stop();
      const gap = await waitFor("bad readings at the loss", () => {
        const bad = readings.slice(from).filter((r) => r.machineId === "press-01" && r.quality === "bad");
        return bad.length >= 4 && bad;
      });
      assert.deepEqual(gap.map((r) => [r.tag, r.value, r.clock, r.unit]).sort(), [
        ["hydraulicPressure", null, "gateway", "bar"],
        ["motorTemperature", null, "gateway", "degC"],
        ["ramForce", null, "gateway", "kN"],
        ["strokeRate", null, "gateway", "rpm"],
      ]);
      assert.ok(gap.every((r) => r.timestamp >= lostAt && r.timestamp < lostAt + 2000));
      const down = adapter.status();
      assert.equal(down.endpoints[0]?.connected, false);
      assert.equal(down.machines.find((m) => m.machineId === "press-01")?.stale, true);
      assert.equal(down.machines.find((m) => m.machineId === "press-02")?.stale, false);
      serverB.set(tagNode("press-02", "strokeRate"), 31); // the other endpoint keeps flowing
      await waitFor("press-02 during the outage", () => readingsOf("press-02", "strokeRate", from).some((r) => r.value === 31));

      await sleep(300);
      serverA.set(tagNode("press-01", "ramForce"), 3000); // kept by the simulated PLC while down
      const upAt = Date.now();
      await serverA.start();
      await waitFor("readings after the restart", () => readingsOf("press-01", "ramForce", from).some((r) => r.value === 3000 && r.quality === "good"), 10_000);
      serverA.set(tagNode("press-01", "ramForce"), 3100);
      await waitFor("a new value after the restart", () => readingsOf("press-01", "ramForce", from).some((r) => r.value === 3100), 10_000);
      assert.ok(Date.now() - upAt < 10_000);
      const up = adapter.status();
      assert.equal(up.endpoints[0]?.connected, true);
      assert.ok(up.endpoints[0].reconnects >= 1);
      assert.deepEqual(serverA.subscriptions().map((s) => [s.publishingInterval, s.monitoredItems]).sort((a, b) => a[0]! - b[0]!), [[50, 4], [100, 1], [200, 2]]);
      await waitFor("press-01 no longer stale", () => adapter.status().machines.find((m) => m.machineId === "press-01")?.stale === false);
      // the ramForce readings of press-01 keep their order: gap, then the values after the restart
      assert.deepEqual(readingsOf("press-01", "ramForce", from).map((r) => r.value).filter((v) => v !== 3000), [null, 3100]);
    });
  });

  describe("limits, staleness and a late server", () => {
    let dir: string;
    let server: PlcServer;
    let store: EdgeStore;
    let plan: GatewayPlan;
    const adapters: OpcUaAdapter[] = [];
    const servers: PlcServer[] = [];

    const teardown = new Teardown();

    before(async () => {
      dir = teardown.directory("sf-opcua-limit-");
      plan = pressPlan(path.join(dir, "buffer.db"), ["press-03"], { ramForce: 100, hydraulicPressure: 100, motorTemperature: 100, strokeRate: 100 });
      store = teardown.add("the store", openTestStore(dir, plan), (s) => { s.close(); });
      server = await startPlcServer({ machines: plan.machines, maxMonitoredItemsPerSubscription: 3 });
      servers.push(server);
    });
    after(async () => {
      // the adapters first, then the servers they talk to
      for (const s of servers) teardown.add("a PLC server", s, (x) => x.stop());
      for (const a of adapters) teardown.add("an adapter", a, (x) => x.stop());
      await teardown.run();
    });

    const make = (options: { limit?: number; url?: string; now?: () => number; secure?: { trusted: string[]; pki: string } } = {}) => {
      const adapter = new OpcUaAdapter({
        plan,
        intake: new Intake(plan, store),
        endpointOverride: () => options.url ?? server.endpointUrl,
        ...(options.secure === undefined
          ? { security: NONE, pkiFolder: PKI }
          : { trustedServerCertificates: options.secure.trusted, pkiFolder: options.secure.pki }),
        signalSamplingIntervalMs: 100,
        maxKeepAliveCount: 5,
        reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
        log: () => undefined,
        ...(options.limit === undefined ? {} : { maxMonitoredItemsPerSubscription: options.limit }),
        ...(options.now === undefined ? {} : { now: options.now }),
      });
      adapters.push(adapter);
      return adapter;
    };

    it("splits subscriptions by the server's limit, or the configured one", async () => {
      const fromServer = make();
      await fromServer.start();
      assert.deepEqual(fromServer.status().endpoints[0]?.subscriptions.map((s) => s.monitoredItems), [3, 3, 1]);
      const configured = make({ limit: 2 });
      await configured.start();
      assert.deepEqual(configured.status().endpoints[0]?.subscriptions.map((s) => s.monitoredItems), [2, 2, 2, 1]);
      assert.deepEqual(server.subscriptions().map((s) => s.monitoredItems).sort(), [1, 1, 2, 2, 2, 3, 3]);
    });

    it("reports a machine stale when its subscriptions stop sending keep-alives, not when values merely hold", async () => {
      let skew = 0;
      const adapter = make({ now: () => Date.now() + skew });
      await adapter.start();
      await sleep(1500); // no value changes: keep-alives only (100 ms x 5)
      assert.deepEqual(adapter.status().machines, [{ machineId: "press-03", stale: false, reasons: [] }]);
      skew = 60_000; // as if nothing had arrived for a minute
      const machine = adapter.status().machines[0];
      assert.equal(machine?.stale, true);
      assert.match(machine.reasons.join(), /subscription at 100 ms silent for \d+ ms \(keep-alive expected within 2000 ms\)/);
    });

    it("connects with the configured SignAndEncrypt/Basic256Sha256 to a self-signed server in the trust list, and only then", async () => {
      assert.deepEqual(plan.machines[0]?.machine.opcua, { endpoint: "opc.tcp://10.11.1.13:4840", securityMode: "SignAndEncrypt", securityPolicy: "Basic256Sha256" });
      const trusted = make({ secure: { trusted: [server.certificatePath], pki: path.join(dir, "pki-trusting") } });
      const untrusted = make({ secure: { trusted: [], pki: path.join(dir, "pki-plain") } });
      await Promise.all([trusted.start(), untrusted.start()]);
      const deadline = Date.now() + 10_000;
      while (trusted.status().machines[0]?.stale !== false && Date.now() < deadline) await sleep(50);
      assert.deepEqual(trusted.status().machines[0], { machineId: "press-03", stale: false, reasons: [] });
      const refused = untrusted.status().endpoints[0];
      assert.equal(refused?.connected, false);
      assert.ok(refused.lastError !== undefined);
    });

    it("connects by itself to a server that was down when the agent started", async () => {
      const port = await freePort();
      const adapter = make({ url: `opc.tcp://127.0.0.1:${port}` });
      await adapter.start(); // returns after the first failed attempt
      const down = adapter.status();
      assert.equal(down.endpoints[0]?.connected, false);
      assert.match(down.endpoints[0].lastError ?? "", /connection attempt \d+ failed/);
      assert.equal(down.machines[0]?.stale, true);
      const late = await startPlcServer({ machines: plan.machines, port });
      servers.push(late);
      const from = store.stats().readings;
      late.set(plan.machines[0]!.machine.signals.state, 2);
      const deadline = Date.now() + 10_000;
      while (store.stats().readings === from && Date.now() < deadline) await sleep(50);
      assert.ok(store.stats().readings > from, "readings flow once the server is up");
      const up = adapter.status();
      assert.equal(up.endpoints[0]?.connected, true);
      assert.deepEqual(up.endpoints[0].subscriptions.map((s) => s.monitoredItems), [7]);
    });
  });
});
