/**
 * The features export: once an hour, after the predictive-maintenance scheduled query has written the past hour's
 * features into Timestream (`machine_features`), this copies that hour's rows into the data lake, one gzip'd
 * JSON-lines object per line (`features/factory=/line=/dt=/<day>T<HH>.json.gz`, the SDK's `lakeFeaturesKey`),
 * where the Glue table `machine_features` of the lake database serves them to Athena beside the readings and the
 * state events.
 *
 * Input: EventBridge Scheduler's `{"action": "export", "scheduledTime": "<time>"}` exports the hour before the
 * scheduled time's hour (a retried or late invocation exports the same hour); `{"action": "export", "hour":
 * "2026-11-25T08:00:00Z"}` exports that hour (a backfill by hand). The object keys depend only on the hour and
 * line, so an export run twice replaces its objects: retries and redrives never duplicate rows.
 *
 * Failure policy: input that names no completed hour is refused with an error naming the field and value (Lambda
 * then hands the event to the function's DLQ, and an alarm says so). A Timestream or S3 failure throws after the
 * AWS SDK's retries: Lambda retries the invocation, then the DLQ keeps it for a redrive. An hour without features
 * (the scheduled query failed or nothing reported) writes nothing and is logged as a warning.
 */
import { gzipSync } from "node:zlib";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { TimestreamQueryClient } from "@aws-sdk/client-timestream-query";
import {
  hourStart,
  lakeFeatureColumns,
  lakeFeaturesKey,
  lakeTimestamp,
  quoteResourceName,
  rowDecoder,
  runQuery,
  type FactoryConfig,
  type LakeFeatureRow,
  type TimestreamValue,
} from "@smart-factory/sdk";
import type { Context } from "aws-lambda";
import type { FunctionLogger, FunctionMetrics } from "../shared/observability";

/** What the handler logs and counts through. */
export type ExportLogger = Pick<FunctionLogger, "info" | "warn" | "addContext">;
export type ExportMetrics = FunctionMetrics;

/** Names of the metrics the handler emits. */
export const METRICS = { rows: "FeatureRowsExported", objects: "FeatureObjectsWritten", rowsSkipped: "FeatureRowsSkipped" } as const;

/** The `action` of the export's input. */
export const EXPORT_ACTION = "export";

const HOUR_MS = 3_600_000;

/** An input the export cannot use; names the field and the value. */
export class ExportInputError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    problem: string,
  ) {
    super(`features export input ${field}: ${problem}, got ${value === undefined ? "nothing" : JSON.stringify(value)}`);
    this.name = "ExportInputError";
  }
}

export interface ExportDependencies {
  readonly config: FactoryConfig;
  readonly timestream: TimestreamQueryClient;
  readonly s3: S3Client;
  /** The Timestream database and table of the features (`machine_features`). */
  readonly database: string;
  readonly table: string;
  /** The lake bucket. */
  readonly bucket: string;
  readonly logger: ExportLogger;
  readonly metrics: ExportMetrics;
  readonly now?: () => number;
}

/** What one export did. */
export interface ExportResult {
  /** The hour exported, ISO 8601. */
  readonly hour: string;
  readonly rows: number;
  /** Keys written, one per line that had rows. */
  readonly objects: readonly string[];
  /** Rows left out, with why (no machine, a machine of another factory's inventory ...). */
  readonly skipped: number;
}

export type ExportHandler = (event: unknown, context?: Context) => Promise<ExportResult>;

function parseInstant(field: string, value: unknown): number {
  const ms = typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new ExportInputError(field, value, "expected an ISO 8601 time such as 2026-11-25T08:00:00Z");
  return ms;
}

/**
 * The hour (its start, epoch milliseconds) an input asks for.
 *
 * @throws ExportInputError for an input that is not an export, names no time, or names an hour not yet over.
 */
export function hourOf(event: unknown, now: number): number {
  if (typeof event !== "object" || event === null || Array.isArray(event)) throw new ExportInputError("event", event, "expected an object");
  const input = event as Record<string, unknown>;
  if (input.action !== EXPORT_ACTION) throw new ExportInputError("action", input.action, `expected "${EXPORT_ACTION}"`);
  let hour: number;
  if (input.hour !== undefined) {
    const at = parseInstant("hour", input.hour);
    hour = hourStart(at);
    if (hour !== at) throw new ExportInputError("hour", input.hour, "expected the start of an hour (minutes and seconds 0)");
  } else if (input.scheduledTime !== undefined) {
    hour = hourStart(parseInstant("scheduledTime", input.scheduledTime)) - HOUR_MS;
  } else {
    throw new ExportInputError("hour", undefined, 'expected "hour" or "scheduledTime"');
  }
  if (hour + HOUR_MS > now) throw new ExportInputError(input.hour !== undefined ? "hour" : "scheduledTime", input.hour ?? input.scheduledTime, "the hour is not over yet");
  return hour;
}

/** The query of one hour's features: every column, since a feature that never had a value has no column yet. */
export function hourQuery(database: string, table: string, hour: number): string {
  const from = `${quoteResourceName("database", database)}.${quoteResourceName("table", table)}`;
  return `SELECT * FROM ${from} WHERE time >= from_milliseconds(${hour}) AND time < from_milliseconds(${hour + HOUR_MS}) ORDER BY line, machine`;
}

const asNumber = (v: TimestreamValue | undefined): number | null => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : null);

/** Build the export handler. */
export function createExportHandler(deps: ExportDependencies): ExportHandler {
  const { config, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const columns = lakeFeatureColumns(config);
  const featureNames = columns.filter((c) => c.type === "double").map((c) => c.name);
  const machines = new Map(config.lines.flatMap((line) => line.machines.map((m) => [m.id as string, { line: line.id, type: m.type }] as const)));

  return async (event, context) => {
    if (context !== undefined) logger.addContext?.(context);
    const hour = hourOf(event, now());
    const byLine = new Map<string, LakeFeatureRow[]>();
    let rows = 0;
    let skipped = 0;
    for await (const page of runQuery(deps.timestream, hourQuery(deps.database, deps.table, hour), {})) {
      if (page.rows.length === 0) continue;
      const decoder = rowDecoder(page.columns);
      for (const raw of page.rows) {
        const row = decoder.decodeObject(raw);
        const machine = typeof row.machine === "string" ? row.machine : undefined;
        const known = machine === undefined ? undefined : machines.get(machine);
        if (machine === undefined || known === undefined) {
          // the features table is the factory's own; a machine no longer in the inventory has no line to file it under
          skipped++;
          logger.warn("features row skipped: its machine is not in the factory's inventory", { machine: row.machine ?? null, hour: new Date(hour).toISOString() });
          continue;
        }
        const out: Record<string, string | number | null> = {
          machine_type: typeof row.machine_type === "string" ? row.machine_type : known.type,
          machine,
          hour: lakeTimestamp(hour),
          samples: asNumber(row.samples) ?? 0,
        };
        for (const name of featureNames) out[name] = asNumber(row[name]);
        const line = typeof row.line === "string" ? row.line : known.line;
        const list = byLine.get(line) ?? [];
        list.push(out as LakeFeatureRow);
        byLine.set(line, list);
        rows++;
      }
    }
    const objects: string[] = [];
    for (const [line, list] of byLine) {
      const key = lakeFeaturesKey(config.factory.id, line, hour);
      const body = gzipSync(Buffer.from(list.map((r) => JSON.stringify(r)).join("\n") + "\n", "utf8"));
      await deps.s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: key, Body: body, ContentType: "application/gzip" }));
      objects.push(key);
    }
    const iso = new Date(hour).toISOString();
    if (rows === 0) {
      logger.warn("no features for the hour: the scheduled query did not run or failed (see its error reports), or no machine reported", { hour: iso });
    } else {
      logger.info("features exported to the lake", { hour: iso, rows, objects: objects.length, skipped });
    }
    metrics.addMetric(METRICS.rows, "Count", rows);
    metrics.addMetric(METRICS.objects, "Count", objects.length);
    metrics.addMetric(METRICS.rowsSkipped, "Count", skipped);
    metrics.publishStoredMetrics();
    return { hour: iso, rows, objects, skipped };
  };
}
