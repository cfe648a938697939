/**
 * The publisher: drains the durable {@link ReadingStore} to AWS IoT Core over mutual-TLS MQTT (mqtt.js).
 *
 * - Telemetry batches go to the gateway's Basic Ingest telemetry topic, state messages (JSON) to each machine's
 *   state topic, both at QoS 1. An item leaves the store only after its PUBACK: a connection lost mid-flight
 *   means the same batch (same sequence) is sent again, an exact duplicate the cloud drops.
 * - Order is kept: one telemetry batch is in flight at a time (the store hands out only the oldest unacked
 *   batch); state messages go out in rounds on one connection and are acked as the in-order prefix of PUBACKs.
 * - Every connection has a publish budget (token buckets for publishes/s and bytes/s), by default half of IoT
 *   Core's per-connection limits, so a backlog drains without the broker throttling or disconnecting us.
 * - Connections reconnect with exponential backoff and full jitter (mqtt.js's own reconnect is disabled).
 * - Connection state, counters and the last error (with a clear message when the broker refuses the gateway's
 *   client certificate) are available from {@link Publisher.status} and as events.
 */
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import {
  agentClientId,
  healthTopic,
  MAX_MESSAGE_BYTES,
  stateTopic,
  telemetryTopic,
  type FactoryId,
  type HealthMessage,
  type GatewayId,
  type LineId,
  type TopicForm,
} from "@smart-factory/sdk";
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import type { PendingState, ReadingStore } from "./contracts";

/** AWS IoT Core meters messages (and rule triggers) in blocks of this many bytes. */
export const METERING_BLOCK_BYTES = 5 * 1024;

/**
 * Room kept in a message for what is not the batch payload: the topic (about 80 bytes for a Basic Ingest
 * telemetry topic), the MQTT fixed and variable header, and slack for metering that counts them.
 */
export const MESSAGE_OVERHEAD_BYTES = 512;

/**
 * Default upper bound of a telemetry batch's encoded payload: 25 metering blocks minus
 * {@link MESSAGE_OVERHEAD_BYTES} = 127,488 bytes. A full batch is billed as 25 blocks that it fills to 99.6%
 * (whether the meter counts the payload alone or payload plus topic, in 5,000- or 5,120-byte blocks it stays
 * within 26 blocks, ≥ 98% full), and the whole PUBLISH stays under IoT Core's hard 128 KB (131,072 bytes) per
 * message with room to spare. Large batches also spend few of the connection's publishes per second.
 */
export const DEFAULT_MAX_BATCH_BYTES = 25 * METERING_BLOCK_BYTES - MESSAGE_OVERHEAD_BYTES;

/** AWS IoT Core's hard limits per connection. */
export const IOT_CORE_CONNECTION_LIMITS = { publishesPerSecond: 100, bytesPerSecond: 512 * 1024 } as const;

/** How much one connection may publish. */
export interface PublishBudget {
  /** Publishes per second, sustained. */
  readonly publishesPerSecond: number;
  /** Bytes per second (payload + topic), sustained. */
  readonly bytesPerSecond: number;
  /**
   * Burst, in seconds of the sustained rate, that an idle connection may send at once. With 0.5 s any one-second
   * window holds at most 1.5 x the rate: 75 publishes and 384 KiB with the defaults, under IoT Core's limits.
   * The byte bucket always holds at least one maximal message.
   */
  readonly burstSeconds: number;
}

/** Half of IoT Core's per-connection limits (the architecture's steady-state plan), 0.5 s burst. */
export const DEFAULT_BUDGET: PublishBudget = {
  publishesPerSecond: IOT_CORE_CONNECTION_LIMITS.publishesPerSecond / 2,
  bytesPerSecond: IOT_CORE_CONNECTION_LIMITS.bytesPerSecond / 2,
  burstSeconds: 0.5,
};

/** Reconnection delays: attempt n waits a uniformly random time in [0, min(capMs, baseMs x 2^n)). */
export interface BackoffOptions {
  /** Default 1,000 ms. */
  readonly baseMs: number;
  /** Default 60,000 ms. */
  readonly capMs: number;
}

/** Client certificate, key and the CA that signed the broker's certificate (PEM). */
export interface PublisherTls {
  readonly ca: string | Buffer | readonly (string | Buffer)[];
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** TLS server name (SNI and certificate check) when it differs from the URL's host. */
  readonly servername?: string;
}

/** Options of {@link Publisher}. */
export interface PublisherOptions {
  /** Broker URL, `mqtts://<endpoint>:8883`. */
  readonly url: string;
  readonly factoryId: FactoryId;
  readonly gatewayId: GatewayId;
  /** The store to drain. The publisher never closes it. */
  readonly store: ReadingStore;
  readonly tls: PublisherTls;
  /**
   * Connections to open, each with its own client id (`<thing>-agent`, `<thing>-agent-2`, ...) and its own
   * budget, for a gateway one connection cannot carry. Batches still go out one at a time, in order. Default 1.
   */
  readonly connections?: number;
  /** Upper bound of a telemetry batch's encoded size. Default {@link DEFAULT_MAX_BATCH_BYTES}. */
  readonly maxBatchBytes?: number;
  /** Budget per connection. Default {@link DEFAULT_BUDGET}. */
  readonly budget?: Partial<PublishBudget>;
  readonly backoff?: Partial<BackoffOptions>;
  /** MQTT keepalive in seconds (IoT Core accepts 30..1200). Default 60. */
  readonly keepaliveSeconds?: number;
  /** Time for TCP + TLS + CONNACK. Default 10,000 ms. */
  readonly connectTimeoutMs?: number;
  /** A connection whose PUBACK takes longer than this is considered dead and reopened. Default 15,000 ms. */
  readonly ackTimeoutMs?: number;
  /**
   * How long the oldest unsent reading may wait for more to fill a batch (fewer, fuller messages in steady
   * state). A backlog, or a batch already taken, goes out at once. Default 1,000 ms; 0 sends at once.
   */
  readonly lingerMs?: number;
  /** How often an idle publisher looks at the store. Default 100 ms. */
  readonly pollMs?: number;
  /** State messages per round (all in flight together on one connection). Default 10. */
  readonly maxStatesPerRound?: number;
  /** `basicIngest` (default, as in production) or `plain` (for a broker that treats `$` topics specially). */
  readonly topicForm?: TopicForm;
  /** Random numbers in [0, 1) for the jitter (tests). */
  readonly random?: () => number;
}

/** The state of one MQTT connection. */
export interface ConnectionStatus {
  readonly clientId: string;
  readonly connected: boolean;
  /** Consecutive failed attempts since the connection last proved good. */
  readonly attempts: number;
  /** Delay chosen before the next attempt (0 when connected). */
  readonly backoffMs: number;
  readonly lastError: string | undefined;
}

/** What {@link Publisher.status} reports. */
export interface PublisherStatus {
  /** Started and not stopped. */
  readonly running: boolean;
  /** At least one connection is up. */
  readonly connected: boolean;
  readonly connections: readonly ConnectionStatus[];
  /** The most recent error of any connection or of the store, as a sentence for the health message. */
  readonly lastError: string | undefined;
  readonly lastErrorAt: number | undefined;
  /** The broker refused the client certificate at the last attempt of some connection. */
  readonly certificateRefused: boolean;
  readonly publishedBatches: number;
  readonly publishedReadings: number;
  readonly publishedStates: number;
  /** Payload + topic bytes of every acknowledged publish. */
  readonly bytesSent: number;
  /** Largest delay a disconnected connection is waiting out (0 when all are connected). */
  readonly backoffMs: number;
  /** Successful connections after the first, over all connections. */
  readonly reconnects: number;
  /** Publishes waiting for their PUBACK. */
  readonly inFlight: number;
}

/** Events of a {@link Publisher}. (No `error` event: an unhandled one would crash the agent.) */
export interface PublisherEvents {
  connected: [clientId: string];
  disconnected: [clientId: string, reason: string | undefined];
  /** A connection attempt or connection failed; `message` is the sentence {@link PublisherStatus.lastError} holds. */
  connectionError: [clientId: string, message: string, certificateRefused: boolean];
  /** A batch was acknowledged. */
  batch: [sequence: number, readings: number, bytes: number];
}

/** What {@link Publisher.stop} reports. */
export interface StopResult {
  /** Every publish in flight got its PUBACK before the timeout. */
  readonly flushed: boolean;
  /** Publishes still unacknowledged when the connections were closed (their items stay in the store). */
  readonly unacknowledged: number;
}

/** A connection-level error described for operators. */
export interface DescribedError {
  readonly message: string;
  readonly certificateRefused: boolean;
}

const CERT_ALERT = /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|HANDSHAKE_FAILURE|DECRYPT_ERROR)/;
const SERVER_CERT_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Describe a connection error. `beforeConnack`: the error came before the broker accepted the MQTT connection
 * (during TCP, the TLS handshake, or the CONNECT/CONNACK exchange): a TLS alert about certificates, or a reset
 * there, means the broker refused the client certificate (IoT Core resets connections with an unknown,
 * inactive or revoked certificate; mosquitto sends an alert such as `unknown ca`).
 */
export function describeConnectionError(error: unknown, beforeConnack: boolean): DescribedError {
  const e: Error & { code?: unknown } = error instanceof Error ? error : new Error(String(error));
  const rawCode = e.code;
  const code = typeof rawCode === "string" || typeof rawCode === "number" ? String(rawCode) : "";
  const detail = `${code !== "" ? `${code}: ` : ""}${e.message.split("\n")[0] ?? ""}`.trim();
  if (CERT_ALERT.test(code) || /alert (unknown ca|bad certificate|certificate)/i.test(e.message)) {
    const alert = /alert ([a-z ]+?)(?::|$)/i.exec(e.message)?.[1] ?? "about the certificate";
    return {
      message:
        `the broker refused this gateway's client certificate: TLS alert "${alert}"${code !== "" ? ` (${code})` : ""}; ` +
        "check that it is signed by a CA the broker trusts, registered, ACTIVE and attached to the thing",
      certificateRefused: true,
    };
  }
  if (beforeConnack && (code === "ECONNRESET" || code === "EPIPE")) {
    return {
      message:
        `the broker refused this gateway's client certificate: the connection was reset during the TLS handshake (${detail}); ` +
        "check that the certificate is registered, ACTIVE and attached to the thing",
      certificateRefused: true,
    };
  }
  if (SERVER_CERT_CODES.has(code)) {
    return { message: `the broker's certificate is not trusted by this gateway (check the CA and the endpoint name): ${detail}`, certificateRefused: false };
  }
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "ETIMEDOUT") {
    return { message: `the broker is not reachable: ${detail}`, certificateRefused: false };
  }
  if (/^\d+$/.test(code) && beforeConnack) {
    return { message: `the broker refused the MQTT connection (CONNACK ${code}): ${detail}`, certificateRefused: false };
  }
  return { message: beforeConnack ? `connecting failed: ${detail}` : `the connection failed: ${detail}`, certificateRefused: false };
}

/**
 * The delay before reconnection attempt `attempt` (0 for the first after a good connection): exponential backoff
 * with full jitter, uniformly random in [0, min(capMs, baseMs x 2^attempt)). The jitter spreads the gateways of a
 * factory that lost their uplink together, so they do not all reconnect at the same moment.
 */
export function backoffDelay(attempt: number, backoff: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.floor(random() * ceiling);
}

/** A token bucket: `rate` tokens per second, at most `capacity` saved up. */
class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Milliseconds until `cost` tokens are available (a cost above the capacity counts as the capacity). */
  waitMs(cost: number, now: number): number {
    this.refill(now);
    const need = Math.min(cost, this.capacity) - this.tokens;
    return need <= 0 ? 0 : Math.ceil((need / this.rate) * 1000);
  }

  take(cost: number, now: number): void {
    this.refill(now);
    this.tokens -= Math.min(cost, this.capacity);
  }
}

interface InFlight {
  readonly fail: (error: Error) => void;
}

/** One MQTT connection with its budget and reconnect state. */
class Connection {
  client: MqttClient | undefined;
  connected = false;
  everConnected = false;
  connectedAt = 0;
  proven = false;
  attempts = 0;
  backoffMs = 0;
  timer: NodeJS.Timeout | undefined;
  lastError: string | undefined;
  certificateRefused = false;
  readonly inFlight = new Set<InFlight>();

  constructor(
    readonly clientId: string,
    readonly publishes: TokenBucket,
    readonly bytes: TokenBucket,
  ) {}
}

const STABLE_CONNECTION_MS = 10_000;

/**
 * Drains a {@link ReadingStore} to AWS IoT Core. Create it, call {@link Publisher.start}, and
 * {@link Publisher.stop} on shutdown.
 *
 * @example
 * ```ts
 * const publisher = new Publisher({ url: "mqtts://xxx-ats.iot.eu-west-1.amazonaws.com:8883", factoryId, gatewayId,
 *   store, tls: { ca, cert, key } });
 * publisher.on("connectionError", (_id, message) => log.warn(message));
 * publisher.start();
 * // ... on SIGTERM:
 * await publisher.stop();
 * ```
 */
export class Publisher extends EventEmitter<PublisherEvents> {
  private readonly options: PublisherOptions;
  private readonly maxBatchBytes: number;
  private readonly conns: Connection[];
  private readonly random: () => number;
  private readonly backoff: BackoffOptions;
  private readonly telemetry: string;
  private running = false;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private wakeUp: (() => void) | undefined;
  private wakeSignal: Promise<void>;
  private roundRobin = 0;
  private counters = { publishedBatches: 0, publishedReadings: 0, publishedStates: 0, bytesSent: 0, reconnects: 0 };
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;

  constructor(options: PublisherOptions) {
    super();
    this.options = options;
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    if (!(this.maxBatchBytes > 0 && this.maxBatchBytes <= MAX_MESSAGE_BYTES - MESSAGE_OVERHEAD_BYTES)) {
      throw new RangeError(`maxBatchBytes ${this.maxBatchBytes} must be in 1..${MAX_MESSAGE_BYTES - MESSAGE_OVERHEAD_BYTES}`);
    }
    const count = options.connections ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`connections must be a positive integer, not ${count}`);
    const budget: PublishBudget = { ...DEFAULT_BUDGET, ...options.budget };
    if (!(budget.publishesPerSecond > 0 && budget.bytesPerSecond > 0 && budget.burstSeconds > 0)) {
      throw new RangeError("the publish budget's rates and burst must be positive");
    }
    this.backoff = { baseMs: 1000, capMs: 60_000, ...options.backoff };
    this.random = options.random ?? Math.random;
    this.telemetry = telemetryTopic(options.factoryId, options.gatewayId, options.topicForm);
    const now = Date.now();
    this.conns = Array.from({ length: count }, (_, i) => {
      const clientId = agentClientId(options.factoryId, options.gatewayId, i + 1);
      const publishes = new TokenBucket(budget.publishesPerSecond, Math.max(1, budget.publishesPerSecond * budget.burstSeconds), now);
      const byteCapacity = Math.max(budget.bytesPerSecond * budget.burstSeconds, this.maxBatchBytes + MESSAGE_OVERHEAD_BYTES);
      return new Connection(clientId, publishes, new TokenBucket(budget.bytesPerSecond, byteCapacity, now));
    });
    this.wakeSignal = this.newWakeSignal();
  }

  /** Open the connections and start draining the store. */
  start(): void {
    if (this.running || this.stopping) return;
    this.running = true;
    for (const conn of this.conns) this.open(conn);
    this.loops = [this.guard(() => this.telemetryLoop()), this.guard(() => this.stateLoop())];
  }

  /**
   * Stop taking items from the store, wait up to `timeoutMs` for the PUBACKs of what is in flight, then close the
   * connections. Unacknowledged items stay in the store and are sent again after the next start.
   */
  async stop(timeoutMs = 10_000): Promise<StopResult> {
    if (!this.running) return { flushed: true, unacknowledged: 0 };
    this.stopping = true;
    this.wake();
    for (const conn of this.conns) clearTimeout(conn.timer);
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      Promise.allSettled([...this.inFlight]).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => { resolve(false); }, timeoutMs))),
    ]);
    clearTimeout(timer);
    const unacknowledged = this.inFlight.size;
    await Promise.all(this.conns.map((conn) => this.close(conn, !flushed)));
    await Promise.all(this.loops);
    this.running = false;
    return { flushed: flushed && unacknowledged === 0, unacknowledged };
  }

  /** Connection state, counters and the last error. */
  status(): PublisherStatus {
    const connections = this.conns.map((c) => ({
      clientId: c.clientId,
      connected: c.connected,
      attempts: c.attempts,
      backoffMs: c.connected ? 0 : c.backoffMs,
      lastError: c.lastError,
    }));
    return {
      running: this.running && !this.stopping,
      connected: this.conns.some((c) => c.connected),
      connections,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      certificateRefused: this.conns.some((c) => c.certificateRefused),
      ...this.counters,
      backoffMs: Math.max(0, ...connections.map((c) => c.backoffMs)),
      inFlight: this.inFlight.size,
    };
  }

  // ------------------------------------------------------------------------------------------- connections

  private open(conn: Connection): void {
    if (this.stopping) return;
    const { tls } = this.options;
    const options: IClientOptions = {
      clientId: conn.clientId,
      protocolVersion: 4,
      clean: true,
      keepalive: this.options.keepaliveSeconds ?? 60,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0, // reconnection is ours: exponential backoff with full jitter
      resubscribe: false,
      queueQoSZero: false,
      ca: tls.ca as IClientOptions["ca"],
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: true,
      ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    };
    const client = connect(this.options.url, options);
    conn.client = client;
    let acknowledged = false;
    noDelay(client);
    client.on("connect", () => {
      if (conn.client !== client) return;
      acknowledged = true;
      noDelay(client);
      if (conn.everConnected) this.counters.reconnects++;
      conn.everConnected = true;
      conn.connected = true;
      conn.connectedAt = Date.now();
      conn.proven = false;
      conn.backoffMs = 0;
      conn.certificateRefused = false;
      conn.lastError = undefined;
      this.emit("connected", conn.clientId);
      this.wake();
    });
    client.on("error", (error) => {
      if (conn.client !== client) return;
      const described = describeConnectionError(error, !acknowledged);
      conn.lastError = described.message;
      conn.certificateRefused = described.certificateRefused;
      this.recordError(described.message);
      this.emit("connectionError", conn.clientId, described.message, described.certificateRefused);
    });
    client.on("close", () => {
      if (conn.client !== client) return;
      if (acknowledged && conn.lastError === undefined) conn.lastError = "the broker closed the connection";
      this.dropClient(conn, client, new Error(conn.lastError ?? "connection closed"));
      if (acknowledged) this.emit("disconnected", conn.clientId, conn.lastError);
      if (!acknowledged && conn.lastError === undefined) {
        conn.lastError = "connecting failed: the connection closed before CONNACK";
        this.recordError(conn.lastError);
      }
      this.scheduleReconnect(conn);
    });
  }

  /** Forget a client: fail its in-flight publishes (their items stay in the store) and destroy it. */
  private dropClient(conn: Connection, client: MqttClient, reason: Error): void {
    if (conn.client !== client) return;
    if (conn.connected && (conn.proven || Date.now() - conn.connectedAt >= STABLE_CONNECTION_MS)) conn.attempts = 0;
    conn.client = undefined;
    conn.connected = false;
    for (const entry of [...conn.inFlight]) entry.fail(reason);
    conn.inFlight.clear();
    client.end(true);
  }

  private scheduleReconnect(conn: Connection): void {
    if (this.stopping) return;
    conn.backoffMs = backoffDelay(conn.attempts, this.backoff, this.random);
    conn.attempts++;
    clearTimeout(conn.timer);
    conn.timer = setTimeout(() => {
      conn.timer = undefined;
      this.open(conn);
    }, conn.backoffMs);
  }

  private async close(conn: Connection, force: boolean): Promise<void> {
    clearTimeout(conn.timer);
    const client = conn.client;
    if (client === undefined) return;
    if (force || !conn.connected) {
      this.dropClient(conn, client, new Error("the publisher stopped"));
      return;
    }
    conn.client = undefined;
    conn.connected = false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { client.end(true); resolve(); }, 2000);
      client.end(false, {}, () => { clearTimeout(timer); resolve(); });
    });
  }

  // ------------------------------------------------------------------------------------------- publishing

  /**
   * Publish a health message on the gateway's health topic (QoS 1, within the budget). Health is not buffered:
   * when no connection is up it is skipped (`false`) and the next one, a minute later, says the same and more.
   */
  async publishHealth(message: HealthMessage): Promise<boolean> {
    const { factoryId, gatewayId, topicForm } = this.options;
    const topic = healthTopic(factoryId, gatewayId, topicForm);
    const payload = Buffer.from(JSON.stringify(message));
    if (!this.conns.some((c) => c.connected)) return false;
    const conn = await this.acquire(payload.length + Buffer.byteLength(topic));
    if (conn === undefined) return false;
    try {
      await this.publish(conn, topic, payload);
      this.counters.bytesSent += payload.length;
      return true;
    } catch {
      return false;
    }
  }

  private async telemetryLoop(): Promise<void> {
    const { store } = this.options;
    while (!this.stopping) {
      const wait = this.lingerWait();
      if (wait > 0) {
        await this.sleep(wait);
        continue;
      }
      const batch = store.nextBatch(this.maxBatchBytes);
      if (batch === undefined) {
        await this.sleep(this.options.pollMs ?? 100);
        continue;
      }
      const payload = Buffer.from(batch.payload.buffer, batch.payload.byteOffset, batch.payload.byteLength);
      const cost = payload.length + Buffer.byteLength(this.telemetry);
      const conn = await this.acquire(cost);
      if (conn === undefined) return; // stopping: the batch stays in the store
      try {
        await this.publish(conn, this.telemetry, payload);
      } catch {
        continue; // the connection is gone; the store returns the same batch again
      }
      store.ackBatch(batch.id);
      this.counters.publishedBatches++;
      this.counters.publishedReadings += batch.readings.length;
      this.counters.bytesSent += cost;
      this.emit("batch", batch.sequence, batch.readings.length, payload.length);
    }
  }

  /** Milliseconds to wait before taking a new batch so that it fills up; 0 to take one now. */
  private lingerWait(): number {
    const linger = this.options.lingerMs ?? 1000;
    if (linger <= 0) return 0;
    const stats = this.options.store.stats();
    if (stats.pendingBatches > 0 || stats.oldestAppendedAt === undefined || stats.bytes >= this.maxBatchBytes) return 0;
    const age = Date.now() - stats.oldestAppendedAt;
    return age >= linger ? 0 : Math.min(linger - age, this.options.pollMs ?? 100);
  }

  private async stateLoop(): Promise<void> {
    const { store, factoryId, gatewayId, topicForm } = this.options;
    const max = this.options.maxStatesPerRound ?? 10;
    while (!this.stopping) {
      const states = store.nextStates(max);
      if (states.length === 0) {
        await this.sleep(this.options.pollMs ?? 100);
        continue;
      }
      // One round on one connection, in order: MQTT keeps the order of a connection's publishes.
      const messages = states.map((s: PendingState) => {
        const topic = stateTopic(factoryId, gatewayId, s.lineId as LineId, s.message.machineId, topicForm);
        const payload = Buffer.from(JSON.stringify(s.message));
        return { state: s, topic, payload, cost: payload.length + Buffer.byteLength(topic) };
      });
      const first = messages[0];
      if (first === undefined) continue;
      const conn = await this.acquire(first.cost);
      if (conn === undefined) return;
      const results: Promise<boolean>[] = [];
      for (const [i, m] of messages.entries()) {
        if (i > 0 && (await this.acquire(m.cost, conn)) === undefined) break;
        results.push(this.publish(conn, m.topic, m.payload).then(() => true, () => false));
      }
      const outcome = await Promise.all(results);
      const firstFailure = outcome.indexOf(false);
      const acked = messages.slice(0, firstFailure === -1 ? outcome.length : firstFailure);
      if (acked.length > 0) {
        store.ackStates(acked.map((m) => m.state.id));
        this.counters.publishedStates += acked.length;
        for (const m of acked) this.counters.bytesSent += m.cost;
      }
    }
  }

  /**
   * Wait for a connected connection (`only` if given) whose budget admits one publish of `bytes`, and charge it.
   * `undefined` when stopping, or when `only` is no longer connected.
   */
  private async acquire(bytes: number, only?: Connection): Promise<Connection | undefined> {
    for (;;) {
      if (this.stopping) return undefined;
      if (only !== undefined && !only.connected) return undefined;
      const now = Date.now();
      const candidates = only !== undefined ? [only] : this.conns;
      let best: Connection | undefined;
      let bestWait = Infinity;
      for (let k = 0; k < candidates.length; k++) {
        const conn = candidates[(this.roundRobin + k) % candidates.length];
        if (conn?.connected !== true) continue;
        const wait = Math.max(conn.publishes.waitMs(1, now), conn.bytes.waitMs(bytes, now));
        if (wait < bestWait) {
          best = conn;
          bestWait = wait;
        }
      }
      if (best !== undefined && bestWait === 0) {
        best.publishes.take(1, now);
        best.bytes.take(bytes, now);
        this.roundRobin = (this.conns.indexOf(best) + 1) % this.conns.length;
        return best;
      }
      await this.sleep(best !== undefined ? bestWait : (this.options.pollMs ?? 100));
    }
  }

  /** Publish at QoS 1; resolves on PUBACK, rejects when the connection is lost or the PUBACK is late. */
  private publish(conn: Connection, topic: string, payload: Buffer): Promise<void> {
    const client = conn.client;
    if (client === undefined || !conn.connected) return Promise.reject(new Error("not connected"));
    const timeoutMs = this.options.ackTimeoutMs ?? 15_000;
    const promise = new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        conn.inFlight.delete(entry);
        if (error === undefined) {
          conn.proven = true;
          if (conn.connected) conn.attempts = 0;
          resolve();
        } else reject(error);
      };
      const entry: InFlight = { fail: settle };
      const timer = setTimeout(() => {
        const message = `no PUBACK within ${timeoutMs} ms: reconnecting`;
        conn.lastError = message;
        this.recordError(message);
        settle(new Error(message));
        this.dropClient(conn, client, new Error(message));
        this.scheduleReconnect(conn);
      }, timeoutMs);
      conn.inFlight.add(entry);
      client.publish(topic, payload, { qos: 1 }, (error) => { settle(error ?? undefined); });
    });
    this.inFlight.add(promise);
    const forget = (): void => {
      this.inFlight.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  // ------------------------------------------------------------------------------------------- plumbing

  private recordError(message: string): void {
    this.lastError = message;
    this.lastErrorAt = Date.now();
  }

  /** Keep a loop alive through a store error: record it and run the loop again after a pause. */
  private async guard(run: () => Promise<void>): Promise<void> {
    while (!this.stopping) {
      try {
        await run();
        return;
      } catch (error) {
        this.recordError(`the store failed: ${error instanceof Error ? error.message : String(error)}`);
        await this.sleep(1000);
      }
    }
  }

  private newWakeSignal(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private wake(): void {
    const wakeUp = this.wakeUp;
    this.wakeSignal = this.newWakeSignal();
    wakeUp?.();
  }

  /** Sleep `ms`, or less when a connection comes up or stop() is called. */
  private async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.wakeSignal, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }
}

/**
 * Turn Nagle's algorithm off on the client's socket: mqtt.js never does, and a small PUBLISH after another
 * then waits for the delayed ACK of the previous segment (~40 ms).
 */
function noDelay(client: MqttClient): void {
  const stream = client.stream as Partial<Pick<Socket, "setNoDelay">> | undefined;
  if (typeof stream?.setNoDelay === "function") stream.setNoDelay(true);
}
