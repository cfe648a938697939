import { strict as assert } from "node:assert";
import * as path from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { StatusCodes } from "node-opcua";
import { decodeTelemetryBatch, type Reading } from "@smart-factory/sdk";
import { planGateway, type GatewayPlan } from "../../edge/src/config";
import { Intake } from "../../edge/src/intake";
import { OpcUaAdapter } from "../../edge/src/opcua";
import { Publisher } from "../../edge/src/publisher";
import { openStore, type EdgeStore } from "../../edge/src/store";
import { agentDocument } from "../helpers/agentConfig";
import { startMosquitto, type Mosquitto } from "../helpers/mosquitto";
import { startPlcServer, TEST_PKI_ROOT, type PlcServer } from "../helpers/opcuaServer";
import { Teardown } from "../helpers/teardown";

const THING = "factory-a-gw-press";

describe("the edge pipeline end to end: OPC UA server -> agent -> mutual TLS -> broker", function () {
  this.timeout(60_000);
  let dir: string;
  let plan: GatewayPlan;
  let plc: PlcServer;
  let broker: Mosquitto;
  let store: EdgeStore;
  let adapter: OpcUaAdapter;
  let publisher: Publisher;
  let upstream: MqttClient;
  const received: Reading[] = [];

  const tagNode = (machineId: string, tag: string): string => {
    const machine = plan.machines.find((m) => m.machine.id === machineId)?.machine;
    const nodeId = (machine?.tags as Record<string, string | undefined> | undefined)?.[tag];
    if (nodeId === undefined) throw new Error(`${machineId}.${tag}`);
    return nodeId;
  };

  const teardown = new Teardown();

  before(async () => {
    dir = teardown.directory("sf-pipeline-");
    plan = planGateway(agentDocument("factory-a", path.join(dir, "buffer.db")), THING);
    plc = teardown.add("the PLC server", await startPlcServer({ machines: plan.machines }), (s) => s.stop());
    // every press starts idle (state code 1 of servo-press): a register of 0 would be dead-lettered as no state code
    for (const { machine } of plan.machines) plc.set(machine.signals.state, 1);
    broker = teardown.add("the broker", await startMosquitto({ commonName: THING }), (b) => b.dispose());
    upstream = teardown.add("the upstream subscriber", await mqtt.connectAsync(broker.url, { ca: broker.pki.ca, cert: broker.pki.client.cert, key: broker.pki.client.key, clientId: "cloud-sim" }), (c) => c.endAsync());
    upstream.on("message", (topic, payload) => {
      if (topic.endsWith("/telemetry")) received.push(...decodeTelemetryBatch(payload).readings);
    });
    await upstream.subscribeAsync("$aws/rules/#", { qos: 1 });
    store = teardown.add("the store", openStore({ path: path.join(dir, "buffer.db"), factoryId: plan.config.factory.factory.id, gatewayId: plan.gateway.id, limits: { maxBytes: 64 * 1024 ** 2, maxAgeHours: 24, onOverflow: "rejectNew" } }), (s) => { s.close(); });
    const intake = new Intake(plan, store);
    publisher = teardown.add("the publisher", new Publisher({ url: broker.url, factoryId: plan.config.factory.factory.id, gatewayId: plan.gateway.id, store, tls: { ca: broker.pki.ca, cert: broker.pki.client.cert, key: broker.pki.client.key }, lingerMs: 50 }), (p) => p.stop(2000));
    adapter = teardown.add("the OPC UA adapter", new OpcUaAdapter({
      plan,
      intake,
      endpointOverride: () => plc.endpointUrl,
      security: { securityMode: "None", securityPolicy: "None" },
      pkiFolder: path.join(TEST_PKI_ROOT, "pipeline-client"),
      log: () => undefined,
    }), (a) => a.stop());
    publisher.start();
    await adapter.start();
  });

  after(() => teardown.run());

  it("delivers the PLC's values upstream with their unit, quality, source timestamps and order", async () => {
    const ramForce = tagNode("press-03", "ramForce");
    // source timestamps a minute back: apart from the value the subscription reports when it starts
    const t0 = Date.now() - 60_000;
    const values = [120.5, 180.25, 240.75, 300];
    for (const [i, value] of values.entries()) {
      plc.set(ramForce, { value, sourceTimestamp: new Date(t0 + i * 1000) });
      await new Promise((r) => setTimeout(r, 300));
    }
    plc.set(ramForce, { value: null, status: StatusCodes.BadSensorFailure, sourceTimestamp: new Date(t0 + 4000) });
    const deadline = Date.now() + 15_000;
    const mine = (): Reading[] => received.filter((r) => r.machineId === "press-03" && r.tag === "ramForce" && r.timestamp >= t0 && r.timestamp <= t0 + 4000);
    while (mine().length < values.length + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const got = mine();
    assert.deepEqual(
      got.map((r) => [r.value, r.unit, r.quality, r.clock, r.timestamp]),
      [...values.map((v, i) => [v, "kN", "good", "source", t0 + i * 1000]), [null, "kN", "bad", "source", t0 + 4000]],
    );
    assert.deepEqual(store.listDeadLetters().map((l) => l.reason), []);
  });
});
