/**
 * Every name that crosses a package boundary is built here and nowhere else: MQTT topics, topic rule names,
 * IoT thing and client ids, factory-prefixed names of account-scoped resources, SiteWise property aliases.
 *
 * The stacks of the three factories may share one AWS account and region, so every account-scoped name starts
 * with the factory id. Ids are already restricted (lower-case letters, digits, single hyphens) so that they are
 * valid in all of these names; each builder still checks the rules of the name it builds.
 */
import type { FactoryId, GatewayId, LineId, MachineId } from "./codecs/primitives";
import { NameError } from "./errors";

/** First two levels of every topic of the pipeline; the version changes only with an incompatible layout. */
export const TOPIC_PREFIX = "sf/v1";

/** Kinds of message a gateway publishes, each with its own topic and topic rule. */
export type MessageKind = "telemetry" | "state" | "health";

/** Kinds of topic rule per factory: one per message kind, and `raw`, which archives messages as received. */
export type RuleKind = MessageKind | "raw";

/** Rules for names of AWS resources: pattern and length. */
export const NAME_RULES = {
  thing: { pattern: /^[a-zA-Z0-9:_-]+$/, maxLength: 128 },
  mqttClientId: { pattern: /^[a-zA-Z0-9:_-]+$/, maxLength: 128 },
  topicRule: { pattern: /^[a-zA-Z0-9_]+$/, maxLength: 128 },
  iotPolicy: { pattern: /^[\w+=,.@-]+$/, maxLength: 128 },
  roleAlias: { pattern: /^[\w=,@-]+$/, maxLength: 128 },
  thingGroup: { pattern: /^[a-zA-Z0-9:_-]+$/, maxLength: 128 },
  iamRole: { pattern: /^[\w+=,.@-]+$/, maxLength: 64 },
  lambdaFunction: { pattern: /^[a-zA-Z0-9_-]+$/, maxLength: 64 },
  logGroup: { pattern: /^[\w/.#-]+$/, maxLength: 512 },
  timestreamDatabase: { pattern: /^[a-zA-Z0-9_.-]{3,}$/, maxLength: 256 },
  timestreamTable: { pattern: /^[a-zA-Z0-9_.-]{3,}$/, maxLength: 256 },
  s3Bucket: { pattern: /^[a-z0-9][a-z0-9-]*[a-z0-9]$/, maxLength: 63 },
  // eslint-disable-next-line no-control-regex -- SiteWise names may hold any character but control characters
  sitewiseModel: { pattern: /^[^\u0000-\u001f]+$/, maxLength: 256 },
  greengrassComponent: { pattern: /^[a-zA-Z0-9._-]+$/, maxLength: 128 },
  sqsQueue: { pattern: /^[a-zA-Z0-9_-]+$/, maxLength: 80 },
  snsTopic: { pattern: /^[a-zA-Z0-9_-]+$/, maxLength: 256 },
  eventRule: { pattern: /^[.\-_A-Za-z0-9]+$/, maxLength: 64 },
  dynamodbTable: { pattern: /^[a-zA-Z0-9_.-]{3,}$/, maxLength: 255 },
  schedule: { pattern: /^[0-9a-zA-Z_.-]+$/, maxLength: 64 },
  kmsAlias: { pattern: /^alias\/[a-zA-Z0-9/_-]+$/, maxLength: 256 },
  timestreamScheduledQuery: { pattern: /^[a-zA-Z0-9|!\-_*'()][a-zA-Z0-9!\-_*'()/.]+$/, maxLength: 64 },
  sagemakerPipeline: { pattern: /^[a-zA-Z0-9](?:-*[a-zA-Z0-9])*$/, maxLength: 256 },
  // model package groups, models, endpoint configurations and endpoints share SageMaker's 63-character rule
  sagemakerResource: { pattern: /^[a-zA-Z0-9](?:-*[a-zA-Z0-9])*$/, maxLength: 63 },
  quicksightId: { pattern: /^[\w-]+$/, maxLength: 512 },
  firehoseStream: { pattern: /^[a-zA-Z0-9_.-]+$/, maxLength: 64 },
  // Glue allows more, but Athena reads only lower-case letters, digits and underscores without quoting
  glueDatabase: { pattern: /^[a-z0-9_]+$/, maxLength: 255 },
  glueTable: { pattern: /^[a-z0-9_]+$/, maxLength: 255 },
  athenaWorkgroup: { pattern: /^[a-zA-Z0-9._-]+$/, maxLength: 128 },
} as const satisfies Record<string, { pattern: RegExp; maxLength: number }>;

/** A kind of AWS resource name with rules in {@link NAME_RULES}. */
export type NameKind = keyof typeof NAME_RULES;

/** Check `name` against the rules of `kind`; returns it, or throws a {@link NameError} naming both. */
export function checkName(kind: NameKind, name: string): string {
  const rule = NAME_RULES[kind];
  if (name.length > rule.maxLength) {
    throw new NameError(`${kind} name ${JSON.stringify(name)} is ${name.length} characters long: at most ${rule.maxLength} are allowed`);
  }
  if (!rule.pattern.test(name)) {
    throw new NameError(`${kind} name ${JSON.stringify(name)} does not match ${String(rule.pattern)}`);
  }
  return name;
}

/**
 * The name of an account-scoped resource of a factory: `<factoryId>-<part>-<part>...`, checked against the
 * rules of `kind`.
 *
 * @example scopedName("iamRole", "factory-a", "token-exchange") // "factory-a-token-exchange"
 */
export function scopedName(kind: NameKind, factoryId: FactoryId, ...parts: string[]): string {
  if (parts.length === 0) throw new NameError(`a ${kind} name needs a part after the factory id ${factoryId}`);
  return checkName(kind, [factoryId, ...parts].join("-"));
}

/** The IoT thing (and Greengrass core device) name of a gateway: `<factoryId>-<gatewayId>`. */
export function thingName(factoryId: FactoryId, gatewayId: GatewayId): string {
  return scopedName("thing", factoryId, gatewayId);
}

/**
 * The MQTT client id of the edge agent of a gateway (of its `connection`-th connection when one cannot carry the
 * gateway's load). It must differ from the thing name, which the Greengrass nucleus uses: IoT Core disconnects a
 * client when another connects with the same id.
 */
export function agentClientId(factoryId: FactoryId, gatewayId: GatewayId, connection = 1): string {
  if (!(Number.isInteger(connection) && connection >= 1 && connection <= MAX_AGENT_CONNECTIONS)) {
    throw new RangeError(`connection: expected a whole number from 1 to ${MAX_AGENT_CONNECTIONS}, got ${String(connection)}`);
  }
  return checkName("mqttClientId", `${thingName(factoryId, gatewayId)}-agent${connection === 1 ? "" : `-${connection}`}`);
}

/** The most MQTT connections one gateway's agent opens (`<thing>-agent`, `<thing>-agent-2` ... `-agent-8`). */
export const MAX_AGENT_CONNECTIONS = 8;

/** Whether `clientId` is one of the gateway's agent connections or its Greengrass nucleus (the thing name). */
export function isGatewayClientId(factoryId: FactoryId, gatewayId: GatewayId, clientId: string): boolean {
  const thing = thingName(factoryId, gatewayId);
  if (clientId === thing || clientId === `${thing}-agent`) return true;
  const n = clientId.startsWith(`${thing}-agent-`) ? Number(clientId.slice(thing.length + "-agent-".length)) : Number.NaN;
  return Number.isInteger(n) && n >= 2 && n <= MAX_AGENT_CONNECTIONS && clientId === `${thing}-agent-${n}`;
}

/**
 * The name of a factory's topic rule of one kind: `sf_<factory id with _ for ->_<kind>`. Topic rule names allow
 * only letters, digits and underscores; since ids have no underscores, the mapping is one-to-one.
 */
export function topicRuleName(factoryId: FactoryId, kind: RuleKind): string {
  return checkName("topicRule", `sf_${factoryId.replace(/-/g, "_")}_${kind}`);
}

/** Whether a topic is published straight to its topic rule (Basic Ingest: no broker, no messaging charge). */
export type TopicForm = "basicIngest" | "plain";

/**
 * Levels of a plain topic (1-based, as the rules engine's `topic(n)` counts them):
 * `sf/v1/<factory>/<thing>/<kind>[/<line>/<machine>]`.
 */
export const TOPIC_LEVELS = { factory: 3, thing: 4, kind: 5, line: 6, machine: 7 } as const;

function topic(form: TopicForm, factoryId: FactoryId, kind: MessageKind, thingSegment: string, rest: readonly string[]): string {
  const plain = [TOPIC_PREFIX, factoryId, thingSegment, kind, ...rest].join("/");
  return form === "plain" ? plain : `$aws/rules/${topicRuleName(factoryId, kind)}/${plain}`;
}

/** Topic of a gateway's telemetry batches. */
export function telemetryTopic(factoryId: FactoryId, gatewayId: GatewayId, form: TopicForm = "basicIngest"): string {
  return topic(form, factoryId, "telemetry", thingName(factoryId, gatewayId), []);
}

/** Topic of the fixed-shape state messages of one machine (the SiteWise aliases are taken from it). */
export function stateTopic(
  factoryId: FactoryId,
  gatewayId: GatewayId,
  lineId: LineId,
  machineId: MachineId,
  form: TopicForm = "basicIngest",
): string {
  return topic(form, factoryId, "state", thingName(factoryId, gatewayId), [lineId, machineId]);
}

/** Topic of a gateway's health messages. */
export function healthTopic(factoryId: FactoryId, gatewayId: GatewayId, form: TopicForm = "basicIngest"): string {
  return topic(form, factoryId, "health", thingName(factoryId, gatewayId), []);
}

/** The IoT policy variable that resolves to the connected thing's name. */
export const THING_NAME_POLICY_VARIABLE = "${iot:Connection.Thing.ThingName}";

/**
 * The topic of a message kind with the connected thing's name as a policy variable, for IoT policies: a
 * gateway may publish only below its own thing name. State topics end in `/*` (any line and machine).
 */
export function policyTopic(factoryId: FactoryId, kind: MessageKind, form: TopicForm = "basicIngest"): string {
  return topic(form, factoryId, kind, THING_NAME_POLICY_VARIABLE, kind === "state" ? ["*"] : []);
}

/**
 * The state topics of every machine of one line with the connected thing's name as a policy variable: a gateway
 * may publish state only for the lines it serves, since the state rule takes line and machine from the topic.
 */
export function statePolicyTopic(factoryId: FactoryId, lineId: LineId, form: TopicForm = "basicIngest"): string {
  return topic(form, factoryId, "state", THING_NAME_POLICY_VARIABLE, [lineId, "*"]);
}

/** What a topic of the pipeline says about the message's origin. */
export interface ParsedTopic {
  readonly kind: MessageKind;
  readonly factoryId: string;
  readonly thingName: string;
  readonly gatewayId: string;
  readonly lineId?: string;
  readonly machineId?: string;
  /** The rule named by a Basic Ingest prefix, if the topic had one. */
  readonly rule?: string;
}

/**
 * Parse a topic built by this module, with or without the Basic Ingest prefix; throws a {@link NameError} that
 * names the topic for any other. The cloud takes a message's origin from here, never from its payload.
 */
export function parseTopic(topicName: string): ParsedTopic {
  let rest = topicName;
  let rule: string | undefined;
  const ingest = /^\$aws\/rules\/([A-Za-z0-9_]+)\/(.*)$/.exec(topicName);
  if (ingest !== null) {
    rule = ingest[1];
    rest = ingest[2] ?? "";
  }
  const levels = rest.split("/");
  const fail = (why: string): never => {
    throw new NameError(`topic ${JSON.stringify(topicName)} is not a pipeline topic: ${why}`);
  };
  if (`${levels[0]}/${levels[1]}` !== TOPIC_PREFIX) fail(`it does not start with ${TOPIC_PREFIX}/`);
  const [factoryId, thing, kind, lineId, machineId] = levels.slice(2) as (string | undefined)[];
  if (factoryId === undefined || thing === undefined || kind === undefined) return fail("it has too few levels");
  if (kind !== "telemetry" && kind !== "state" && kind !== "health") return fail(`unknown message kind ${JSON.stringify(kind)}`);
  const expectedLevels = kind === "state" ? 7 : 5;
  if (levels.length !== expectedLevels) fail(`a ${kind} topic has ${expectedLevels} levels, this one ${levels.length}`);
  if (!thing.startsWith(`${factoryId}-`)) fail(`thing ${JSON.stringify(thing)} does not belong to factory ${JSON.stringify(factoryId)}`);
  if (rule !== undefined && rule !== `sf_${factoryId.replace(/-/g, "_")}_${kind}`) {
    fail(`Basic Ingest rule ${rule} is not the ${kind} rule of factory ${factoryId}`);
  }
  return {
    kind,
    factoryId,
    thingName: thing,
    gatewayId: thing.slice(factoryId.length + 1),
    ...(kind === "state" ? { lineId, machineId } : {}),
    ...(rule !== undefined ? { rule } : {}),
  };
}

/** Names of the properties every machine asset model has besides its tags. */
export const MACHINE_PROPERTIES = { state: "state", goodParts: "goodParts", badParts: "badParts", idealRunRate: "idealRunRate" } as const;

function alias(factoryId: string, line: string, machine: string, property: string): string {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(property)) {
    throw new NameError(`property name ${JSON.stringify(property)} is not a tag or machine property name`);
  }
  return `/sf/${factoryId}/${line}/${machine}/${property}`;
}

/**
 * The SiteWise alias of a machine's property (a tag name or one of {@link MACHINE_PROPERTIES}):
 * `/sf/<factory>/<line>/<machine>/<property>`. Aliases are account-wide, so they start with the factory.
 */
export function machinePropertyAlias(factoryId: FactoryId, lineId: LineId, machineId: MachineId, property: string): string {
  return alias(factoryId, lineId, machineId, property);
}

/**
 * The same alias as {@link machinePropertyAlias}, as a substitution template for a topic rule on the state
 * topic: line and machine come from the topic the message arrived on, never from its payload.
 */
export function statePropertyAliasTemplate(factoryId: FactoryId, property: string): string {
  return alias(factoryId, `\${topic(${TOPIC_LEVELS.line})}`, `\${topic(${TOPIC_LEVELS.machine})}`, property);
}
