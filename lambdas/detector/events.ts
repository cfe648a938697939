/**
 * What invokes the detector, told apart and checked (pure: no AWS client, no clock of its own):
 *
 * - the **telemetry** rule: the event the enrichment Lambda gets too, `{ payload (base64 batch), topic, clientId,
 *   receivedAt }` (`TELEMETRY_RULE_SELECT`); the envelope is checked against `topic()` and `clientid()` as enrich does;
 * - the **state** rule: `SELECT *`, so the event is the fixed-shape `SiteWiseStateMessage` itself; with a data lake
 *   the rule adds the lake's fields (`STATE_RULE_SELECT`: factory, line and machine from the topic, the state's
 *   name, ...), which must then agree with the message (`lakeStateRow`) and are set aside before it is checked;
 * - the **health** rule: `SELECT *`, the gateway's `HealthMessage` itself;
 * - the **sweep**: EventBridge Scheduler every minute, with the input {@link SWEEP_ACTION} (or a plain scheduled event).
 *
 * A `SELECT *` event carries no topic, so state and health are told apart by their shape and their origin is checked
 * against the inventory (the gateway exists, serves the line, the machine stands on it); if a rule also selects
 * `topic() AS topic` (and `clientid() AS clientId`), the message is checked against the topic as well.
 * Anything else is refused with a reason: the handler dead-letters it.
 */
import {
  agentClientId,
  isGatewayClientId,
  MAX_AGENT_CONNECTIONS,
  check,
  checkTimestamp,
  decodeTelemetryBatch,
  formatIssues,
  HealthMessage,
  fromSiteWiseStateMessage,
  LAKE_STATE_RULE_FIELDS,
  lakeStateRow,
  parseTopic,
  readingBounds,
  ReadingValidator,
  SiteWiseStateMessage,
  stateEventBounds,
  TelemetryRuleEvent,
  thingName,
  type FactoryConfig,
  type LakeStateRuleField,
  type MachineState,
  type ParsedTopic,
  type Reading,
  type ReadingRefusalReason,
  type TelemetryBatch,
} from "@smart-factory/sdk";
import type { EnvelopeRefusalReason } from "../shared/observability";

/** The `action` of the sweep's scheduler input: `{"action": "sweep", "scheduledTime": "<aws.scheduler.scheduled-time>"}`. */
export const SWEEP_ACTION = "sweep";

/** Kinds of input. */
export type InputKind = "telemetry" | "state" | "health" | "sweep";

/** Why an input was refused. */
export type RefusalReason =
  | EnvelopeRefusalReason
  | "unrecognizedEvent"
  | "unknownMachine"
  | "machineNotOnLine"
  | "lineNotOnGateway"
  | "timestampOutOfBounds";

/** A telemetry batch whose envelope checked out, its accepted readings grouped by machine. */
export interface TelemetryInput {
  readonly kind: "telemetry";
  readonly gatewayId: string;
  readonly sequence: number;
  /** `timestamp()` of the rule: when IoT Core received the batch. */
  readonly receivedAt: number;
  readonly readingCount: number;
  readonly byMachine: ReadonlyMap<string, Reading[]>;
  /** Readings the inventory checks refused (the enrichment Lambda dead-letters them), by reason. */
  readonly refused: Readonly<Partial<Record<ReadingRefusalReason, number>>>;
}

/** A machine state event. */
export interface StateInput {
  readonly kind: "state";
  readonly gatewayId: string;
  readonly lineId: string;
  readonly machineId: string;
  readonly sequence: number;
  readonly state: MachineState;
  readonly timestamp: number;
}

/** A gateway health message. */
export interface HealthInput {
  readonly kind: "health";
  readonly gatewayId: string;
  readonly message: HealthMessage;
}

/** A scheduled sweep. */
export interface SweepInput {
  readonly kind: "sweep";
  /** The scheduler's scheduled time, when it says. */
  readonly scheduledTime: string | null;
}

export type DetectorInput = TelemetryInput | StateInput | HealthInput | SweepInput;

/** An input refused, with what is known of it. */
export interface Refusal {
  readonly kind: InputKind | "unknown";
  readonly reason: RefusalReason;
  readonly message: string;
  /** The gateway it claims or arrived from, when known (names the dead letter). */
  readonly source: string;
}

export type Classified = { readonly ok: true; readonly input: DetectorInput } | { readonly ok: false; readonly refusal: Refusal };

/** Tells the inputs of one factory apart and checks them. Build once per container. */
export class InputReader {
  private readonly factoryId: string;
  private readonly gateways: ReadonlyMap<string, ReadonlySet<string>>;
  private readonly validator: ReadingValidator;
  private readonly config: FactoryConfig;

  constructor(config: FactoryConfig) {
    this.config = config;
    this.factoryId = config.factory.id;
    this.gateways = new Map(config.gateways.map((g) => [g.id as string, new Set<string>(g.lines)]));
    this.validator = new ReadingValidator(config);
  }

  /** Classify and check `event`; `now` (epoch ms) bounds timestamps as the enrichment Lambda does. */
  read(event: unknown, now: number): Classified {
    if (typeof event !== "object" || event === null || Array.isArray(event)) {
      return refuse("unknown", "unrecognizedEvent", `expected a JSON object (a rule event or the sweep), got ${describe(event)}`);
    }
    const raw = event as Record<string, unknown>;
    if (raw.action === SWEEP_ACTION || ((raw.source === "aws.scheduler" || raw.source === "aws.events") && raw["detail-type"] === "Scheduled Event")) {
      return { ok: true, input: { kind: "sweep", scheduledTime: typeof raw.scheduledTime === "string" ? raw.scheduledTime : typeof raw.time === "string" ? raw.time : null } };
    }
    if ("payload" in raw) return this.telemetry(raw, now);
    const topicKind = typeof raw.topic === "string" ? /\/(state|health)(?:\/|$)/.exec(raw.topic)?.[1] : undefined;
    if ("stateCode" in raw || topicKind === "state") return this.state(raw, now);
    if ("backlogReadings" in raw || topicKind === "health") return this.health(raw, now);
    return refuse("unknown", "unrecognizedEvent", `not a telemetry, state or health rule event nor the sweep (keys: ${Object.keys(raw).slice(0, 12).join(", ") || "none"})`);
  }

  private telemetry(raw: Record<string, unknown>, now: number): Classified {
    const checked = check(TelemetryRuleEvent, raw);
    if (!checked.ok) return refuse("telemetry", "invalidEvent", `not a telemetry rule event: ${formatIssues(checked.issues)}`);
    const ev = checked.value;
    let parsed: ParsedTopic;
    try {
      parsed = parseTopic(ev.topic);
    } catch (error) {
      return refuse("telemetry", "badTopic", errorMessage(error));
    }
    const source = parsed.gatewayId;
    if (parsed.kind !== "telemetry") return refuse("telemetry", "badTopic", `topic ${JSON.stringify(ev.topic)} is a ${parsed.kind} topic, not a telemetry topic`, source);
    if (parsed.factoryId !== this.factoryId) return refuse("telemetry", "factoryMismatch", `topic ${JSON.stringify(ev.topic)} is of factory ${parsed.factoryId}; this function serves ${this.factoryId}`, source);
    let batch: TelemetryBatch;
    try {
      batch = decodeTelemetryBatch(ev.payload);
    } catch (error) {
      return refuse("telemetry", "undecodablePayload", `payload of ${ev.payload.length} base64 characters does not decode: ${errorMessage(error)}`, source);
    }
    if (batch.factoryId !== this.factoryId) return refuse("telemetry", "factoryMismatch", `batch factoryId ${JSON.stringify(batch.factoryId)} arrived on a topic of factory ${this.factoryId}`, source);
    if (thingName(batch.factoryId, batch.gatewayId) !== parsed.thingName) {
      return refuse("telemetry", "gatewayMismatch", `batch gatewayId ${JSON.stringify(batch.gatewayId)} arrived on topic ${JSON.stringify(ev.topic)} of thing ${parsed.thingName}`, source);
    }
    if (!this.gateways.has(batch.gatewayId)) return refuse("telemetry", "unknownGateway", `gateway ${JSON.stringify(batch.gatewayId)} is not a gateway of factory ${this.factoryId}`, source);
    if (!isGatewayClientId(batch.factoryId, batch.gatewayId, ev.clientId)) {
      const allowed = `${agentClientId(batch.factoryId, batch.gatewayId)} (or -2 ... -${MAX_AGENT_CONNECTIONS}) or ${thingName(batch.factoryId, batch.gatewayId)}`;
      return refuse("telemetry", "clientIdMismatch", `client id ${JSON.stringify(ev.clientId)} published as gateway ${batch.gatewayId}; only ${allowed} may`, source);
    }
    const byMachine = new Map<string, Reading[]>();
    const refused: Partial<Record<ReadingRefusalReason, number>> = {};
    for (const reading of batch.readings) {
      const verdict = this.validator.check(reading, batch.gatewayId, now);
      if (!verdict.ok) {
        refused[verdict.reason] = (refused[verdict.reason] ?? 0) + 1;
        continue;
      }
      const list = byMachine.get(reading.machineId);
      if (list === undefined) byMachine.set(reading.machineId, [reading]);
      else list.push(reading);
    }
    return {
      ok: true,
      input: { kind: "telemetry", gatewayId: batch.gatewayId, sequence: batch.sequence, receivedAt: ev.receivedAt, readingCount: batch.readings.length, byMachine, refused },
    };
  }

  private state(raw: Record<string, unknown>, now: number): Classified {
    const { message: withLake, topic, problem } = splitTopic(raw);
    const source = typeof raw.gatewayId === "string" ? raw.gatewayId : (topic?.gatewayId ?? "unknown");
    if (problem !== undefined) return refuse("state", "badTopic", problem, source);
    const { message, lake } = splitLakeFields(withLake);
    const checked = check(SiteWiseStateMessage, message);
    if (!checked.ok) return refuse("state", "invalidEvent", `not a machine state message: ${formatIssues(checked.issues)}`, source);
    const m = checked.value;
    const origin = this.origin("state", m.factoryId, m.gatewayId, topic, source);
    if (origin !== undefined) return origin;
    if (topic !== undefined && (topic.kind !== "state" || topic.lineId !== m.lineId || topic.machineId !== m.machineId)) {
      return refuse("state", "badTopic", `message for ${m.lineId}/${m.machineId} arrived on topic of ${topic.kind} ${topic.lineId ?? ""}/${topic.machineId ?? ""}`, source);
    }
    if (lake !== undefined) {
      // the rule's lake fields: factory, line and machine from the topic, the rest computed from the message
      const expected: Readonly<Record<LakeStateRuleField, unknown>> = lakeStateRow(m, { factory: m.factoryId, line: m.lineId, machine: m.machineId });
      const differ = (Object.keys(lake) as LakeStateRuleField[]).filter((k) => lake[k] !== expected[k]);
      const fromTopic = differ.filter((k) => k === "factory" || k === "line" || k === "machine");
      if (fromTopic.length > 0) {
        return refuse("state", "badTopic", `message for ${m.factoryId}/${m.lineId}/${m.machineId} arrived on the state topic of ${fromTopic.map((k) => `${k} ${JSON.stringify(lake[k])}`).join(", ")}`, source);
      }
      if (differ.length > 0) return refuse("state", "invalidEvent", `the rule's lake fields disagree with the message: ${differ.map((k) => `${k} ${JSON.stringify(lake[k])}, expected ${JSON.stringify(expected[k])}`).join("; ")}`, source);
    }
    if (!(this.gateways.get(m.gatewayId)?.has(m.lineId) ?? false)) {
      return refuse("state", "lineNotOnGateway", `line ${JSON.stringify(m.lineId)} is not served by gateway ${m.gatewayId}`, source);
    }
    const line = this.config.lines.find((l) => l.id === m.lineId);
    if (line === undefined || !line.machines.some((x) => x.id === m.machineId)) {
      const known = this.config.lines.some((l) => l.machines.some((x) => x.id === m.machineId));
      return refuse("state", known ? "machineNotOnLine" : "unknownMachine", `machine ${JSON.stringify(m.machineId)} ${known ? `does not stand on line ${m.lineId}` : `is not a machine of factory ${this.factoryId}`}`, source);
    }
    const event = fromSiteWiseStateMessage(m);
    const verdict = checkTimestamp(event.timestamp, now, stateEventBounds(this.config.telemetry));
    if (!verdict.ok) return refuse("state", "timestampOutOfBounds", `state event of ${m.machineId}: ${verdict.message}`, source);
    return { ok: true, input: { kind: "state", gatewayId: m.gatewayId, lineId: m.lineId, machineId: m.machineId, sequence: m.sequence, state: event.state, timestamp: event.timestamp } };
  }

  private health(raw: Record<string, unknown>, now: number): Classified {
    const { message, topic, problem } = splitTopic(raw);
    const source = typeof raw.gatewayId === "string" ? raw.gatewayId : (topic?.gatewayId ?? "unknown");
    if (problem !== undefined) return refuse("health", "badTopic", problem, source);
    const checked = check(HealthMessage, message);
    if (!checked.ok) return refuse("health", "invalidEvent", `not a gateway health message: ${formatIssues(checked.issues)}`, source);
    const m = checked.value;
    const origin = this.origin("health", m.factoryId, m.gatewayId, topic, source);
    if (origin !== undefined) return origin;
    if (topic !== undefined && topic.kind !== "health") return refuse("health", "badTopic", `health message arrived on a ${topic.kind} topic`, source);
    // sentAt moves the gateway's watermark, which fires held conditions: a gateway clock far ahead must not
    const verdict = checkTimestamp(m.sentAt, now, readingBounds(this.config.telemetry));
    if (!verdict.ok) return refuse("health", "timestampOutOfBounds", `health message of ${m.gatewayId}: ${verdict.message}`, source);
    return { ok: true, input: { kind: "health", gatewayId: m.gatewayId, message: m } };
  }

  /** The checks of a message's factory and gateway (against the topic too, when there is one). */
  private origin(kind: "state" | "health", factoryId: string, gatewayId: string, topic: ParsedTopic | undefined, source: string): Classified | undefined {
    if (factoryId !== this.factoryId) return refuse(kind, "factoryMismatch", `message of factory ${JSON.stringify(factoryId)} reached the detector of ${this.factoryId}`, source);
    if (!this.gateways.has(gatewayId)) return refuse(kind, "unknownGateway", `gateway ${JSON.stringify(gatewayId)} is not a gateway of factory ${this.factoryId}`, source);
    if (topic !== undefined && (topic.factoryId !== factoryId || topic.gatewayId !== gatewayId)) {
      return refuse(kind, "gatewayMismatch", `message of gateway ${gatewayId} arrived on a topic of thing ${topic.thingName}`, source);
    }
    return undefined;
  }
}

const LAKE_FIELDS: ReadonlySet<string> = new Set(Object.keys(LAKE_STATE_RULE_FIELDS));

/** The state message without the lake's fields the state rule may add, and those fields (when there are any). */
function splitLakeFields(raw: Record<string, unknown>): { message: Record<string, unknown>; lake?: Partial<Record<LakeStateRuleField, unknown>> } {
  const message: Record<string, unknown> = {};
  const lake: Partial<Record<LakeStateRuleField, unknown>> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (LAKE_FIELDS.has(key)) lake[key as LakeStateRuleField] = value;
    else message[key] = value;
  }
  return Object.keys(lake).length === 0 ? { message } : { message, lake };
}

/** The message without the `topic`/`clientId` a rule may add, and the topic parsed. */
function splitTopic(raw: Record<string, unknown>): { message: Record<string, unknown>; topic?: ParsedTopic; problem?: string } {
  const { topic, clientId: _clientId, ...message } = raw;
  if (topic === undefined) return { message };
  if (typeof topic !== "string") return { message, problem: `topic is ${describe(topic)}, not a string` };
  try {
    return { message, topic: parseTopic(topic) };
  } catch (error) {
    return { message, problem: errorMessage(error) };
  }
}

function refuse(kind: Refusal["kind"], reason: RefusalReason, message: string, source = "unknown"): Classified {
  return { ok: false, refusal: { kind, reason, message, source: /^[a-z0-9-]{1,24}$/.test(source) ? source : "unknown" } };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
