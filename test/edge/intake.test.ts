import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import mqtt from "mqtt";
import { toSiteWiseStateMessage, type MachineStateEvent } from "@smart-factory/sdk";
import { planGateway, type GatewayPlan } from "../../edge/src/config";
import { Intake } from "../../edge/src/intake";
import { SensorAdapter, sensorRoutes } from "../../edge/src/sensors";
import { openStore, type EdgeStore } from "../../edge/src/store";
import { agentDocument } from "../helpers/agentConfig";
import { startMosquitto, type Mosquitto } from "../helpers/mosquitto";
import { Teardown } from "../helpers/teardown";

const NOW = Date.UTC(2026, 10, 23, 7);

describe("edge intake and the MQTT sensor adapter", function () {
  this.timeout(60_000);
  let dir: string;
  let store: EdgeStore;
  let plan: GatewayPlan;
  let intake: Intake;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sf-intake-"));
    plan = planGateway(agentDocument("factory-a", path.join(dir, "buffer.db")), "factory-a-gw-press");
    store = openStore({ path: path.join(dir, "buffer.db"), factoryId: plan.config.factory.factory.id, gatewayId: plan.gateway.id, limits: { maxBytes: 64 * 1024 ** 2, maxAgeHours: 24, onOverflow: "rejectNew" }, now: () => NOW });
    intake = new Intake(plan, store, () => NOW);
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("buffers valid readings and dead-letters each bad one with its reason; the rest still go in", () => {
    const good = { machineId: "press-01", tag: "vibration", timestamp: NOW - 1000, clock: "source", value: 3.2, unit: "mm/s", quality: "good" };
    const result = intake.readings(
      [
        good,
        { ...good, value: 80 }, // out of range (0..50 mm/s)
        { ...good, timestamp: NOW + 3_600_000 }, // skewed
        { ...good, unit: "Kelvin" }, // not a unit
        { ...good, machineId: "cnc-01" }, // another gateway's machine
        { ...good, timestamp: NOW - 500, value: null, quality: "bad" },
      ],
      "test",
    );
    assert.deepEqual(result, { accepted: 2, refused: 4 });
    const letters = store.listDeadLetters();
    assert.equal(letters.length, 4);
    assert.match(letters[0]?.reason ?? "", /test: value 80: value 80 mm\/s is outside the valid range of vibration, 0 to 50 mm\/s/);
    assert.match(letters[1]?.reason ?? "", /test: timestamp \d+: timestamp .* ahead of/);
    assert.match(letters[2]?.reason ?? "", /test: unit: expected a known unit id/);
    assert.match(letters[3]?.reason ?? "", /not by gw-press/);
    assert.equal(store.stats().readings, 2);
    assert.equal(intake.counters().refused, 4);
    assert.equal(intake.counters().lastValueAt.get("press-01"), NOW - 500);
  });

  it("buffers state messages of its own machines only", () => {
    const event: MachineStateEvent = { machineId: "press-01", timestamp: NOW - 2000, clock: "source", state: "running", goodIncrement: 3, badIncrement: 0 } as MachineStateEvent;
    const origin = { factoryId: "factory-a", gatewayId: "gw-press", lineId: "press-line-1", sequence: 1 } as Parameters<typeof toSiteWiseStateMessage>[1];
    const message = toSiteWiseStateMessage(event, origin);
    const result = intake.states([message, { ...message, machineId: "cnc-01" }, { ...message, stateCode: 9 }], "opcua");
    assert.deepEqual(result, { accepted: 1, refused: 2 });
    assert.equal(store.nextStates(10)[0]?.message.machineId, "press-01");
  });

  describe("with the gateway's local broker", () => {
    let broker: Mosquitto;
    const suite = new Teardown();
    const started = new Teardown();
    before(async () => {
      broker = suite.add("the broker", await startMosquitto({ commonName: "factory-a-gw-press" }), (b) => b.dispose());
    });
    afterEach(() => started.run());
    after(() => suite.run());

    it("turns sensor messages into readings, keeps listening after a malformed one", async () => {
      const tls = { ca: broker.pki.ca, cert: broker.pki.client.cert, key: broker.pki.client.key, rejectUnauthorized: true };
      const adapter = new SensorAdapter({ plan, intake, brokerUrl: broker.url, connectOptions: tls, now: () => NOW });
      const topics = adapter.topics();
      assert.ok(topics.includes("sensors/pl1/press-01/vibration"));
      assert.equal(sensorRoutes(plan).get("sensors/pl1/press-01/vibration")?.unit, "mm/s");
      started.add("the sensor adapter", adapter, (a) => a.stop());
      await adapter.start();
      const sensor = started.add("the sensor simulator", await mqtt.connectAsync(broker.url, { ...tls, clientId: "sensor-sim" }), (c) => c.endAsync());
      await sensor.publishAsync("sensors/pl1/press-01/vibration", JSON.stringify({ value: 4.25 }), { qos: 1 });
      await sensor.publishAsync("sensors/pl1/press-01/vibration", "{not json", { qos: 1 });
      await sensor.publishAsync("sensors/pl1/press-01/vibration", JSON.stringify({ value: "high" }), { qos: 1 });
      await sensor.publishAsync("sensors/pl1/press-02/vibration", JSON.stringify({ value: 0.3937, unit: "in/s", timestamp: NOW - 250, quality: "uncertain" }), { qos: 1 });
      const deadline = Date.now() + 10_000;
      while (adapter.counters.received < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await started.run();
      assert.equal(adapter.counters.received, 4);
      assert.equal(adapter.counters.refused, 2);
      const batch = store.nextBatch(64 * 1024);
      assert.deepEqual(
        batch?.readings.map((r) => [r.machineId, r.tag, r.value, r.unit, r.clock, r.quality, r.timestamp]),
        [
          ["press-01", "vibration", 4.25, "mm/s", "gateway", "good", NOW],
          ["press-02", "vibration", 0.3937, "in/s", "source", "uncertain", NOW - 250],
        ],
      );
      const reasons = store.listDeadLetters().map((l) => l.reason);
      assert.match(reasons[0] ?? "", /mqtt:sensors\/pl1\/press-01\/vibration: payload is not JSON/);
      assert.match(reasons[1] ?? "", /mqtt:sensors\/pl1\/press-01\/vibration: value: expected a finite number,? or null.*got "high"/);
    });
  });
});
