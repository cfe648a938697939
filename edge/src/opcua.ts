/**
 * The OPC UA adapter: subscribes to the PLCs of the gateway's machines and hands what they report to the
 * {@link Intake} — tag values as readings, the state register and part counters as machine state messages.
 *
 * Design notes:
 * - One client and session per distinct endpoint (several machines may share one PLC or one aggregating server).
 * - Monitored items are grouped into subscriptions by publishing interval (the tags' `samplingIntervalMs`), and a
 *   group is split so no subscription exceeds the server's MaxMonitoredItemsPerSubscription: a server refuses or
 *   silently caps larger ones. Items with identical parameters (same tag of the same machine type) are created
 *   in one CreateMonitoredItems call.
 * - Data changes are queued as they arrive and flushed once per event-loop turn, i.e. per notification message:
 *   one intake transaction per machine and message instead of one per value, arrival order kept per machine.
 * - Reconnection is node-opcua's (`connectionStrategy.maxRetry: -1`): it re-creates the secure channel, the
 *   session and, when the server lost them, the subscriptions. After each reconnection the adapter asks the
 *   server whether each subscription still exists and re-creates the ones it lost, because a gap that nobody
 *   notices is worse than one extra round trip.
 * - A lost connection is made visible in the data: one `bad` reading without value per tag, at the moment of
 *   the loss, so a chart shows a gap instead of a flat line through it.
 */
import * as fs from "node:fs";
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  DataChangeFilter,
  DataChangeTrigger,
  DataType,
  DeadbandType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  VariableIds,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
  type MonitoringParametersOptions,
} from "node-opcua";
import {
  pickTimestamp,
  toSiteWiseStateMessage,
  type Machine,
  type MachinePlacement,
  type MachineState,
  type MachineStateEvent,
  type OpcUaConnection,
  type SiteWiseStateMessage,
  type Quality,
  type Reading,
  type TagSpec,
} from "@smart-factory/sdk";
import type { GatewayPlan } from "./config";
import type { Intake } from "./intake";

/** The limit used when neither the options nor the server say how many items a subscription may hold. */
export const DEFAULT_MAX_MONITORED_ITEMS_PER_SUBSCRIPTION = 1000;

/** Security of a connection, as the stack config names it (`OpcUaConnection`). */
export interface OpcUaSecurity {
  readonly securityMode: OpcUaConnection["securityMode"];
  readonly securityPolicy: OpcUaConnection["securityPolicy"];
}

/**
 * Default of {@link OpcUaAdapterOptions.countIntervalMs}: 500 machines making parts send at most 50 count messages
 * a second, and a part is reported at most 10 s after it was made (stamped with the counter's own time).
 */
export const DEFAULT_COUNT_INTERVAL_MS = 10_000;

/** How to run the adapter. Everything but `plan` and `intake` has a default fit for a gateway. */
export interface OpcUaAdapterOptions {
  readonly plan: GatewayPlan;
  readonly intake: Intake;
  /** Where to reach a machine's server instead of `machine.opcua.endpoint` (tests, port forwards). */
  readonly endpointOverride?: (machine: Machine) => string;
  /** Security for every connection instead of each machine's configured one (tests against a plain server). */
  readonly security?: OpcUaSecurity;
  /** Items per subscription at most; default the server's MaxMonitoredItemsPerSubscription, else 1000. */
  readonly maxMonitoredItemsPerSubscription?: number;
  /** Server-side queue per monitored item, so a burst between two publishes is not folded (default 10). */
  readonly queueSize?: number;
  /** Sampling and publishing interval of the state register and counters (default 100 ms). */
  readonly signalSamplingIntervalMs?: number;
  /**
   * How long part counts of a machine whose state does not change are gathered into one state message (default
   * {@link DEFAULT_COUNT_INTERVAL_MS}). A state change goes at once, with the parts counted before it. A message
   * per counter change would be one publish per part: a line of fast presses alone would pass IoT Core's 100
   * publishes per second and connection.
   */
  readonly countIntervalMs?: number;
  /** Publishing intervals without notifications before the server sends a keep-alive (default 10). */
  readonly maxKeepAliveCount?: number;
  /** First sequence of the gateway's state messages (the agent passes the next unused one; default 0). */
  readonly firstStateSequence?: number;
  /** PEM files of server certificates to trust (self-signed PLC certificates); default the agent settings'. */
  readonly trustedServerCertificates?: readonly string[];
  /** Folder of the client's PKI (own certificate, trusted and rejected server certificates). */
  readonly pkiFolder?: string;
  /**
   * The client's application instance certificate and key files (from the `opcuaClientIdentity` secret); without
   * them node-opcua creates a self-signed certificate in the PKI folder, which each PLC must then trust.
   */
  readonly clientIdentity?: { readonly certificateFile: string; readonly privateKeyFile: string; readonly applicationUri?: string };
  /** The PLC user the sessions log in as (from the `plcCredentials` secret); anonymous without. */
  readonly userIdentity?: { readonly userName: string; readonly password: string };
  /** Reconnection back-off (default 500 ms doubling up to 10 s). */
  readonly reconnect?: { readonly initialDelayMs: number; readonly maxDelayMs: number };
  /** The gateway clock (epoch ms). */
  readonly now?: () => number;
  /** Where operational messages go (default `console`). */
  readonly log?: (level: "info" | "warn", message: string) => void;
}

/** One subscription as the adapter holds it. */
export interface SubscriptionStatus {
  readonly publishingIntervalMs: number;
  readonly monitoredItems: number;
  /** Server-side id; 0 while not created. */
  readonly subscriptionId: number;
  /** Last notification or keep-alive (epoch ms), `undefined` before the first. */
  readonly lastActivityAt: number | undefined;
}

/** One endpoint (one client session). */
export interface EndpointStatus {
  readonly endpoint: string;
  readonly machines: readonly string[];
  readonly connected: boolean;
  /** Completed reconnections since start. */
  readonly reconnects: number;
  readonly lastError: string | undefined;
  readonly subscriptions: readonly SubscriptionStatus[];
}

/** Whether a machine's data can be trusted to be current, and why not. */
export interface MachineStatus {
  readonly machineId: string;
  readonly stale: boolean;
  /** Empty when not stale. */
  readonly reasons: readonly string[];
}

/** What {@link OpcUaAdapter.status} reports, for the health message. */
export interface OpcUaStatus {
  readonly endpoints: readonly EndpointStatus[];
  readonly machines: readonly MachineStatus[];
  /** Data changes received since start (values, states, counters). */
  readonly received: number;
}

// ---------------------------------------------------------------------------------------------- pure helpers

/** The data of a DataValue the conversion needs; node-opcua's DataValue fits it. */
export interface ValueSample {
  readonly value: { readonly dataType: DataType; readonly value: unknown } | null;
  readonly statusCode: { readonly value: number };
  readonly sourceTimestamp?: Date | null;
  readonly serverTimestamp?: Date | null;
}

/** OPC UA's status class from a StatusCode's severity bits (00 good, 01 uncertain, 1x bad). */
export function qualityOf(statusCode: { readonly value: number }): Quality {
  const severity = statusCode.value >>> 30;
  return severity === 0 ? "good" : severity === 1 ? "uncertain" : "bad";
}

/**
 * The number a variant carries: booleans as 0/1, every numeric type (64-bit integers as node-opcua's
 * `[high, low]` pairs) as a number; `null` for no value; `undefined` for anything else (text, arrays, structures).
 */
export function numericValue(variant: ValueSample["value"]): number | null | undefined {
  if (variant === null || variant.dataType === DataType.Null) return null;
  const v = variant.value;
  switch (variant.dataType) {
    case DataType.Boolean:
      return typeof v === "boolean" ? (v ? 1 : 0) : undefined;
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Float:
    case DataType.Double:
      return typeof v === "number" ? v : undefined;
    case DataType.Int64:
    case DataType.UInt64: {
      if (!Array.isArray(v) || v.length !== 2) return undefined;
      const [high, low] = v as unknown[];
      if (typeof high !== "number" || typeof low !== "number") return undefined;
      const signedHigh = variant.dataType === DataType.Int64 && high >= 0x80000000 ? high - 0x100000000 : high;
      return signedHigh * 0x100000000 + low;
    }
    default:
      return undefined;
  }
}

/** A reading candidate, or why the sample cannot be one (it is then dead-lettered). */
export type ReadingConversion = { readonly ok: true; readonly reading: Reading } | { readonly ok: false; readonly reason: string };

/**
 * Turn one data change of a tag into a reading candidate: the value as a number, the tag's configured unit, the
 * quality from the status class and the timestamp by the SDK's policy (source, else server, else the gateway's
 * receive time; OPC UA's 1601 minimum date counts as none). A bad or uncertain sample without a usable value
 * becomes a reading with `value: null`; a good one without a number cannot be a reading.
 */
export function readingOf(sample: ValueSample, machineId: string, tag: { readonly name: string; readonly unit: string }, receivedAt: number): ReadingConversion {
  const quality = qualityOf(sample.statusCode);
  const number = numericValue(sample.value);
  const usable = number !== undefined && number !== null && Number.isFinite(number) ? number : null;
  if (usable === null && quality === "good") {
    const shown = number === undefined ? `a ${DataType[sample.value?.dataType ?? DataType.Null]} value ${safeJson(sample.value?.value)}` : `value ${String(number)}`;
    return { ok: false, reason: `${tag.name}: ${shown} is not a number (only numeric and boolean tags are readings)` };
  }
  const { timestamp, clock } = pickTimestamp({ source: sample.sourceTimestamp, server: sample.serverTimestamp, received: receivedAt });
  return { ok: true, reading: { machineId, tag: tag.name, timestamp, clock, value: usable, unit: tag.unit, quality } as Reading };
}

/** How a cumulative counter moved. */
export interface CounterStep {
  readonly increment: number;
  /** `rollover`: the counter wrapped at `counterRollover`; `reset`: it dropped otherwise (PLC reboot, manual reset). */
  readonly kind: "normal" | "rollover" | "reset";
}

/**
 * The parts made between two readings of a cumulative counter. A drop is a rollover when the counter wraps
 * (`rollover` given) and the wrapped distance is under half the counter's range; any other drop is a reset, and
 * the new value is what was counted since it. The half-range rule tells a 16-bit counter going 65530 → 4 (10
 * parts) from a reboot going 500 → 3 (3 parts, not 65039).
 */
export function counterStep(previous: number, current: number, rollover: number | undefined): CounterStep {
  if (current >= previous) return { increment: current - previous, kind: "normal" };
  if (rollover !== undefined && previous < rollover && current < rollover) {
    const wrapped = rollover - previous + current;
    if (wrapped < rollover / 2) return { increment: wrapped, kind: "rollover" };
  }
  return { increment: current, kind: "reset" };
}

/** The machine state a PLC state register value means under a type's `stateCodes`; `undefined` for none. */
export function stateOfRegister(stateCodes: Readonly<Record<MachineState, readonly number[]>>, code: number): MachineState | undefined {
  for (const state of ["running", "idle", "fault", "plannedStop"] as const) if (stateCodes[state].includes(code)) return state;
  return undefined;
}

/** One subscription's share of the items: same publishing interval, at most `limit` items. */
export function planSubscriptions<T extends { readonly publishingIntervalMs: number }>(items: readonly T[], limit: number): { publishingIntervalMs: number; items: T[] }[] {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`maxMonitoredItemsPerSubscription must be a whole number of at least 1, got ${limit}`);
  const byInterval = new Map<number, T[]>();
  for (const item of items) {
    const list = byInterval.get(item.publishingIntervalMs) ?? [];
    list.push(item);
    byInterval.set(item.publishingIntervalMs, list);
  }
  const plans: { publishingIntervalMs: number; items: T[] }[] = [];
  for (const [publishingIntervalMs, list] of [...byInterval].sort(([a], [b]) => a - b)) {
    for (let i = 0; i < list.length; i += limit) plans.push({ publishingIntervalMs, items: list.slice(i, i + limit) });
  }
  return plans;
}

function safeJson(value: unknown): string {
  try {
    // JSON.stringify gives undefined (despite its type) for these
    if (value === undefined || typeof value === "function" || typeof value === "symbol") return String(value);
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function pemToDer(pem: string): Buffer {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (match?.[1] === undefined) throw new Error("not a PEM certificate");
  return Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}

// ---------------------------------------------------------------------------------------------- the adapter

type Signal = "state" | "goodCount" | "badCount";

/** A node the adapter monitors. */
interface MonitoredNode {
  readonly machine: MachineContext;
  readonly nodeId: string;
  readonly publishingIntervalMs: number;
  readonly samplingIntervalMs: number;
  /** Nodes with equal keys share monitoring parameters (one CreateMonitoredItems call). */
  readonly parameterKey: string;
  readonly filter: DataChangeFilter | undefined;
  readonly what: { readonly kind: "tag"; readonly tag: TagSpec } | { readonly kind: "signal"; readonly signal: Signal };
}

interface MachineContext {
  readonly placement: MachinePlacement;
  readonly id: string;
  state: MachineState | undefined;
  good: number | undefined;
  bad: number | undefined;
  pendingGood: number;
  pendingBad: number;
  /** The counters' own time of the first and the newest part not reported yet, and the newest's clock. */
  pendingFrom: number | undefined;
  pendingAt: number | undefined;
  pendingClock: Reading["clock"];
  /** The time of the machine's last state message. */
  lastEventAt: number | undefined;
  /** Node ids whose latest sample had a bad status. */
  readonly badNodes: Set<string>;
}

interface SubscriptionHandle {
  readonly publishingIntervalMs: number;
  readonly nodes: readonly MonitoredNode[];
  subscription: ClientSubscription | undefined;
  lastActivityAt: number | undefined;
}

interface EndpointContext {
  readonly url: string;
  readonly security: OpcUaSecurity;
  readonly machines: MachineContext[];
  readonly nodes: MonitoredNode[];
  client: OPCUAClient | undefined;
  session: ClientSession | undefined;
  subscriptions: SubscriptionHandle[];
  connected: boolean;
  reconnects: number;
  lastError: string | undefined;
  /** A gap (bad readings) was emitted for the current outage. */
  gapEmitted: boolean;
}

interface Arrival {
  readonly node: MonitoredNode;
  readonly sample: DataValue;
  readonly receivedAt: number;
}

/**
 * Reads the gateway's machines over OPC UA. `start()` connects and subscribes (it returns once every endpoint is
 * subscribed or has failed its first attempt; those keep retrying in the background), `stop()` closes sessions.
 */
export class OpcUaAdapter {
  private readonly endpoints: EndpointContext[];
  private readonly now: () => number;
  private readonly log: (level: "info" | "warn", message: string) => void;
  private readonly queueSize: number;
  private readonly maxKeepAliveCount: number;
  private readonly countIntervalMs: number;
  private countTimer: NodeJS.Timeout | undefined;
  private sequence: number;
  private queue: Arrival[] = [];
  private flushScheduled = false;
  private received = 0;
  private stopped = false;
  private certificateManager: OPCUACertificateManager | undefined;

  constructor(private readonly options: OpcUaAdapterOptions) {
    this.now = options.now ?? Date.now;
    this.log =
      options.log ??
      ((level, text) => {
        if (level === "warn") console.warn(text);
        else console.info(text);
      });
    this.queueSize = options.queueSize ?? 10;
    this.maxKeepAliveCount = options.maxKeepAliveCount ?? 10;
    this.countIntervalMs = options.countIntervalMs ?? DEFAULT_COUNT_INTERVAL_MS;
    if (!(Number.isFinite(this.countIntervalMs) && this.countIntervalMs >= 0)) throw new RangeError(`countIntervalMs: expected a number of milliseconds >= 0, got ${String(options.countIntervalMs)}`);
    this.sequence = options.firstStateSequence ?? 0;
    const signalInterval = options.signalSamplingIntervalMs ?? 100;
    const byUrl = new Map<string, EndpointContext>();
    for (const placement of options.plan.machines) {
      const { machine, type } = placement;
      const url = options.endpointOverride?.(machine) ?? machine.opcua.endpoint;
      const security = options.security ?? { securityMode: machine.opcua.securityMode, securityPolicy: machine.opcua.securityPolicy };
      let endpoint = byUrl.get(url);
      if (endpoint === undefined) {
        endpoint = { url, security, machines: [], nodes: [], client: undefined, session: undefined, subscriptions: [], connected: false, reconnects: 0, lastError: undefined, gapEmitted: false };
        byUrl.set(url, endpoint);
      } else if (endpoint.security.securityMode !== security.securityMode || endpoint.security.securityPolicy !== security.securityPolicy) {
        this.log("warn", `opcua: ${machine.id} asks for ${security.securityMode}/${security.securityPolicy} at ${url}, which is already used with ${endpoint.security.securityMode}/${endpoint.security.securityPolicy}; the first machine's security applies`);
      }
      const context: MachineContext = { placement, id: machine.id, state: undefined, good: undefined, bad: undefined, pendingGood: 0, pendingBad: 0, pendingFrom: undefined, pendingAt: undefined, pendingClock: "source", lastEventAt: undefined, badNodes: new Set() };
      endpoint.machines.push(context);
      for (const tag of type.tags) {
        const nodeId = machine.tags[tag.name];
        if (nodeId === undefined) continue; // read from a local MQTT sensor
        const filter =
          tag.deadband === undefined
            ? undefined
            : new DataChangeFilter({
                trigger: DataChangeTrigger.StatusValue,
                deadbandType: tag.deadband.kind === "absolute" ? DeadbandType.Absolute : DeadbandType.Percent,
                deadbandValue: tag.deadband.value,
              });
        endpoint.nodes.push({
          machine: context,
          nodeId,
          publishingIntervalMs: tag.samplingIntervalMs,
          samplingIntervalMs: tag.samplingIntervalMs,
          parameterKey: `${type.id}/${tag.name}`,
          filter,
          what: { kind: "tag", tag },
        });
      }
      for (const signal of ["state", "goodCount", "badCount"] as const) {
        endpoint.nodes.push({
          machine: context,
          nodeId: machine.signals[signal],
          publishingIntervalMs: signalInterval,
          samplingIntervalMs: signalInterval,
          parameterKey: "signals",
          filter: undefined,
          what: { kind: "signal", signal },
        });
      }
    }
    this.endpoints = [...byUrl.values()];
  }

  /** Connect to every endpoint and subscribe. Resolves when each is subscribed or has failed a first attempt. */
  async start(): Promise<void> {
    this.stopped = false;
    if (this.countIntervalMs > 0) {
      this.countTimer ??= setInterval(() => {
        this.flushCounts(false);
      }, Math.max(50, this.countIntervalMs / 4));
      this.countTimer.unref();
    }
    await this.prepareCertificates();
    await Promise.all(this.endpoints.map((endpoint) => this.startEndpoint(endpoint)));
  }

  /** Close every session (deleting its subscriptions on the server) and stop reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      this.endpoints.map(async (endpoint) => {
        const { client, session } = endpoint;
        endpoint.client = undefined;
        endpoint.session = undefined;
        endpoint.connected = false;
        try {
          if (session !== undefined) await session.close(true);
        } catch (error) {
          this.log("warn", `opcua: closing the session of ${endpoint.url}: ${message(error)}`);
        }
        try {
          if (client !== undefined) await client.disconnect();
        } catch (error) {
          this.log("warn", `opcua: disconnecting from ${endpoint.url}: ${message(error)}`);
        }
      }),
    );
    this.flush();
    if (this.countTimer !== undefined) clearInterval(this.countTimer);
    this.countTimer = undefined;
    // the parts counted since the last message go now: the buffer keeps them across the restart
    this.flushCounts(true);
    if (this.certificateManager !== undefined) await this.certificateManager.dispose();
    this.certificateManager = undefined;
  }

  /** Good and bad parts counted and not yet sent: gathered until the count interval has passed or the state changes. */
  gatheredParts(): number {
    return this.endpoints.reduce((n, endpoint) => n + endpoint.machines.reduce((m, machine) => m + machine.pendingGood + machine.pendingBad, 0), 0);
  }

  /** Connection and staleness per endpoint and machine, for the health message. */
  status(): OpcUaStatus {
    const now = this.now();
    const machines: MachineStatus[] = [];
    const endpoints: EndpointStatus[] = this.endpoints.map((endpoint) => {
      const subscriptions = endpoint.subscriptions.map((s) => ({
        publishingIntervalMs: s.publishingIntervalMs,
        monitoredItems: s.nodes.length,
        subscriptionId: s.subscription?.subscriptionId ?? 0,
        lastActivityAt: s.lastActivityAt,
      }));
      for (const machine of endpoint.machines) {
        const reasons: string[] = [];
        if (!endpoint.connected) reasons.push(`not connected to ${endpoint.url}${endpoint.lastError === undefined ? "" : ` (${endpoint.lastError})`}`);
        else {
          for (const s of endpoint.subscriptions) {
            if (!s.nodes.some((n) => n.machine === machine)) continue;
            // A healthy subscription publishes or sends a keep-alive at least every maxKeepAliveCount intervals.
            const allowed = 2 * s.publishingIntervalMs * this.maxKeepAliveCount + 1000;
            if (s.lastActivityAt === undefined || now - s.lastActivityAt > allowed) {
              reasons.push(`subscription at ${s.publishingIntervalMs} ms silent for ${s.lastActivityAt === undefined ? "ever" : `${now - s.lastActivityAt} ms`} (keep-alive expected within ${allowed} ms)`);
            }
          }
        }
        if (machine.badNodes.size > 0) reasons.push(`bad status on ${[...machine.badNodes].sort().join(", ")}`);
        machines.push({ machineId: machine.id, stale: reasons.length > 0, reasons });
      }
      return {
        endpoint: endpoint.url,
        machines: endpoint.machines.map((m) => m.id),
        connected: endpoint.connected,
        reconnects: endpoint.reconnects,
        lastError: endpoint.lastError,
        subscriptions,
      };
    });
    return { endpoints, machines, received: this.received };
  }

  // -------------------------------------------------------------------------------------------- connection

  private async prepareCertificates(): Promise<void> {
    const trusted = this.options.trustedServerCertificates ?? this.options.plan.config.agent.trustedServerCertificates ?? [];
    if (this.options.pkiFolder === undefined && trusted.length === 0) return;
    const manager = new OPCUACertificateManager({
      ...(this.options.pkiFolder === undefined ? {} : { rootFolder: this.options.pkiFolder }),
      automaticallyAcceptUnknownCertificate: false,
    });
    await manager.initialize();
    for (const file of trusted) {
      // A PLC's self-signed certificate is trusted explicitly; unknown certificates stay rejected.
      await manager.trustCertificate(pemToDer(fs.readFileSync(file, "utf8")));
    }
    this.certificateManager = manager;
  }

  private async startEndpoint(endpoint: EndpointContext): Promise<void> {
    const reconnect = this.options.reconnect ?? { initialDelayMs: 500, maxDelayMs: 10_000 };
    const client = OPCUAClient.create({
      applicationName: `smart-factory-agent-${this.options.plan.gateway.id}`,
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: 60_000,
      securityMode: MessageSecurityMode[endpoint.security.securityMode],
      securityPolicy: SecurityPolicy[endpoint.security.securityPolicy],
      connectionStrategy: { maxRetry: -1, initialDelay: reconnect.initialDelayMs, maxDelay: reconnect.maxDelayMs },
      ...(this.certificateManager === undefined ? {} : { clientCertificateManager: this.certificateManager }),
      ...(this.options.clientIdentity ?? {}),
    });
    endpoint.client = client;
    client.on("connection_lost", () => {
      this.onConnectionLost(endpoint, "connection lost");
    });
    client.on("backoff", (retry: number, delay: number) => {
      endpoint.lastError = `connection attempt ${retry + 1} failed; retrying in ${delay} ms`;
    });
    client.on("reconnection_attempt_has_failed", (error: Error) => {
      endpoint.lastError = `reconnection failed: ${error.message}`;
    });
    client.on("connection_reestablished", () => {
      endpoint.connected = true;
      endpoint.reconnects++;
      endpoint.gapEmitted = false;
      this.log("info", `opcua: reconnected to ${endpoint.url} (reconnection ${endpoint.reconnects})`);
      void this.verifySubscriptions(endpoint);
    });

    const firstFailure = new Promise<void>((resolve) => client.once("backoff", () => {
      resolve();
    }));
    const setup = (async () => {
      await client.connect(endpoint.url);
      if (this.stopped) return;
      const user = this.options.userIdentity;
      const session = await client.createSession(user === undefined ? undefined : { type: UserTokenType.UserName, userName: user.userName, password: user.password });
      endpoint.session = session;
      endpoint.connected = true;
      endpoint.lastError = undefined;
      session.on("session_closed", () => {
        if (!this.stopped) this.log("warn", `opcua: session of ${endpoint.url} closed by the server`);
      });
      const limit = this.options.maxMonitoredItemsPerSubscription ?? (await this.serverItemLimit(session));
      endpoint.subscriptions = planSubscriptions(endpoint.nodes, limit).map((p) => ({ publishingIntervalMs: p.publishingIntervalMs, nodes: p.items, subscription: undefined, lastActivityAt: undefined }));
      for (const handle of endpoint.subscriptions) await this.subscribe(session, handle);
    })().catch((error: unknown) => {
      endpoint.lastError = message(error);
      if (!this.stopped) this.log("warn", `opcua: setting up ${endpoint.url} failed: ${message(error)}`);
    });
    await Promise.race([setup, firstFailure]);
  }

  /** MaxMonitoredItemsPerSubscription from the server's capabilities, when it says (0 means no limit). */
  private async serverItemLimit(session: ClientSession): Promise<number> {
    try {
      const dataValue = await session.read({ nodeId: `i=${VariableIds.Server_ServerCapabilities_MaxMonitoredItemsPerSubscription}`, attributeId: AttributeIds.Value });
      const value = numericValue(dataValue.value);
      if (qualityOf(dataValue.statusCode) === "good" && typeof value === "number" && Number.isInteger(value) && value > 0) return value;
    } catch {
      // an older server without the node: use the default
    }
    return DEFAULT_MAX_MONITORED_ITEMS_PER_SUBSCRIPTION;
  }

  private async subscribe(session: ClientSession, handle: SubscriptionHandle): Promise<void> {
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: handle.publishingIntervalMs,
      requestedMaxKeepAliveCount: this.maxKeepAliveCount,
      requestedLifetimeCount: this.maxKeepAliveCount * 6,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    });
    handle.subscription = subscription;
    handle.lastActivityAt = this.now();
    subscription.on("keepalive", () => {
      handle.lastActivityAt = this.now();
    });
    subscription.on("received_notifications", () => {
      handle.lastActivityAt = this.now();
    });
    subscription.on("status_changed", (status: { name?: string }) => {
      this.log("warn", `opcua: subscription ${subscription.subscriptionId} at ${handle.publishingIntervalMs} ms: ${String(status.name)}`);
    });
    const groups = new Map<string, MonitoredNode[]>();
    for (const node of handle.nodes) {
      const list = groups.get(node.parameterKey) ?? [];
      list.push(node);
      groups.set(node.parameterKey, list);
    }
    for (const nodes of groups.values()) {
      const first = nodes[0];
      if (first === undefined) continue;
      const parameters: MonitoringParametersOptions = {
        samplingInterval: first.samplingIntervalMs,
        queueSize: this.queueSize,
        discardOldest: true,
        ...(first.filter === undefined ? {} : { filter: first.filter }),
      };
      const group = ClientMonitoredItemGroup.create(
        subscription,
        nodes.map((n) => ({ nodeId: n.nodeId, attributeId: AttributeIds.Value })),
        parameters,
        TimestampsToReturn.Both,
      );
      group.on("changed", (_item, dataValue, index) => {
        const node = nodes[index];
        if (node !== undefined) this.arrive(node, dataValue);
      });
      group.on("err", (text) => {
        this.log("warn", `opcua: monitoring ${nodes.map((n) => n.nodeId).join(", ")}: ${text}`);
      });
      await new Promise<void>((resolve) => {
        group.once("initialized", () => {
          resolve();
        });
        group.once("err", () => {
          resolve();
        });
      });
    }
  }

  /** After a reconnection: re-create every subscription the server no longer has. */
  private async verifySubscriptions(endpoint: EndpointContext): Promise<void> {
    const session = endpoint.session;
    if (session === undefined) return;
    for (const handle of endpoint.subscriptions) {
      const subscription = handle.subscription;
      let exists = false;
      if (subscription?.isActive === true) {
        try {
          await subscription.getMonitoredItems();
          exists = true;
        } catch {
          exists = false;
        }
      }
      if (exists || this.stopped) continue;
      this.log("warn", `opcua: the server at ${endpoint.url} lost the subscription at ${handle.publishingIntervalMs} ms; re-creating it`);
      try {
        if (subscription !== undefined) await subscription.terminate().catch(() => undefined);
        await this.subscribe(session, handle);
      } catch (error) {
        endpoint.lastError = `re-creating a subscription: ${message(error)}`;
      }
    }
  }

  private onConnectionLost(endpoint: EndpointContext, reason: string): void {
    endpoint.connected = false;
    endpoint.lastError = reason;
    if (this.stopped || endpoint.gapEmitted) return;
    endpoint.gapEmitted = true;
    this.log("warn", `opcua: ${reason} to ${endpoint.url}; reconnecting`);
    const at = this.now();
    this.flush();
    const byMachine = new Map<MachineContext, Reading[]>();
    for (const node of endpoint.nodes) {
      if (node.what.kind !== "tag") continue;
      const list = byMachine.get(node.machine) ?? [];
      list.push({ machineId: node.machine.id, tag: node.what.tag.name, timestamp: at, clock: "gateway", value: null, unit: node.what.tag.unit, quality: "bad" } as Reading);
      byMachine.set(node.machine, list);
    }
    for (const [machine, readings] of byMachine) this.options.intake.readings(readings, `opcua:${machine.id}`);
  }

  // -------------------------------------------------------------------------------------------- data

  private arrive(node: MonitoredNode, sample: DataValue): void {
    this.received++;
    this.queue.push({ node, sample, receivedAt: this.now() });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // node-opcua emits every change of one notification message synchronously: flushing on the next turn
      // makes one intake call per machine and message.
      setImmediate(() => {
        this.flush();
      });
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const arrivals = this.queue;
    this.queue = [];
    if (arrivals.length === 0) return;
    const readings = new Map<MachineContext, unknown[]>();
    const states = new Map<MachineContext, unknown[]>();
    for (const { node, sample, receivedAt } of arrivals) {
      const machine = node.machine;
      const source = `opcua:${machine.id}`;
      if (qualityOf(sample.statusCode) === "bad") machine.badNodes.add(node.nodeId);
      else machine.badNodes.delete(node.nodeId);
      if (node.what.kind === "tag") {
        const conversion = readingOf(sample, machine.id, node.what.tag, receivedAt);
        if (conversion.ok) push(readings, machine, conversion.reading);
        else this.options.intake.refuse("reading", describe(machine.id, node, sample), `${source}: ${conversion.reason}`);
        continue;
      }
      const event = this.signalChange(machine, node.what.signal, node, sample, receivedAt);
      if (event !== undefined) {
        push(states, machine, this.stateMessage(machine, event));
      }
    }
    for (const [machine, list] of readings) this.options.intake.readings(list, `opcua:${machine.id}`);
    for (const [machine, list] of states) this.options.intake.states(list, `opcua:${machine.id}`);
  }

  private stateMessage(machine: MachineContext, event: MachineStateEvent): SiteWiseStateMessage {
    return toSiteWiseStateMessage(event, {
      factoryId: this.options.plan.config.factory.factory.id,
      gatewayId: this.options.plan.gateway.id,
      lineId: machine.placement.line.id,
      sequence: this.sequence++,
    });
  }

  /** Apply one change of the state register or a counter; the event to emit, if any. */
  private signalChange(machine: MachineContext, signal: Signal, node: MonitoredNode, sample: DataValue, receivedAt: number): MachineStateEvent | undefined {
    const source = `opcua:${machine.id}`;
    if (qualityOf(sample.statusCode) !== "good") return undefined; // a bad register says nothing; the machine shows stale
    const value = numericValue(sample.value);
    if (value === undefined || value === null || !Number.isInteger(value) || (signal !== "state" && value < 0)) {
      this.options.intake.refuse("state", describe(machine.id, node, sample), `${source}: ${signal} ${node.nodeId} sent ${safeJson(sample.value.value)}, not ${signal === "state" ? "a whole number" : "a non-negative whole number"}`);
      return undefined;
    }
    const { timestamp, clock } = pickTimestamp({ source: sample.sourceTimestamp, server: sample.serverTimestamp, received: receivedAt });
    const type = machine.placement.type;
    if (signal === "state") {
      const state = stateOfRegister(type.stateCodes, value);
      if (state === undefined) {
        const codes = (["running", "idle", "fault", "plannedStop"] as const).map((s) => `${s} ${JSON.stringify(type.stateCodes[s])}`).join(", ");
        this.options.intake.refuse("state", describe(machine.id, node, sample), `${source}: state register ${node.nodeId} value ${value} is no state code of machine type ${type.id} (${codes})`);
        return undefined;
      }
      if (state === machine.state) return undefined;
      machine.state = state;
      return this.event(machine, timestamp, clock);
    }
    const previous = signal === "goodCount" ? machine.good : machine.bad;
    if (signal === "goodCount") machine.good = value;
    else machine.bad = value;
    if (previous === undefined) return undefined; // the first value is the baseline
    const step = counterStep(previous, value, type.counterRollover);
    if (step.kind === "reset") this.log("warn", `opcua: ${machine.id} ${signal} dropped from ${previous} to ${value} (counter reset, e.g. PLC restart): counting ${value} parts`);
    if (step.increment === 0) return undefined;
    if (signal === "goodCount") machine.pendingGood += step.increment;
    else machine.pendingBad += step.increment;
    machine.pendingFrom ??= timestamp;
    machine.pendingAt = Math.max(machine.pendingAt ?? timestamp, timestamp);
    machine.pendingClock = clock;
    // Parts made before the first state are carried into the first event: a state event needs a state. Parts of a
    // machine whose state holds are gathered and go together, stamped with the newest counter's time.
    if (machine.state === undefined || timestamp - machine.pendingFrom < this.countIntervalMs) return undefined;
    return this.event(machine, machine.pendingAt, clock);
  }

  private event(machine: MachineContext, timestamp: number, clock: Reading["clock"]): MachineStateEvent | undefined {
    if (machine.state === undefined) return undefined;
    // SiteWise keeps one value per property and timestamp: a second message at the same time (a state change in
    // the scan that also counted parts) would overwrite the first's part counts. Each message gets its own time.
    const at = machine.lastEventAt !== undefined && timestamp <= machine.lastEventAt ? machine.lastEventAt + 1 : timestamp;
    machine.lastEventAt = at;
    const event = { machineId: machine.id, timestamp: at, clock, state: machine.state, goodIncrement: machine.pendingGood, badIncrement: machine.pendingBad } as MachineStateEvent;
    machine.pendingGood = 0;
    machine.pendingBad = 0;
    machine.pendingFrom = undefined;
    machine.pendingAt = undefined;
    return event;
  }

  /**
   * Send the parts gathered for longer than the count interval (of wall-clock time: a machine that stopped making
   * parts has no newer counter to trigger it), or all of them when `all`, each stamped with its counter's newest time.
   */
  private flushCounts(all: boolean): void {
    const now = this.now();
    const states = new Map<MachineContext, unknown[]>();
    for (const endpoint of this.endpoints) {
      for (const machine of endpoint.machines) {
        const at = machine.pendingAt;
        if (at === undefined || machine.state === undefined) continue;
        if (!all && now - (machine.pendingFrom ?? at) < this.countIntervalMs) continue;
        const event = this.event(machine, at, machine.pendingClock);
        if (event !== undefined) push(states, machine, this.stateMessage(machine, event));
      }
    }
    for (const [machine, list] of states) this.options.intake.states(list, `opcua:${machine.id}`);
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function describe(machineId: string, node: MonitoredNode, sample: DataValue): Record<string, unknown> {
  return {
    machineId,
    nodeId: node.nodeId,
    ...(node.what.kind === "tag" ? { tag: node.what.tag.name } : { signal: node.what.signal }),
    dataType: DataType[sample.value.dataType],
    value: sample.value.value as unknown,
    status: sample.statusCode.name,
    sourceTimestamp: sample.sourceTimestamp?.toISOString() ?? null,
    serverTimestamp: sample.serverTimestamp?.toISOString() ?? null,
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
