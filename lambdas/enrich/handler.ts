/**
 * The enrichment Lambda's handler, with its AWS clients, logger and metrics injected: the pure core
 * (`enrich.ts`) turns the event into records and rejections; this writes the records to Timestream in chunks of
 * at most 100 and the rejections to the dead-letter bucket, logs and counts what happened.
 *
 * Failure policy: a batch or reading that can never be accepted is dead-lettered and the invocation succeeds (a
 * retry would not help). A chunk that still fails after the SDK's own retries (throttling, 5xx) makes the
 * invocation throw after everything else was written and dead-lettered, so Lambda retries the event and then
 * hands it to the function's DLQ; a retry writes identical records and overwrites the same dead-letter keys.
 *
 * The data lake (when `lake` is given, from `LAKE_DELIVERY_STREAM`): the same enriched readings go to Firehose at
 * the same time as to Timestream, and neither path waits for or depends on the other's success. Records Firehose
 * fails are sent again (only those, with backoff: `lake.ts`); readings still undelivered after the last attempt
 * are dead-lettered under `enrich/lake/<factory>/` with the error and counted (`LakeReadingsDeadLettered`), and
 * the invocation does not fail for them: a retry of the whole event would send the delivered rest to the lake a
 * second time, and the dead letter holds every undelivered row, ready to be sent again. Only when that dead
 * letter cannot be written does the invocation throw, so that the event is retried and nothing is lost. The lake
 * is at-least-once (a Lambda retry after a Timestream failure sends the readings again, as Firehose itself may):
 * the lake's queries drop exact duplicates.
 */
import type { FirehoseClient } from "@aws-sdk/client-firehose";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { RejectedRecordsException, WriteRecordsCommand, type TimestreamWriteClient } from "@aws-sdk/client-timestream-write";
import type { FactoryConfig } from "@smart-factory/sdk";
import type { Context } from "aws-lambda";
import {
  batchDeadLetter,
  chunk,
  COMMON_ATTRIBUTES,
  type DeadLetter,
  type DeadLetterKind,
  deadLetterKey,
  type EnrichedRecord,
  Enricher,
  type Envelope,
  MAX_RECORDS_PER_WRITE,
  readingsDeadLetter,
  recordsDeadLetter,
  type RejectedRecordItem,
} from "./enrich";
import { canonicalUnits, deliverToLake, lakeDeadLetter, type LakeDeadLetter, type LakeDelivery, lakeRows, type LakeRetryOptions } from "./lake";
import { type FunctionLogger, type FunctionMetrics, type MetricUnitName } from "../shared/observability";

/** What the handler logs through. */
export type EnrichLogger = FunctionLogger;
/** What the handler counts through. */
export type EnrichMetrics = FunctionMetrics;
export type { MetricUnitName };

/** Names of the metrics the handler emits (all counts, one value per invocation). */
export const METRICS = {
  batchesReceived: "BatchesReceived",
  batchesRejected: "BatchesRejected",
  readingsReceived: "ReadingsReceived",
  readingsWritten: "ReadingsWritten",
  readingsRejected: "ReadingsRejected",
  recordsWritten: "RecordsWritten",
  duplicateRecords: "DuplicateRecords",
  recordsRejectedByTimestream: "RecordsRejectedByTimestream",
  writeRecordsCalls: "WriteRecordsCalls",
  writeRecordsFailures: "WriteRecordsFailures",
  deadLetters: "DeadLettersWritten",
  lakeReadingsDelivered: "LakeReadingsDelivered",
  lakeReadingsDeadLettered: "LakeReadingsDeadLettered",
  lakePutRecordBatchCalls: "LakePutRecordBatchCalls",
  lakeRecordsRetried: "LakeRecordsRetried",
} as const;

/** The data lake's Firehose stream, and how records that fail are retried. */
export interface LakeTarget extends LakeRetryOptions {
  readonly firehose: FirehoseClient;
  readonly deliveryStreamName: string;
}

/** Everything the handler needs; `now` defaults to `Date.now`, `writeConcurrency` (parallel calls) to 4. */
export interface EnrichDeps {
  readonly config: FactoryConfig;
  readonly timestream: TimestreamWriteClient;
  readonly s3: S3Client;
  readonly databaseName: string;
  readonly tableName: string;
  readonly deadLetterBucket: string;
  readonly logger: EnrichLogger;
  readonly metrics: EnrichMetrics;
  readonly now?: () => number;
  readonly writeConcurrency?: number;
  /** Where the enriched readings also go: the data lake's Firehose stream. */
  readonly lake?: LakeTarget;
}

/** What one invocation sent to the data lake. */
export interface LakeSummary {
  /** Readings (lake rows) of the batch's records. */
  readonly readings: number;
  readonly delivered: number;
  /** Readings dead-lettered under `enrich/lake/` after the last attempt. */
  readonly deadLettered: number;
  readonly calls: number;
  readonly retriedRecords: number;
}

/** What one invocation did. */
export interface EnrichResult {
  /** `rejected`: the whole batch went to the dead-letter bucket; `processed`: its records were written. */
  readonly status: "processed" | "rejected";
  readonly readings: number;
  /** Readings now stored in Timestream (in records written, or found already written). */
  readonly readingsWritten: number;
  /** Readings dead-lettered (refused, or in records Timestream rejected). */
  readonly readingsRejected: number;
  /** Records written, duplicates of stored records included. */
  readonly recordsWritten: number;
  /** Records Timestream already held with the same version (a redelivery). */
  readonly duplicateRecords: number;
  readonly recordsRejected: number;
  readonly writeCalls: number;
  /** Keys of the dead letters written, in the dead-letter bucket. */
  readonly deadLetterKeys: readonly string[];
  /** What went to the data lake, when the function has one. */
  readonly lake?: LakeSummary;
}

/** The Lambda handler: takes a telemetry rule event. */
export type EnrichHandler = (event: unknown, context?: Context) => Promise<EnrichResult>;

const COUNT: MetricUnitName = "Count";
const DEFAULT_WRITE_CONCURRENCY = 4;
const LOGGED_REJECTIONS = 5;

interface ChunkOutcome {
  written: number;
  duplicates: number;
  readingsWritten: number;
  rejected: { position: number; item: RejectedRecordItem }[];
  failures: { chunk: number; records: number; message: string }[];
  calls: number;
}

/** Build the handler of one factory's enrichment function. */
export function createEnrichHandler(deps: EnrichDeps): EnrichHandler {
  const { config, timestream, s3, databaseName, tableName, deadLetterBucket, logger, metrics, lake } = deps;
  const now = deps.now ?? Date.now;
  const concurrency = deps.writeConcurrency ?? DEFAULT_WRITE_CONCURRENCY;
  const enricher = new Enricher(config);
  const factoryId = config.factory.id;
  const unitOf = canonicalUnits(config);

  const putDeadLetter = async (letter: DeadLetter | LakeDeadLetter, key: string): Promise<void> => {
    // Encryption: the bucket's default (aws:kms with the factory's key), set by the infrastructure.
    await s3.send(new PutObjectCommand({ Bucket: deadLetterBucket, Key: key, Body: JSON.stringify(letter), ContentType: "application/json" }));
  };

  const writeRecords = async (records: readonly EnrichedRecord[]): Promise<ChunkOutcome> => {
    const out: ChunkOutcome = { written: 0, duplicates: 0, readingsWritten: 0, rejected: [], failures: [], calls: 0 };
    const chunks = chunk(records, MAX_RECORDS_PER_WRITE);
    await pool(chunks, concurrency, async (part, c) => {
      out.calls++;
      try {
        await timestream.send(
          new WriteRecordsCommand({
            DatabaseName: databaseName,
            TableName: tableName,
            CommonAttributes: { ...COMMON_ATTRIBUTES },
            Records: part.map((r) => r.record),
          }),
        );
        out.written += part.length;
        out.readingsWritten += part.reduce((n, r) => n + r.readingIndexes.length, 0);
      } catch (error) {
        if (!isRejectedRecords(error)) {
          out.failures.push({ chunk: c, records: part.length, message: errorText(error) });
          return;
        }
        const rejectedAt = new Map<number, { reason: string; existingVersion: number | null }>();
        for (const r of error.RejectedRecords ?? []) {
          if (r.RecordIndex === undefined || r.RecordIndex < 0 || r.RecordIndex >= part.length) {
            // A rejection we cannot attribute: treat the chunk as failed, so that the event is retried.
            out.failures.push({ chunk: c, records: part.length, message: `rejection without a valid RecordIndex: ${r.Reason ?? "no reason"}` });
            return;
          }
          rejectedAt.set(r.RecordIndex, { reason: r.Reason ?? "no reason given", existingVersion: r.ExistingVersion ?? null });
        }
        part.forEach((r, i) => {
          const rejection = rejectedAt.get(i);
          if (rejection === undefined || rejection.existingVersion === r.record.Version) {
            // Not rejected, or rejected because this very record (same content, hence same version) is stored.
            out.written++;
            out.readingsWritten += r.readingIndexes.length;
            if (rejection !== undefined) out.duplicates++;
            return;
          }
          out.rejected.push({
            position: c * MAX_RECORDS_PER_WRITE + i,
            item: {
              reason: rejection.reason,
              existingVersion: rejection.existingVersion,
              machineId: r.machineId,
              timestamp: r.timestamp,
              readingIndexes: r.readingIndexes,
              record: { ...COMMON_ATTRIBUTES, ...r.record },
            },
          });
        });
      }
    });
    out.rejected.sort((a, b) => a.position - b.position);
    return out;
  };

  /** Dead-letter what the lake did not take (this throws only when the dead letter cannot be written), and log it. */
  const settleLake = async (
    streamName: string,
    delivery: LakeDelivery,
    envelope: Envelope,
    deadLetter: (kind: DeadLetterKind, letter: LakeDeadLetter) => Promise<void>,
  ): Promise<LakeSummary> => {
    const deadLettered = delivery.rows - delivery.deliveredRows;
    if (delivery.failures.length > 0) {
      await deadLetter("lake", lakeDeadLetter(envelope, streamName, delivery));
      logger.error("readings not delivered to the data lake after retries: dead-lettered under enrich/lake/", {
        ...logEnvelope(envelope),
        deliveryStream: streamName,
        readings: delivery.rows,
        deadLettered,
        failures: delivery.failures.map((f) => ({ errorCode: f.errorCode, errorMessage: f.errorMessage, attempts: f.attempts, readings: f.rows.length })),
      });
    }
    return { readings: delivery.rows, delivered: delivery.deliveredRows, deadLettered, calls: delivery.calls, retriedRecords: delivery.retriedRecords };
  };

  return async (event, context) => {
    if (context !== undefined) logger.addContext?.(context);
    try {
      metrics.addMetric(METRICS.batchesReceived, COUNT, 1);
      const outcome = enricher.enrich(event, now());

      if (!outcome.ok) {
        const { rejection } = outcome;
        const key = deadLetterKey(factoryId, rejection.envelope, "batch");
        await putDeadLetter(batchDeadLetter(rejection), key);
        metrics.addMetric(METRICS.batchesRejected, COUNT, 1);
        metrics.addMetric(METRICS.readingsReceived, COUNT, rejection.readingCount);
        metrics.addMetric(METRICS.readingsRejected, COUNT, rejection.readingCount);
        metrics.addMetric(METRICS.deadLetters, COUNT, 1);
        logger.warn("telemetry batch rejected", {
          ...logEnvelope(rejection.envelope),
          reason: rejection.reason,
          detail: rejection.message,
          readings: rejection.readingCount,
          payloadChars: rejection.payload?.length ?? null,
          deadLetterKey: key,
        });
        return {
          status: "rejected",
          readings: rejection.readingCount,
          readingsWritten: 0,
          readingsRejected: rejection.readingCount,
          recordsWritten: 0,
          duplicateRecords: 0,
          recordsRejected: 0,
          writeCalls: 0,
          deadLetterKeys: [key],
        };
      }

      const batch = outcome;
      metrics.addMetric(METRICS.readingsReceived, COUNT, batch.readingCount);
      // Timestream and the lake at the same time, each settled on its own: one's failure never stops the other.
      const [timestreamOutcome, lakeOutcome] = await Promise.allSettled([
        writeRecords(batch.records),
        lake === undefined ? undefined : Promise.resolve().then(() => deliverToLake(lake.firehose, lake.deliveryStreamName, lakeRows(batch.records, unitOf), lake)),
      ]);
      // writeRecords and deliverToLake report failures in their results; a rejection here is a bug, thrown below
      if (timestreamOutcome.status === "rejected") throw timestreamOutcome.reason;
      const written = timestreamOutcome.value;
      const delivery = lakeOutcome.status === "fulfilled" ? lakeOutcome.value : undefined;
      const rejectedItems = written.rejected.map((r) => r.item);

      const deadLetterKeys: string[] = [];
      const deadLetter = async (kind: DeadLetterKind, letter: DeadLetter | LakeDeadLetter): Promise<void> => {
        const key = deadLetterKey(factoryId, batch.envelope, kind);
        await putDeadLetter(letter, key);
        deadLetterKeys.push(key);
      };
      if (batch.rejections.length > 0) await deadLetter("readings", readingsDeadLetter(batch));
      if (rejectedItems.length > 0) await deadLetter("records", recordsDeadLetter(batch, rejectedItems));
      const lakeSummary = lake === undefined || delivery === undefined ? undefined : await settleLake(lake.deliveryStreamName, delivery, batch.envelope, deadLetter);

      const readingsInRejectedRecords = rejectedItems.reduce((n, r) => n + r.readingIndexes.length, 0);
      const readingsRejected = batch.rejections.length + readingsInRejectedRecords;
      metrics.addMetric(METRICS.readingsWritten, COUNT, written.readingsWritten);
      metrics.addMetric(METRICS.readingsRejected, COUNT, readingsRejected);
      metrics.addMetric(METRICS.recordsWritten, COUNT, written.written);
      metrics.addMetric(METRICS.duplicateRecords, COUNT, written.duplicates);
      metrics.addMetric(METRICS.recordsRejectedByTimestream, COUNT, rejectedItems.length);
      metrics.addMetric(METRICS.writeRecordsCalls, COUNT, written.calls);
      metrics.addMetric(METRICS.writeRecordsFailures, COUNT, written.failures.length);
      metrics.addMetric(METRICS.deadLetters, COUNT, deadLetterKeys.length);
      if (lakeSummary !== undefined) {
        metrics.addMetric(METRICS.lakeReadingsDelivered, COUNT, lakeSummary.delivered);
        metrics.addMetric(METRICS.lakeReadingsDeadLettered, COUNT, lakeSummary.deadLettered);
        metrics.addMetric(METRICS.lakePutRecordBatchCalls, COUNT, lakeSummary.calls);
        metrics.addMetric(METRICS.lakeRecordsRetried, COUNT, lakeSummary.retriedRecords);
      }

      const result = {
        status: "processed" as const,
        readings: batch.readingCount,
        readingsWritten: written.readingsWritten,
        readingsRejected,
        recordsWritten: written.written,
        duplicateRecords: written.duplicates,
        recordsRejected: rejectedItems.length,
        writeCalls: written.calls,
        deadLetterKeys,
        ...(lakeSummary === undefined ? {} : { lake: lakeSummary }),
      };
      const summary = { ...logEnvelope(batch.envelope), ...result };
      if (batch.rejections.length > 0) {
        logger.warn("readings rejected", {
          ...logEnvelope(batch.envelope),
          byReason: countBy(batch.rejections.map((r) => r.reason)),
          first: batch.rejections.slice(0, LOGGED_REJECTIONS).map((r) => r.message),
        });
      }
      if (rejectedItems.length > 0) {
        logger.warn("records rejected by Timestream", {
          ...logEnvelope(batch.envelope),
          first: rejectedItems.slice(0, LOGGED_REJECTIONS).map((r) => ({ machineId: r.machineId, timestamp: r.timestamp, reason: r.reason, existingVersion: r.existingVersion })),
        });
      }
      if (written.failures.length > 0) {
        logger.error("WriteRecords failed after retries; the event will be retried", { ...summary, failures: written.failures });
        const first = written.failures[0];
        throw new Error(
          `WriteRecords failed for ${written.failures.length} of ${written.calls} chunks of batch ${batch.envelope.gatewayId}#${batch.envelope.sequence} ` +
            `(first: chunk ${first?.chunk ?? "?"}, ${first?.message ?? "?"}); the other chunks and the dead letters were written`,
        );
      }
      if (lakeOutcome.status === "rejected") {
        logger.error("the data lake path failed unexpectedly; the event will be retried", { ...summary, error: errorText(lakeOutcome.reason) });
        throw new Error(`sending batch ${batch.envelope.gatewayId}#${batch.envelope.sequence} to the data lake failed: ${errorText(lakeOutcome.reason)}; Timestream was written`);
      }
      logger.info("telemetry batch written", summary);
      return result;
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

/** Run `fn` over `items` with at most `limit` calls in flight, starting them in order. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

function isRejectedRecords(error: unknown): error is RejectedRecordsException {
  return error instanceof RejectedRecordsException || (error instanceof Error && error.name === "RejectedRecordsException");
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** What identifies a message in logs: the envelope, which never holds the payload itself. */
function logEnvelope(e: Envelope): Record<string, unknown> {
  return { ...e };
}
