/**
 * The detector Lambda's handler, with its AWS clients, logger and metrics injected. The pure parts decide: `events.ts`
 * tells the input apart and checks it, `detector.ts` moves the conditions on event time and writes the notices. This
 * reads and writes the state with conditional writes (`store.ts`), sends the notices through SNS, scores each
 * machine's completed hours on the predictive-maintenance endpoint (once per hour: the evaluation whose write claims
 * an hour calls the endpoint, then applies the score with another conditional write), and dead-letters what it
 * cannot use.
 *
 * Failure policy: input that can never be used (malformed, of another factory, from an unknown gateway or machine)
 * is dead-lettered to S3 under `detector/` with its reason and the invocation succeeds. A DynamoDB failure after the
 * SDK's retries makes the invocation throw, so Lambda retries the event (applying it again is harmless: readings and
 * state events not newer than the stored ones are skipped) and then hands it to the function's DLQ. A notification
 * SNS refuses stays in the item's outbox and is sent by a later sweep.
 */
import { createHash } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { FactoryConfig } from "@smart-factory/sdk";
import type { Context } from "aws-lambda";
import {
  Detector,
  emptyGatewayDoc,
  emptyMachineDoc,
  gatewayKey,
  machineKey,
  type DetectorOptions,
  type GatewayDoc,
  type MachineDoc,
  type Notice,
  type Outcome,
  type RecordedEpisode,
  type ScoreRequest,
} from "./detector";
import { InputReader, type Classified, type DetectorInput, type InputKind, type Refusal } from "./events";
import { StateStore, VersionConflict, type OutboxEntry, type StateDoc, type StoredItem } from "./store";
import { type FunctionLogger, type FunctionMetrics, type MetricUnitName } from "../shared/observability";

/** What the handler logs through. */
export type DetectorLogger = FunctionLogger;
/** What the handler counts through. */
export type DetectorMetrics = FunctionMetrics;
export type { MetricUnitName };

/** Names of the metrics the handler emits (counts per invocation). */
export const METRICS = {
  inputs: "DetectorInputs",
  deadLetters: "DeadLettersWritten",
  notificationsSent: "NotificationsSent",
  /** Raise notifications sent (alerts paged), without the clears. */
  alertsRaised: "AlertsRaised",
  notificationsFailed: "NotificationsFailed",
  recordedNotPaged: "EpisodesRecordedNotPaged",
  versionConflicts: "StateVersionConflicts",
  lateInputs: "LateReadingsSkipped",
  refusedReadings: "ReadingsRefused",
  scoreCalls: "ScoreInvocations",
  scoreFailures: "ScoreFailures",
} as const;

/** Prefix of the detector's dead letters in the dead-letter bucket. */
export const DEAD_LETTER_PREFIX = "detector/";
/** A notification still in an outbox this long after it was claimed is sent again by the sweep. */
export const OUTBOX_RETRY_MS = 120_000;
/** Conditional writes tried per item before the invocation gives up (and Lambda retries it). */
export const MAX_WRITE_ATTEMPTS = 8;

/** Everything the handler needs. `sagemaker` and `scoreEndpoint` together switch the failure-window score on. */
export interface DetectorDeps {
  readonly config: FactoryConfig;
  readonly ddb: DynamoDBClient;
  readonly sns: SNSClient;
  readonly s3: S3Client;
  readonly tableName: string;
  readonly topicArn: string;
  readonly deadLetterBucket: string;
  readonly sagemaker?: SageMakerRuntimeClient;
  readonly scoreEndpoint?: string;
  readonly logger: DetectorLogger;
  readonly metrics: DetectorMetrics;
  readonly options?: DetectorOptions;
  /** Wall clock (epoch ms); defaults to `Date.now`. */
  readonly now?: () => number;
  /** Parallel machines per invocation; default 4. */
  readonly concurrency?: number;
}

/** What one invocation did. */
export interface DetectorResult {
  readonly status: "processed" | "deadLettered";
  readonly kind: InputKind | "unknown";
  readonly notificationsSent: number;
  /** Notifications decided but not sent (SNS failed): they wait in the outbox for the next sweep. */
  readonly notificationsPending: number;
  /** Episodes that started and ended in delayed data: recorded in the state, not paged. */
  readonly recorded: number;
  readonly versionConflicts: number;
  readonly lateReadings: number;
  readonly deadLetterKey?: string;
  readonly reason?: string;
}

/** The Lambda handler: takes a rule event or the sweep. */
export type DetectorHandler = (event: unknown, context?: Context) => Promise<DetectorResult>;

const COUNT: MetricUnitName = "Count";

interface Tally {
  sent: number;
  raised: number;
  pending: number;
  recorded: RecordedEpisode[];
  conflicts: number;
  late: number;
}

/** Build the handler of one factory's detector function. */
export function createDetectorHandler(deps: DetectorDeps): DetectorHandler {
  const { config, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const concurrency = deps.concurrency ?? 4;
  const scoring = deps.sagemaker !== undefined && deps.scoreEndpoint !== undefined && deps.scoreEndpoint !== "";
  const detector = new Detector(config, { ...deps.options, scoring });
  const reader = new InputReader(config);
  const store = new StateStore(deps.ddb, deps.tableName, config.factory.id);
  const factoryId = config.factory.id;

  /** Send the notices the winning write recorded, then take them out of the outbox. */
  const deliver = async (sk: string, notices: readonly Notice[], tally: Tally): Promise<void> => {
    for (const notice of notices) {
      try {
        await publish(notice);
      } catch (error) {
        tally.pending++;
        logger.error("notification not sent; it stays in the outbox for the next sweep", { stateItem: sk, notification: notice.id, error: errorText(error) });
        continue;
      }
      tally.sent++;
      if (notice.event === "raise") tally.raised++;
      logger.info("notification sent", { stateItem: sk, notification: notice.id, event: notice.event, severity: notice.severity, subject: notice.subject });
      await store.remove(sk, notice.id);
    }
  };

  const publish = async (notice: Notice): Promise<void> => {
    await deps.sns.send(
      new PublishCommand({
        TopicArn: deps.topicArn,
        Subject: notice.subject,
        Message: notice.message,
        MessageAttributes: Object.fromEntries(Object.entries(notice.attributes).map(([k, v]) => [k, { DataType: "String", StringValue: v }])),
      }),
    );
  };

  /**
   * Evaluate one state item and write it if it changed, conditional on the version read; on a conflict re-read and
   * re-evaluate (the same input against the newer state). Only the winning write's notices are sent, and only its
   * hours to score are returned (with the document as written).
   */
  const mutate = async <D extends StateDoc>(
    sk: string,
    kind: D["kind"],
    fresh: () => D,
    evaluate: (doc: D) => Outcome,
    tally: Tally,
    first?: StoredItem,
  ): Promise<{ doc: D; scores: readonly ScoreRequest[] }> => {
    let item = first ?? (await store.get(sk));
    for (let attempt = 1; ; attempt++) {
      if (item.doc !== null && item.doc.kind !== kind) throw new Error(`state item ${sk} holds a ${item.doc.kind} document, not a ${kind}`);
      const doc = item.doc === null ? fresh() : (structuredClone(item.doc) as D);
      const out = evaluate(doc);
      if (!out.write && out.notices.length === 0) {
        tally.late += out.late;
        return { doc, scores: [] };
      }
      const at = now();
      const outbox: Record<string, OutboxEntry> = { ...item.outbox };
      for (const notice of out.notices) outbox[notice.id] = { notice, claimedAt: at };
      try {
        await store.put(sk, item.version, doc, outbox, at);
      } catch (error) {
        if (!(error instanceof VersionConflict)) throw error;
        tally.conflicts++;
        if (attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`state item ${sk}: ${MAX_WRITE_ATTEMPTS} conditional writes lost to other invocations in a row`, { cause: error });
        logger.info("state changed by another invocation: re-reading and re-evaluating", { stateItem: sk, attempt });
        item = await store.get(sk);
        continue;
      }
      tally.late += out.late;
      tally.recorded.push(...out.recorded);
      await deliver(sk, out.notices, tally);
      return { doc, scores: out.scores };
    }
  };

  // ------------------------------------------------------------------------------------------- inputs

  const heardFrom = async (gatewayId: string, heardAt: number, tally: Tally, health?: Parameters<Detector["heard"]>[4]): Promise<GatewayDoc> => {
    const at = now();
    return (await mutate<GatewayDoc>(gatewayKey(gatewayId), "gateway", emptyGatewayDoc, (doc) => detector.heard(gatewayId, doc, heardAt, at, health), tally)).doc;
  };

  const handle = async (input: DetectorInput, tally: Tally): Promise<void> => {
    switch (input.kind) {
      case "telemetry": {
        const refused = Object.values(input.refused).reduce((n, k) => n + k, 0);
        if (refused > 0) {
          metrics.addMetric(METRICS.refusedReadings, COUNT, refused);
          logger.warn("readings refused by the inventory checks (the enrichment function dead-letters them)", { gateway: input.gatewayId, sequence: input.sequence, byReason: input.refused });
        }
        const gateway = await heardFrom(input.gatewayId, input.receivedAt, tally);
        await pool([...input.byMachine], concurrency, async ([machineId, readings]) => {
          const at = now();
          const { scores } = await mutate<MachineDoc>(machineKey(machineId), "machine", emptyMachineDoc, (doc) => detector.applyReadings(machineId, doc, readings, at, gateway), tally);
          await score(scores, gateway, tally);
        });
        return;
      }
      case "state": {
        const gateway = await heardFrom(input.gatewayId, now(), tally);
        const at = now();
        const { scores } = await mutate<MachineDoc>(machineKey(input.machineId), "machine", emptyMachineDoc, (doc) => detector.applyState(input.machineId, doc, input.state, input.timestamp, at, gateway), tally);
        await score(scores, gateway, tally);
        return;
      }
      case "health": {
        const m = input.message;
        await heardFrom(input.gatewayId, now(), tally, { sentAt: m.sentAt, backlogReadings: m.backlogReadings, backlogAgeSeconds: m.backlogAgeSeconds });
        return;
      }
      case "sweep":
        await sweep(tally);
        return;
    }
  };

  // ------------------------------------------------------------------------------------------- the sweep

  const sweep = async (tally: Tally): Promise<void> => {
    const items = new Map((await store.all()).map((item) => [item.sk, item]));
    const gateways = new Map<string, GatewayDoc>();
    for (const gatewayId of detector.gatewayIds()) {
      const item = items.get(gatewayKey(gatewayId));
      if (item?.doc?.kind !== "gateway") continue; // never heard from: nothing to compare with yet
      const at = now();
      gateways.set(gatewayId, (await mutate<GatewayDoc>(item.sk, "gateway", emptyGatewayDoc, (doc) => detector.sweepGateway(gatewayId, doc, at), tally, item)).doc);
    }
    const machineDocs = new Map<string, MachineDoc>();
    for (const machineId of detector.machineIds()) {
      const doc = items.get(machineKey(machineId))?.doc;
      if (doc?.kind === "machine") machineDocs.set(machineId, doc);
    }
    const siblingsNewest = (machineId: string, gatewayId: string): number | null => {
      let newest: number | null = null;
      for (const [id, doc] of machineDocs) {
        if (id === machineId || detector.placementOf(id)?.gateway.id !== gatewayId || doc.lastReadingAt === null) continue;
        newest = Math.max(newest ?? doc.lastReadingAt, doc.lastReadingAt);
      }
      return newest;
    };
    await pool([...machineDocs.keys()], concurrency, async (machineId) => {
      const gatewayId = detector.placementOf(machineId)?.gateway.id ?? "";
      const gateway = gateways.get(gatewayId);
      const siblings = siblingsNewest(machineId, gatewayId);
      const at = now();
      const { scores } = await mutate<MachineDoc>(
        machineKey(machineId),
        "machine",
        emptyMachineDoc,
        (doc) => detector.sweepMachine(machineId, doc, gateway, siblings, at),
        tally,
        items.get(machineKey(machineId)),
      );
      await score(scores, gateway, tally);
    });
    // notifications left in an outbox (SNS failed, or an invocation died before sending): claim, send, remove
    const cutoff = now() - OUTBOX_RETRY_MS;
    for (const item of items.values()) {
      for (const [id, entry] of Object.entries(item.outbox)) {
        const raw = item.outboxRaw[id];
        if (entry.claimedAt > cutoff || raw === undefined) continue;
        if (!(await store.claim(item.sk, id, raw, now()))) continue;
        logger.warn("sending a notification left in the outbox", { stateItem: item.sk, notification: id, claimedAt: new Date(entry.claimedAt).toISOString() });
        await deliver(item.sk, [entry.notice], tally);
      }
    }
  };

  /**
   * Score the completed hours an evaluation claimed (its write won): one call of the endpoint per hour, then the
   * score is applied to the machine's document. A failed call leaves the hour claimed; a later evaluation claims it
   * again after `SCORE_RETRY_MS`.
   */
  const score = async (requests: readonly ScoreRequest[], gateway: GatewayDoc | undefined, tally: Tally): Promise<void> => {
    if (!scoring) return;
    for (const request of requests) {
      const value = await invoke(request);
      if (value === undefined) continue;
      const at = now();
      await mutate<MachineDoc>(machineKey(request.machineId), "machine", emptyMachineDoc, (doc) => detector.applyScore(request.machineId, doc, request.hour, value, request.at, at, gateway), tally);
    }
  };

  /** The endpoint's failure-window score of one completed hour, or `undefined` when it fails. */
  const invoke = async (request: ScoreRequest): Promise<number | undefined> => {
    const hour = new Date(request.hour).toISOString();
    metrics.addMetric(METRICS.scoreCalls, COUNT, 1);
    try {
      const out = await (deps.sagemaker as SageMakerRuntimeClient).send(
        new InvokeEndpointCommand({ EndpointName: deps.scoreEndpoint, ContentType: "text/csv", Body: new TextEncoder().encode(request.vector) }),
      );
      const text = Buffer.from(out.Body).toString("utf8");
      const value = parseScore(text);
      if (value === undefined) throw new Error(`the endpoint answered ${JSON.stringify(text.slice(0, 200))}, not a score`);
      logger.info("hour scored", { machine: request.machineId, hour, score: value });
      return value;
    } catch (error) {
      metrics.addMetric(METRICS.scoreFailures, COUNT, 1);
      logger.error("failure-window score not available", { machine: request.machineId, hour, endpoint: deps.scoreEndpoint, error: errorText(error) });
      return undefined;
    }
  };

  // ------------------------------------------------------------------------------------------- dead letters

  const deadLetter = async (refusal: Refusal, event: unknown): Promise<string> => {
    const at = now();
    const body = JSON.stringify(event ?? null);
    const digest = createHash("sha256").update(body).digest("hex").slice(0, 16);
    const day = new Date(at).toISOString().slice(0, 10).replace(/-/g, "/");
    const key = `${DEAD_LETTER_PREFIX}${factoryId}/${refusal.kind}/${day}/${refusal.source}-${digest}.json`;
    const letter = { factoryId, kind: refusal.kind, reason: refusal.reason, message: refusal.message, source: refusal.source, receivedAt: new Date(at).toISOString(), event };
    // Encryption: the bucket's default (aws:kms with the factory's data key), set by the infrastructure.
    await deps.s3.send(new PutObjectCommand({ Bucket: deps.deadLetterBucket, Key: key, Body: JSON.stringify(letter), ContentType: "application/json" }));
    return key;
  };

  return async (event, context) => {
    if (context !== undefined) logger.addContext?.(context);
    const tally: Tally = { sent: 0, raised: 0, pending: 0, recorded: [], conflicts: 0, late: 0 };
    try {
      let classified: Classified;
      try {
        classified = reader.read(event, now());
      } catch (error) {
        classified = { ok: false, refusal: { kind: "unknown", reason: "invalidEvent", message: `the event could not be read: ${errorText(error)}`, source: "unknown" } };
      }
      metrics.addMetric(METRICS.inputs, COUNT, 1);
      if (!classified.ok) {
        const { refusal } = classified;
        const key = await deadLetter(refusal, event);
        metrics.addMetric(METRICS.deadLetters, COUNT, 1);
        logger.warn("input dead-lettered", { kind: refusal.kind, reason: refusal.reason, detail: refusal.message, source: refusal.source, deadLetterKey: key });
        return { status: "deadLettered", kind: refusal.kind, notificationsSent: 0, notificationsPending: 0, recorded: 0, versionConflicts: 0, lateReadings: 0, deadLetterKey: key, reason: refusal.reason };
      }
      const { input } = classified;
      await handle(input, tally);
      for (const r of tally.recorded) {
        logger.info("a condition found in delayed data had already ended: recorded, not paged", {
          stateItem: r.subject,
          condition: r.condition,
          since: new Date(r.episode.since).toISOString(),
          until: new Date(r.episode.until).toISOString(),
          peak: r.episode.peak,
        });
      }
      const result: DetectorResult = {
        status: "processed",
        kind: input.kind,
        notificationsSent: tally.sent,
        notificationsPending: tally.pending,
        recorded: tally.recorded.length,
        versionConflicts: tally.conflicts,
        lateReadings: tally.late,
      };
      logger.info(`${input.kind} evaluated`, { ...result, ...(input.kind === "sweep" ? {} : { gateway: input.gatewayId }) });
      return result;
    } finally {
      metrics.addMetric(METRICS.notificationsSent, COUNT, tally.sent);
      metrics.addMetric(METRICS.alertsRaised, COUNT, tally.raised);
      metrics.addMetric(METRICS.notificationsFailed, COUNT, tally.pending);
      metrics.addMetric(METRICS.recordedNotPaged, COUNT, tally.recorded.length);
      metrics.addMetric(METRICS.versionConflicts, COUNT, tally.conflicts);
      metrics.addMetric(METRICS.lateInputs, COUNT, tally.late);
      metrics.publishStoredMetrics();
    }
  };
}

/**
 * A score from the endpoint's answer: a number (`0.93`), the first field of CSV (`0.93,...`), or JSON: a number,
 * `[0.93]`, `{"score": 0.93}`, `{"predictions": [0.93]}` or `{"predictions": [{"score": 0.93}]}`.
 */
export function parseScore(text: string): number | undefined {
  const trimmed = text.trim();
  const fromJson = (value: unknown): number | undefined => {
    if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
    if (Array.isArray(value)) return fromJson(value[0]);
    if (typeof value === "object" && value !== null) {
      const o = value as Record<string, unknown>;
      return fromJson(o.score ?? o.predictions ?? o.probability);
    }
    return undefined;
  };
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return fromJson(JSON.parse(trimmed) as unknown);
    } catch {
      return undefined;
    }
  }
  const first = trimmed.split(/[,\n]/)[0]?.trim() ?? "";
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(first)) return undefined;
  return Number(first);
}

/** Run `fn` over `items` with at most `limit` calls in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
