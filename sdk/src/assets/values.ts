/**
 * Reading many asset property values with the fewest SiteWise calls: the latest values with
 * `BatchGetAssetPropertyValue` (at most 128 entries a call) and histories with
 * `BatchGetAssetPropertyValueHistory` (at most 16 entries a call), every page of each call via `nextToken`.
 *
 * A batch call succeeds or fails per entry: `errorEntries` and unanswered entries become an {@link EntryIssue}
 * of that entry only, so one missing property never hides the values of the 2,000 others. Only an error of the
 * whole call (throttling after the AWS SDK's retries, access denied) rejects, as an SDK error.
 *
 * How pagination works for these operations: the same entries are sent again with the `nextToken`; an entry
 * finished on an earlier page comes back in `skippedEntries` (status `SUCCESS` or `ERROR`), and a history may
 * continue over several pages. So a skipped entry is an issue only if no earlier page answered it.
 */
import {
  BatchGetAssetPropertyValueCommand,
  BatchGetAssetPropertyValueHistoryCommand,
  type AssetPropertyValue,
  type BatchGetAssetPropertyValueEntry,
  type BatchGetAssetPropertyValueHistoryEntry,
  type IoTSiteWiseClient,
} from "@aws-sdk/client-iotsitewise";
import { allPages, chunks, mapLimit, orderedLimit, type CallOptions } from "./calls";

/** At most this many entries per `BatchGetAssetPropertyValue` call (API limit). */
export const LATEST_VALUE_ENTRIES_PER_CALL = 128;

/** At most this many entries per `BatchGetAssetPropertyValueHistory` call (API limit). */
export const HISTORY_ENTRIES_PER_CALL = 16;

/** The largest `maxResults` (data points per page) `BatchGetAssetPropertyValueHistory` accepts. */
export const HISTORY_MAX_RESULTS = 20_000;

/** One asset property, by ids. */
export interface PropertyKey {
  readonly assetId: string;
  readonly propertyId: string;
}

/** Why an entry of a batch call has no value. */
export interface EntryIssue {
  /**
   * `error`: SiteWise answered the entry with an error (`code` is its `errorCode`, e.g.
   * `ResourceNotFoundException`, `AccessDeniedException`); `skipped`: SiteWise listed it in `skippedEntries`
   * without having answered it on an earlier page; `notAnswered`: no page mentioned it at all.
   */
  readonly kind: "error" | "skipped" | "notAnswered";
  readonly code?: string;
  readonly message: string;
}

/** What one entry of a batch read came back with. */
export type EntryOutcome<V> = { readonly ok: true; readonly value: V } | { readonly ok: false; readonly issue: EntryIssue };

/** Options of the batch readers. */
export interface BatchReadOptions extends CallOptions {
  /** Batch calls in flight at once (default 4). */
  readonly concurrency?: number;
}

const DEFAULT_CONCURRENCY = 4;

/** Entry ids are the entry's index in its call: short, unique, and within `^[a-zA-Z0-9_-]+$`, 64 characters. */
function entryId(index: number): string {
  return `e${index}`;
}

function indexOf(id: string | undefined, size: number): number | undefined {
  if (id === undefined || !/^e\d+$/.test(id)) return undefined;
  const index = Number(id.slice(1));
  return index < size ? index : undefined;
}

/** Collects the per-entry answers of the pages of one batch call. */
class EntryAnswers<V> {
  readonly outcomes: (EntryOutcome<V> | undefined)[];

  constructor(readonly size: number) {
    this.outcomes = new Array<EntryOutcome<V> | undefined>(size).fill(undefined);
  }

  succeed(id: string | undefined, merge: (previous: V | undefined) => V): void {
    const index = indexOf(id, this.size);
    if (index === undefined) return;
    const previous = this.outcomes[index];
    this.outcomes[index] = { ok: true, value: merge(previous?.ok === true ? previous.value : undefined) };
  }

  fail(id: string | undefined, code: string | undefined, message: string | undefined): void {
    const index = indexOf(id, this.size);
    if (index === undefined) return;
    this.outcomes[index] = { ok: false, issue: { kind: "error", ...(code === undefined ? {} : { code }), message: message ?? code ?? "error" } };
  }

  skipped(id: string | undefined, status: string | undefined, code: string | undefined): void {
    const index = indexOf(id, this.size);
    if (index === undefined || this.outcomes[index] !== undefined) return; // answered on an earlier page
    const message = `skipped by SiteWise (completion status ${status ?? "unknown"}${code === undefined ? "" : `, ${code}`}) before any page answered it`;
    this.outcomes[index] = { ok: false, issue: { kind: "skipped", ...(code === undefined ? {} : { code }), message } };
  }

  finish(): EntryOutcome<V>[] {
    return this.outcomes.map(
      (outcome) => outcome ?? { ok: false, issue: { kind: "notAnswered", message: "no page of the batch response mentioned this entry" } },
    );
  }
}

/**
 * The latest value of each property (`undefined` when SiteWise has none), in the order of `keys`, with
 * `ceil(keys / 128)` calls (more only if SiteWise paginates).
 */
export async function latestValues(
  client: IoTSiteWiseClient,
  keys: readonly PropertyKey[],
  options: BatchReadOptions = {},
): Promise<EntryOutcome<AssetPropertyValue | undefined>[]> {
  const batches = chunks(keys, LATEST_VALUE_ENTRIES_PER_CALL);
  const answered = await mapLimit(batches, options.concurrency ?? DEFAULT_CONCURRENCY, async (batch) => {
    const entries: BatchGetAssetPropertyValueEntry[] = batch.map((k, i) => ({ entryId: entryId(i), assetId: k.assetId, propertyId: k.propertyId }));
    const answers = new EntryAnswers<AssetPropertyValue | undefined>(batch.length);
    const abort = options.signal === undefined ? undefined : { abortSignal: options.signal };
    for await (const page of allPages("BatchGetAssetPropertyValue", (nextToken) =>
      client.send(new BatchGetAssetPropertyValueCommand({ entries, ...(nextToken === undefined ? {} : { nextToken }) }), abort),
    )) {
      for (const s of page.successEntries ?? []) answers.succeed(s.entryId, () => s.assetPropertyValue);
      for (const e of page.errorEntries ?? []) answers.fail(e.entryId, e.errorCode, e.errorMessage);
      for (const k of page.skippedEntries ?? []) answers.skipped(k.entryId, k.completionStatus, k.errorInfo?.errorCode);
    }
    return answers.finish();
  });
  return answered.flat();
}

/** A history to read: a property and the span (start exclusive, end inclusive, as SiteWise reads it). */
export interface HistoryKey extends PropertyKey {
  readonly startDate: Date;
  readonly endDate: Date;
}

/** The histories of the entries of one call, yielded as soon as the call (all its pages) is done. */
export interface HistoryBatch {
  /** Index in the `keys` given to {@link historyValues} of the first entry of this batch. */
  readonly offset: number;
  /** One outcome per entry of the batch, values in ascending time. */
  readonly outcomes: readonly EntryOutcome<readonly AssetPropertyValue[]>[];
}

/**
 * The histories of the properties, `ceil(keys / 16)` calls plus one per further page, streamed batch by batch
 * in the order of `keys` while up to `concurrency` calls are in flight.
 */
export async function* historyValues(
  client: IoTSiteWiseClient,
  keys: readonly HistoryKey[],
  options: BatchReadOptions & { readonly maxResults?: number } = {},
): AsyncGenerator<HistoryBatch, void, undefined> {
  const batches = chunks(keys, HISTORY_ENTRIES_PER_CALL);
  const maxResults = options.maxResults ?? HISTORY_MAX_RESULTS;
  const abort = options.signal === undefined ? undefined : { abortSignal: options.signal };
  const readBatch = async (batch: readonly HistoryKey[]): Promise<EntryOutcome<readonly AssetPropertyValue[]>[]> => {
    const entries: BatchGetAssetPropertyValueHistoryEntry[] = batch.map((k, i) => ({
      entryId: entryId(i),
      assetId: k.assetId,
      propertyId: k.propertyId,
      startDate: k.startDate,
      endDate: k.endDate,
      timeOrdering: "ASCENDING",
    }));
    const answers = new EntryAnswers<readonly AssetPropertyValue[]>(batch.length);
    for await (const page of allPages("BatchGetAssetPropertyValueHistory", (nextToken) =>
      client.send(new BatchGetAssetPropertyValueHistoryCommand({ entries, maxResults, ...(nextToken === undefined ? {} : { nextToken }) }), abort),
    )) {
      for (const s of page.successEntries ?? []) answers.succeed(s.entryId, (previous) => [...(previous ?? []), ...(s.assetPropertyValueHistory ?? [])]);
      for (const e of page.errorEntries ?? []) answers.fail(e.entryId, e.errorCode, e.errorMessage);
      for (const k of page.skippedEntries ?? []) answers.skipped(k.entryId, k.completionStatus, k.errorInfo?.errorCode);
    }
    return answers.finish();
  };
  for await (const [index, outcomes] of orderedLimit(batches, options.concurrency ?? DEFAULT_CONCURRENCY, readBatch)) {
    yield { offset: index * HISTORY_ENTRIES_PER_CALL, outcomes };
  }
}

/** Epoch milliseconds of a SiteWise timestamp (seconds + nanoseconds), or `undefined` if it has none. */
export function timestampMs(value: AssetPropertyValue): number | undefined {
  const seconds = value.timestamp?.timeInSeconds;
  if (seconds === undefined) return undefined;
  return seconds * 1000 + Math.floor((value.timestamp?.offsetInNanos ?? 0) / 1e6);
}

/** The number a value carries (metrics are DOUBLE; INTEGER accepted), or `undefined`. */
export function numericValue(value: AssetPropertyValue): number | undefined {
  const v = value.value;
  if (v === undefined) return undefined;
  if (typeof v.doubleValue === "number") return v.doubleValue;
  if (typeof v.integerValue === "number") return v.integerValue;
  return undefined;
}
