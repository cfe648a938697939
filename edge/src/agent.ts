/**
 * The edge agent: reads its configuration, opens the durable store, starts the adapters that read the machines
 * (OPC UA) and the local sensors (MQTT), the publisher that drains the store to IoT Core over mutual TLS, and the
 * health reporter. `stop()` shuts down in the order that loses nothing: adapters first (no new data), then the
 * publisher flushes what is in flight, then the store closes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { GatewayPlan } from "./config";
import { healthMessage } from "./health";
import { Intake } from "./intake";
import { OpcUaAdapter, type OpcUaAdapterOptions } from "./opcua";
import { Publisher, type PublisherOptions } from "./publisher";
import { greengrassSecretReader, installClientIdentity, readAgentSecrets, SecretError, type AgentSecrets, type SecretReader } from "./secrets";
import { SensorAdapter } from "./sensors";
import { openStore, type EdgeStore, type OverflowEvent } from "./store";

/** Anything that reads data into the intake. */
export interface Adapter {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** OPC UA sessions up and configured (adapters without sessions leave it out). */
  sessions?(): { up: number; configured: number };
  /** Machines whose data is stale. */
  staleMachines?(): string[];
  /** What the adapter waits for before it can read anything (its secrets), when it waits. */
  waitingFor?(): string | undefined;
  /** Parts counted but not yet in a state message: gathered for the count interval (adapters that count parts). */
  gatheredParts?(): number;
}

/** How {@link opcuaAdapter} builds the adapter; tests point it at local servers and a test nucleus. */
export interface OpcUaAdapterSetup {
  readonly log?: Log;
  /** Reads the configured secrets (default: Greengrass IPC from the process environment). */
  readonly secretReader?: () => SecretReader;
  /** Delay before asking again for secrets that could not be read (default 5 s, doubling up to 60 s). */
  readonly secretRetry?: { readonly initialDelayMs: number; readonly maxDelayMs: number };
  /** Passed to the adapter (endpoint overrides, security, intervals). */
  readonly adapter?: Partial<OpcUaAdapterOptions>;
}

/**
 * The OPC UA adapter of a gateway as an {@link Adapter}. Its state-message sequence starts from the clock, so it
 * keeps increasing across restarts without being stored.
 *
 * When the factory names secrets (`edge.secrets`), they are read through Greengrass's secret manager first: the
 * client identity is put in the PKI folder and the PLC credentials are used for every session. Until they can be
 * read, the adapter retries with back-off, logs why, and reports every machine stale; the rest of the agent
 * (sensors, publishing the buffer, health) runs meanwhile.
 */
export function opcuaAdapter(plan: GatewayPlan, intake: Intake, setup: OpcUaAdapterSetup = {}): Required<Adapter> {
  const log = setup.log ?? jsonLog;
  // the client's own certificate and the trust list live beside the buffer, on the gateway's persistent disk
  const pkiFolder = setup.adapter?.pkiFolder ?? path.join(path.dirname(plan.config.agent.buffer.path), "opcua-pki");
  const configured = new Set(plan.machines.map((m) => setup.adapter?.endpointOverride?.(m.machine) ?? m.machine.opcua.endpoint)).size;
  const wanted = plan.config.factory.edge?.secrets;
  const needsSecrets = wanted?.opcuaClientIdentity !== undefined || wanted?.plcCredentials !== undefined;
  const retry = setup.secretRetry ?? { initialDelayMs: 5_000, maxDelayMs: 60_000 };
  let adapter: OpcUaAdapter | undefined;
  let waiting: string | undefined = needsSecrets ? "waiting for its secrets from Greengrass's secret manager" : undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // read through a function: the flag changes while an attempt awaits
  const running = (): boolean => !stopped;
  let reader: SecretReader | undefined;

  const startWith = async (secrets: AgentSecrets): Promise<void> => {
    const identity = secrets.clientIdentity === undefined ? undefined : installClientIdentity(pkiFolder, secrets.clientIdentity);
    adapter = new OpcUaAdapter({
      plan,
      intake,
      firstStateSequence: Date.now(),
      pkiFolder,
      log: (level, message) => {
        log(level, message);
      },
      ...setup.adapter,
      ...(identity === undefined ? {} : { clientIdentity: identity }),
      ...(secrets.plcCredentials === undefined ? {} : { userIdentity: { userName: secrets.plcCredentials.username, password: secrets.plcCredentials.password } }),
    });
    waiting = undefined;
    await adapter.start();
  };

  const attempt = async (delayMs: number): Promise<void> => {
    if (!running()) return;
    reader ??= (setup.secretReader ?? (() => greengrassSecretReader()))();
    let secrets: AgentSecrets;
    try {
      secrets = await readAgentSecrets(wanted, reader);
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      const retryable = error instanceof SecretError ? error.retryable : true;
      waiting = `waiting for its secrets: ${text}`;
      log(retryable ? "warn" : "error", `opcua: cannot read the agent's secrets (retrying in ${Math.round(delayMs / 1000)} s): ${text}`, { retryable });
      if (running()) {
        timer = setTimeout(() => {
          void attempt(Math.min(delayMs * 2, retry.maxDelayMs));
        }, delayMs);
      }
      return;
    }
    await reader.close();
    reader = undefined;
    log("info", "opcua: secrets read through Greengrass's secret manager", {
      clientIdentity: secrets.clientIdentity !== undefined,
      plcUser: secrets.plcCredentials?.username,
    });
    if (running()) await startWith(secrets);
  };

  return {
    start: async () => {
      stopped = false;
      if (needsSecrets) await attempt(retry.initialDelayMs);
      else await startWith({});
    },
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      if (reader !== undefined) await reader.close();
      reader = undefined;
      if (adapter !== undefined) await adapter.stop();
    },
    sessions: () => {
      if (adapter === undefined) return { up: 0, configured };
      const endpoints = adapter.status().endpoints;
      return { up: endpoints.filter((e) => e.connected).length, configured: endpoints.length };
    },
    staleMachines: () =>
      adapter === undefined
        ? plan.machines.map((m) => m.machine.id)
        : adapter
            .status()
            .machines.filter((m) => m.stale)
            .map((m) => m.machineId),
    waitingFor: () => waiting,
    gatheredParts: () => adapter?.gatheredParts() ?? 0,
  };
}

/** A line of the agent's log: JSON, one object per line, as Greengrass collects component output. */
export type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

/** Logs JSON lines to stdout (never secrets: no key material or payloads are passed to it). */
export const jsonLog: Log = (level, message, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
};

/** The most a reading waits in the buffer for the readings of its machine and timestamp (see {@link settleWindowMs}). */
export const MAX_SETTLE_MS = 15_000;

/**
 * How long the gateway's readings wait in the buffer before they may join a batch: twice the longest sampling
 * (hence publishing) interval of its machines' tags and half a second, at most {@link MAX_SETTLE_MS}. The readings
 * of a machine that share a timestamp (one PLC scan) reach the agent in different subscriptions: a value written
 * at T is sampled up to one interval later and published up to one interval after that. The cloud needs them in
 * one batch (one Timestream record per machine and timestamp, whose content decides its version).
 */
export function settleWindowMs(plan: GatewayPlan): number {
  const longest = Math.max(0, ...plan.machines.flatMap((m) => m.type.tags.map((t) => t.samplingIntervalMs)));
  return Math.min(MAX_SETTLE_MS, 2 * longest + 500);
}

/** How the agent is assembled; tests replace the broker URL, TLS material, adapters and intervals. */
export interface AgentOptions {
  readonly plan: GatewayPlan;
  /** `mqtts://<iotEndpoint>:<port>` by default. */
  readonly brokerUrl?: string;
  /** Extra adapters (the OPC UA adapter), created with the agent's intake. */
  readonly adapters?: (intake: Intake) => Adapter[];
  /** Options passed to the publisher beyond what the plan gives. */
  readonly publisher?: Partial<PublisherOptions>;
  readonly healthIntervalMs?: number;
  /** How long readings settle in the buffer before they may be batched (default {@link settleWindowMs}). */
  readonly settleMs?: number;
  readonly log?: Log;
  readonly now?: () => number;
}

/** One gateway's agent. */
export class Agent {
  readonly store: EdgeStore;
  readonly intake: Intake;
  readonly publisher: Publisher;
  private readonly adapters: Adapter[];
  private healthTimer: NodeJS.Timeout | undefined;
  private previous: { at: number; publishedReadings: number } | undefined;
  private readonly log: Log;
  private readonly now: () => number;

  constructor(private readonly options: AgentOptions) {
    const { plan } = options;
    const settings = plan.config.agent;
    this.log = options.log ?? jsonLog;
    this.now = options.now ?? Date.now;
    const log = this.log;
    this.store = openStore({
      path: settings.buffer.path,
      factoryId: plan.config.factory.factory.id,
      gatewayId: plan.gateway.id,
      limits: { maxBytes: settings.buffer.maxBytes, maxAgeHours: settings.buffer.maxAgeHours, onOverflow: settings.buffer.onOverflow },
      settleMs: options.settleMs ?? settleWindowMs(plan),
      onOverflow: (event: OverflowEvent) => {
        log("warn", event.message, { overflow: event });
      },
      now: this.now,
    });
    this.intake = new Intake(plan, this.store, this.now);
    const tls = { ca: fs.readFileSync(settings.rootCaPath), cert: fs.readFileSync(settings.certificatePath), key: fs.readFileSync(settings.privateKeyPath) };
    this.publisher = new Publisher({
      url: options.brokerUrl ?? `mqtts://${settings.iotEndpoint}:${settings.port ?? 8883}`,
      factoryId: plan.config.factory.factory.id,
      gatewayId: plan.gateway.id,
      store: this.store,
      tls,
      connections: settings.connections ?? 1,
      ...(settings.publishBudget === undefined ? {} : { budget: settings.publishBudget }),
      ...options.publisher,
    });
    this.publisher.on("connectionError", (clientId, message) => {
      log("error", message, { clientId });
    });
    this.publisher.on("connected", (clientId) => {
      log("info", "connected to IoT Core", { clientId });
    });
    // the local broker is reached with the gateway's own identity
    const sensors = new SensorAdapter({ plan, intake: this.intake, connectOptions: { ...tls, rejectUnauthorized: true } });
    this.adapters = [sensors, ...(options.adapters?.(this.intake) ?? [])];
  }

  /**
   * Parts the adapters counted that are in no state message yet (each machine's are gathered for the count interval):
   * once the machines stop, everything the agent read is in its store when this is 0.
   */
  gatheredParts(): number {
    return this.adapters.reduce((n, adapter) => n + (adapter.gatheredParts?.() ?? 0), 0);
  }

  /** Start publishing, then the adapters, then the health reports. */
  async start(): Promise<void> {
    this.publisher.start();
    for (const adapter of this.adapters) await adapter.start();
    const interval = this.options.healthIntervalMs ?? (this.options.plan.config.agent.healthIntervalSeconds ?? 60) * 1000;
    this.healthTimer = setInterval(() => {
      void this.reportHealth();
    }, interval);
    this.log("info", "agent started", { thing: this.options.plan.thingName, machines: this.options.plan.machines.length });
  }

  /** Build, log and publish one health message. */
  async reportHealth(): Promise<void> {
    const now = this.now();
    const sessions = this.adapters.map((a) => a.sessions?.() ?? { up: 0, configured: 0 });
    const status = this.publisher.status();
    const message = healthMessage({
      factoryId: this.options.plan.config.factory.factory.id,
      gatewayId: this.options.plan.gateway.id,
      now,
      store: this.store.stats(now),
      intake: this.intake.counters(),
      publishedReadings: status.publishedReadings,
      ...(this.previous === undefined ? {} : { previous: this.previous }),
      opcuaSessionsUp: sessions.reduce((n, s) => n + s.up, 0),
      opcuaSessionsConfigured: sessions.reduce((n, s) => n + s.configured, 0),
      staleMachines: this.adapters.flatMap((a) => a.staleMachines?.() ?? []),
    });
    this.previous = { at: now, publishedReadings: status.publishedReadings };
    const waiting = this.adapters.map((a) => a.waitingFor?.()).filter((w): w is string => w !== undefined);
    this.log(waiting.length > 0 ? "warn" : "info", "health", { health: message, connected: status.connected, lastError: status.lastError, ...(waiting.length > 0 ? { waiting } : {}) });
    await this.publisher.publishHealth(message);
  }

  /** Stop reading, flush what is in flight, close the store. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer);
    for (const adapter of this.adapters) await adapter.stop();
    const result = await this.publisher.stop(timeoutMs);
    this.store.close();
    this.log("info", "agent stopped", { flushed: result.flushed, unacknowledged: result.unacknowledged });
  }
}
