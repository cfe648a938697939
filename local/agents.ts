/**
 * The real edge agents of the local factory, one per gateway, configured as Greengrass would configure them (the
 * same component configuration document, checked by the same codecs, `planGateway` picking each gateway by its
 * thing name) but pointed at the box: every machine's OPC UA endpoint is the simulator, the gateways' local broker
 * is the box's sensor broker, IoT Core is the box's uplink to its cloud broker, and the device identities are the
 * box's certificates. Secrets Manager is not part of the box: the factory's `edge.secrets` are left out, so the
 * agents read the simulator without an OPC UA client identity or PLC credentials.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { thingName, type FactoryConfig, type GatewayId } from "@smart-factory/sdk";
import { Agent, opcuaAdapter, type Log } from "../edge/src/agent";
import { planGateway, type AgentConfig } from "../edge/src/config";
import type { LocalPki } from "./certificates";
import { withSimulatorEndpoints } from "./simulator";

/** Where the agents of the box connect. */
export interface AgentWiring {
  /** The simulator's `opc.tcp://127.0.0.1:<port>`. */
  readonly opcuaEndpoint: string;
  /** The sensor broker's TLS URL, `mqtts://127.0.0.1:<port>`. */
  readonly sensorBrokerUrl: string;
  /** The uplink's port on 127.0.0.1 (it relays to the cloud broker). */
  readonly uplinkPort: number;
  readonly pki: LocalPki;
  /** A directory of the box's run: each agent keeps its buffer in `<dir>/<thing>/`. */
  readonly dataDir: string;
}

/** The factory config the agents see: OPC UA pointed at the simulator, sensors at the sensor broker, no secrets. */
export function localFactoryForAgents(config: FactoryConfig, wiring: Pick<AgentWiring, "opcuaEndpoint" | "sensorBrokerUrl">): FactoryConfig {
  const { edge: _secrets, ...withoutSecrets } = withSimulatorEndpoints(config, { endpointUrl: wiring.opcuaEndpoint, sensorBrokerUrl: wiring.sensorBrokerUrl });
  return withoutSecrets;
}

/** The component configuration document of the box's gateway `gatewayId`, as Greengrass would hand it over. */
export function localAgentDocument(config: FactoryConfig, gatewayId: string, wiring: AgentWiring): AgentConfig {
  const thing = thingName(config.factory.id, gatewayId as GatewayId);
  const identity = wiring.pki.devices.get(thing);
  if (identity === undefined) throw new Error(`the local PKI has no device certificate for ${thing}`);
  return {
    factory: localFactoryForAgents(config, wiring),
    agent: {
      iotEndpoint: "127.0.0.1",
      port: wiring.uplinkPort,
      certificatePath: path.resolve(identity.certificatePath),
      privateKeyPath: path.resolve(identity.privateKeyPath),
      rootCaPath: path.resolve(identity.caPath),
      buffer: { path: path.resolve(wiring.dataDir, thing, "buffer.db"), maxBytes: 512 * 1024 * 1024, maxAgeHours: 24, onOverflow: "dropOldest" },
      healthIntervalSeconds: 10,
    },
  };
}

/** Options of {@link startAgents}. */
export interface StartAgentsOptions extends AgentWiring {
  readonly config: FactoryConfig;
  /** How often each agent reports its health (the box reports more often than a gateway's 60 s). */
  readonly healthIntervalMs: number;
  /** Where the agents' log lines go (the box keeps them out of its live view). */
  readonly log: Log;
  /** How long the OPC UA adapters gather part counts into one state message (the box's speed shortens it). */
  readonly countIntervalMs?: number;
  /** Back-off of the agents' reconnections (the box shortens it so an outage's end is seen quickly). */
  readonly reconnect?: { readonly initialDelayMs: number; readonly maxDelayMs: number };
}

/** Start one agent per gateway of the factory; each plan is decoded and checked exactly as on a gateway. */
export async function startAgents(options: StartAgentsOptions): Promise<Agent[]> {
  const agents: Agent[] = [];
  const factoryId = options.config.factory.id;
  for (const gateway of options.config.gateways) {
    const document = localAgentDocument(options.config, gateway.id, options);
    fs.mkdirSync(path.dirname(document.agent.buffer.path), { recursive: true, mode: 0o700 });
    // JSON round trip: the agent gets plain JSON, as from Greengrass, and the codecs check it again
    const plan = planGateway(JSON.parse(JSON.stringify(document)) as unknown, thingName(factoryId, gateway.id));
    const agent = new Agent({
      plan,
      adapters: (intake) => [opcuaAdapter(plan, intake, { log: options.log, ...(options.countIntervalMs === undefined ? {} : { adapter: { countIntervalMs: options.countIntervalMs } }) })],
      healthIntervalMs: options.healthIntervalMs,
      log: options.log,
      ...(options.reconnect === undefined ? {} : { publisher: { backoff: { baseMs: options.reconnect.initialDelayMs, capMs: options.reconnect.maxDelayMs } } }),
    });
    agents.push(agent);
  }
  for (const agent of agents) await agent.start();
  return agents;
}
