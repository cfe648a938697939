/**
 * The local rules engine: what IoT Core's three topic rules do with a gateway's message, with the real Lambda
 * handlers behind it (`infra/components/ingestion.ts` declares the rules; the SDK holds their SQL).
 *
 * - telemetry (`TELEMETRY_RULE_SELECT`, no WHERE): the enrichment function and the detector, each with
 *   `{ payload: base64, topic: topic(), clientId: clientid(), receivedAt: timestamp() }`;
 * - state (`STATE_RULE_SELECT ... WHERE schemaVersion = 1`): IoT SiteWise by property alias (the local twin), the
 *   lake's states stream (`PutRecord`, one JSON line) and the detector, with the message plus the lake's fields
 *   (`lakeStateRow`, line and machine from the topic);
 * - health (`SELECT * ... WHERE schemaVersion = 1`): CloudWatch metrics `<thing>.<field>` (kept in memory) and the
 *   detector with the message itself.
 *
 * `topic()` is the topic without the Basic Ingest prefix; the rules' FROM filters also match the plain topic. A
 * message no rule selects (another factory, not a pipeline topic) is counted as `unknownTopic`, one the WHERE clause
 * drops (not JSON, `schemaVersion` not 1) as `droppedByRule`. An action that fails (SiteWise refuses the values, a
 * metric is not a number) runs the rule's error action: the failure is written to the dead-letter bucket under
 * `rule-errors/<kind>/` in IoT Core's error-action format and counted. The functions are invoked asynchronously, as
 * IoT Core does: an invocation that throws is retried (Lambda's `maximumRetryAttempts`, 2 by default, here at once
 * rather than after Lambda's minutes of backoff) and then recorded as a failure (the function's dead-letter queue).
 * Nothing a message contains can make `deliver` or `sweep` reject.
 *
 * Not modelled: the rules' raw-archive action (it would keep every message in memory).
 */
import { randomUUID } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { PutRecordCommand } from "@aws-sdk/client-firehose";
import {
  check,
  formatIssues,
  HEALTH_METRICS,
  HealthMessage,
  lakeStateRow,
  parseTopic,
  scopedName,
  SiteWiseStateMessage,
  TELEMETRY_TABLE,
  TOPIC_PREFIX,
  topicRuleName,
  type FactoryConfig,
  type MessageKind,
  type ParsedTopic,
} from "@smart-factory/sdk";
import { createDetectorHandler, type DetectorHandler } from "../../lambdas/detector/handler";
import { SWEEP_ACTION } from "../../lambdas/detector/events";
import { createEnrichHandler, type EnrichHandler } from "../../lambdas/enrich/handler";
import type { LocalAws } from "./localAws";
import { LocalMetrics, type LocalLog, type LocalLogger } from "./observability";
import type { LocalTwin } from "./twin";

// ---------------------------------------------------------------------------------------------- config and names

/**
 * The config as the detector and the local OEE see it at `speed` (the box runs `speed` times faster than real time):
 * every machine's `idealRunRate` times `speed`; `alerts.silentMachineSeconds`, `alerts.faultAlertSeconds` and each
 * threshold's `forSeconds` divided by `speed`; each rate alert's `maxRatePerSecond` times `speed`. A plain copy:
 * re-decoding it would refuse the compressed values (the codec's whole-second minimums). `config` is left untouched.
 *
 * @throws RangeError for a speed that is not a finite number greater than 0.
 */
export function compressConfig(config: FactoryConfig, speed: number): FactoryConfig {
  if (!Number.isFinite(speed) || speed <= 0) throw new RangeError(`speed must be a finite number greater than 0, got ${speed}`);
  const copy = structuredClone(config);
  for (const line of copy.lines) for (const machine of line.machines) machine.idealRunRate = machine.idealRunRate * speed;
  copy.alerts.silentMachineSeconds = config.alerts.silentMachineSeconds / speed;
  copy.alerts.faultAlertSeconds = config.alerts.faultAlertSeconds / speed;
  for (const threshold of copy.alerts.thresholds) threshold.forSeconds = threshold.forSeconds / speed;
  // a value that changes 1 unit per factory second changes `speed` units per wall-clock second
  for (const rate of copy.alerts.rates ?? []) rate.maxRatePerSecond = rate.maxRatePerSecond * speed;
  return copy;
}

/** The names of the factory's resources in the local account, built as the stacks build them. */
export interface CloudNames {
  readonly accountId: string;
  readonly region: string;
  readonly timestreamDatabase: string;
  readonly timestreamTable: string;
  readonly deadLetterBucket: string;
  readonly lakeReadingsStream: string;
  readonly lakeStatesStream: string;
  readonly stateTable: string;
  readonly topicArn: string;
  readonly healthNamespace: string;
}

/** The local account: twelve zeros, never a real one. */
export const LOCAL_ACCOUNT_ID = "000000000000";

/** The resource names of `config`'s factory in the local account. */
export function cloudNames(config: FactoryConfig): CloudNames {
  const id = config.factory.id;
  const region = config.region;
  return {
    accountId: LOCAL_ACCOUNT_ID,
    region,
    timestreamDatabase: scopedName("timestreamDatabase", id, "telemetry"),
    timestreamTable: TELEMETRY_TABLE,
    deadLetterBucket: `${id}-dead-letters-${LOCAL_ACCOUNT_ID}-${region}`,
    lakeReadingsStream: scopedName("firehoseStream", id, "lake-readings"),
    lakeStatesStream: scopedName("firehoseStream", id, "lake-states"),
    stateTable: scopedName("dynamodbTable", id, "detector-state"),
    topicArn: `arn:aws:sns:${region}:${LOCAL_ACCOUNT_ID}:${scopedName("snsTopic", id, "notifications")}`,
    healthNamespace: `SmartFactory/${id}/Gateways`,
  };
}

// ---------------------------------------------------------------------------------------------- results

/** What became of a message: routed to its rule's actions, selected by no rule, or dropped by its rule's WHERE. */
export type RouteOutcome = "routed" | "unknownTopic" | "droppedByRule";

/** The result of {@link RulesRouter.deliver}. */
export interface RouteResult {
  readonly topic: string;
  readonly kind: MessageKind | null;
  readonly outcome: RouteOutcome;
  /** Why it was not routed. */
  readonly reason?: string;
  /** Actions of its rule that failed (the error action wrote them to the dead-letter bucket). */
  readonly actionErrors: number;
  /** Function invocations that failed after their retries. */
  readonly failedInvocations: number;
}

/** The local functions. */
export type FunctionName = "enrich" | "detector";

/** An invocation that failed after its retries: what Lambda hands the function's dead-letter queue. */
export interface FailedInvocation {
  readonly function: FunctionName;
  /** The event, as the function received it. */
  readonly event: unknown;
  /** The last attempt's error. */
  readonly error: string;
  readonly attempts: number;
  /** When it was given up (the local clock, epoch ms). */
  readonly at: number;
}

/** What the router has seen. */
export interface RouterCounts {
  readonly messages: number;
  readonly routed: Readonly<Record<MessageKind, number>>;
  readonly unknownTopic: number;
  readonly droppedByRule: number;
  /** Messages an action of their rule failed on. */
  readonly ruleErrors: number;
  readonly invocations: Readonly<Record<FunctionName, number>>;
  readonly failedInvocations: number;
  readonly sweeps: number;
}

/** A gateway as the cloud last heard from it. */
export interface GatewayReport {
  readonly gatewayId: string;
  /** Its last health message (valid ones only). */
  readonly health: HealthMessage | null;
  readonly healthAt: number | null;
  /** When any message of it last arrived. */
  readonly heardAt: number | null;
}

/** One CloudWatch metric the health rule published: its latest value. */
export interface MetricPoint {
  readonly namespace: string;
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  /** The metric's timestamp (the rule's `floor(sentAt / 1000)`), in epoch seconds. */
  readonly timestamp: number;
  /** How many values it received. */
  readonly count: number;
}

/** Everything the router works with. */
export interface RouterDeps {
  /** The factory's config as deployed: the enrichment function's. */
  readonly config: FactoryConfig;
  /** The config at the box's speed ({@link compressConfig}): the detector's. */
  readonly compressed: FactoryConfig;
  readonly aws: LocalAws;
  readonly names: CloudNames;
  readonly twin: LocalTwin;
  readonly log: LocalLog;
  readonly clock: () => number;
  /** Retries of a failed invocation (Lambda's `maximumRetryAttempts`); default 2. */
  readonly retries?: number;
  /** Failed invocations kept (the oldest are dropped); default 1000. */
  readonly maxFailures?: number;
}

interface Tally {
  messages: number;
  routed: Record<MessageKind, number>;
  unknownTopic: number;
  droppedByRule: number;
  ruleErrors: number;
  invocations: Record<FunctionName, number>;
  failedInvocations: number;
  sweeps: number;
}

// ---------------------------------------------------------------------------------------------- the router

/** The factory's topic rules, in process. */
export class RulesRouter {
  private readonly enrich: EnrichHandler;
  private readonly detector: DetectorHandler;
  private readonly logger: LocalLogger;
  private readonly retries: number;
  private readonly maxFailures: number;
  private readonly failed: FailedInvocation[] = [];
  private readonly gateways = new Map<string, { health: HealthMessage | null; healthAt: number | null; heardAt: number | null }>();
  private readonly metricPoints = new Map<string, MetricPoint>();
  private readonly tally: Tally = {
    messages: 0,
    routed: { telemetry: 0, state: 0, health: 0 },
    unknownTopic: 0,
    droppedByRule: 0,
    ruleErrors: 0,
    invocations: { enrich: 0, detector: 0 },
    failedInvocations: 0,
    sweeps: 0,
  };
  /** The functions' metrics, by function. */
  readonly metrics: Readonly<Record<FunctionName, LocalMetrics>> = { enrich: new LocalMetrics(), detector: new LocalMetrics() };

  constructor(private readonly deps: RouterDeps) {
    const { aws, names, log, clock } = deps;
    this.logger = log.logger("router");
    this.retries = deps.retries ?? 2;
    this.maxFailures = deps.maxFailures ?? 1000;
    if (!Number.isInteger(this.retries) || this.retries < 0) throw new RangeError(`retries must be a whole number >= 0, got ${this.retries}`);
    for (const g of deps.config.gateways) this.gateways.set(g.id, { health: null, healthAt: null, heardAt: null });
    this.enrich = createEnrichHandler({
      config: deps.config,
      timestream: aws.clients.timestream,
      s3: aws.clients.s3,
      databaseName: names.timestreamDatabase,
      tableName: names.timestreamTable,
      deadLetterBucket: names.deadLetterBucket,
      logger: log.logger("enrich"),
      metrics: this.metrics.enrich,
      now: clock,
      lake: { firehose: aws.clients.firehose, deliveryStreamName: names.lakeReadingsStream },
    });
    this.detector = createDetectorHandler({
      config: deps.compressed,
      ddb: aws.clients.dynamodb,
      sns: aws.clients.sns,
      s3: aws.clients.s3,
      tableName: names.stateTable,
      topicArn: names.topicArn,
      deadLetterBucket: names.deadLetterBucket,
      logger: log.logger("detector"),
      metrics: this.metrics.detector,
      now: clock,
    });
  }

  /**
   * Route one message published on `topic` by the MQTT client `clientId`, received at `receivedAt` (default: now),
   * and wait until every action and invocation of its rule is done. Never rejects.
   */
  async deliver(topic: string, payload: Buffer, clientId: string, receivedAt: number = this.deps.clock()): Promise<RouteResult> {
    this.tally.messages++;
    try {
      let parsed: ParsedTopic;
      try {
        parsed = parseTopic(topic);
      } catch (error) {
        return this.notRouted(topic, null, "unknownTopic", errorText(error));
      }
      const factoryId = this.deps.config.factory.id;
      if (parsed.factoryId !== factoryId) return this.notRouted(topic, parsed.kind, "unknownTopic", `no rule of factory ${factoryId} selects topics of factory ${parsed.factoryId}`);
      const heard = this.gateways.get(parsed.gatewayId);
      if (heard !== undefined) heard.heardAt = Math.max(heard.heardAt ?? receivedAt, receivedAt);
      switch (parsed.kind) {
        case "telemetry":
          return await this.telemetry(topic, parsed, payload, clientId, receivedAt);
        case "state":
          return await this.state(topic, parsed, payload, clientId, receivedAt);
        case "health":
          return await this.health(topic, parsed, payload, clientId, receivedAt);
      }
    } catch (error) {
      // a bug of the router itself: counted as a rule error, never thrown at the broker
      this.tally.ruleErrors++;
      this.logger.error("the router failed on a message", { topic, clientId, error: errorText(error) });
      return { topic, kind: null, outcome: "routed", reason: errorText(error), actionErrors: 1, failedInvocations: 0 };
    }
  }

  /** Invoke the detector as EventBridge Scheduler does every minute; `scheduledTime` defaults to now. Never rejects. */
  async sweep(scheduledTime: number = this.deps.clock()): Promise<boolean> {
    this.tally.sweeps++;
    const time = new Date(scheduledTime).toISOString().replace(/\.\d{3}Z$/, "Z");
    return this.invoke("detector", this.detector, { action: SWEEP_ACTION, scheduledTime: time });
  }

  /** What the router has seen so far. */
  counts(): RouterCounts {
    return structuredClone(this.tally);
  }

  /** Invocations that failed after their retries, oldest first. */
  failures(): FailedInvocation[] {
    return [...this.failed];
  }

  /** Each gateway of the factory as last heard from. */
  gatewayReports(): GatewayReport[] {
    return [...this.gateways].map(([gatewayId, g]) => ({ gatewayId, ...g }));
  }

  /** The latest value of each CloudWatch metric the health rule published, by `<namespace>/<name>`. */
  cloudWatchMetrics(): Map<string, MetricPoint> {
    return new Map(this.metricPoints);
  }

  // ------------------------------------------------------------------------------------------- the rules

  private async telemetry(topic: string, parsed: ParsedTopic, payload: Buffer, clientId: string, receivedAt: number): Promise<RouteResult> {
    this.tally.routed.telemetry++;
    // TELEMETRY_RULE_SELECT: encode(*, 'base64') AS payload, topic() AS topic, clientid() AS clientId, timestamp() AS receivedAt
    const event = { payload: payload.toString("base64"), topic: plainTopic(parsed), clientId, receivedAt };
    const outcomes = await Promise.all([this.invoke("enrich", this.enrich, event), this.invoke("detector", this.detector, event)]);
    return { topic, kind: "telemetry", outcome: "routed", actionErrors: 0, failedInvocations: outcomes.filter((ok) => !ok).length };
  }

  private async state(topic: string, parsed: ParsedTopic, payload: Buffer, clientId: string, receivedAt: number): Promise<RouteResult> {
    const message = jsonObject(payload);
    if (typeof message === "string") return this.notRouted(topic, "state", "droppedByRule", message);
    if (message.schemaVersion !== 1) return this.notRouted(topic, "state", "droppedByRule", `WHERE schemaVersion = 1 is false: schemaVersion is ${JSON.stringify(message.schemaVersion)}`);
    this.tally.routed.state++;
    const where = { factory: parsed.factoryId, line: parsed.lineId ?? "", machine: parsed.machineId ?? "" };
    const checked = check(SiteWiseStateMessage, message);
    // STATE_RULE_SELECT: the message plus the lake's fields; a message the codec refuses has fields the rule cannot compute
    const event: Record<string, unknown> = checked.ok ? { ...message, ...lakeStateRow(checked.value, where) } : message;
    const failures: ActionFailure[] = [];
    const sitewise = (): void => {
      if (!checked.ok) throw new Error(`the message's fields do not fill the property values: ${formatIssues(checked.issues)}`);
      this.deps.twin.putStateMessage(checked.value, where, this.deps.clock());
    };
    const lake = async (): Promise<void> => {
      await this.deps.aws.clients.firehose.send(new PutRecordCommand({ DeliveryStreamName: this.deps.names.lakeStatesStream, Record: { Data: Buffer.from(`${JSON.stringify(event)}\n`) } }));
    };
    const [, , invoked] = await Promise.all([
      this.action(failures, "iotSiteWise", `alias /sf/${where.factory}/${where.line}/${where.machine}/*`, () => Promise.resolve().then(sitewise)),
      this.action(failures, "firehose", this.deps.names.lakeStatesStream, lake),
      this.invoke("detector", this.detector, event),
    ]);
    if (failures.length > 0) await this.errorAction("state", topic, parsed, payload, clientId, receivedAt, failures);
    return { topic, kind: "state", outcome: "routed", actionErrors: failures.length, failedInvocations: invoked ? 0 : 1 };
  }

  private async health(topic: string, parsed: ParsedTopic, payload: Buffer, clientId: string, receivedAt: number): Promise<RouteResult> {
    const message = jsonObject(payload);
    if (typeof message === "string") return this.notRouted(topic, "health", "droppedByRule", message);
    if (message.schemaVersion !== 1) return this.notRouted(topic, "health", "droppedByRule", `WHERE schemaVersion = 1 is false: schemaVersion is ${JSON.stringify(message.schemaVersion)}`);
    this.tally.routed.health++;
    const checked = check(HealthMessage, message);
    const gateway = this.gateways.get(parsed.gatewayId);
    if (checked.ok && gateway !== undefined) {
      gateway.health = checked.value;
      gateway.healthAt = receivedAt;
    }
    const failures: ActionFailure[] = [];
    const namespace = this.deps.names.healthNamespace;
    const metricActions = Object.entries(HEALTH_METRICS).map(([field, unit]) =>
      this.action(failures, "cloudwatchMetric", `${namespace} ${parsed.thingName}.${field}`, () =>
        Promise.resolve().then(() => {
          this.putMetric(namespace, `${parsed.thingName}.${field}`, unit, message[field], message.sentAt);
        }),
      ),
    );
    const [invoked] = await Promise.all([this.invoke("detector", this.detector, message), ...metricActions]);
    if (failures.length > 0) await this.errorAction("health", topic, parsed, payload, clientId, receivedAt, failures);
    return { topic, kind: "health", outcome: "routed", actionErrors: failures.length, failedInvocations: invoked ? 0 : 1 };
  }

  /** The health rule's `cloudwatchMetric` action: `${field}` must be a number, the timestamp `${floor(sentAt / 1000)}`. */
  private putMetric(namespace: string, name: string, unit: string, value: unknown, sentAt: unknown): void {
    if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`metricValue of ${name} is ${shown(value)}, not a number`);
    if (typeof sentAt !== "number" || !Number.isFinite(sentAt)) throw new Error(`metricTimestamp of ${name}: sentAt is ${shown(sentAt)}, not a number`);
    const key = `${namespace}/${name}`;
    const count = (this.metricPoints.get(key)?.count ?? 0) + 1;
    this.metricPoints.set(key, { namespace, name, unit, value, timestamp: Math.floor(sentAt / 1000), count });
  }

  // ------------------------------------------------------------------------------------------- plumbing

  private notRouted(topic: string, kind: MessageKind | null, outcome: Exclude<RouteOutcome, "routed">, reason: string): RouteResult {
    if (outcome === "unknownTopic") this.tally.unknownTopic++;
    else this.tally.droppedByRule++;
    this.logger.warn(outcome === "unknownTopic" ? "a message no rule selects" : "a message its rule's WHERE clause drops", { topic, reason });
    return { topic, kind, outcome, reason, actionErrors: 0, failedInvocations: 0 };
  }

  private async action(failures: ActionFailure[], failedAction: string, failedResource: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      failures.push({ failedAction, failedResource, errorMessage: errorText(error) });
    }
  }

  /**
   * The rule's error action: the message and why its actions failed, in IoT Core's error-action format, to the
   * dead-letter bucket under `rule-errors/<kind>/<thing>/<yyyy>/<MM>/<dd>/`.
   */
  private async errorAction(kind: MessageKind, topic: string, parsed: ParsedTopic, payload: Buffer, clientId: string, receivedAt: number, failures: readonly ActionFailure[]): Promise<void> {
    this.tally.ruleErrors++;
    const ruleName = topicRuleName(this.deps.config.factory.id, kind);
    this.logger.error("an action of a topic rule failed: its error action dead-letters the message", { rule: ruleName, topic, failures });
    const day = new Date(receivedAt).toISOString().slice(0, 10).replace(/-/g, "/");
    const key = `rule-errors/${kind}/${parsed.thingName}/${day}/${receivedAt}-${randomUUID()}`;
    const body = { ruleName, topic, clientId, base64OriginalPayload: payload.toString("base64"), failures };
    try {
      await this.deps.aws.clients.s3.send(new PutObjectCommand({ Bucket: this.deps.names.deadLetterBucket, Key: key, Body: JSON.stringify(body), ContentType: "application/json" }));
    } catch (error) {
      this.logger.error("the rule's error action failed too", { rule: ruleName, topic, error: errorText(error) });
    }
  }

  /** Invoke a function asynchronously as IoT Core and EventBridge Scheduler do: retried, then recorded as failed. */
  private async invoke(name: FunctionName, handler: (event: unknown) => Promise<unknown>, event: unknown): Promise<boolean> {
    this.tally.invocations[name]++;
    let lastError: unknown;
    const attempts = 1 + this.retries;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        // Lambda hands each attempt the event as JSON, never the caller's object
        await handler(JSON.parse(JSON.stringify(event)) as unknown);
        return true;
      } catch (error) {
        lastError = error;
        if (attempt < attempts) this.logger.warn("invocation failed; Lambda retries it", { function: name, attempt, error: errorText(error) });
      }
    }
    this.tally.failedInvocations++;
    const failure: FailedInvocation = { function: name, event, error: errorText(lastError), attempts, at: this.deps.clock() };
    this.failed.push(failure);
    if (this.failed.length > this.maxFailures) this.failed.splice(0, this.failed.length - this.maxFailures);
    this.logger.error("invocation failed after its retries: sent to the function's dead-letter queue", { function: name, attempts, error: failure.error });
    return false;
  }
}

/** One failed action, as IoT Core's error action reports it. */
interface ActionFailure {
  readonly failedAction: string;
  readonly failedResource: string;
  readonly errorMessage: string;
}

/** `topic()`: the topic without the Basic Ingest prefix. */
function plainTopic(parsed: ParsedTopic): string {
  const levels = [TOPIC_PREFIX, parsed.factoryId, parsed.thingName, parsed.kind];
  if (parsed.kind === "state") levels.push(parsed.lineId ?? "", parsed.machineId ?? "");
  return levels.join("/");
}

/** The payload as the JSON object the rule's SQL reads, or why the SQL cannot read it. */
function jsonObject(payload: Buffer): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString("utf8"));
  } catch {
    return `the payload (${payload.length} bytes) is not JSON: the rule's SQL cannot read it`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the payload is JSON but not an object: the rule's SQL cannot read it";
  return value as Record<string, unknown>;
}

/** A field's value for a message: `missing` when there is none. */
function shown(value: unknown): string {
  return value === undefined ? "missing" : JSON.stringify(value);
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
