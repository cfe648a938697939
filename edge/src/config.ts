/**
 * The edge agent's configuration. One Greengrass deployment serves every gateway of a factory, so the component
 * configuration holds the whole factory (the stack config, checked with the SDK's `FactoryConfig` codec) and the
 * agent's own settings; each agent picks its gateway, lines and machines by its thing name. For local runs the
 * same document comes from a file.
 *
 * Secrets never travel in this document: the OPC UA client identity and the PLC credentials are named by their
 * AWS Secrets Manager ARNs in the factory's `edge.secrets` and fetched through Greengrass's secret manager
 * (`./secrets`). A key such as `privateKey` or `password` is refused like any unknown key.
 */
import * as fs from "node:fs";
import * as t from "io-ts";
import {
  agentClientId,
  check,
  closed,
  FactoryConfig,
  formatIssues,
  integerIn,
  machinesOfGateway,
  matching,
  oneOf,
  SmartFactoryError,
  thingName,
  type ContractIssue,
  type Gateway,
  type MachinePlacement,
} from "@smart-factory/sdk";
import { GreengrassIpc, underGreengrass } from "./ipc";

/**
 * The environment variable that may carry the configuration (JSON) outside Greengrass. Under Greengrass the agent
 * reads its component configuration over IPC instead: a whole factory's configuration (about 800 bytes per
 * machine) would pass Linux's 128 KiB limit on one environment string at about 160 machines.
 */
export const CONFIG_ENV = "SF_AGENT_CONFIG";
/** Greengrass sets this to the core device's thing name for every component it runs. */
export const THING_NAME_ENV = "AWS_IOT_THING_NAME";

const AbsolutePath = matching("an absolute path such as /greengrass/v2/thingCert.crt", /^\/[^\0]*$/);
const Hostname = matching("a host name such as a1b2c3-ats.iot.eu-central-1.amazonaws.com", /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/);

/** Where the buffer lives and how big it may grow; what happens when it is full is explicit. */
export const BufferSettings = closed("buffer settings", {
  path: AbsolutePath,
  maxBytes: integerIn(1024 * 1024, 1024 ** 4),
  maxAgeHours: integerIn(1, 24 * 90),
  onOverflow: oneOf("an overflow policy", ["dropOldest", "rejectNew"] as const),
});
export type BufferSettings = t.TypeOf<typeof BufferSettings>;

/** How much of IoT Core's per-connection limits the agent may use (defaults: half of 100 publishes/s and 512 KB/s). */
export const PublishBudget = closed("publish budget", {
  publishesPerSecond: integerIn(1, 100),
  bytesPerSecond: integerIn(1024, 512 * 1024),
});
export type PublishBudget = t.TypeOf<typeof PublishBudget>;

/** The agent's own settings: where IoT Core is, the device identity's files, the buffer, the budget. */
export const AgentSettings = closed(
  "agent settings",
  {
    /** The IoT data endpoint (`bootstrap.iotDataEndpoint` of the stack). */
    iotEndpoint: Hostname,
    /** The gateway's certificate, private key and Amazon root CA, as the Greengrass installer placed them. */
    certificatePath: AbsolutePath,
    privateKeyPath: AbsolutePath,
    rootCaPath: AbsolutePath,
    buffer: BufferSettings,
  },
  {
    port: integerIn(1, 65_535),
    /** Connections (distinct client ids `<thing>-agent`, `-agent-2`...) when one cannot carry the load. */
    connections: integerIn(1, 8),
    publishBudget: PublishBudget,
    healthIntervalSeconds: integerIn(10, 3600),
    /** Extra server certificates (PEM files) the OPC UA client trusts, e.g. a PLC's self-signed certificate. */
    trustedServerCertificates: t.array(AbsolutePath, "a list of absolute paths"),
  },
);
export type AgentSettings = t.TypeOf<typeof AgentSettings>;

/** The component configuration: the factory's stack config and the agent's settings. */
export const AgentConfig = closed("agent configuration", { factory: FactoryConfig, agent: AgentSettings });
export type AgentConfig = t.TypeOf<typeof AgentConfig>;

/** A configuration the agent cannot start with; the message names every offending key with its value. */
export class AgentConfigError extends SmartFactoryError {
  constructor(
    message: string,
    /** The codec's issues, when the document was read but is invalid. */
    readonly issues: readonly ContractIssue[] = [],
  ) {
    super(message);
  }
}

/** What this gateway's agent does: its identity, its machines, its settings. */
export interface GatewayPlan {
  readonly config: AgentConfig;
  readonly gateway: Gateway;
  readonly thingName: string;
  /** The MQTT client id of the first connection (never the nucleus's, which is the thing name). */
  readonly clientId: string;
  /** The machines of the lines this gateway serves, with their line and type. */
  readonly machines: readonly MachinePlacement[];
}

/**
 * Decode a configuration document and pick the gateway whose thing name is `thing`.
 *
 * @throws AgentConfigError naming each bad key (`agent.buffer.maxBytes: expected ..., got ...`), or the thing
 *   name that matches no gateway of the factory (with the ones that would).
 */
export function planGateway(document: unknown, thing: string): GatewayPlan {
  const result = check(AgentConfig, document);
  if (!result.ok) throw new AgentConfigError(`the agent configuration is invalid: ${formatIssues(result.issues)}`, result.issues);
  const config = result.value;
  const factoryId = config.factory.factory.id;
  const gateway = config.factory.gateways.find((g) => thingName(factoryId, g.id) === thing);
  if (gateway === undefined) {
    const things = config.factory.gateways.map((g) => thingName(factoryId, g.id)).join(", ");
    throw new AgentConfigError(`${THING_NAME_ENV} ${JSON.stringify(thing)} is no gateway of ${factoryId} (its gateways are ${things})`);
  }
  return { config, gateway, thingName: thing, clientId: agentClientId(factoryId, gateway.id), machines: machinesOfGateway(config.factory, gateway.id) };
}

/** Where the configuration comes from: `--config <file>` for local runs, else the Greengrass environment. */
export interface ConfigSources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile?: (path: string) => string;
}

/**
 * The gateway plan from the process's arguments and environment.
 *
 * @throws AgentConfigError when no configuration is given, it is not JSON, it is invalid, or the thing name is
 *   missing or unknown.
 */
export function loadGatewayPlan(sources: ConfigSources): GatewayPlan {
  const readFile = sources.readFile ?? ((p: string) => fs.readFileSync(p, "utf8"));
  const flag = (name: string): string | undefined => {
    const i = sources.argv.indexOf(name);
    return i >= 0 ? sources.argv[i + 1] : undefined;
  };
  const file = flag("--config");
  let text: string | undefined;
  let origin: string;
  if (file !== undefined) {
    origin = `--config ${file}`;
    try {
      text = readFile(file);
    } catch (error) {
      throw new AgentConfigError(`cannot read ${origin}: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else {
    origin = CONFIG_ENV;
    text = sources.env[CONFIG_ENV];
    if (text === undefined || text.trim() === "") throw new AgentConfigError(`no configuration: pass --config <file> (or set ${CONFIG_ENV}), or run as the Greengrass component, which reads its configuration over IPC`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text) as unknown;
  } catch (error) {
    throw new AgentConfigError(`${origin} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const thing = flag("--thing") ?? sources.env[THING_NAME_ENV];
  if (thing === undefined || thing === "") throw new AgentConfigError(`no thing name: ${THING_NAME_ENV} is not set (Greengrass sets it; for a local run pass --thing <factory>-<gateway>)`);
  return planGateway(document, thing);
}

/**
 * The gateway plan wherever the configuration is: `--config <file>` or `SF_AGENT_CONFIG` when given, else, under
 * Greengrass, the component configuration read over the nucleus's IPC (its `factory` and `agent` keys; the rest,
 * such as `accessControl`, is Greengrass's).
 *
 * @throws AgentConfigError for a missing or invalid configuration (the process exits 2: a restart will not help).
 * @throws IpcError when the nucleus cannot be asked (the process exits 1 and Greengrass restarts it).
 */
export async function loadAgentPlan(sources: ConfigSources, ipc: () => GreengrassIpc = () => new GreengrassIpc(sources.env)): Promise<GatewayPlan> {
  const given = sources.argv.includes("--config") || (sources.env[CONFIG_ENV] ?? "").trim() !== "";
  if (given || !underGreengrass(sources.env)) return loadGatewayPlan(sources);
  const connection = ipc();
  let value: unknown;
  try {
    value = await connection.getConfiguration([]);
  } finally {
    await connection.close();
  }
  if (typeof value !== "object" || value === null) throw new AgentConfigError(`the component configuration from Greengrass is not an object: ${typeof value}`);
  const { factory, agent } = value as { factory?: unknown; agent?: unknown };
  const thing = sources.env[THING_NAME_ENV];
  if (thing === undefined || thing === "") throw new AgentConfigError(`no thing name: ${THING_NAME_ENV} is not set (Greengrass sets it for every component)`);
  return planGateway({ factory, agent }, thing);
}
