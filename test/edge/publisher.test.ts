/**
 * The publisher against a real broker: mosquitto with mutual TLS on 127.0.0.1 (test/helpers/mosquitto.ts), an
 * in-memory store that follows the store contract, and a subscriber (good client certificate) on `$aws/rules/#`.
 * mosquitto delivers `$aws/...` topics to an explicit `$aws/rules/#` subscription, so the tests use the Basic
 * Ingest topics exactly as in production.
 */
import assert from "node:assert/strict";
import {
  decodeTelemetryBatch,
  stateTopic,
  telemetryTopic,
  toSiteWiseStateMessage,
  type FactoryId,
  type GatewayId,
  type LineId,
  type MachineId,
  type Reading,
  type TelemetryBatch,
} from "@smart-factory/sdk";
import mqtt, { type MqttClient } from "mqtt";
import {
  backoffDelay,
  DEFAULT_BUDGET,
  DEFAULT_MAX_BATCH_BYTES,
  describeConnectionError,
  METERING_BLOCK_BYTES,
  Publisher,
  type PublisherOptions,
} from "../../edge/src/publisher";
import { MemoryStore } from "../helpers/memoryStore";
import { startMosquitto, type Mosquitto, type TlsIdentity } from "../helpers/mosquitto";
import { realisticReadings } from "../helpers/readings";
import { Teardown } from "../helpers/teardown";
import { sleep, until } from "../helpers/until";

const FACTORY = "factory-a" as FactoryId;

interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly at: number;
}

/** A subscriber on `$aws/rules/#` with a persistent session (it survives broker restarts: persistence is on). */
class Subscriber {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload) => this.messages.push({ topic, payload, at: Date.now() }));
  }

  static async connect(broker: Mosquitto, clientId: string): Promise<Subscriber> {
    const client = await mqtt.connectAsync(broker.url, {
      ...broker.pki.client,
      ca: broker.pki.ca,
      rejectUnauthorized: true,
      clientId,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 200,
    });
    const subscriber = new Subscriber(client);
    await client.subscribeAsync("$aws/rules/#", { qos: 1 });
    return subscriber;
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Unique batches (by sequence) of a topic; asserts that every duplicate is an exact copy of the first. */
function uniqueBatches(messages: readonly Received[]): TelemetryBatch[] {
  const bySequence = new Map<number, { batch: TelemetryBatch; payload: Buffer }>();
  for (const m of messages) {
    const batch = decodeTelemetryBatch(m.payload);
    const seen = bySequence.get(batch.sequence);
    if (seen === undefined) bySequence.set(batch.sequence, { batch, payload: m.payload });
    else assert.ok(seen.payload.equals(m.payload), `batch ${batch.sequence} arrived twice with different content`);
  }
  return [...bySequence.values()].map((v) => v.batch).sort((a, b) => a.sequence - b.sequence);
}

function assertConsecutive(batches: readonly TelemetryBatch[]): void {
  batches.forEach((b, i) => { assert.equal(b.sequence, i, `sequence gap: batch ${i} has sequence ${b.sequence}`); });
}

describe("edge publisher: defaults and pure parts", () => {
  it("fills 5 KB metering blocks and stays under IoT Core's 128 KB; budgets half of the per-connection limits", () => {
    assert.equal(DEFAULT_MAX_BATCH_BYTES, 127_488);
    assert.equal(Math.ceil(DEFAULT_MAX_BATCH_BYTES / METERING_BLOCK_BYTES), 25);
    assert.ok(DEFAULT_MAX_BATCH_BYTES + 512 <= 128 * 1024);
    assert.deepEqual(DEFAULT_BUDGET, { publishesPerSecond: 50, bytesPerSecond: 256 * 1024, burstSeconds: 0.5 });
  });

  it("backs off exponentially with full jitter, up to the cap", () => {
    const options = { baseMs: 1000, capMs: 60_000 };
    assert.deepEqual([0, 1, 2, 3, 6, 7, 50].map((n) => backoffDelay(n, options, () => 0.999_999)), [999, 1999, 3999, 7999, 59_999, 59_999, 59_999]);
    assert.equal(backoffDelay(5, options, () => 0), 0);
    assert.equal(backoffDelay(2, options, () => 0.5), 2000);
  });

  it("names a refused client certificate, whether by TLS alert or by a reset before CONNACK", () => {
    const alert = Object.assign(new Error("80ACA7C5047F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 48"), { code: "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA" });
    assert.deepEqual(describeConnectionError(alert, true), {
      message: "the broker refused this gateway's client certificate: TLS alert \"unknown ca\" (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA); check that it is signed by a CA the broker trusts, registered, ACTIVE and attached to the thing",
      certificateRefused: true,
    });
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    assert.match(describeConnectionError(reset, true).message, /^the broker refused this gateway's client certificate: the connection was reset during the TLS handshake/);
    assert.equal(describeConnectionError(reset, false).certificateRefused, false);
    const untrusted = Object.assign(new Error("unable to verify the first certificate"), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    assert.match(describeConnectionError(untrusted, true).message, /^the broker's certificate is not trusted by this gateway/);
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    assert.match(describeConnectionError(refused, true).message, /^the broker is not reachable/);
  });
});

describe("edge publisher (mosquitto, mutual TLS)", function () {
  this.timeout(120_000);
  let broker: Mosquitto;
  let subscriber: Subscriber;
  const publishers: Publisher[] = [];

  const teardown = new Teardown();

  before(async () => {
    broker = teardown.add("the broker", await startMosquitto({ persistence: true }), (b) => b.dispose());
    subscriber = teardown.add("the subscriber", await Subscriber.connect(broker, "test-subscriber"), (s) => s.close());
  });

  afterEach(async () => {
    broker.thaw();
    await Promise.all(publishers.splice(0).map((p) => p.stop(1000)));
  });

  after(() => teardown.run());

  function publisher(gateway: string, store: MemoryStore, options: Partial<PublisherOptions> = {}, identity?: TlsIdentity): Publisher {
    const p = new Publisher({
      url: broker.url,
      factoryId: FACTORY,
      gatewayId: gateway as GatewayId,
      store,
      tls: { ca: broker.pki.ca, ...(identity ?? broker.pki.client) },
      lingerMs: 0,
      pollMs: 20,
      backoff: { baseMs: 100, capMs: 1000 },
      ...options,
    });
    publishers.push(p);
    return p;
  }

  it("publishes batches and state messages on the Basic Ingest topics, in order, within maxBatchBytes, emptying the store", async () => {
    const gateway = "gw-order" as GatewayId;
    const store = new MemoryStore(FACTORY, gateway);
    const readings = realisticReadings(30_000, { machines: 10, seed: 7 });
    store.appendReadings(readings);
    const line = "line-1" as LineId;
    const events = Array.from({ length: 25 }, (_, i) => ({
      lineId: line,
      message: toSiteWiseStateMessage(
        { machineId: `cnc-0${(i % 3) + 1}` as MachineId, timestamp: Date.UTC(2026, 10, 25, 8, 0, i), clock: "source", state: i % 2 === 0 ? "running" : "idle", goodIncrement: i, badIncrement: 0 },
        { factoryId: FACTORY, gatewayId: gateway, lineId: line, sequence: i },
      ),
    }));
    store.appendStates(events);
    const maxBatchBytes = 16 * 1024;
    const p = publisher(gateway, store, { maxBatchBytes, connections: 2 });
    p.start();
    await until("the store is empty", () => store.stats().readings === 0 && store.stats().stateMessages === 0);
    const topic = telemetryTopic(FACTORY, gateway);
    assert.equal(topic, "$aws/rules/sf_factory_a_telemetry/sf/v1/factory-a/factory-a-gw-order/telemetry");
    await until("every batch arrived", () => subscriber.on(topic).length >= store.taken.length);

    const received = subscriber.on(topic);
    for (const m of received) assert.ok(m.payload.length <= maxBatchBytes, `a batch of ${m.payload.length} bytes`);
    const batches = uniqueBatches(received);
    assert.ok(batches.length > 3, `only ${batches.length} batches`);
    assertConsecutive(batches);
    assert.deepEqual(batches.flatMap((b) => b.readings), readings);

    const stateTopics = new Set(events.map((e) => stateTopic(FACTORY, gateway, line, e.message.machineId)));
    assert.ok(stateTopics.has("$aws/rules/sf_factory_a_state/sf/v1/factory-a/factory-a-gw-order/state/line-1/cnc-01"));
    const states = subscriber.messages.filter((m) => stateTopics.has(m.topic));
    const perMachine = (ms: { machineId: string; sequence: number }[], machine: string): number[] =>
      ms.filter((m) => m.machineId === machine).map((m) => m.sequence);
    const got = states.map((m) => JSON.parse(m.payload.toString()));
    for (const machine of ["cnc-01", "cnc-02", "cnc-03"]) {
      assert.deepEqual(perMachine(got, machine), perMachine(events.map((e) => e.message), machine));
    }
    const status = p.status();
    assert.equal(status.publishedReadings, readings.length);
    assert.equal(status.publishedStates, events.length);
    assert.equal(status.publishedBatches, store.taken.length);
    assert.equal(status.connected, true);
    // two connections with distinct client ids, never the thing name of the nucleus
    assert.deepEqual(status.connections.map((c) => c.clientId), ["factory-a-gw-order-agent", "factory-a-gw-order-agent-2"]);
    assert.match(broker.output, /as factory-a-gw-order-agent \(/);
    assert.match(broker.output, /as factory-a-gw-order-agent-2 \(/);
  });

  it("acks a batch only after its PUBACK", async () => {
    const gateway = "gw-puback" as GatewayId;
    const store = new MemoryStore(FACTORY, gateway);
    const p = publisher(gateway, store);
    p.start();
    await until("connected", () => p.status().connected);
    broker.freeze(); // the connection stays open, but no PUBACK comes
    store.appendReadings(realisticReadings(500, { seed: 3 }));
    await until("a batch is taken", () => store.taken.length === 1);
    await sleep(1000);
    assert.equal(store.acked.length, 0);
    assert.equal(store.stats().pendingBatches, 1);
    assert.equal(store.stats().readings, 500);
    assert.equal(p.status().publishedBatches, 0);
    assert.equal(p.status().inFlight, 1);
    broker.thaw();
    await until("the batch is acked", () => store.acked.length === 1);
    assert.equal(store.stats().readings, 0);
    assert.equal(p.status().publishedReadings, 500);
  });

  it("stop() waits for the PUBACKs of what is in flight, up to its timeout", async () => {
    const gateway = "gw-stop" as GatewayId;
    const store = new MemoryStore(FACTORY, gateway);
    const p = publisher(gateway, store);
    p.start();
    await until("connected", () => p.status().connected);
    broker.freeze();
    store.appendReadings(realisticReadings(300, { seed: 4 }));
    await until("a batch is in flight", () => p.status().inFlight === 1);
    const started = Date.now();
    setTimeout(() => { broker.thaw(); }, 800);
    const result = await p.stop(10_000);
    const took = Date.now() - started;
    assert.deepEqual(result, { flushed: true, unacknowledged: 0 });
    assert.ok(took >= 700, `stop() returned after ${took} ms, before the PUBACK`);
    assert.equal(store.acked.length, 1);
    assert.equal(store.stats().readings, 0);

    // with a broker that never answers, stop() gives up after its timeout and the batch stays in the store
    const store2 = new MemoryStore(FACTORY, gateway);
    const p2 = publisher(gateway, store2);
    p2.start();
    await until("connected", () => p2.status().connected);
    broker.freeze();
    store2.appendReadings(realisticReadings(300, { seed: 5 }));
    await until("a batch is in flight", () => p2.status().inFlight === 1);
    const started2 = Date.now();
    const result2 = await p2.stop(500);
    broker.thaw();
    assert.deepEqual(result2, { flushed: false, unacknowledged: 1 });
    assert.ok(Date.now() - started2 < 3000);
    assert.equal(store2.acked.length, 0);
    assert.equal(store2.stats().readings, 300);
  });

  it("reports a refused client certificate clearly, keeps the buffer and retries with backoff", async () => {
    const gateway = "gw-rogue" as GatewayId;
    const store = new MemoryStore(FACTORY, gateway);
    store.appendReadings(realisticReadings(1000, { seed: 6 }));
    const p = publisher(gateway, store, { backoff: { baseMs: 100, capMs: 400 } }, broker.pki.rogueClient);
    const errors: string[] = [];
    p.on("connectionError", (_id, message) => errors.push(message));
    p.start();
    await until("three refused attempts", () => errors.length >= 3, 10_000);
    const status = p.status();
    assert.equal(status.connected, false);
    assert.equal(status.certificateRefused, true);
    assert.match(status.lastError ?? "", /^the broker refused this gateway's client certificate: /);
    assert.match(status.lastError ?? "", /TLS alert "unknown ca"/);
    for (const e of errors) assert.match(e, /refused this gateway's client certificate/);
    assert.ok((status.connections[0]?.attempts ?? 0) >= 3);
    assert.equal(store.stats().readings, 1000);
    assert.equal(store.acked.length, 0);
    assert.equal(subscriber.on(telemetryTopic(FACTORY, gateway)).length, 0);
  });

  it("keeps publishes within the budget", async () => {
    const gateway = "gw-budget" as GatewayId;
    const store = new MemoryStore(FACTORY, gateway);
    store.appendReadings(realisticReadings(20_000, { seed: 8 }));
    const rate = 5;
    const p = publisher(gateway, store, { maxBatchBytes: 1024, budget: { publishesPerSecond: rate, burstSeconds: 0.5 } });
    p.start();
    await sleep(4200);
    await p.stop(2000);
    const times = subscriber.on(telemetryTopic(FACTORY, gateway)).map((m) => m.at);
    const first = times[0] ?? 0;
    const span = ((times[times.length - 1] ?? 0) - first) / 1000;
    let maxInOneSecond = 0;
    for (const [i, t] of times.entries()) maxInOneSecond = Math.max(maxInOneSecond, times.slice(i).filter((u) => u < t + 1000).length);
    console.log(`      budget ${rate}/s (burst 0.5 s): ${times.length} publishes in ${span.toFixed(2)} s, at most ${maxInOneSecond} in any second`);
    // a burst of 2.5 plus the rate: at most 7.5 sent in any one second, at most 2.5 + rate x span overall; one
    // more of tolerance for deliveries that a busy machine bunches up at the subscriber
    assert.ok(maxInOneSecond <= 9, `${maxInOneSecond} publishes in one second`);
    assert.ok(times.length <= 2.5 + rate * span + 1, `${times.length} publishes in ${span} s`);
    assert.ok(times.length >= rate * 3, `only ${times.length} publishes: the budget was not used`);
  });

  it("loses nothing across a 30 s broker outage under load, and drains the backlog", async function () {
    this.timeout(150_000);
    const gateway = "gw-outage" as GatewayId;
    const store = new MemoryStore(FACTORY, gateway);
    const perTick = 100; // every 50 ms: 2,000 readings/s (a busy gateway)
    // 38 s of readings: 3 s before the outage, 30 s of outage, then about 5 s of steady flow once the backlog drained
    // (the drain takes about one)
    const all: Reading[] = realisticReadings(perTick * 20 * 38, { machines: 40, seed: 9 });
    let appended = 0;
    const feed = setInterval(() => {
      if (appended < all.length) {
        store.appendReadings(all.slice(appended, appended + perTick));
        appended += perTick;
      }
    }, 50);
    const maxBatchBytes = 8 * 1024;
    const p = publisher(gateway, store, { maxBatchBytes, backoff: { baseMs: 200, capMs: 2000 } });
    const disconnects: string[] = [];
    p.on("disconnected", (id) => disconnects.push(id));
    try {
      p.start();
      await sleep(3000);
      assert.ok(p.status().publishedBatches > 0);
      await broker.stop();
      const outageStart = Date.now();
      await sleep(1000);
      assert.equal(p.status().connected, false);
      const pendingDuringOutage = store.stats().readings;
      const ackedAtOutage = store.acked.length;
      await sleep(29_000);
      // nothing is acked without a broker: the batch taken before stays pending in the store
      assert.equal(store.acked.length, ackedAtOutage);
      assert.equal(store.stats().pendingBatches, 1);
      const backlog = store.stats().readings;
      assert.ok(backlog > pendingDuringOutage, "readings kept arriving during the outage");
      assert.ok(store.stats().readings >= 29 * 2000 * 0.5, `the store holds only ${store.stats().readings} readings`);
      const publishedBefore = p.status().publishedReadings;
      const batchesBefore = p.status().publishedBatches;
      await broker.start();
      const restartedAt = Date.now();
      await until("reconnected", () => p.status().connected, 15_000);
      const reconnectedAt = Date.now();
      await until("the backlog is drained", () => store.stats().readings < perTick * 2 + 1, 60_000);
      const drainedAt = Date.now();
      const drained = p.status().publishedReadings - publishedBefore;
      const drainedBatches = p.status().publishedBatches - batchesBefore;
      const drainSeconds = (drainedAt - reconnectedAt) / 1000;
      console.log(
        `      outage ${((restartedAt - outageStart) / 1000).toFixed(1)} s, backlog ${backlog} readings; reconnected ${reconnectedAt - restartedAt} ms ` +
          `after the restart; drained ${drained} readings in ${drainSeconds.toFixed(2)} s = ${Math.round(drained / drainSeconds)} readings/s ` +
          `in ${drainedBatches} batches of at most ${maxBatchBytes} bytes (${(drainedBatches / drainSeconds).toFixed(1)} publishes/s, budget 50/s + 0.5 s burst)`,
      );
      while (appended < all.length) await sleep(50);
      clearInterval(feed);
      await until("the store is empty", () => store.stats().readings === 0, 30_000);
      await p.stop(5000);
      const topic = telemetryTopic(FACTORY, gateway);
      await until("every batch reached the subscriber", () => new Set(subscriber.on(topic).map((m) => decodeTelemetryBatch(m.payload).sequence)).size === store.taken.length, 20_000);
      const batches = uniqueBatches(subscriber.on(topic));
      assertConsecutive(batches);
      const readings = batches.flatMap((b) => b.readings);
      assert.equal(readings.length, all.length, "readings lost or duplicated at the subscriber");
      assert.deepEqual(readings, all);
      assert.ok(disconnects.length >= 1);
      for (const m of subscriber.on(topic)) assert.ok(m.payload.length <= maxBatchBytes);
    } finally {
      clearInterval(feed);
    }
  });
});
