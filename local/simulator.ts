/**
 * The factory's PLCs and sensors, simulated: one node-opcua server on 127.0.0.1 serves every machine of a stack
 * config at the node ids the config gives (tags, state register, good and bad counters), and the tags the config
 * wires to MQTT topics are published as sensor messages on a plain broker. One {@link MachineModel} per machine
 * decides what happens; a single timer advances them and writes what they say, with the wall clock as every
 * source timestamp. The simulator keeps a {@link GroundTruth} of what it wrote, and takes injections (a fault,
 * a malformed sensor payload, an out-of-range value) for tests and the `npm start` CLI.
 *
 * The box points every machine at this one server with {@link withSimulatorEndpoints}. Nodes: each OPC UA tag is
 * an AnalogItem (Double) with EURange `[min, max]` and EngineeringUnits `tag.unit`, the state register an Int32,
 * the counters UInt32. Sensor messages are `{"value": <number>, "unit": "<tag.unit>", "timestamp": <epoch ms>}`
 * (the SDK's SensorMessage), published at QoS 0 at the tag's sampling interval while the broker is connected.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import {
  DataType,
  MonitoredItem,
  OPCUACertificateManager,
  OPCUAServer,
  RegisterServerMethod,
  StatusCodes,
  Variant,
  type AddressSpace,
  type Namespace,
  type UAVariable,
} from "node-opcua";
import { decode, FactoryConfig, listMachines, UNITS, type MachinePlacement, type MachineState } from "@smart-factory/sdk";
import type { FaultRecord, GroundTruth, MachineTruth, OutOfRangeRecord } from "./groundTruth";
import { MachineModel, thresholdLimits } from "./machineModel";

export { oeeFromTruth, truthEvents } from "./groundTruth";
export type { FaultRecord, GroundTruth, MachineTruth, OeeSummary, OutOfRangeRecord, PartsRecord, StateInterval, TruthOee } from "./groundTruth";

/** Options of {@link startSimulator}. */
export interface SimulatorOptions {
  /** The factory whose machines it plays (a decoded stack config). */
  readonly config: FactoryConfig;
  /** Behaviour compression, a finite number > 0 and <= 1000 (default 1, real time). */
  readonly speed?: number;
  /** Seed of every random choice (default 1): the same seed gives the same factory. */
  readonly seed?: number;
  /** The OPC UA port (default: a free one). */
  readonly port?: number;
  /** Plain broker for the sensor tags (`mqtt://127.0.0.1:<port>`); without it sensor tags are modelled, not published. */
  readonly sensorBrokerUrl?: string;
  /** Folder of the server's PKI (default `<tmpdir>/sf-simulator-pki`, reused so the certificate is made once). */
  readonly pkiRoot?: string;
  /** Random faults, each announced by a drift of temperature- and vibration-like tags (default true). */
  readonly randomFaults?: boolean;
  /** Random planned stops (default true). */
  readonly plannedStops?: boolean;
  /**
   * Shortest wall-clock time any state lasts (default 500 ms): at high speed, shorter states would fall between
   * two samples of a client (the edge agent samples the state register every 100 ms) and never be seen.
   */
  readonly minStateMs?: number;
  /** The clock of every timestamp (default `Date.now`). */
  readonly now?: () => number;
}

/** A running simulator. */
export interface Simulator {
  /** `opc.tcp://127.0.0.1:<port>`: every machine's endpoint. */
  readonly endpointUrl: string;
  readonly port: number;
  readonly speed: number;
  /** A snapshot of what the simulator did so far. */
  truth(): GroundTruth;
  /** Each machine's current state, by machine id. */
  machineStates(): Record<string, MachineState>;
  /** Put a machine in fault now for `durationMs` of wall-clock time (no drift before it); written at once. */
  injectFault(machineId: string, durationMs: number): void;
  /**
   * Publish a sensor payload the agent must dead-letter on `topic` (default the config's first sensor topic):
   * `notJson` (default) is not JSON, `wrongType` is JSON whose value is a string. Resolves once the broker has it.
   */
  injectMalformedSensorPayload(topic?: string, kind?: "notJson" | "wrongType"): Promise<{ topic: string; payload: string }>;
  /** Write one value of a tag outside its `[min, max]` now (held for one sampling interval); resolves with it. */
  injectOutOfRange(machineId: string, tag: string): Promise<number>;
  /**
   * Stop making parts and changing states (the truth's open intervals end now), show the final registers for a
   * second so that clients read them, then stop the server and the MQTT client.
   */
  stop(): Promise<void>;
}

// Clients sample the state register every 100 ms and fast tags as often; node-opcua's floor is 50 ms otherwise.
MonitoredItem.minimumSamplingInterval = 10;

/** Every model advances on this tick; tags are written at their sampling interval, never faster than this. */
const TICK_MS = 100;
/** How long the server shows the final registers at stop: ten of an agent's 100 ms samplings of the counters. */
const FINAL_VALUES_MS = 1000;

/** Where the server keeps its certificate by default. */
export const DEFAULT_SIMULATOR_PKI_ROOT = path.join(os.tmpdir(), "sf-simulator-pki");

/** One tag of one machine, and where its values go. */
interface TagSlot {
  readonly model: MachineModel;
  readonly machineId: string;
  readonly tag: string;
  readonly unit: string;
  readonly intervalMs: number;
  nextDue: number;
  readonly node?: UAVariable;
  readonly topic?: string;
}

/** The signal nodes of one machine. */
interface MachineSlot {
  readonly model: MachineModel;
  readonly state: UAVariable;
  readonly good: UAVariable;
  readonly bad: UAVariable;
}

/**
 * The config with every machine's `opcua` pointed at the simulator (security None) and, when a sensor broker is
 * given, every gateway's `localBroker` at it: the config the local edge agents run with.
 */
export function withSimulatorEndpoints(config: FactoryConfig, endpoints: { readonly endpointUrl: string; readonly sensorBrokerUrl?: string }): FactoryConfig {
  const { endpointUrl, sensorBrokerUrl } = endpoints;
  return decode(
    FactoryConfig,
    {
      ...config,
      lines: config.lines.map((line) => ({
        ...line,
        machines: line.machines.map((machine) => ({ ...machine, opcua: { endpoint: endpointUrl, securityMode: "None", securityPolicy: "None" } })),
      })),
      gateways: sensorBrokerUrl === undefined ? config.gateways : config.gateways.map((gateway) => ({ ...gateway, localBroker: sensorBrokerUrl })),
    },
    "the simulated factory's config",
  );
}

/** Start the simulator: the OPC UA server is listening and, with a sensor broker, the MQTT client connected. */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const speed = options.speed ?? 1;
  if (typeof speed !== "number" || !Number.isFinite(speed) || speed <= 0 || speed > 1000) throw new Error(`speed must be a finite number greater than 0 and at most 1000, got ${String(speed)}`);
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new Error(`seed must be a whole number, got ${String(seed)}`);
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)) throw new Error(`port must be a whole number from 1 to 65535, got ${String(options.port)}`);
  const minStateMs = options.minStateMs ?? 500;
  if (!Number.isFinite(minStateMs) || minStateMs < 0) throw new Error(`minStateMs must be a finite number >= 0, got ${String(minStateMs)}`);
  if (options.sensorBrokerUrl !== undefined && !/^mqtts?:\/\/\S+$/.test(options.sensorBrokerUrl)) throw new Error(`sensorBrokerUrl must be an mqtt:// address, got ${JSON.stringify(options.sensorBrokerUrl)}`);
  const clock = options.now ?? Date.now;
  const config = options.config;
  const placements = listMachines(config);

  const port = options.port ?? (await freePort());
  const server = await openServer(port, options.pkiRoot ?? DEFAULT_SIMULATOR_PKI_ROOT);
  const addressSpace = server.engine.addressSpace;
  if (addressSpace === null) throw new Error("the OPC UA server has no address space after initialize()");
  const nodes = new Map(placements.map((placement) => [placement.machine.id as string, addNodes(addressSpace, placement)]));
  let sensors: MqttClient | undefined;
  try {
    const hasSensors = placements.some(({ machine }) => Object.keys(machine.sensors ?? {}).length > 0);
    if (options.sensorBrokerUrl !== undefined && hasSensors) sensors = await connectSensors(options.sensorBrokerUrl, config.factory.id);
  } catch (error) {
    await server.shutdown(0);
    throw error;
  }

  // The factory starts now: every timestamp of the truth is one the PLC or a sensor shows.
  const startedAt = clock();
  const settings = { seed, speed, randomFaults: options.randomFaults ?? true, plannedStops: options.plannedStops ?? true, minStateMs };
  const models = new Map<string, MachineModel>();
  const machines = new Map<string, MachineSlot>();
  const tags: TagSlot[] = [];
  for (const { machine, type, line } of placements) {
    const model = new MachineModel({ machine, type, lineId: line.id, limits: thresholdLimits(config, type) }, settings, startedAt);
    const own = nodes.get(machine.id);
    if (own === undefined) continue;
    models.set(machine.id, model);
    machines.set(machine.id, { model, state: own.state, good: own.good, bad: own.bad });
    for (const spec of type.tags) {
      const node = own.tags.get(spec.name);
      const topic = machine.sensors?.[spec.name];
      tags.push({ model, machineId: machine.id, tag: spec.name, unit: spec.unit, intervalMs: Math.max(TICK_MS, spec.samplingIntervalMs), nextDue: startedAt, ...(node === undefined ? {} : { node }), ...(topic === undefined ? {} : { topic }) });
    }
  }

  let malformedInjected = 0;
  let stoppedAt: number | null = null;
  const write = (node: UAVariable, dataType: DataType, value: number, at: number): void => {
    node.setValueFromSource(new Variant({ dataType, value }), StatusCodes.Good, new Date(at));
  };
  const writeSignals = (slot: MachineSlot, change: { state: boolean; parts: boolean }, at: number): void => {
    if (change.parts) {
      const registers = slot.model.registers();
      write(slot.good, DataType.UInt32, registers.good, at);
      write(slot.bad, DataType.UInt32, registers.bad, at);
    }
    if (change.state) write(slot.state, DataType.Int32, slot.model.stateCode(), at);
  };
  const publish = async (topic: string, payload: string, qos: 0 | 1): Promise<void> => {
    if (sensors === undefined) throw new Error(`sensorBrokerUrl: the simulator has no sensor broker to publish ${topic} on`);
    await sensors.publishAsync(topic, payload, { qos });
  };
  const emit = (slot: TagSlot, value: number, at: number): void => {
    if (slot.node !== undefined) write(slot.node, DataType.Double, value, at);
    else if (slot.topic !== undefined && sensors?.connected === true) {
      // A sensor that is offline loses its values, as a real one does (QoS 0, nothing queued).
      publish(slot.topic, JSON.stringify({ value: Number(value.toFixed(4)), unit: slot.unit, timestamp: at }), 0).catch(() => undefined);
    }
  };

  for (const slot of machines.values()) writeSignals(slot, { state: true, parts: true }, startedAt);
  const tick = (): void => {
    const now = clock();
    for (const slot of machines.values()) {
      const change = slot.model.advance(now);
      if (change.state || change.parts) writeSignals(slot, change, now);
    }
    for (const slot of tags) {
      // Half a tick early is on time: timer jitter must not turn a 100 ms tag into a 200 ms one.
      if (slot.nextDue > now + TICK_MS / 2) continue;
      slot.nextDue = Math.max(slot.nextDue + slot.intervalMs, now + slot.intervalMs / 2);
      emit(slot, slot.model.sample(slot.tag, now), now);
    }
  };
  tick();
  try {
    await server.start();
  } catch (error) {
    await sensors?.endAsync();
    throw error;
  }
  const timer = setInterval(tick, TICK_MS);

  const machineSlot = (machineId: string): MachineSlot => {
    if (stoppedAt !== null) throw new Error(`machineId ${machineId}: the simulator is stopped; nothing can be injected`);
    const slot = machines.get(machineId);
    if (slot === undefined) throw new Error(`machineId: no machine ${JSON.stringify(machineId)} in ${config.factory.id} (it has ${[...machines.keys()].join(", ")})`);
    return slot;
  };
  const firstSensorTopic = tags.find((slot) => slot.topic !== undefined)?.topic;

  return {
    endpointUrl: `opc.tcp://127.0.0.1:${port}`,
    port,
    speed,
    truth() {
      const at = clock();
      const perMachine: Record<string, MachineTruth> = {};
      const faults: FaultRecord[] = [];
      const outOfRange: OutOfRangeRecord[] = [];
      for (const [id, model] of models) {
        const truth = model.truth();
        perMachine[id] = truth;
        faults.push(...truth.faults);
        outOfRange.push(...truth.outOfRange);
      }
      return {
        factoryId: config.factory.id,
        seed,
        speed,
        startedAt,
        at,
        stoppedAt,
        machines: perMachine,
        faults: faults.sort((a, b) => a.from - b.from),
        outOfRange: outOfRange.sort((a, b) => a.at - b.at),
        malformedInjected,
      };
    },
    machineStates() {
      return Object.fromEntries([...models].map(([id, model]) => [id, model.state()]));
    },
    injectFault(machineId, durationMs) {
      const slot = machineSlot(machineId);
      if (typeof durationMs !== "number" || !Number.isFinite(durationMs) || durationMs <= 0) throw new Error(`durationMs must be a finite number of milliseconds > 0, got ${String(durationMs)}`);
      const now = clock();
      slot.model.injectFault(now, durationMs);
      writeSignals(slot, { state: true, parts: true }, now);
    },
    async injectMalformedSensorPayload(topic = firstSensorTopic, kind = "notJson") {
      if (topic === undefined) throw new Error(`topic: ${config.factory.id} wires no sensor topics; name one`);
      if (stoppedAt !== null) throw new Error(`topic ${topic}: the simulator is stopped; nothing can be injected`);
      const payload = kind === "notJson" ? `{"value": 42.0, "unit": "degC"` : JSON.stringify({ value: "very hot", timestamp: clock() });
      await publish(topic, payload, 1);
      malformedInjected++;
      return { topic, payload };
    },
    async injectOutOfRange(machineId, tag) {
      const { model } = machineSlot(machineId);
      const slot = tags.find((s) => s.machineId === machineId && s.tag === tag);
      if (slot === undefined) throw new Error(`tag: machine ${machineId} has no tag ${JSON.stringify(tag)} (it has ${tags.filter((s) => s.machineId === machineId).map((s) => s.tag).join(", ")})`);
      const now = clock();
      const value = model.outOfRangeValue(tag, now);
      if (slot.node !== undefined) {
        write(slot.node, DataType.Double, value, now);
        // Held for two sampling intervals and a little more: a client sampling at that interval, on a loaded event
        // loop and out of phase with this writer, cannot miss it.
        slot.nextDue = now + 2 * slot.intervalMs + 200;
      } else if (slot.topic !== undefined) {
        await publish(slot.topic, JSON.stringify({ value, unit: slot.unit, timestamp: now }), 1);
      }
      return value;
    },
    async stop() {
      if (stoppedAt !== null) return;
      clearInterval(timer);
      const at = clock();
      stoppedAt = at;
      for (const model of models.values()) model.end(at);
      // The parts made since the last tick go to the registers, and the server stays up while the clients sample and
      // publish them: the truth then ends with what the PLC showed, as a real PLC keeps its registers when the line
      // stops. (Shut down at once, the last tick's parts and those made after it were in the truth and no client's.)
      for (const slot of machines.values()) writeSignals(slot, { state: false, parts: true }, at);
      await new Promise((resolve) => setTimeout(resolve, FINAL_VALUES_MS));
      await Promise.all([server.shutdown(0), sensors?.endAsync()]);
    },
  };
}

/** The nodes of one machine: its OPC UA tags (not its sensor tags), under a folder named after it. */
function addNodes(addressSpace: AddressSpace, { machine, type }: MachinePlacement): { tags: Map<string, UAVariable>; state: UAVariable; good: UAVariable; bad: UAVariable } {
  const folder = addressSpace.getOwnNamespace().addObject({ browseName: machine.id, organizedBy: addressSpace.rootFolder.objects });
  const tags = new Map<string, UAVariable>();
  for (const spec of type.tags) {
    const nodeId = machine.tags[spec.name];
    if (nodeId === undefined) continue;
    const node = namespaceFor(addressSpace, nodeId).addAnalogDataItem({
      nodeId,
      browseName: spec.name,
      componentOf: folder,
      dataType: "Double",
      // EURange is the normal operating range: the config's [min, max]; the unit is the config's, as the PLC reports it.
      engineeringUnitsRange: { low: spec.min, high: spec.max },
      engineeringUnits: { unitId: -1, displayName: { text: spec.unit }, description: { text: UNITS[spec.unit].label } },
      minimumSamplingInterval: 10,
    });
    tags.set(spec.name, node);
  }
  const signal = (browseName: string, nodeId: string, dataType: DataType.Int32 | DataType.UInt32): UAVariable =>
    namespaceFor(addressSpace, nodeId).addVariable({ nodeId, browseName, componentOf: folder, dataType: DataType[dataType], minimumSamplingInterval: 10 });
  return {
    tags,
    state: signal("State", machine.signals.state, DataType.Int32),
    good: signal("GoodCount", machine.signals.goodCount, DataType.UInt32),
    bad: signal("BadCount", machine.signals.badCount, DataType.UInt32),
  };
}

/** A node-opcua server on 127.0.0.1 (security None is what the box uses; the server offers its defaults). */
async function openServer(port: number, pkiRoot: string): Promise<OPCUAServer> {
  fs.mkdirSync(pkiRoot, { recursive: true });
  // The box's agents and tests bring their own self-signed certificates: accept them rather than manage trust.
  const manager = (folder: string): OPCUACertificateManager => new OPCUACertificateManager({ rootFolder: path.join(pkiRoot, folder), automaticallyAcceptUnknownCertificate: true });
  const server = new OPCUAServer({
    port,
    host: "127.0.0.1",
    hostname: "127.0.0.1",
    // A local simulator announces itself to no discovery server.
    registerServerMethod: RegisterServerMethod.HIDDEN,
    serverCertificateManager: manager("server"),
    userCertificateManager: manager("user"),
    serverCapabilities: { minSupportedSampleRate: 10 },
    buildInfo: { productName: "smart-factory simulator" },
  });
  await server.initialize();
  return server;
}

/** The namespace a node id names, registering placeholder namespaces up to its index (ns=1 is the server's). */
function namespaceFor(addressSpace: AddressSpace, nodeId: string): Namespace {
  const index = Number(/^ns=(\d+);/.exec(nodeId)?.[1] ?? 0);
  while (addressSpace.getNamespaceArray().length <= index) addressSpace.registerNamespace(`urn:smart-factory:simulator:ns${addressSpace.getNamespaceArray().length}`);
  const namespace = addressSpace.getNamespaceArray()[index];
  if (namespace === undefined) throw new Error(`nodeId ${nodeId}: no namespace ${index}`);
  // The array is typed with the base interface; the address space holds full namespaces.
  return namespace as Namespace;
}

/** Connect to the sensor broker; rejects (naming the url) if the first attempt fails. */
async function connectSensors(url: string, factoryId: string): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: `sf-simulator-${factoryId}-${process.pid}-${Date.now().toString(36)}`, reconnectPeriod: 1000, queueQoSZero: false, connectTimeout: 10_000 });
  client.on("connect", () => {
    // mqtt.js leaves Nagle on: small sensor messages would wait for acks of the previous ones.
    if (client.stream instanceof net.Socket) client.stream.setNoDelay(true);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      // mqtt.js retries a refused connection silently: give up on the first attempts after a while.
      const timer = setTimeout(() => {
        reject(new Error("no connection within 10 s"));
      }, 10_000);
      client.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      client.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } catch (error) {
    await client.endAsync(true);
    throw new Error(`sensorBrokerUrl ${url}: cannot connect (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  // Later errors (the broker restarting) are retried by the client; without a listener they would crash the process.
  client.on("error", () => undefined);
  return client;
}

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => {
        if (typeof address === "object" && address !== null) resolve(address.port);
        else reject(new Error("port: could not find a free port on 127.0.0.1"));
      });
    });
  });
}
