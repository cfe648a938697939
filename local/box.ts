/**
 * A whole factory in one process, from a stack's config (see `./contracts` for how time and speed work):
 *
 *   simulator (OPC UA server + sensor publisher)
 *     -> the real edge agents, one per gateway (durable buffer on disk, mutual TLS)
 *     -> the uplink (a relay the box can cut)
 *     -> the cloud broker (IoT Core's stand-in: certificates, client ids and topics checked as the IoT policies do)
 *     -> the local rules router -> the real enrichment and detector handlers, local Timestream, SiteWise, DynamoDB,
 *        SNS, S3 and Firehose
 *     -> OEE, alerts and gateway health in a {@link FactorySnapshot}.
 *
 * Everything listens on 127.0.0.1; certificates, buffers and logs live in a run directory of mode 0700 under the
 * system's temporary directory, removed when the box stops.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { thingName, type FactoryConfig } from "@smart-factory/sdk";
import type { Agent } from "../edge/src/agent";
import { DEFAULT_COUNT_INTERVAL_MS } from "../edge/src/opcua";
import { stackFactoryConfig } from "../infra/stackFiles";
import { startAgents } from "./agents";
import { startCloudBroker, startSensorBroker, type CloudBroker, type CloudMessage, type SensorBroker } from "./broker";
import { createLocalPki } from "./certificates";
import { createLocalCloud, type LocalCloud } from "./cloud";
import type { FactorySnapshot, SnapshotSource } from "./contracts";
import { startSimulator, type Simulator } from "./simulator";
import { startUplink, type Uplink } from "./uplink";

/** How to start a {@link FactoryBox}. */
export interface BoxOptions {
  /** The stack whose config the box runs (default `factory-a`). */
  readonly stack?: string;
  /** Behaviour compression (default 10): see `./contracts`. */
  readonly speed?: number;
  /** Seed of the simulated factory (default 1). */
  readonly seed?: number;
  /** Random faults and planned stops of the simulator (default on). */
  readonly randomFaults?: boolean;
  readonly plannedStops?: boolean;
  /** How often each agent reports its health (default 2,000 ms). */
  readonly healthIntervalMs?: number;
  /** Where the run directory is made (default the system's temporary directory). */
  readonly baseDir?: string;
  /** Keep the run directory when the box stops (default false). */
  readonly keepRunDir?: boolean;
  /** Receives the box's and the agents' log lines (JSON); default: appended to `<run dir>/box.log`. */
  readonly log?: (line: string) => void;
}

/** A running factory in a box. */
export interface FactoryBox extends SnapshotSource {
  readonly stack: string;
  readonly config: FactoryConfig;
  readonly speed: number;
  readonly runDir: string;
  readonly simulator: Simulator;
  readonly cloud: LocalCloud;
  readonly uplink: Uplink;
  readonly agents: readonly Agent[];
  readonly cloudBroker: CloudBroker;
  /** Messages the cloud broker accepted and the rules have not finished yet. */
  pendingMessages(): number;
  /** Cut the uplink for `ms` of wall-clock time. */
  outage(ms: number): void;
  snapshot(): FactorySnapshot;
  /** Stop everything: the simulator, the agents (they flush what they can), the brokers, the timers; remove the run directory. */
  stop(): Promise<void>;
}

/** The speeds the box accepts. */
export const SPEED_RANGE = { min: 0.1, max: 1000 } as const;

/**
 * Start a factory in a box.
 *
 * @throws Error naming the option and value for a bad speed or an unknown stack; the SDK's ContractError for a
 *   stack config that does not decode.
 */
export async function startFactoryBox(options: BoxOptions = {}): Promise<FactoryBox> {
  const stack = options.stack ?? "factory-a";
  const speed = options.speed ?? 10;
  if (!(Number.isFinite(speed) && speed >= SPEED_RANGE.min && speed <= SPEED_RANGE.max)) {
    throw new RangeError(`speed: expected a number from ${SPEED_RANGE.min} to ${SPEED_RANGE.max}, got ${String(speed)}`);
  }
  const config = stackFactoryConfig(stack);
  const runDir = fs.mkdtempSync(path.join(options.baseDir ?? os.tmpdir(), `smart-factory-${stack}-`));
  fs.chmodSync(runDir, 0o700);
  const logFile = path.join(runDir, "box.log");
  const writeLine = options.log ?? ((line: string) => { fs.appendFileSync(logFile, `${line}\n`); });
  const log = (level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void => {
    writeLine(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  };

  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stoppers.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        log("warn", `stopping: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (options.keepRunDir !== true) fs.rmSync(runDir, { recursive: true, force: true });
  };

  try {
    const things = config.gateways.map((g) => thingName(config.factory.id, g.id));
    const pki = await createLocalPki(path.join(runDir, "pki"), things);
    const cloud = createLocalCloud({ config, speed, onLog: (entry) => { writeLine(JSON.stringify(entry)); } });

    // IoT Core acknowledges a publish before its rules run; the rules here take one message at a time, in order
    const queue: CloudMessage[] = [];
    let draining: Promise<void> | undefined;
    const drain = async (): Promise<void> => {
      for (let message = queue.shift(); message !== undefined; message = queue.shift()) {
        await cloud.deliver(message.topic, message.payload, message.clientId, message.receivedAt);
      }
    };
    const enqueue = (message: CloudMessage): void => {
      queue.push(message);
      draining ??= drain().finally(() => {
        draining = undefined;
      });
    };

    const sensorBroker: SensorBroker = await startSensorBroker({ tls: pki.broker });
    stoppers.push(() => sensorBroker.close());
    const cloudBroker = await startCloudBroker({ factoryId: config.factory.id, tls: pki.broker, onMessage: enqueue });
    stoppers.push(async () => {
      await cloudBroker.close();
      await draining;
    });
    const uplink = await startUplink({ targetPort: cloudBroker.port });
    stoppers.push(() => uplink.close());
    const simulator = await startSimulator({
      config,
      speed,
      seed: options.seed ?? 1,
      sensorBrokerUrl: sensorBroker.plainUrl,
      pkiRoot: path.join(runDir, "opcua-server-pki"),
      ...(options.randomFaults === undefined ? {} : { randomFaults: options.randomFaults }),
      ...(options.plannedStops === undefined ? {} : { plannedStops: options.plannedStops }),
    });
    stoppers.push(() => simulator.stop());
    const agents = await startAgents({
      config,
      opcuaEndpoint: simulator.endpointUrl,
      sensorBrokerUrl: sensorBroker.url,
      uplinkPort: uplink.port,
      pki,
      dataDir: path.join(runDir, "agents"),
      healthIntervalMs: options.healthIntervalMs ?? 2000,
      // a gateway gathers part counts for 10 s; at speed, for as much factory time, but a second at least
      countIntervalMs: Math.max(1000, DEFAULT_COUNT_INTERVAL_MS / speed),
      log,
      reconnect: { initialDelayMs: 200, maxDelayMs: 2000 },
    });
    // stopped before the simulator and the brokers: they flush what they can while the uplink is still there
    stoppers.push(async () => {
      await Promise.all(agents.map((a) => a.stop(5000)));
    });

    // the detector's sweep as EventBridge Scheduler runs it: every minute of factory time
    const sweepEvery = Math.max(1000, 60_000 / speed);
    const sweeper = setInterval(() => {
      void cloud.sweep();
    }, sweepEvery);
    const ticker = setInterval(() => {
      cloud.setUplink(uplink.up, uplink.downUntil);
      cloud.tick();
    }, 1000);
    stoppers.push(() => {
      clearInterval(sweeper);
      clearInterval(ticker);
      return Promise.resolve();
    });
    log("info", "factory box started", { stack, speed, machines: config.lines.reduce((n, l) => n + l.machines.length, 0), gateways: things, opcua: simulator.endpointUrl });

    return {
      stack,
      config,
      speed,
      runDir,
      simulator,
      cloud,
      uplink,
      agents,
      cloudBroker,
      pendingMessages: () => queue.length + (draining === undefined ? 0 : 1),
      outage(ms) {
        uplink.cut(ms);
        cloud.setUplink(false, uplink.downUntil);
        log("info", "uplink cut", { forMs: ms });
      },
      snapshot() {
        cloud.setUplink(uplink.up, uplink.downUntil);
        return cloud.snapshot();
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
