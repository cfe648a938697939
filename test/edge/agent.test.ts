import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { decodeTelemetryBatch, HealthMessage, check, type TelemetryBatch } from "@smart-factory/sdk";
import { Agent } from "../../edge/src/agent";
import { planGateway } from "../../edge/src/config";
import { agentDocument } from "../helpers/agentConfig";
import { startMosquitto, type Mosquitto } from "../helpers/mosquitto";
import { REPO_ROOT } from "../helpers/stacks";
import { Teardown } from "../helpers/teardown";
import { until } from "../helpers/until";

const THING = "factory-a-gw-press";
const SENSOR_TOPICS = Array.from({ length: 8 }, (_, i) => `sensors/pl1/press-0${i + 1}/vibration`);

/** Collects what reaches the broker on the gateway's Basic Ingest topics. */
class Upstream {
  readonly batches: TelemetryBatch[] = [];
  readonly health: HealthMessage[] = [];
  private constructor(readonly client: MqttClient) {}
  static async connect(broker: Mosquitto): Promise<Upstream> {
    const client = await mqtt.connectAsync(broker.url, { ca: broker.pki.ca, cert: broker.pki.client.cert, key: broker.pki.client.key, clientId: "cloud-sim", clean: false });
    const up = new Upstream(client);
    client.on("message", (topic, payload) => {
      if (topic.endsWith("/telemetry")) up.batches.push(decodeTelemetryBatch(payload));
      if (topic.endsWith("/health")) {
        const decoded = check(HealthMessage, JSON.parse(payload.toString()));
        assert.ok(decoded.ok, "health messages follow the SDK's codec");
        up.health.push(decoded.value);
      }
    });
    await client.subscribeAsync("$aws/rules/#", { qos: 1 });
    return up;
  }
  /** Vibration values received, in order of arrival, duplicates (re-sent batches) removed by sequence. */
  values(): number[] {
    const seen = new Set<number>();
    return this.batches.filter((b) => (seen.has(b.sequence) ? false : (seen.add(b.sequence), true))).flatMap((b) => b.readings.map((r) => r.value ?? NaN));
  }
}

/** Ask a child process to end (SIGTERM) and wait until it has; at once if it already has. */
async function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exit;
}


describe("the edge agent end to end: sensors -> buffer -> mutual TLS -> broker", function () {
  this.timeout(120_000);
  let broker: Mosquitto;
  let dir: string;
  let configFile: string;

  const suite = new Teardown();
  /** What one test started: stopped after it, pass or fail. */
  const started = new Teardown();

  before(async () => {
    broker = suite.add("the broker", await startMosquitto({ commonName: THING, persistence: true }), (b) => b.dispose());
    dir = suite.directory("sf-agent-");
    const files = { ca: path.join(dir, "root-ca.pem"), cert: path.join(dir, "thing.crt"), key: path.join(dir, "thing.key") };
    fs.writeFileSync(files.ca, broker.pki.ca);
    fs.writeFileSync(files.cert, broker.pki.client.cert);
    fs.writeFileSync(files.key, broker.pki.client.key, { mode: 0o600 });
    const doc = agentDocument("factory-a", path.join(dir, "buffer.db"));
    doc.agent = { ...doc.agent, iotEndpoint: "127.0.0.1", port: broker.port, certificatePath: files.cert, privateKeyPath: files.key, rootCaPath: files.ca, healthIntervalSeconds: 10 };
    for (const g of doc.factory.gateways) g.localBroker = broker.url;
    configFile = path.join(dir, "agent.json");
    fs.writeFileSync(configFile, JSON.stringify(doc));
  });
  afterEach(() => started.run());
  after(() => suite.run());

  /** A sensor simulator on the gateway's local broker, disconnected after the test. */
  async function sensors(): Promise<MqttClient> {
    const client = await mqtt.connectAsync(broker.url, { ca: broker.pki.ca, cert: broker.pki.client.cert, key: broker.pki.client.key, clientId: "sensor-sim" });
    return started.add("the sensor simulator", client, (c) => c.endAsync());
  }

  /** The cloud side, disconnected after the test. */
  async function upstreamOf(): Promise<Upstream> {
    const upstream = await Upstream.connect(broker);
    return started.add("the upstream subscriber", upstream, (u) => u.client.endAsync());
  }

  it("delivers sensor readings upstream in order, with health messages, and shuts down cleanly", async () => {
    const upstream = await upstreamOf();
    const plan = planGateway(JSON.parse(fs.readFileSync(configFile, "utf8")), THING);
    const agent = started.add("the agent", new Agent({ plan, healthIntervalMs: 300, publisher: { lingerMs: 50 }, log: () => undefined }), (a) => a.stop());
    await agent.start();
    const sim = await sensors();
    for (let i = 1; i <= 400; i++) await sim.publishAsync(SENSOR_TOPICS[i % 8] as string, JSON.stringify({ value: i / 10 }), { qos: 1 });
    await until("400 readings and 2 health messages upstream", () => upstream.values().length >= 400 && upstream.health.length >= 2, 20_000);
    await started.run();
    assert.deepEqual(upstream.values(), Array.from({ length: 400 }, (_, i) => (i + 1) / 10));
    const sequences = upstream.batches.map((b) => b.sequence);
    assert.deepEqual(sequences, sequences.map((_, i) => (sequences[0] ?? 0) + i), "consecutive sequences");
    const last = upstream.health[upstream.health.length - 1];
    assert.ok(last, "a health message arrived");
    assert.equal(last.gatewayId, "gw-press");
    assert.equal(last.deadLetters, 0);
    assert.ok(Object.keys(last.lastValueAt).length >= 1);
  });

  it("killed with SIGKILL mid-stream and restarted: zero readings lost", async () => {
    const upstream = await upstreamOf();
    const start = (): ChildProcess =>
      started.add("the agent process", spawn(process.execPath, ["--conditions=@smart-factory/source", "--import", "tsx", path.join(REPO_ROOT, "edge", "src", "main.ts"), "--config", configFile, "--thing", THING, "--no-opcua"], {
        cwd: REPO_ROOT,
        env: { ...process.env, NODE_OPTIONS: "" },
        stdio: ["ignore", "pipe", "pipe"],
      }), ended);
    let said = "";
    const startedUp = (child: ChildProcess): Promise<void> =>
      new Promise((resolve, reject) => {
        let out = "";
        child.stderr?.on("data", (chunk: Buffer) => {
          said += chunk.toString();
        });
        child.stdout?.on("data", (chunk: Buffer) => {
          said += chunk.toString();
          out += chunk.toString();
          if (out.includes('"agent started"')) resolve();
        });
        child.once("exit", (code) => { reject(new Error(`agent exited with ${String(code)} before starting: ${out}`)); });
      });
    let agent = start();
    await startedUp(agent);
    const sim = await sensors();
    const total = 3000;
    for (let i = 1; i <= total; i++) {
      await sim.publishAsync(SENSOR_TOPICS[i % 8] as string, JSON.stringify({ value: i / 100 }), { qos: 1 });
      if (i === 1200) {
        agent.kill("SIGKILL");
        await new Promise((r) => agent.once("exit", r));
        agent = start();
        await startedUp(agent);
      }
    }
    const expected = Array.from({ length: total }, (_, i) => (i + 1) / 100); // within vibration's 0..50 mm/s
    try {
      await until(`${total} distinct readings upstream`, () => new Set(upstream.values()).size >= total, 30_000);
    } catch (error) {
      const have = new Set(upstream.values());
      const missing = expected.filter((v) => !have.has(v));
      throw new Error(`${String(error)}: ${have.size} arrived, missing ${missing.length}: ${missing.slice(0, 20).join(",")}... batches ${upstream.batches.length}; agent said: ${said.slice(-2000)}`, { cause: error });
    }
    const got = upstream.values();
    assert.deepEqual([...new Set(got)].sort((a, b) => a - b), expected, "every reading arrived");
    // the sensor's per-topic order is kept upstream
    for (const topic of SENSOR_TOPICS) {
      const mine = expected.filter((v) => SENSOR_TOPICS[Math.round(v * 100) % 8] === topic);
      const seen = got.filter((v) => mine.includes(v));
      assert.deepEqual([...new Set(seen)], mine, `order of ${topic}`);
    }
  });
});
