/**
 * The enrichment Lambda's path to the data lake: the enriched readings (decoded, validated, converted to SI, with
 * the machine's factory, line and type from the inventory) as lake rows (`LakeRow` of the SDK), packed into
 * Firehose records of newline-delimited JSON and sent with `PutRecordBatch`.
 *
 * Limits (Firehose `PutRecordBatch`): at most {@link MAX_RECORDS_PER_PUT} records and {@link MAX_BYTES_PER_PUT}
 * bytes a call, at most {@link MAX_RECORD_BYTES} a record. A record holds whole lines only, so Firehose's
 * `RecordDeAggregation` (JSON) splits it back into one reading per row before it partitions them. Packing many
 * rows into one record matters: Firehose meters ingestion per record in 5 KB steps, so one record per reading
 * (about 200 bytes) would be billed as 25 times its size.
 *
 * Firehose may accept a call and still fail some of its records (`FailedPutCount`, an `ErrorCode` per record):
 * only those are sent again, after a backoff with jitter, up to `maxAttempts` times in all. A call that fails as a
 * whole (after the AWS SDK's own retries) counts as the failure of each of its records. What is still undelivered
 * after the last attempt is returned with its last error, for the handler to dead-letter.
 */
import { PutRecordBatchCommand, type FirehoseClient } from "@aws-sdk/client-firehose";
import { canonicalUnitOf, lakeDate, QUALITY_MEASURE_SUFFIX, type FactoryConfig, type LakeRow, type Quality } from "@smart-factory/sdk";
import type { EnrichedRecord, Envelope } from "./enrich";

/** Firehose's limit on the records of one `PutRecordBatch` call. */
export const MAX_RECORDS_PER_PUT = 500;
/** Firehose's limit on the data of one `PutRecordBatch` call: 4 MiB. */
export const MAX_BYTES_PER_PUT = 4 * 1024 * 1024;
/** Firehose's limit on one record, before base64 encoding: 1,000 KiB. */
export const MAX_RECORD_BYTES = 1000 * 1024;

/** Attempts per record, the first included. */
export const DEFAULT_LAKE_ATTEMPTS = 4;
/** Backoff before the second attempt; it doubles with each further one (full jitter), up to {@link MAX_BACKOFF_MS}. */
export const BASE_BACKOFF_MS = 100;
/** The longest wait between two attempts. */
export const MAX_BACKOFF_MS = 2000;

/**
 * Errors of a whole call that another attempt cannot fix (the stream is missing, the role may not write to it,
 * the request is malformed): the records fail at once instead of being retried.
 */
export const PERMANENT_ERRORS: ReadonlySet<string> = new Set([
  "ResourceNotFoundException",
  "InvalidArgumentException",
  "AccessDeniedException",
  "InvalidKMSResourceException",
  "InvalidSourceException",
]);

/** Error code given to a row that alone exceeds {@link MAX_RECORD_BYTES} (never sent). */
export const RECORD_TOO_LARGE = "RecordTooLarge";

/** One Firehose record: whole JSON lines, each ended by `\n`, and the rows they are. */
export interface LakeRecord {
  readonly data: Buffer;
  readonly rows: readonly LakeRow[];
}

/** The canonical unit of each machine type's tags: `unitOf(machineType, tag)`. */
export type CanonicalUnits = (machineType: string, tag: string) => string;

/** The canonical unit of every tag of every machine type of `config`. */
export function canonicalUnits(config: FactoryConfig): CanonicalUnits {
  const units = new Map<string, string>();
  for (const type of config.machineTypes) for (const tag of type.tags) units.set(`${type.id}\u0000${tag.name}`, canonicalUnitOf(tag.unit));
  return (machineType, tag) => {
    const unit = units.get(`${machineType}\u0000${tag}`);
    if (unit === undefined) throw new Error(`tag ${tag} is not a tag of machine type ${machineType}: the record was not built by the Enricher`);
    return unit;
  };
}

/**
 * The lake rows of enriched records: one per tag of each record, with its value (canonical unit) and quality, in
 * record order and, within a record, by tag. A tag with only a quality measure (a reading
 * without value) gives a row with `value: null`. The rows are exactly the readings Timestream gets.
 */
export function lakeRows(records: readonly EnrichedRecord[], unitOf: CanonicalUnits): LakeRow[] {
  const rows: LakeRow[] = [];
  for (const { record } of records) {
    const dims = Object.fromEntries((record.Dimensions ?? []).map((d) => [d.Name ?? "", d.Value ?? ""]));
    const time = Number(record.Time);
    const values = new Map<string, number>();
    const qualities = new Map<string, Quality>();
    for (const m of record.MeasureValues ?? []) {
      const name = m.Name ?? "";
      // a DOUBLE measure is a tag's value, a VARCHAR `<tag>_quality` its quality (tags are lowerCamelCase)
      if (m.Type === "VARCHAR" && name.endsWith(QUALITY_MEASURE_SUFFIX)) qualities.set(name.slice(0, -QUALITY_MEASURE_SUFFIX.length), m.Value as Quality);
      else values.set(name, Number(m.Value));
    }
    const machineType = dims.machine_type ?? "";
    for (const tag of [...new Set([...values.keys(), ...qualities.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      rows.push({
        factory: dims.factory ?? "",
        line: dims.line ?? "",
        machine_type: machineType,
        machine: dims.machine ?? "",
        time,
        tag,
        value: values.get(tag) ?? null,
        unit: unitOf(machineType, tag),
        quality: qualities.get(tag) ?? "good",
        dt: lakeDate(time),
      });
    }
  }
  return rows;
}

/**
 * Pack rows into records of at most `maxRecordBytes`, each line a JSON object ended by `\n`, in row order. A row
 * that alone exceeds the limit cannot be sent: it is returned in `tooLarge`.
 */
export function packRecords(rows: readonly LakeRow[], maxRecordBytes: number = MAX_RECORD_BYTES): { records: LakeRecord[]; tooLarge: LakeRow[] } {
  const records: LakeRecord[] = [];
  const tooLarge: LakeRow[] = [];
  let lines: Buffer[] = [];
  let members: LakeRow[] = [];
  let size = 0;
  const flush = (): void => {
    if (members.length === 0) return;
    records.push({ data: Buffer.concat(lines, size), rows: members });
    lines = [];
    members = [];
    size = 0;
  };
  for (const row of rows) {
    const line = Buffer.from(`${JSON.stringify(row)}\n`, "utf8");
    if (line.length > maxRecordBytes) {
      tooLarge.push(row);
      continue;
    }
    if (size + line.length > maxRecordBytes) flush();
    lines.push(line);
    members.push(row);
    size += line.length;
  }
  flush();
  return { records, tooLarge };
}

/** Cut records into `PutRecordBatch` calls of at most `maxRecords` records and `maxBytes` bytes, in order. */
export function putBatches<T extends { readonly data: Uint8Array }>(records: readonly T[], maxRecords: number = MAX_RECORDS_PER_PUT, maxBytes: number = MAX_BYTES_PER_PUT): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const record of records) {
    if (record.data.length > maxBytes) throw new RangeError(`a record of ${record.data.length} bytes exceeds the ${maxBytes} bytes of a call`);
    if (current.length === maxRecords || bytes + record.data.length > maxBytes) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += record.data.length;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Rows Firehose did not take after the last attempt, with the last error. */
export interface LakeFailure {
  readonly errorCode: string;
  readonly errorMessage: string;
  /** Attempts made for these rows. */
  readonly attempts: number;
  readonly rows: readonly LakeRow[];
}

/** What one delivery did. */
export interface LakeDelivery {
  readonly rows: number;
  readonly deliveredRows: number;
  readonly records: number;
  /** `PutRecordBatch` calls made. */
  readonly calls: number;
  /** Records sent again after a failure. */
  readonly retriedRecords: number;
  readonly failures: readonly LakeFailure[];
}

/** How {@link deliverToLake} retries; `sleep` and `random` are replaceable for tests. */
export interface LakeRetryOptions {
  readonly maxAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly maxRecordBytes?: number;
}

/** The wait before attempt `attempt + 1` (attempt >= 1): full jitter over an exponential ceiling. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempt - 1)));
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Pending {
  readonly record: LakeRecord;
  error?: { code: string; message: string; permanent: boolean };
}

/**
 * Send `rows` to the Firehose stream, retrying only the records that failed. Never throws: what could not be
 * delivered is in `failures`.
 */
export async function deliverToLake(client: FirehoseClient, streamName: string, rows: readonly LakeRow[], options: LakeRetryOptions = {}): Promise<LakeDelivery> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_LAKE_ATTEMPTS);
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const { records, tooLarge } = packRecords(rows, options.maxRecordBytes);
  const failures: LakeFailure[] = [];
  if (tooLarge.length > 0) {
    failures.push({ errorCode: RECORD_TOO_LARGE, errorMessage: `a row alone exceeds the ${options.maxRecordBytes ?? MAX_RECORD_BYTES} bytes of a Firehose record`, attempts: 0, rows: tooLarge });
  }
  let pending: Pending[] = records.map((record) => ({ record }));
  let calls = 0;
  let retriedRecords = 0;
  let attempt = 0;
  while (pending.length > 0 && attempt < maxAttempts) {
    attempt++;
    if (attempt > 1) {
      retriedRecords += pending.length;
      await sleep(backoffMs(attempt - 1, random));
    }
    const failed: Pending[] = [];
    for (const batch of putBatches(pending.map((p) => ({ record: p.record, data: p.record.data })))) {
      calls++;
      try {
        const out = await client.send(new PutRecordBatchCommand({ DeliveryStreamName: streamName, Records: batch.map((p) => ({ Data: p.data })) }));
        if ((out.FailedPutCount ?? 0) === 0 && (out.RequestResponses?.length ?? batch.length) === batch.length) continue;
        batch.forEach((p, i) => {
          const response = out.RequestResponses?.[i];
          if (response === undefined) failed.push({ record: p.record, error: { code: "NoResponse", message: "Firehose returned no result for the record", permanent: false } });
          else if (response.ErrorCode !== undefined) {
            failed.push({ record: p.record, error: { code: response.ErrorCode, message: response.ErrorMessage ?? "no message", permanent: false } });
          }
        });
      } catch (error) {
        const code = error instanceof Error ? error.name : "Error";
        const message = error instanceof Error ? error.message : String(error);
        for (const p of batch) failed.push({ record: p.record, error: { code, message, permanent: PERMANENT_ERRORS.has(code) } });
      }
    }
    const permanent = failed.filter((p) => p.error?.permanent === true);
    for (const p of permanent) failures.push(failureOf(p, attempt));
    pending = failed.filter((p) => p.error?.permanent !== true);
  }
  for (const p of pending) failures.push(failureOf(p, attempt));
  const undelivered = failures.reduce((n, f) => n + f.rows.length, 0);
  return { rows: rows.length, deliveredRows: rows.length - undelivered, records: records.length, calls, retriedRecords, failures: mergeFailures(failures) };
}

function failureOf(p: Pending, attempts: number): LakeFailure {
  return { errorCode: p.error?.code ?? "Unknown", errorMessage: p.error?.message ?? "no message", attempts, rows: p.record.rows };
}

/** One failure per error code, message and attempts, rows in order. */
function mergeFailures(failures: readonly LakeFailure[]): LakeFailure[] {
  const merged = new Map<string, LakeFailure>();
  for (const f of failures) {
    const key = `${f.errorCode}\u0000${f.errorMessage}\u0000${f.attempts}`;
    const seen = merged.get(key);
    merged.set(key, seen === undefined ? f : { ...seen, rows: [...seen.rows, ...f.rows] });
  }
  return [...merged.values()];
}

/** The dead letter of readings the lake did not take: written to `enrich/lake/<factory>/...` of the dead-letter bucket. */
export interface LakeDeadLetter extends Omit<Envelope, "digest"> {
  readonly reason: "lakeDeliveryFailed";
  readonly message: string;
  /** The Firehose stream the rows were meant for. */
  readonly deliveryStream: string;
  /** The rows, grouped by their last error; each row is a line Firehose would have taken, ready to send again. */
  readonly items: readonly LakeFailure[];
}

/** The dead letter of a delivery's failures. */
export function lakeDeadLetter(envelope: Envelope, streamName: string, delivery: LakeDelivery): LakeDeadLetter {
  const { digest: _digest, ...fields } = envelope;
  const failed = delivery.rows - delivery.deliveredRows;
  const codes = [...new Set(delivery.failures.map((f) => f.errorCode))].join(", ");
  return {
    ...fields,
    reason: "lakeDeliveryFailed",
    message: `${failed} of ${delivery.rows} readings were not delivered to Firehose stream ${streamName} (${codes}); Timestream was written independently`,
    deliveryStream: streamName,
    items: delivery.failures,
  };
}
