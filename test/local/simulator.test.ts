/**
 * The local factory's simulator as its clients see it: an OPC UA client reads and subscribes to factory-a's
 * machines at the config's node ids, an MQTT client receives the sensors, and the ground truth is checked
 * against both.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import * as path from "node:path";
import mqtt from "mqtt";
import {
  AttributeIds,
  ClientSubscription,
  makeBrowsePath,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  type ClientSession,
  type DataValue,
} from "node-opcua";
import { check, listMachines, machineCounters, SensorMessage, type MachineState, type MachineStateEvent } from "@smart-factory/sdk";
import { sensorReading } from "../../edge/src/sensors";
import { oeeFromTruth, startSimulator, truthEvents, withSimulatorEndpoints, type GroundTruth, type Simulator } from "../../local/simulator";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";
import { runDirectory } from "../helpers/runDirectory";
import { Teardown } from "../helpers/teardown";

const config = loadFactoryConfigFromStack("factory-a");
const placements = listMachines(config);
const PKI = runDirectory("simulator-pki");

async function openSession(endpointUrl: string): Promise<{ session: ClientSession; close(): Promise<void> }> {
  const client = OPCUAClient.create({
    endpointMustExist: false,
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 },
    clientCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(PKI, "client"), automaticallyAcceptUnknownCertificate: true }),
  });
  await client.connect(endpointUrl);
  const session = await client.createSession();
  return {
    session,
    async close() {
      await session.close();
      await client.disconnect();
    },
  };
}

/** A plain MQTT broker (aedes) on 127.0.0.1. */
async function startBroker(): Promise<{ url: string; close(): Promise<void> }> {
  const { Aedes } = await import("aedes");
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        broker.close(() => {
          resolve();
        });
      });
      await new Promise<void>((resolve) => server.close(() => {
        resolve();
      }));
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("local simulator", () => {
  describe("as a PLC at speed 1", () => {
    let sim: Simulator;
    let client: Awaited<ReturnType<typeof openSession>>;
    const teardown = new Teardown();
    before(async () => {
      sim = teardown.add("the simulator", await startSimulator({ config, seed: 3, pkiRoot: path.join(PKI, "server") }), (s) => s.stop());
      client = teardown.add("the OPC UA session", await openSession(sim.endpointUrl), (c) => c.close());
    });
    after(() => teardown.run());

    it("serves every machine's state register, counters and OPC UA tags at the config's node ids, stamped now, in range and unit", async () => {
      const before = Date.now();
      let tagCount = 0;
      for (const { machine, type } of placements) {
        const [state, good, bad] = await client.session.read(
          [machine.signals.state, machine.signals.goodCount, machine.signals.badCount].map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })),
        );
        const code = state!.value.value as number;
        assert.ok(Object.values(type.stateCodes).some((codes) => codes[0] === code), `${machine.id} state code ${code}`);
        for (const counter of [good!, bad!]) {
          const n = counter.value.value as number;
          assert.ok(Number.isInteger(n) && n >= 0 && n < (type.counterRollover ?? 2 ** 32), `${machine.id} counter ${n}`);
        }
        for (const spec of type.tags) {
          const nodeId = machine.tags[spec.name];
          if (nodeId === undefined) continue;
          tagCount++;
          const [value] = await client.session.read([{ nodeId, attributeId: AttributeIds.Value }]);
          const v = value!.value.value as number;
          assert.ok(v >= spec.min && v <= spec.max, `${machine.id}.${spec.name} = ${v} outside [${spec.min}, ${spec.max}]`);
          const stamped = value!.sourceTimestamp!.getTime();
          assert.ok(stamped <= Date.now() && stamped >= before - 6000, `${machine.id}.${spec.name} stamped ${new Date(stamped).toISOString()}`);
          const units = await client.session.translateBrowsePath(makeBrowsePath(nodeId, ".EngineeringUnits"));
          const [eu] = await client.session.read([{ nodeId: units.targets![0]!.targetId, attributeId: AttributeIds.Value }]);
          assert.equal((eu!.value.value as { displayName: { text: string } }).displayName.text, spec.unit);
        }
      }
      assert.equal(tagCount, 106);
    });

    it("reads the fault code from the state register as soon as a fault is injected", async () => {
      const machine = placements[2]!.machine;
      sim.injectFault(machine.id, 60_000);
      const [state] = await client.session.read([{ nodeId: machine.signals.state, attributeId: AttributeIds.Value }]);
      assert.equal(state!.value.value, placements[2]!.type.stateCodes.fault[0]);
      assert.equal(sim.machineStates()[machine.id], "fault");
      const fault = sim.truth().faults.find((f) => f.machineId === machine.id && f.injected);
      assert.equal(fault?.from, state!.sourceTimestamp!.getTime());
    });

    it("writes one out-of-range value when asked, and counts it", async () => {
      const { machine, type } = placements[0]!;
      const value = await sim.injectOutOfRange(machine.id, "ramForce");
      const spec = type.tags.find((t) => t.name === "ramForce")!;
      const [read] = await client.session.read([{ nodeId: machine.tags[spec.name]!, attributeId: AttributeIds.Value }]);
      const max = spec.max;
      assert.ok(value > max);
      assert.equal(read!.value.value, value);
      assert.deepEqual(sim.truth().outOfRange.map((r) => [r.machineId, r.tag, r.value]), [[machine.id, "ramForce", value]]);
    });

    it("refuses unknown machines and tags, and bad fault durations, naming the field and value", async () => {
      assert.throws(() => {
        sim.injectFault("press-99", 1000);
      }, /machineId: no machine "press-99"/);
      assert.throws(() => {
        sim.injectFault("press-01", -5);
      }, /durationMs .* got -5/);
      await assert.rejects(sim.injectOutOfRange("press-01", "spindleSpeed"), /tag: machine press-01 has no tag "spindleSpeed"/);
      await assert.rejects(sim.injectMalformedSensorPayload(), /sensorBrokerUrl/);
    });
  });

  it("refuses a speed that is not a finite number > 0 and <= 1000, naming it", async () => {
    for (const speed of [0, -1, Number.NaN, Infinity, 1001, "2" as unknown as number]) {
      await assert.rejects(startSimulator({ config, speed }), (error: Error) => error.message.startsWith("speed must be") && error.message.includes(String(speed)));
    }
  });

  it("points every machine of the config at the simulator and the gateways at the sensor broker", () => {
    const local = withSimulatorEndpoints(config, { endpointUrl: "opc.tcp://127.0.0.1:4999", sensorBrokerUrl: "mqtt://127.0.0.1:1999" });
    for (const { machine } of listMachines(local)) assert.deepEqual(machine.opcua, { endpoint: "opc.tcp://127.0.0.1:4999", securityMode: "None", securityPolicy: "None" });
    assert.deepEqual(local.gateways.map((g) => g.localBroker), config.gateways.map(() => "mqtt://127.0.0.1:1999"));
  });

  describe("at speed 200, watched by an OPC UA subscription", () => {
    const speed = 200;
    let sim: Simulator;
    let client: Awaited<ReturnType<typeof openSession>>;
    let truth: GroundTruth;
    /** What the subscription saw, per machine: state events as an edge agent derives them, and the first values' timestamps. */
    const seen = new Map<string, { events: MachineStateEvent[]; firstAt: number; state?: MachineState; good?: number; bad?: number }>();
    let faultCodes: number[] = [];
    let end = 0;

    const teardown = new Teardown();
    before(async () => {
      sim = teardown.add("the simulator", await startSimulator({ config, speed, seed: 11, randomFaults: false, pkiRoot: path.join(PKI, "server") }), (s) => s.stop());
      client = teardown.add("the OPC UA session", await openSession(sim.endpointUrl), (c) => c.close());
      const subscription = ClientSubscription.create(client.session, { requestedPublishingInterval: 50, requestedMaxKeepAliveCount: 20, publishingEnabled: true });
      const items = placements.flatMap(({ machine }) => (["state", "goodCount", "badCount"] as const).map((signal) => ({ machine, signal })));
      const group = await subscription.monitorItems(
        items.map(({ machine, signal }) => ({ nodeId: machine.signals[signal], attributeId: AttributeIds.Value })),
        { samplingInterval: 50, queueSize: 1000, discardOldest: false },
        TimestampsToReturn.Both,
      );
      group.on("changed", (_item: unknown, dataValue: DataValue, index: number) => {
        const { machine, signal } = items[index]!;
        const type = placements.find((p) => p.machine.id === machine.id)!.type;
        const at = dataValue.sourceTimestamp!.getTime();
        const value = dataValue.value.value as number;
        const m = seen.get(machine.id) ?? { events: [], firstAt: 0 };
        seen.set(machine.id, m);
        const event = (state: MachineState, good: number, bad: number): void => {
          m.events.push({ machineId: machine.id, timestamp: at, clock: "source", state, goodIncrement: good, badIncrement: bad });
        };
        const step = (previous: number | undefined): number => (previous === undefined ? 0 : value >= previous ? value - previous : value + (type.counterRollover ?? 0) - previous);
        if (signal === "state") {
          const state = (Object.keys(type.stateCodes) as MachineState[]).find((s) => type.stateCodes[s].includes(value))!;
          if (m.state === undefined) m.firstAt = Math.max(m.firstAt, at);
          m.state = state;
          event(state, 0, 0);
        } else if (signal === "goodCount") {
          if (m.good === undefined) m.firstAt = Math.max(m.firstAt, at);
          else if (m.state !== undefined) event(m.state, step(m.good), 0);
          m.good = value;
        } else {
          if (m.bad === undefined) m.firstAt = Math.max(m.firstAt, at);
          else if (m.state !== undefined) event(m.state, 0, step(m.bad));
          m.bad = value;
        }
      });
      await sleep(3000);
      // Every machine into a long fault: production stops, so what the subscription has seen is final.
      for (const { machine } of placements) sim.injectFault(machine.id, 600_000);
      const read = await client.session.read(placements.map(({ machine }) => ({ nodeId: machine.signals.state, attributeId: AttributeIds.Value })));
      faultCodes = read.map((r) => r.value.value as number);
      await sleep(1000);
      end = Date.now();
      truth = sim.truth();
    });
    after(() => teardown.run());

    it("shows each injected fault's code in the state register at once, and no fault it was not asked for", () => {
      assert.deepEqual(faultCodes, placements.map(({ type }) => type.stateCodes.fault[0]));
      assert.equal(truth.faults.length, placements.length);
      assert.ok(truth.faults.every((f) => f.injected && f.driftFrom === null && f.to === null));
    });

    it("changes states, and records contiguous state intervals covering the run", () => {
      let changes = 0;
      for (const machine of Object.values(truth.machines)) {
        const states = machine.states;
        assert.equal(states[0]!.from, truth.startedAt);
        for (let i = 1; i < states.length; i++) assert.equal(states[i]!.from, states[i - 1]!.to, `${machine.machineId} interval ${i}`);
        assert.equal(states.at(-1)!.to, null);
        assert.equal(states.at(-1)!.state, "fault");
        changes += states.length - 2; // the injected fault aside
      }
      assert.ok(changes >= placements.length, `${changes} state changes in 3 s at speed ${speed}`);
    });

    it("makes parts at about idealRunRate x speed x performance while running", () => {
      let checked = 0;
      for (const machine of Object.values(truth.machines)) {
        const runningMs = machine.states.filter((s) => s.state === "running").reduce((sum, s) => sum + (s.to ?? truth.at) - s.from, 0);
        if (runningMs < 1000) continue;
        const made = machine.parts.at(-1)!;
        const expected = (runningMs / 60_000) * machine.idealRunRate * speed * machine.performance;
        const total = made.good + made.bad;
        // Parts come whole, at the simulator's 100 ms tick: within 10% and a part or two.
        assert.ok(Math.abs(total - expected) <= 0.1 * expected + 2, `${machine.machineId}: ${total} parts in ${runningMs} ms running, expected ${expected}`);
        checked++;
      }
      assert.ok(checked > placements.length / 2, `${checked} machines ran at least a second`);
    });

    it("holds counter registers equal to the initial counts plus the parts recorded", () => {
      for (const { machine, type } of placements) {
        const m = seen.get(machine.id)!;
        const t = truth.machines[machine.id]!;
        const made = t.parts.at(-1) ?? { good: 0, bad: 0 };
        const wrap = (n: number): number => (type.counterRollover === undefined ? n : n % type.counterRollover);
        assert.deepEqual({ good: m.good, bad: m.bad }, { good: wrap(t.initialRegisters.good + made.good), bad: wrap(t.initialRegisters.bad + made.bad) });
      }
    });

    it("gives an OEE from the ground truth between 0 and 1, equal to machineCounters on what the PLC showed", () => {
      const oee = oeeFromTruth(truth, { from: truth.startedAt, to: end });
      for (const { machine } of placements) {
        const ratio = oee.machines[machine.id]!.ratios.oee;
        assert.ok(ratio !== undefined && ratio >= 0 && ratio <= 1, `${machine.id} OEE ${ratio}`);
        const m = seen.get(machine.id)!;
        // From the moment the subscription knew all three signals of the machine.
        const span = { from: m.firstAt, to: end };
        const rate = machine.idealRunRate * speed;
        const observed = machineCounters(m.events, span, rate);
        const recorded = machineCounters(truthEvents(truth.machines[machine.id]!), span, rate);
        assert.equal(observed.goodCount, recorded.goodCount, machine.id);
        assert.equal(observed.badCount, recorded.badCount, machine.id);
        for (const key of ["runSeconds", "idleSeconds", "faultSeconds", "plannedStopSeconds"] as const) {
          assert.ok(Math.abs(observed[key] - recorded[key]) < 1e-6, `${machine.id} ${key}: ${observed[key]} seen, ${recorded[key]} recorded`);
        }
      }
      const factory = oee.factory.ratios.oee;
      assert.ok(factory !== undefined && factory > 0 && factory < 1);
    });
  });

  describe("sensors over MQTT", () => {
    let broker: Awaited<ReturnType<typeof startBroker>>;
    let sim: Simulator;
    let listener: mqtt.MqttClient;
    const received: { topic: string; payload: Buffer; at: number }[] = [];
    const teardown = new Teardown();
    before(async () => {
      broker = teardown.add("the broker", await startBroker(), (b) => b.close());
      listener = teardown.add("the listener", await mqtt.connectAsync(broker.url, { clientId: "simulator-test-listener" }), (c) => c.endAsync());
      await listener.subscribeAsync("sensors/#", { qos: 1 });
      listener.on("message", (topic, payload) => received.push({ topic, payload, at: Date.now() }));
      sim = teardown.add("the simulator", await startSimulator({ config, seed: 5, sensorBrokerUrl: broker.url, pkiRoot: path.join(PKI, "server") }), (s) => s.stop());
      // until every sensor topic has spoken (not a fixed wait: nothing here is about time)
      const sensorTopics = new Set(placements.flatMap(({ machine }) => Object.values(machine.sensors ?? {})));
      const deadline = Date.now() + 10_000;
      while (new Set(received.map((m) => m.topic)).size < sensorTopics.size && Date.now() < deadline) await sleep(50);
    });
    after(() => teardown.run());

    it("publishes every sensor tag as a sensor message with value, unit and timestamp", () => {
      const topics = new Map(placements.flatMap(({ machine, type }) => Object.entries(machine.sensors ?? {}).map(([tag, topic]) => [topic, type.tags.find((t) => t.name === tag)!])));
      assert.equal(topics.size, 24);
      assert.deepEqual(new Set(received.map((m) => m.topic)), new Set(topics.keys()));
      for (const message of received) {
        const decoded = check(SensorMessage, JSON.parse(message.payload.toString("utf8")));
        assert.ok(decoded.ok, message.payload.toString("utf8"));
        const spec = topics.get(message.topic)!;
        assert.equal(decoded.value.unit, spec.unit);
        assert.ok(decoded.value.value !== null && decoded.value.value >= spec.min && decoded.value.value <= spec.max);
        assert.ok(Math.abs(decoded.value.timestamp! - message.at) < 2000, "stamped with the wall clock");
      }
    });

    it("publishes malformed payloads that do not decode and that the edge agent refuses, and counts them", async () => {
      const topic = "sensors/pl1/press-02/vibration";
      const arrived = new Promise<Buffer[]>((resolve) => {
        const payloads: Buffer[] = [];
        listener.on("message", (t, payload) => {
          if (t === topic && !payload.toString("utf8").includes('"unit":"mm/s","timestamp"')) payloads.push(payload);
          if (payloads.length === 2) resolve(payloads);
        });
      });
      await sim.injectMalformedSensorPayload(topic);
      await sim.injectMalformedSensorPayload(topic, "wrongType");
      const [notJson, wrongType] = await arrived;
      assert.throws(() => JSON.parse(notJson!.toString("utf8")) as unknown);
      assert.equal(check(SensorMessage, JSON.parse(wrongType!.toString("utf8"))).ok, false);
      const route = { machineId: "press-02", tag: "vibration", unit: "mm/s" as const };
      for (const payload of [notJson!, wrongType!]) assert.equal(sensorReading(route, payload, Date.now()).ok, false);
      assert.equal(sim.truth().malformedInjected, 2);
    });

    it("publishes an out-of-range sensor value once when asked", async () => {
      const topic = "sensors/pl1/press-01/vibration";
      const arrived = new Promise<number>((resolve) => {
        listener.on("message", (t, payload) => {
          if (t !== topic) return;
          const value = (JSON.parse(payload.toString("utf8")) as { value: number }).value;
          if (value > 50) resolve(value);
        });
      });
      const value = await sim.injectOutOfRange("press-01", "vibration");
      assert.equal(await arrived, value);
      assert.equal(sim.truth().outOfRange.length, 1);
    });
  });
});
