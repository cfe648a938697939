/**
 * Timestream for LiveAnalytics in memory: `WriteRecords` only, which is all the enrichment handler calls.
 *
 * What it keeps of Timestream's behaviour, because the handler depends on it:
 * - a record's identity is its dimensions, time and measure name; `CommonAttributes` are merged into each record;
 * - a record with the identity of a stored one is accepted when its version is higher (it replaces the stored one)
 *   or when its content is the same (a redelivery: nothing changes); otherwise it is rejected with the stored
 *   record's `ExistingVersion`, and the rest of the request is still written: the call then fails with a
 *   `RejectedRecordsException` listing the rejected records by `RecordIndex`, as Timestream does;
 * - at most 100 records a call, an unknown database or table, a record without dimensions, time or measures: the
 *   service's exceptions, never a silent write.
 */
import {
  RejectedRecordsException,
  ResourceNotFoundException,
  TimestreamWriteClient,
  ValidationException,
  type _Record,
  type Dimension,
  type MeasureValueType,
  type RejectedRecord,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type TimeUnit,
  type WriteRecordsCommandInput,
  type WriteRecordsCommandOutput,
} from "@aws-sdk/client-timestream-write";
import { LOCAL_CREDENTIALS, localMetadata, serveLocally, unknownCommand } from "./serveLocally";

/** Timestream's limit on the records of one `WriteRecords` call. */
export const MAX_RECORDS_PER_CALL = 100;

/** One stored record, its measures by name. */
export interface StoredRecord {
  readonly database: string;
  readonly table: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly measureName: string;
  /** Epoch milliseconds (finer units are truncated here; the identity keeps them). */
  readonly time: number;
  readonly version: number;
  readonly measures: Readonly<Record<string, { readonly type: MeasureValueType; readonly value: string }>>;
}

/** Called for every record stored: `previous` is the record it replaced (a higher version), if any. */
export type RecordListener = (next: StoredRecord, previous: StoredRecord | undefined) => void;

/** Where records may be written, and how many are kept. */
export interface LocalTimestreamOptions {
  /** `database` -> its tables. */
  readonly tables: Readonly<Record<string, readonly string[]>>;
  /**
   * Records kept in memory; beyond it the oldest written are forgotten (a long `npm start` would otherwise grow
   * without bound). Default 500,000.
   */
  readonly maxRecords?: number;
  readonly onRecord?: RecordListener;
}

const SERVICE = "Timestream";
const IMPLEMENTED = ["WriteRecords"] as const;
const NANOS_PER_UNIT: Readonly<Record<TimeUnit, bigint>> = { SECONDS: 1_000_000_000n, MILLISECONDS: 1_000_000n, MICROSECONDS: 1_000n, NANOSECONDS: 1n };

/** Timestream's write API, in memory. */
export class LocalTimestream {
  private readonly records = new Map<string, StoredRecord>();
  private readonly maxRecords: number;
  private evictedCount = 0;

  constructor(private readonly options: LocalTimestreamOptions) {
    this.maxRecords = options.maxRecords ?? 500_000;
    if (!Number.isInteger(this.maxRecords) || this.maxRecords < 1) throw new RangeError(`maxRecords must be a whole number of at least 1, got ${this.maxRecords}`);
  }

  /** Make `client` write here (see `serveLocally`); returns it. */
  attach(client: TimestreamWriteClient): TimestreamWriteClient {
    return serveLocally<TimestreamWriteClient, ServiceInputTypes, ServiceOutputTypes>(client, SERVICE, (command, input) => {
      if (command === "WriteRecords") return this.writeRecords(input as WriteRecordsCommandInput);
      throw unknownCommand(SERVICE, command, IMPLEMENTED);
    });
  }

  /** A client in `region` that writes here, with static dummy credentials. */
  client(region: string): TimestreamWriteClient {
    return this.attach(new TimestreamWriteClient({ region, credentials: LOCAL_CREDENTIALS }));
  }

  /** Every record held, oldest written first. */
  all(): StoredRecord[] {
    return [...this.records.values()];
  }

  /** Records forgotten because of `maxRecords`. */
  evicted(): number {
    return this.evictedCount;
  }

  /** `WriteRecords`: store what is acceptable, then fail with the rejections if there are any. */
  writeRecords(input: WriteRecordsCommandInput): WriteRecordsCommandOutput {
    const database = input.DatabaseName ?? "";
    const table = input.TableName ?? "";
    const tables = this.options.tables[database];
    const missing = tables === undefined ? `database ${JSON.stringify(database)} does not exist` : tables.includes(table) ? undefined : `table ${JSON.stringify(table)} does not exist in database ${database}`;
    if (missing !== undefined) throw new ResourceNotFoundException({ message: missing, Message: missing, $metadata: {} });
    const records = input.Records ?? [];
    if (records.length === 0 || records.length > MAX_RECORDS_PER_CALL) {
      const message = `Records holds ${records.length} records: from 1 to ${MAX_RECORDS_PER_CALL} are allowed`;
      throw new ValidationException({ message, Message: message, $metadata: {} });
    }
    const rejected: RejectedRecord[] = [];
    records.forEach((record, index) => {
      const merged = merge(input.CommonAttributes ?? {}, record);
      const built = build(database, table, merged);
      if (typeof built === "string") {
        rejected.push({ RecordIndex: index, Reason: built });
        return;
      }
      const existing = this.records.get(built.key);
      if (existing !== undefined && !(built.record.version > existing.version)) {
        // same content is a redelivery: accepted, nothing changes (whatever its version says)
        if (sameMeasures(existing, built.record)) return;
        rejected.push({
          RecordIndex: index,
          Reason: `a record with the same dimensions, time and measure name is stored with version ${existing.version} and other measure values; version ${built.record.version} is not higher`,
          ExistingVersion: existing.version,
        });
        return;
      }
      this.store(built.key, built.record, existing);
    });
    if (rejected.length > 0) {
      throw new RejectedRecordsException({
        message: `${rejected.length} of ${records.length} records were rejected; see RejectedRecords`,
        Message: `${rejected.length} of ${records.length} records were rejected; see RejectedRecords`,
        RejectedRecords: rejected,
        $metadata: {},
      });
    }
    return { $metadata: localMetadata(), RecordsIngested: { Total: records.length, MemoryStore: records.length, MagneticStore: 0 } };
  }

  private store(key: string, record: StoredRecord, previous: StoredRecord | undefined): void {
    // re-inserting moves a replaced record to the newest end, so eviction forgets the oldest writes
    this.records.delete(key);
    this.records.set(key, record);
    while (this.records.size > this.maxRecords) {
      const oldest = this.records.keys().next();
      if (oldest.done === true) break;
      this.records.delete(oldest.value);
      this.evictedCount++;
    }
    this.options.onRecord?.(record, previous);
  }
}

/** A record with the common attributes it inherits (its own fields win; dimensions are the union). */
function merge(common: _Record, record: _Record): _Record {
  const dimensions = new Map<string, Dimension>();
  for (const d of [...(common.Dimensions ?? []), ...(record.Dimensions ?? [])]) dimensions.set(d.Name ?? "", d);
  return { ...common, ...record, Dimensions: [...dimensions.values()] };
}

/** The stored form and identity of a merged record, or why Timestream refuses it. */
function build(database: string, table: string, r: _Record): { key: string; record: StoredRecord } | string {
  const dimensions: Record<string, string> = {};
  for (const d of r.Dimensions ?? []) {
    if (d.Name === undefined || d.Name === "" || d.Value === undefined || d.Value === "") return `a dimension has no name or no value (${JSON.stringify(d)})`;
    dimensions[d.Name] = d.Value;
  }
  if (Object.keys(dimensions).length === 0) return "the record has no dimensions";
  const measureName = r.MeasureName ?? "";
  if (measureName === "") return "the record has no MeasureName";
  const unit: TimeUnit = r.TimeUnit ?? "MILLISECONDS";
  const factor = NANOS_PER_UNIT[unit];
  if (r.Time === undefined || !/^\d+$/.test(r.Time)) return `Time ${JSON.stringify(r.Time)} is not a whole number of ${unit}`;
  const nanos = BigInt(r.Time) * factor;
  const measures: Record<string, { type: MeasureValueType; value: string }> = {};
  const type = r.MeasureValueType ?? "DOUBLE";
  if (type === "MULTI") {
    if (r.MeasureValue !== undefined) return "a MULTI record carries MeasureValues, not MeasureValue";
    const values = r.MeasureValues ?? [];
    if (values.length === 0) return "a MULTI record has no MeasureValues";
    for (const m of values) {
      if (m.Name === undefined || m.Name === "" || m.Value === undefined || m.Type === undefined) return `measure ${JSON.stringify(m)} lacks its name, value or type`;
      if (m.Name in measures) return `measure ${m.Name} appears twice`;
      measures[m.Name] = { type: m.Type, value: m.Value };
    }
  } else {
    if (r.MeasureValue === undefined) return `a ${type} record has no MeasureValue`;
    measures[measureName] = { type, value: r.MeasureValue };
  }
  const sortedDimensions = Object.keys(dimensions)
    .sort()
    .map((name) => `${name}=${dimensions[name] ?? ""}`);
  const key = [database, table, ...sortedDimensions, measureName, nanos.toString()].join("\u0000");
  // Timestream's default version is 1: without one, a different value can never replace a stored record
  const version = r.Version ?? 1;
  return { key, record: { database, table, dimensions, measureName, time: Number(nanos / 1_000_000n), version, measures } };
}

function sameMeasures(a: StoredRecord, b: StoredRecord): boolean {
  const names = Object.keys(a.measures);
  if (names.length !== Object.keys(b.measures).length) return false;
  return names.every((name) => {
    const x = a.measures[name];
    const y = b.measures[name];
    return x !== undefined && y !== undefined && x.type === y.type && x.value === y.value;
  });
}
