/**
 * Telemetry queries against a factory's Timestream table: the latest reading per machine and tag, binned
 * aggregates and raw readings, as typed values.
 *
 * - **Validation first.** Every argument is checked by `./sql` before anything is sent; a bad machine id, tag, time
 *   or bin size is a {@link QueryValidationError} naming the argument, and no AWS call happens.
 * - **No caller SQL.** The queries are built only by `./sql`; there is no entry point that takes query text.
 * - **Paging.** Results come page by page as Timestream returns them, following `NextToken` to the end. Each page
 *   carries the query id and the cumulative bytes scanned and metered (`QueryStatus`), which is what a query costs.
 * - **Cancellation.** An `AbortSignal` stops the iteration: the running query is cancelled with `CancelQuery` and
 *   the iteration throws {@link QueryCancelledError}. Leaving a `for await` loop early cancels the query too.
 * - **Errors.** AWS errors go through {@link fromAwsError}: throttling that outlasted the AWS SDK's own retries is a
 *   `ThrottledError` with the AWS error as `cause`. There are no retry loops here; configure the client's
 *   `maxAttempts`/`retryStrategy` instead.
 * - **Schema.** Timestream adds a measure column to a table the first time a record carries it: `<tag>_quality`
 *   exists only once a non-good reading of the tag was stored. The queries therefore read the table's columns
 *   (`DESCRIBE`, cached for `schemaCacheMs`) and never name a missing one: a tag without data has no results instead
 *   of failing the query.
 */
import {
  CancelQueryCommand,
  QueryCommand,
  type ColumnInfo,
  type QueryCommandOutput,
  type Row,
  type TimestreamQueryClient,
} from "@aws-sdk/client-timestream-query";
import type { MachineId, TagName } from "../codecs/primitives";
import type { Quality } from "../codecs/reading";
import type { QueryContext } from "../client/context";
import { BackendError, fromAwsError, QueryCancelledError, QueryValidationError, SmartFactoryError } from "../errors";
import { DEFAULT_MAX_FUTURE_SKEW_SECONDS } from "../timestamps";
import { rowDecoder, type TimestreamValue } from "./rows";
import {
  aggregatePlans,
  binnedSql,
  describeSql,
  epochMillisOf,
  latestSql,
  machineIdsOf,
  MAX_PAGE_SIZE,
  MAX_QUERY_RANGE_MS,
  optionalCount,
  parseDuration,
  qualitiesOf,
  rawSql,
  tagsOf,
  telemetryTarget,
  timeRange,
  type AggregateKey,
  type AggregatePlan,
  type AggregateSpec,
  type Duration,
  type TableColumns,
  type TelemetryTarget,
  type TimeBound,
} from "./sql";

const SECOND = 1000;
const DAY = 86_400_000;

/** The lookback of {@link TelemetryQueries.latest} when none is given. */
export const DEFAULT_LATEST_LOOKBACK: Duration = "1h";

/** How long the table's column list is reused before it is read again. */
export const DEFAULT_SCHEMA_CACHE_MS = 60_000;

// ---------------------------------------------------------------------------------------------- public types

/** Options of {@link createTelemetryQueries}. */
export interface TelemetryQueriesOptions {
  /**
   * The table's magnetic-store retention in days (`smart-factory:telemetry.magneticStoreRetentionDays`): a range
   * longer than the table keeps data is refused instead of scanning for nothing. Ranges are never longer than
   * 10 years in any case.
   */
  readonly retentionDays?: number;
  /**
   * How long the table's column list is reused, in milliseconds (default one minute; 0 reads it before every
   * query). A column that appears meanwhile (the first bad reading of a tag) is seen at the next read.
   */
  readonly schemaCacheMs?: number;
  /**
   * How far ahead of the clock a reading may be stamped (default {@link DEFAULT_MAX_FUTURE_SKEW_SECONDS}, as the
   * pipeline accepts): {@link TelemetryQueries.latest} looks that far ahead of `now`, so such readings count.
   */
  readonly maxFutureSkewSeconds?: number;
}

/** What a query cost and which query it was, as Timestream reports it. */
export interface QueryStats {
  /** Timestream's id of the query (for `CancelQuery` and support cases); absent when nothing had to be queried. */
  readonly queryId: string | undefined;
  /** Bytes scanned so far (`QueryStatus.CumulativeBytesScanned`; 0 when not reported). */
  readonly bytesScanned: number;
  /** Bytes metered so far, what is billed (`QueryStatus.CumulativeBytesMetered`; 0 when not reported). */
  readonly bytesMetered: number;
}

/** A complete, small result ({@link TelemetryQueries.latest}) with its cost. */
export interface TelemetryResult<T> extends QueryStats {
  readonly data: T;
  /** How many pages Timestream returned. */
  readonly pages: number;
}

/** One page of a streamed result, as Timestream returned it, with the cost of the query so far. */
export interface TelemetryPage<T> {
  readonly items: readonly T[];
  readonly queryId: string;
  /** 0 for the first page. A page may be empty: Timestream returns empty pages while a query is still running. */
  readonly pageIndex: number;
  /** Bytes scanned by the query up to this page (`QueryStatus.CumulativeBytesScanned`; 0 when not reported). */
  readonly bytesScanned: number;
  /** Bytes metered up to this page (`QueryStatus.CumulativeBytesMetered`; 0 when not reported). */
  readonly bytesMetered: number;
  /** `QueryStatus.ProgressPercentage`, when reported. */
  readonly progressPercentage: number | undefined;
  /** Whether this is the last page. */
  readonly last: boolean;
}

/** Arguments of {@link TelemetryQueries.latest}. */
export interface LatestQuery {
  /** Machines, by id (`press-07`); validated, duplicates ignored. */
  readonly machineIds: readonly string[];
  /** Tags, by name (`spindleTemperature`); validated, duplicates ignored. */
  readonly tags: readonly string[];
  /**
   * How far back to look for the latest reading (`15m`, `1h`, `7d`, or whole milliseconds); default
   * {@link DEFAULT_LATEST_LOOKBACK}. A tag with no reading in that window is absent from the result: the bound
   * keeps the query from scanning the whole table for a machine that went silent.
   */
  readonly lookback?: Duration | number;
  readonly signal?: AbortSignal;
}

/** The latest reading of one tag of one machine. */
export interface LatestValue {
  readonly machineId: MachineId;
  readonly tag: TagName;
  readonly time: Date;
  /** The value in the tag's canonical unit; `null` for a non-good reading that came without a value. */
  readonly value: number | null;
  readonly quality: Quality;
}

/** Arguments of {@link TelemetryQueries.binned}. */
export interface BinnedQuery<A extends readonly AggregateSpec[]> {
  readonly machineIds: readonly string[];
  readonly tags: readonly string[];
  /** Start of the range, included (epoch ms or Date). */
  readonly from: TimeBound;
  /** End of the range, included (epoch ms or Date). */
  readonly to: TimeBound;
  /** Bin size (`1m`, `5m`, `1h`, `1d`); bins are aligned on the Unix epoch in UTC, so the first may start before `from`. */
  readonly bin: Duration;
  /** What to compute per bin and tag; `count` (values in the bin) is always there. */
  readonly aggregates: A;
  /** Which readings' values enter the aggregates; default only `good` ones. */
  readonly qualities?: readonly Quality[];
  /** Rows per page (1 to 1000; each row is one machine and bin); default: as many as fit Timestream's 1 MB page. */
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

/**
 * The aggregates of one tag of one machine over one bin: `count` of the values aggregated, and one key per asked
 * aggregate (`avg`, `min`, `max`, `sum`, `p95`...). Bins in which the tag had no value are not reported.
 */
export type TelemetryBin<K extends AggregateKey<AggregateSpec> = AggregateKey<AggregateSpec>> = {
  readonly machineId: MachineId;
  readonly tag: TagName;
  /** Start of the bin (UTC); the bin ends one bin size later, excluded. */
  readonly binStart: Date;
  readonly count: number;
} & { readonly [P in Exclude<K, "count">]: number | null };

/** Arguments of {@link TelemetryQueries.raw}. */
export interface RawQuery<T extends string> {
  readonly machineIds: readonly string[];
  readonly tags: readonly T[];
  /** Start of the range, included (epoch ms or Date). */
  readonly from: TimeBound;
  /** End of the range, included (epoch ms or Date). */
  readonly to: TimeBound;
  /** Rows per page (1 to 1000); default: as many as fit Timestream's 1 MB page. */
  readonly pageSize?: number;
  /** Most rows in all (SQL `LIMIT`, at most 10 million); default: every row of the range. */
  readonly limit?: number;
  readonly signal?: AbortSignal;
}

/** One stored record of a machine: the values and qualities of the asked tags at one time. */
export interface RawSample<T extends string = string> {
  readonly time: Date;
  readonly machineId: MachineId;
  /** Per tag, the value in its canonical unit, or `null` when the record has none for it. */
  readonly values: { readonly [K in T]: number | null };
  /** Per tag, the reading's quality, or `null` when the record has no reading of it at all. */
  readonly quality: { readonly [K in T]: Quality | null };
}

/** The telemetry queries of one factory; see {@link createTelemetryQueries}. */
export interface TelemetryQueries {
  /**
   * The latest reading of each machine and tag within the lookback window (ordered by machine, then tag as
   * asked), collected from every page.
   *
   * @throws QueryValidationError (as a rejection) for invalid arguments; nothing is sent then.
   * @throws QueryCancelledError when `signal` aborts; the running query is cancelled.
   */
  latest(query: LatestQuery): Promise<TelemetryResult<LatestValue[]>>;
  /**
   * Aggregates per machine, bin and tag over `[from, to]`, page by page as Timestream returns them, ordered by
   * machine then bin. Typed by the aggregates asked for:
   * `binned({ ..., aggregates: ["avg", { percentile: 95 }] })` yields bins with `avg` and `p95`.
   *
   * @throws QueryValidationError synchronously, before anything is sent, for invalid arguments.
   */
  binned<const A extends readonly AggregateSpec[]>(query: BinnedQuery<A>): AsyncIterable<TelemetryPage<TelemetryBin<AggregateKey<A[number]>>>>;
  /**
   * The stored records of the machines over `[from, to]` that carry at least one of the tags, in time order, page
   * by page as Timestream returns them.
   *
   * @throws QueryValidationError synchronously, before anything is sent, for invalid arguments.
   */
  raw<const T extends string>(query: RawQuery<T>): AsyncIterable<TelemetryPage<RawSample<T>>>;
}

// ---------------------------------------------------------------------------------------------- the runner

/** A page of a query as Timestream returned it. */
export interface ResultPage {
  readonly queryId: string;
  readonly index: number;
  readonly columns: readonly ColumnInfo[];
  readonly rows: readonly Row[];
  readonly bytesScanned: number;
  readonly bytesMetered: number;
  readonly progressPercentage: number | undefined;
  readonly last: boolean;
}

function cancelledError(signal: AbortSignal | undefined, queryId: string | undefined, cause?: unknown): QueryCancelledError {
  const reason: unknown = signal?.reason;
  return new QueryCancelledError(`Query${queryId === undefined ? "" : ` ${queryId}`} was cancelled by its AbortSignal`, {
    cause: reason ?? cause,
  });
}

/** Whether `signal` has aborted (a call, so that TypeScript does not narrow the flag across awaits). */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** `promise`, or a rejection as soon as `signal` aborts, whichever comes first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors -- the AWS error, as thrown
      },
    );
  });
}

/**
 * Runs one query (its text built with the quoting helpers of `./sql`, never from raw input) and yields its pages, following `NextToken` until Timestream has no more (every
 * call repeats the same query text, as pagination requires). On abort, or when the consumer stops early, the
 * running query is cancelled (best effort: if `CancelQuery` fails, the query ends at its own timeout). A query
 * aborted before its first page arrived has no `QueryId` yet, so it cannot be cancelled: the request is abandoned
 * and Timestream ends the query by itself. An error in the middle of a stream also cancels the query.
 */
export async function* runQuery(
  client: TimestreamQueryClient,
  queryString: string,
  options: { readonly maxRows?: number; readonly signal?: AbortSignal },
): AsyncGenerator<ResultPage, void, undefined> {
  const { signal, maxRows } = options;
  if (isAborted(signal)) throw cancelledError(signal, undefined);
  let queryId: string | undefined;
  let finished = false;
  let cancelling: Promise<void> | undefined;
  const cancel = (): Promise<void> => {
    if (cancelling === undefined) {
      const id = queryId;
      cancelling =
        id === undefined || finished
          ? Promise.resolve()
          : client.send(new CancelQueryCommand({ QueryId: id })).then(
              () => undefined,
              () => undefined,
            );
    }
    return cancelling;
  };
  // Cancel as soon as the signal aborts, even if the consumer never asks for another page.
  const onAbort = (): void => {
    void cancel();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    let nextToken: string | undefined;
    let index = 0;
    do {
      if (isAborted(signal)) {
        await cancel();
        throw cancelledError(signal, queryId);
      }
      let response: QueryCommandOutput;
      try {
        const command = new QueryCommand({ QueryString: queryString, NextToken: nextToken, MaxRows: maxRows });
        response = await abortable(client.send(command, { abortSignal: signal }), signal);
      } catch (error) {
        if (isAborted(signal)) {
          await cancel();
          throw cancelledError(signal, queryId, error);
        }
        throw fromAwsError("Query", error);
      }
      if (response.QueryId === undefined || response.QueryId === "") {
        throw new BackendError("Query", "the response has no QueryId", { cause: response });
      }
      queryId = response.QueryId;
      nextToken = response.NextToken === "" ? undefined : response.NextToken;
      finished = nextToken === undefined;
      const status = response.QueryStatus;
      yield {
        queryId,
        index,
        columns: response.ColumnInfo ?? [],
        rows: response.Rows ?? [],
        bytesScanned: status?.CumulativeBytesScanned ?? 0,
        bytesMetered: status?.CumulativeBytesMetered ?? 0,
        progressPercentage: status?.ProgressPercentage,
        last: finished,
      };
      index++;
    } while (nextToken !== undefined);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    // The consumer left early (break, return, an exception in its loop): free the query still running.
    if (!finished) await cancel();
  }
}

// ---------------------------------------------------------------------------------------------- decoding helpers

function resultError(column: string, problem: string): SmartFactoryError {
  return new SmartFactoryError(`unexpected Timestream result in column ${column}: ${problem}`);
}

function expectWidth(page: ResultPage, width: number): void {
  if (page.rows.length > 0 && page.columns.length !== width) {
    throw new SmartFactoryError(`unexpected Timestream result: ${page.columns.length} columns, the query selects ${width}`);
  }
}

function asMachine(value: TimestreamValue, column: string): MachineId {
  if (typeof value !== "string") throw resultError(column, "expected a machine id");
  return value as MachineId;
}

function asDate(value: TimestreamValue, column: string): Date {
  if (!(value instanceof Date)) throw resultError(column, "expected a timestamp");
  return value;
}

function asNumber(value: TimestreamValue, column: string): number | null {
  if (value === null || typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  throw resultError(column, "expected a number");
}

/** The stored quality: no quality measure means good (only non-good readings store one). */
function asQuality(value: TimestreamValue, column: string): Quality {
  if (value === null || value === "good") return "good";
  if (value === "uncertain" || value === "bad") return value;
  throw resultError(column, `unknown quality ${JSON.stringify(value)}`);
}

// ---------------------------------------------------------------------------------------------- the queries

function boundedOption(field: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new QueryValidationError(field, value, `a whole number from ${min} to ${max}`);
  }
  return value;
}

/**
 * The telemetry queries of the context's factory.
 *
 * The context's database, table and factory id are checked here, once: they end up in every query's text.
 *
 * @example
 * ```ts
 * const telemetry = createTelemetryQueries(ctx, { retentionDays: 365 });
 * const { data } = await telemetry.latest({ machineIds: ["press-07"], tags: ["spindleTemperature"] });
 * for await (const page of telemetry.binned({
 *   machineIds: ["press-07"], tags: ["spindleTemperature"], from: Date.parse("2026-11-23T06:00:00Z"),
 *   to: Date.parse("2026-11-23T14:00:00Z"), bin: "5m", aggregates: ["avg", "max", { percentile: 95 }],
 * })) {
 *   for (const bin of page.items) console.log(bin.binStart, bin.avg, bin.p95);
 * }
 * ```
 * @throws QueryValidationError for an invalid database, table, factory id or option.
 */
export function createTelemetryQueries(ctx: QueryContext, options: TelemetryQueriesOptions = {}): TelemetryQueries {
  const target: TelemetryTarget = telemetryTarget(ctx.database, ctx.table, ctx.factoryId);
  const retentionDays = boundedOption("retentionDays", options.retentionDays, 1, 73_000, 73_000);
  const maxRangeMs = Math.min(MAX_QUERY_RANGE_MS, retentionDays * DAY);
  const schemaCacheMs = boundedOption("schemaCacheMs", options.schemaCacheMs, 0, DAY, DEFAULT_SCHEMA_CACHE_MS);
  const skewMs = boundedOption("maxFutureSkewSeconds", options.maxFutureSkewSeconds, 0, 3600, DEFAULT_MAX_FUTURE_SKEW_SECONDS) * SECOND;
  const client = ctx.timestream;

  let schema: { readonly at: number; readonly columns: TableColumns } | undefined;

  /** The table's column names, read with `DESCRIBE` (first column of each row) and cached. */
  async function tableColumns(signal: AbortSignal | undefined): Promise<TableColumns> {
    const now = ctx.now();
    if (schema !== undefined && now - schema.at < schemaCacheMs && now >= schema.at) return schema.columns;
    const columns = new Set<string>();
    for await (const page of runQuery(client, describeSql(target), { signal })) {
      if (page.rows.length === 0) continue;
      const decoder = rowDecoder(page.columns);
      const at = Math.max(0, decoder.names.findIndex((n) => n.toLowerCase() === "column"));
      for (const row of page.rows) {
        const name = decoder.decodeTuple(row)[at];
        if (typeof name === "string") columns.add(name);
      }
    }
    schema = { at: now, columns };
    return columns;
  }

  function pageOf<T>(page: ResultPage, items: readonly T[]): TelemetryPage<T> {
    return {
      items,
      queryId: page.queryId,
      pageIndex: page.index,
      bytesScanned: page.bytesScanned,
      bytesMetered: page.bytesMetered,
      progressPercentage: page.progressPercentage,
      last: page.last,
    };
  }

  /** An iterable that runs `run` afresh each time it is iterated. */
  function iterable<T>(run: () => AsyncGenerator<T, void, undefined>): AsyncIterable<T> {
    return { [Symbol.asyncIterator]: run };
  }

  async function latest(query: LatestQuery): Promise<TelemetryResult<LatestValue[]>> {
    const machineIds = machineIdsOf(query.machineIds);
    const tags = tagsOf(query.tags);
    const lookback = parseDuration("lookback", query.lookback ?? DEFAULT_LATEST_LOOKBACK, true);
    if (lookback.ms > maxRangeMs) throw new QueryValidationError("lookback", query.lookback, `a duration of at most ${maxRangeMs / DAY} days (the table's retention)`);
    const now = ctx.now();
    const range = { from: epochMillisOf("lookback", now - lookback.ms), to: epochMillisOf("now", now + skewMs) };
    const { signal } = query;
    if (isAborted(signal)) throw cancelledError(signal, undefined);

    const built = latestSql({ target, machineIds, tags, range }, await tableColumns(signal));
    if (built === undefined) return { data: [], queryId: undefined, bytesScanned: 0, bytesMetered: 0, pages: 0 };
    const data: LatestValue[] = [];
    let stats: QueryStats = { queryId: undefined, bytesScanned: 0, bytesMetered: 0 };
    let pages = 0;
    for await (const page of runQuery(client, built.sql, { signal })) {
      pages++;
      stats = page;
      expectWidth(page, 1 + 3 * built.tags.length);
      if (page.rows.length === 0) continue;
      const decoder = rowDecoder(page.columns);
      for (const row of page.rows) {
        const v = decoder.decodeTuple(row);
        const machineId = asMachine(v[0] ?? null, "machine");
        built.tags.forEach(({ tag }, i) => {
          const time = v[1 + 3 * i] ?? null;
          if (time === null) return;
          data.push({
            machineId,
            tag,
            time: asDate(time, `${tag}_time`),
            value: asNumber(v[2 + 3 * i] ?? null, `${tag}_value`),
            quality: asQuality(v[3 + 3 * i] ?? null, `${tag}_quality`),
          });
        });
      }
    }
    return { data, queryId: stats.queryId, bytesScanned: stats.bytesScanned, bytesMetered: stats.bytesMetered, pages };
  }

  function binned<const A extends readonly AggregateSpec[]>(query: BinnedQuery<A>): AsyncIterable<TelemetryPage<TelemetryBin<AggregateKey<A[number]>>>> {
    type Bin = TelemetryBin<AggregateKey<A[number]>>;
    const machineIds = machineIdsOf(query.machineIds);
    const tags = tagsOf(query.tags);
    const range = timeRange(query.from, query.to, maxRangeMs);
    const bin = parseDuration("bin", query.bin);
    const aggregates: readonly AggregatePlan[] = aggregatePlans(query.aggregates);
    const qualities = qualitiesOf(query.qualities);
    const maxRows = optionalCount("pageSize", query.pageSize, MAX_PAGE_SIZE);
    const { signal } = query;

    return iterable(async function* () {
      const built = binnedSql({ target, machineIds, tags, range, bin, aggregates, qualities }, await tableColumns(signal));
      if (built === undefined) return;
      const perTag = 1 + aggregates.length;
      for await (const page of runQuery(client, built.sql, { signal, maxRows })) {
        expectWidth(page, 2 + perTag * built.tags.length);
        const items: Bin[] = [];
        if (page.rows.length > 0) {
          const decoder = rowDecoder(page.columns);
          for (const row of page.rows) {
            const v = decoder.decodeTuple(row);
            const machineId = asMachine(v[0] ?? null, "machine");
            const binStart = asDate(v[1] ?? null, "binStart");
            built.tags.forEach((tag, i) => {
              const base = 2 + perTag * i;
              const count = asNumber(v[base] ?? null, `${tag}_count`) ?? 0;
              if (count === 0) return;
              const item: Record<string, unknown> = { machineId, tag, binStart, count };
              aggregates.forEach((a, j) => {
                item[a.key] = asNumber(v[base + 1 + j] ?? null, `${tag}_${a.alias}`);
              });
              items.push(item as Bin);
            });
          }
        }
        yield pageOf(page, items);
      }
    });
  }

  function raw<const T extends string>(query: RawQuery<T>): AsyncIterable<TelemetryPage<RawSample<T>>> {
    const machineIds = machineIdsOf(query.machineIds);
    const tags = tagsOf(query.tags);
    const range = timeRange(query.from, query.to, maxRangeMs);
    const maxRows = optionalCount("pageSize", query.pageSize, MAX_PAGE_SIZE);
    const limit = optionalCount("limit", query.limit, 10_000_000);
    const { signal } = query;

    return iterable(async function* () {
      const built = rawSql({ target, machineIds, tags, range, limit }, await tableColumns(signal));
      if (built === undefined) return;
      // Each asked tag in the asked order, with the index of its columns (after time and machine), or -1 when the
      // table has no column for it (no data was ever stored): then it is null in every row.
      const positions = tags.map((tag) => {
        const i = built.tags.findIndex((t) => t.tag === tag);
        return { tag, at: i < 0 ? -1 : 2 + 2 * i };
      });
      for await (const page of runQuery(client, built.sql, { signal, maxRows })) {
        expectWidth(page, 2 + 2 * built.tags.length);
        const items: RawSample<T>[] = [];
        if (page.rows.length > 0) {
          const decoder = rowDecoder(page.columns);
          for (const row of page.rows) {
            const v = decoder.decodeTuple(row);
            const values: Record<string, number | null> = {};
            const quality: Record<string, Quality | null> = {};
            for (const { tag, at } of positions) {
              const value = at < 0 ? null : asNumber(v[at] ?? null, tag);
              const q = at < 0 ? null : (v[at + 1] ?? null);
              values[tag] = value;
              quality[tag] = value === null && q === null ? null : asQuality(q, `${tag}_quality`);
            }
            items.push({
              time: asDate(v[0] ?? null, "time"),
              machineId: asMachine(v[1] ?? null, "machine"),
              values: values as RawSample<T>["values"],
              quality: quality as RawSample<T>["quality"],
            });
          }
        }
        yield pageOf(page, items);
      }
    });
  }

  return { latest, binned, raw };
}
