/**
 * The edge agent end to end on 127.0.0.1: a simulated PLC (all 14 presses of factory-a's `gw-press`, every OPC UA
 * tag changing every 50 ms) -> `OpcUaAdapter` -> `Intake` -> store (temp dir) -> `Publisher` (mutual TLS) ->
 * mosquitto -> a subscriber on `$aws/rules/#` decoding the batches. Against it, in the same run: a bare node-opcua
 * subscription on the same items, and a bare mqtt.js QoS 1 publisher on the same broker. Then the wire cost of a
 * reading, what one connection carries at half of IoT Core's limits, and how fast a 5 s broker outage drains.
 */
import * as fs from "node:fs";
import type { Socket } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { decodeTelemetryBatch } from "@smart-factory/sdk";
import mqtt, { type MqttClient } from "mqtt";
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
} from "node-opcua";
import { planGateway, type GatewayPlan } from "../edge/src/config";
import { Intake } from "../edge/src/intake";
import { OpcUaAdapter } from "../edge/src/opcua";
import { DEFAULT_BUDGET, DEFAULT_MAX_BATCH_BYTES, Publisher } from "../edge/src/publisher";
import { openStore, type EdgeStore } from "../edge/src/store";
import { agentDocument } from "../test/helpers/agentConfig";
import { startMosquitto, type Mosquitto } from "../test/helpers/mosquitto";
import { startPlcServer, TEST_PKI_ROOT, type PlcServer } from "../test/helpers/opcuaServer";
import type { BenchResult } from "./lib";

const THING = "factory-a-gw-press";
/** Sampling (and publishing) interval of every tag, and the period of the simulated value changes. */
const TAG_INTERVAL_MS = 50;
const CHANGE_PERIOD_MS = 50;
const BARE_MQTT_MS = 3000;
const BARE_MQTT_PAYLOAD = 6 * 1024;
const BARE_OPCUA_WARMUP_MS = 1000;
const BARE_OPCUA_MS = 5000;
const E2E_WARMUP_MS = 2000;
const E2E_MS = 10_000;
const OUTAGE_MS = 5000;
const DRAIN_TIMEOUT_MS = 25_000;
const CLIENT_PKI = path.join(TEST_PKI_ROOT, "client");

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface TagNode {
  readonly nodeId: string;
  readonly tagName: string;
  readonly min: number;
  readonly max: number;
  readonly deadband: { readonly kind: "absolute" | "percent"; readonly value: number } | undefined;
}

function pressPlan(bufferPath: string): GatewayPlan {
  const doc = agentDocument("factory-a", bufferPath) as { factory: { machineTypes: { tags: { samplingIntervalMs: number }[] }[] } };
  for (const type of doc.factory.machineTypes) for (const tag of type.tags) tag.samplingIntervalMs = TAG_INTERVAL_MS;
  return planGateway(doc, THING);
}

function tagNodes(plan: GatewayPlan): TagNode[] {
  return plan.machines.flatMap(({ machine, type }) =>
    type.tags.flatMap((tag) => {
      const nodeId = (machine.tags as Record<string, string | undefined>)[tag.name];
      return nodeId === undefined ? [] : [{ nodeId, tagName: tag.name, min: tag.min, max: tag.max, deadband: tag.deadband }];
    }),
  );
}

function noDelay(client: MqttClient): void {
  const stream = client.stream as Partial<Pick<Socket, "setNoDelay">> | undefined;
  if (typeof stream?.setNoDelay === "function") stream.setNoDelay(true);
}

function tlsOf(broker: Mosquitto): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: broker.pki.ca, cert: broker.pki.client.cert, key: broker.pki.client.key };
}

/** A bare mqtt.js client publishing ~6 KB at QoS 1, the next one on the previous PUBACK (as the Publisher's telemetry). */
async function bareMqtt(broker: Mosquitto): Promise<{ messagesPerSecond: number; mbPerSecond: number }> {
  const client = await mqtt.connectAsync(broker.url, { ...tlsOf(broker), clientId: "bench-bare", clean: true, reconnectPeriod: 0, protocolVersion: 4 });
  noDelay(client);
  try {
    const payload = Buffer.alloc(BARE_MQTT_PAYLOAD, 0x5a);
    for (let i = 0; i < 20; i++) await client.publishAsync("bench/bare", payload, { qos: 1 }); // warm-up
    let messages = 0;
    const start = performance.now();
    while (performance.now() - start < BARE_MQTT_MS) {
      await client.publishAsync("bench/bare", payload, { qos: 1 });
      messages++;
    }
    const seconds = (performance.now() - start) / 1000;
    return { messagesPerSecond: messages / seconds, mbPerSecond: (messages * payload.length) / seconds / 1e6 };
  } finally {
    await client.endAsync(true);
  }
}

/** A bare node-opcua subscription on the same tags, same sampling, queue and deadbands as the adapter's. */
async function bareOpcUa(server: PlcServer, nodes: readonly TagNode[]): Promise<{ notificationsPerSecond: number; cpuPercent: number }> {
  const manager = new OPCUACertificateManager({ rootFolder: CLIENT_PKI, automaticallyAcceptUnknownCertificate: false });
  await manager.initialize();
  const client = OPCUAClient.create({
    applicationName: "smart-factory-agent-gw-press", // the name the shared test client certificate was made for
    endpointMustExist: false,
    securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None,
    connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 },
    clientCertificateManager: manager,
  });
  try {
    await client.connect(server.endpointUrl);
    const session = await client.createSession();
    try {
      const subscription = await session.createSubscription2({
        requestedPublishingInterval: TAG_INTERVAL_MS,
        requestedMaxKeepAliveCount: 10,
        requestedLifetimeCount: 60,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      });
      let notifications = 0;
      const byTag = new Map<string, TagNode[]>();
      for (const n of nodes) byTag.set(n.tagName, [...(byTag.get(n.tagName) ?? []), n]);
      for (const group of byTag.values()) {
        const deadband = group[0]?.deadband;
        const filter =
          deadband === undefined
            ? undefined
            : new DataChangeFilter({ trigger: DataChangeTrigger.StatusValue, deadbandType: deadband.kind === "absolute" ? DeadbandType.Absolute : DeadbandType.Percent, deadbandValue: deadband.value });
        const items = ClientMonitoredItemGroup.create(
          subscription,
          group.map((n) => ({ nodeId: n.nodeId, attributeId: AttributeIds.Value })),
          { samplingInterval: TAG_INTERVAL_MS, queueSize: 10, discardOldest: true, ...(filter === undefined ? {} : { filter }) },
          TimestampsToReturn.Both,
        );
        items.on("changed", () => {
          notifications++;
        });
        await new Promise<void>((resolve, reject) => {
          items.once("initialized", () => {
            resolve();
          });
          items.once("err", (text: string) => {
            reject(new Error(text));
          });
        });
      }
      await sleep(BARE_OPCUA_WARMUP_MS);
      const from = notifications;
      const cpu = process.cpuUsage();
      const start = performance.now();
      await sleep(BARE_OPCUA_MS);
      const ms = performance.now() - start;
      const used = process.cpuUsage(cpu);
      const counted = notifications - from;
      await subscription.terminate();
      return { notificationsPerSecond: (counted * 1000) / ms, cpuPercent: ((used.user + used.system) / 1000 / ms) * 100 };
    } finally {
      await session.close(true);
    }
  } finally {
    await client.disconnect();
    await manager.dispose();
  }
}

/** What reaches the broker on the Basic Ingest topics, decoded. */
class Upstream {
  readings = 0;
  bytes = 0;
  batches = 0;
  private readonly sequences = new Set<number>();
  private constructor(readonly client: MqttClient) {}

  static async connect(broker: Mosquitto): Promise<Upstream> {
    const client = await mqtt.connectAsync(broker.url, { ...tlsOf(broker), clientId: "bench-cloud-sim", clean: false, reconnectPeriod: 200 });
    const up = new Upstream(client);
    client.on("message", (topic, payload) => {
      if (!topic.endsWith("/telemetry")) return;
      const batch = decodeTelemetryBatch(payload);
      if (up.sequences.has(batch.sequence)) return; // a re-sent batch
      up.sequences.add(batch.sequence);
      up.batches++;
      up.readings += batch.readings.length;
      up.bytes += payload.length;
    });
    await client.subscribeAsync("$aws/rules/#", { qos: 1 });
    return up;
  }

  snapshot(): { readings: number; bytes: number; batches: number; at: number } {
    return { readings: this.readings, bytes: this.bytes, batches: this.batches, at: performance.now() };
  }
}

export async function run(): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sf-bench-edge-"));
  let broker: Mosquitto | undefined;
  let server: PlcServer | undefined;
  let upstream: Upstream | undefined;
  let store: EdgeStore | undefined;
  let adapter: OpcUaAdapter | undefined;
  let publisher: Publisher | undefined;
  let changer: NodeJS.Timeout | undefined;
  const warnings: string[] = [];
  try {
    const plan = pressPlan(path.join(dir, "buffer.db"));
    const nodes = tagNodes(plan);
    broker = await startMosquitto({ commonName: THING, persistence: true });
    server = await startPlcServer({ machines: plan.machines });
    const plc = server;
    for (const { machine } of plan.machines) plc.set(machine.signals.state, 2); // running
    upstream = await Upstream.connect(broker);

    // (2b) bare MQTT, before anything else loads the CPU
    const mqttBare = await bareMqtt(broker);

    // the PLC: every tag to a new random value every CHANGE_PERIOD_MS, alternately in the lower and upper part of
    // its range (consecutive values differ by >= 10% of the range, well past every deadband), rounded to 0.01
    let tick = 0;
    changer = setInterval(() => {
      tick++;
      for (const n of nodes) {
        const frac = (tick % 2 === 0 ? 0.2 : 0.55) + 0.25 * Math.random();
        plc.set(n.nodeId, Math.round((n.min + (n.max - n.min) * frac) * 100) / 100);
      }
    }, CHANGE_PERIOD_MS);

    // (2a) bare OPC UA
    const opcuaBare = await bareOpcUa(plc, nodes);

    // (1) end to end
    store = openStore({ path: path.join(dir, "buffer.db"), factoryId: plan.config.factory.factory.id, gatewayId: plan.gateway.id, limits: { maxBytes: 256 * 1024 ** 2, maxAgeHours: 24, onOverflow: "rejectNew" } });
    const intake = new Intake(plan, store);
    const tls = tlsOf(broker);
    publisher = new Publisher({ url: broker.url, factoryId: plan.config.factory.factory.id, gatewayId: plan.gateway.id, store, tls, backoff: { baseMs: 200, capMs: 1000 } });
    adapter = new OpcUaAdapter({
      plan,
      intake,
      endpointOverride: () => plc.endpointUrl,
      security: { securityMode: "None", securityPolicy: "None" },
      pkiFolder: CLIENT_PKI,
      signalSamplingIntervalMs: 100,
      reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
      log: (level, message) => {
        if (level === "warn") warnings.push(message);
      },
    });
    publisher.start();
    await adapter.start();
    await sleep(E2E_WARMUP_MS);
    const storeLevels: number[] = [];
    const e2eFrom = upstream.snapshot();
    const receivedFrom = adapter.status().received;
    const cpuFrom = process.cpuUsage();
    let rssPeak = 0;
    const e2eStart = performance.now();
    while (performance.now() - e2eStart < E2E_MS) {
      await sleep(100);
      storeLevels.push(store.stats().readings);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    const e2eMs = performance.now() - e2eStart;
    const cpu = process.cpuUsage(cpuFrom);
    const e2eTo = upstream.snapshot();
    const adapterReceived = adapter.status().received - receivedFrom;
    const e2eReadings = e2eTo.readings - e2eFrom.readings;
    const e2eBytes = e2eTo.bytes - e2eFrom.bytes;
    const e2eReadingsPerSecond = (e2eReadings * 1000) / e2eMs;
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / e2eMs) * 100;

    // (3) wire
    const bytesPerReading = e2eReadings > 0 ? e2eBytes / e2eReadings : NaN;
    const readingsPerFullBatch = Math.floor(DEFAULT_MAX_BATCH_BYTES / bytesPerReading);
    const connectionCapacity = Math.min(DEFAULT_BUDGET.publishesPerSecond * readingsPerFullBatch, DEFAULT_BUDGET.bytesPerSecond / bytesPerReading);

    // (4) backlog drain
    storeLevels.sort((a, b) => a - b);
    const steadyLevel = storeLevels[Math.floor(storeLevels.length * 0.9)] ?? 0;
    await broker.stop();
    await sleep(OUTAGE_MS);
    const backlogAtRestart = store.stats().readings;
    const publishedBefore = publisher.status().publishedReadings;
    await broker.start();
    const restartAt = performance.now();
    let drainMs = NaN;
    let backlogPeak = backlogAtRestart;
    while (performance.now() - restartAt < DRAIN_TIMEOUT_MS) {
      const level = store.stats().readings;
      backlogPeak = Math.max(backlogPeak, level);
      if (level <= Math.max(steadyLevel, 0)) {
        drainMs = performance.now() - restartAt;
        break;
      }
      await sleep(20);
    }
    const drainedReadings = publisher.status().publishedReadings - publishedBefore;
    const drainRate = (drainedReadings * 1000) / drainMs;

    return {
      name: "edge",
      figures: {
        machines: plan.machines.length,
        opcuaTags: nodes.length,
        e2eReadingsPerSecond,
        adapterNotificationsPerSecond: (adapterReceived * 1000) / e2eMs,
        bareOpcUaNotificationsPerSecond: opcuaBare.notificationsPerSecond,
        e2eOverBareOpcUa: e2eReadingsPerSecond / opcuaBare.notificationsPerSecond,
        e2eCpuPercentOfOneCore: cpuPercent,
        bareOpcUaCpuPercentOfOneCore: opcuaBare.cpuPercent,
        rssPeakMB: rssPeak / 2 ** 20,
        e2eBatchesPerSecond: ((e2eTo.batches - e2eFrom.batches) * 1000) / e2eMs,
        bareMqttMessagesPerSecond: mqttBare.messagesPerSecond,
        bareMqttMBPerSecond: mqttBare.mbPerSecond,
        bytesPerReading,
        readingsPerFullBatch,
        connectionCapacityReadingsPerSecond: connectionCapacity,
        steadyStoreReadings: steadyLevel,
        backlogAtRestartReadings: backlogAtRestart,
        drainSeconds: drainMs / 1000,
        drainReadingsPerSecond: drainRate,
      },
      notes:
        `${plan.machines.length} presses of ${THING} on one node-opcua simulated PLC (sampling floor 10 ms), ${nodes.length} OPC UA tags sampled and published every ${TAG_INTERVAL_MS} ms ` +
        `(deadbands as configured), each set every ${CHANGE_PERIOD_MS} ms to a random value (0.01 resolution) alternately in 20..45% and 55..80% of its range, i.e. always past its deadband (random, so the batch codec's deflate gets no artificial repetition); state/counter signals at 100 ms, constant. ` +
        `e2eReadingsPerSecond: readings in distinct telemetry batches decoded by a subscriber on $aws/rules/# over ${E2E_MS / 1000} s after ${E2E_WARMUP_MS / 1000} s warm-up ` +
        `(OpcUaAdapter -> Intake -> SQLite store in a temp dir -> Publisher with its defaults: linger 1 s, budget 50 publishes/s and 256 KiB/s, mutual TLS, setNoDelay -> mosquitto; only the reconnect backoff lowered to 200..1000 ms). ` +
        `adapterNotificationsPerSecond: data changes the adapter received (status().received). bareOpcUaNotificationsPerSecond: data-change notifications/s of a bare node-opcua subscription on the same ${nodes.length} tags, same sampling, queue 10 and deadband filters, ${BARE_OPCUA_MS / 1000} s, run alone before the end-to-end phase. e2eOverBareOpcUa = e2e readings/s / bare notifications/s. ` +
        `CPU: process.cpuUsage delta / wall time in % of one core; the agent, the PLC simulator, the value changer and the subscriber all run in the bench process and nothing is subtracted (bareOpcUaCpuPercentOfOneCore is the same process with the simulator and the bare client only, for reference); mosquitto runs in its own process, not counted. rssPeakMB: peak RSS of the bench process in MiB during the end-to-end phase. ` +
        `bareMqtt: one mqtt.js client, mutual TLS, setNoDelay, ${BARE_MQTT_PAYLOAD}-byte QoS 1 messages, next one on the previous PUBACK (one in flight, as the Publisher's telemetry), ${BARE_MQTT_MS / 1000} s; MB = 10^6 bytes of payload. ` +
        `bytesPerReading: received telemetry payload bytes / readings (batch headers included). readingsPerFullBatch = floor(${DEFAULT_MAX_BATCH_BYTES} / bytesPerReading). connectionCapacityReadingsPerSecond = min(${DEFAULT_BUDGET.publishesPerSecond} x readingsPerFullBatch, ${DEFAULT_BUDGET.bytesPerSecond} / bytesPerReading), half of IoT Core's per-connection limits. ` +
        `Drain: mosquitto (persistent) stopped ${OUTAGE_MS / 1000} s while readings keep flowing into the store; drainSeconds from its restart until the store holds no more unsent readings than the 90th percentile of the steady phase (steadyStoreReadings), reconnect included; drainReadingsPerSecond = readings the Publisher got PUBACKs for in that time / drainSeconds (new readings included). ` +
        `Machine load: 2 cores shared with a concurrent CI run.${warnings.length > 0 ? ` Adapter warnings: ${warnings.length} (first: ${warnings[0] ?? ""}).` : ""}`,
    };
  } finally {
    if (changer !== undefined) clearInterval(changer);
    const steps: (() => Promise<unknown>)[] = [
      async () => adapter?.stop(),
      async () => publisher?.stop(2000),
      () => { store?.close(); return Promise.resolve(); },
      async () => upstream?.client.endAsync(true),
      async () => server?.stop(),
      async () => broker?.dispose(),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch {
        // keep cleaning up
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
