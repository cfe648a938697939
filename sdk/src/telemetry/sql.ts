/**
 * The only place where the SDK writes Timestream SQL.
 *
 * Timestream for LiveAnalytics has no bind parameters, so every value a caller gives ends up as text inside the
 * query. This module is the boundary that keeps that safe:
 * - identifiers (database, table, dimension and measure names, aliases) are checked against the data model of
 *   `./model` or a strict pattern and always double-quoted; a checked identifier can never contain a quote;
 * - string literals are single-quoted with `'` doubled, and text with control or invisible formatting characters is
 *   refused; ids (machines, factories) must additionally be in the id alphabet, so a hostile id never gets this far;
 * - times are whole epoch milliseconds (a number or a `Date`) rendered as `from_milliseconds(<integer>)`: caller
 *   text is never pasted as a time;
 * - every query has a bounded `time BETWEEN ... AND ...` predicate, bin sizes come from a fixed grammar and
 *   aggregates from a fixed set.
 *
 * Every check fails with a {@link QueryValidationError} naming the argument and the value, before anything is sent.
 * The builders are pure functions of validated plans, so the SQL they produce is asserted exactly in tests: it is
 * the contract with Timestream.
 */
import { FactoryId, MachineId, TagName } from "../codecs/primitives";
import type { Quality } from "../codecs/reading";
import { QueryValidationError } from "../errors";
import { qualityMeasureName, TELEMETRY_MEASURE_NAME } from "./model";

// ---------------------------------------------------------------------------------------------- limits

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The longest time range any query may span: 10 years (of 365.25 days). Narrowed by the table's retention. */
export const MAX_QUERY_RANGE_MS = 3653 * DAY;

/** Earliest time a query may name: 2000-01-01T00:00:00Z (the same bounds as the contract's `EpochMillis`). */
export const MIN_QUERY_TIME_MS = 946_684_800_000;

/** Time a query must stay before: 2100-01-01T00:00:00Z. */
export const MAX_QUERY_TIME_MS = 4_102_444_800_000;

/** Most machines one query may name, which keeps the query text far below Timestream's size limit. */
export const MAX_QUERY_MACHINES = 500;

/** Most tags one query may name: each becomes several columns of the result. */
export const MAX_QUERY_TAGS = 64;

/** Timestream returns at most this many rows per page (`MaxRows`). */
export const MAX_PAGE_SIZE = 1000;

// ---------------------------------------------------------------------------------------------- characters

/**
 * Characters never accepted inside a string literal: C0/C1 controls (NUL, newlines, escape), lone surrogates, the
 * line and paragraph separators, and invisible formatting characters (zero-width spaces and joiners, bidi overrides,
 * the byte order mark). They are harmless to the SQL grammar once quoted, but they hide what a literal really says
 * from anyone reading logs, so text carrying them is refused rather than escaped.
 */
const FORBIDDEN_IN_LITERAL = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

/** Identifiers the builders emit: a letter or underscore, then letters, digits and underscores. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Timestream database and table names: letters, digits, `_`, `.` and `-`, 3 to 256 characters. */
const RESOURCE_NAME = /^[A-Za-z0-9_.-]{3,256}$/;

// ---------------------------------------------------------------------------------------------- quoting

/**
 * `name` as a double-quoted identifier. The name must match a strict pattern (letters, digits, underscores, not
 * starting with a digit), so it can never contain the quote that would end it: nothing is escaped because nothing
 * needs to be, and anything else is refused.
 *
 * @param field the argument the name came from, for the error.
 * @throws QueryValidationError when `name` is not such an identifier.
 */
export function quoteIdentifier(field: string, name: unknown): string {
  if (typeof name !== "string" || !IDENTIFIER.test(name)) {
    throw new QueryValidationError(field, name, "an identifier of letters, digits and underscores, starting with a letter or underscore, at most 128 characters");
  }
  return `"${name}"`;
}

/**
 * A Timestream database or table name as a double-quoted identifier. Such names may contain `-` and `.`
 * (`factory-a-telemetry`), which is why they are quoted, but never a quote.
 *
 * @throws QueryValidationError when `name` is not a valid Timestream database or table name.
 */
export function quoteResourceName(field: string, name: unknown): string {
  if (typeof name !== "string" || !RESOURCE_NAME.test(name)) {
    throw new QueryValidationError(field, name, "a Timestream database or table name (3 to 256 letters, digits, '_', '.' or '-')");
  }
  return `"${name}"`;
}

/**
 * `value` as a single-quoted SQL string literal, with every `'` doubled (the only escape SQL string literals have;
 * a backslash is an ordinary character). Text with control characters, lone surrogates or invisible formatting
 * characters is refused, not escaped.
 *
 * @throws QueryValidationError when `value` is not a string or contains a refused character.
 */
export function quoteString(field: string, value: unknown): string {
  if (typeof value !== "string") throw new QueryValidationError(field, value, "a string");
  if (FORBIDDEN_IN_LITERAL.test(value)) {
    throw new QueryValidationError(field, value, "text without control characters, line separators or invisible formatting characters");
  }
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * An id (machine, line, factory) as a string literal. The id must be in the id alphabet (lower-case letters, digits,
 * single hyphens), so a quote, a comment marker or a look-alike character is refused before quoting.
 *
 * @throws QueryValidationError when `value` is not such an id.
 */
export function quoteId(field: string, value: unknown, what = "id"): string {
  if (typeof value !== "string" || !/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/.test(value) || value.length > 64) {
    throw new QueryValidationError(field, value, `a ${what} id (lower-case letters, digits and single hyphens, starting with a letter)`);
  }
  return quoteString(field, value);
}

// ---------------------------------------------------------------------------------------------- times

/** A point in time as a query accepts it: whole milliseconds since the Unix epoch (UTC), or a `Date`. */
export type TimeBound = number | Date;

const EXPECTED_TIME = "a time as whole epoch milliseconds or a valid Date, between 2000-01-01 and 2100-01-01 (UTC)";

/**
 * The epoch milliseconds of a time bound. Strings are refused on purpose: a date string would need parsing with
 * time-zone rules, and a string is what an injection looks like.
 *
 * @throws QueryValidationError for anything but a finite whole number or a valid `Date` in [2000, 2100).
 */
export function epochMillisOf(field: string, value: unknown): number {
  let ms: number;
  if (typeof value === "number") {
    ms = value;
  } else if (value instanceof Date) {
    try {
      // The intrinsic, so an object that merely inherits from Date.prototype cannot supply its own time.
      ms = Date.prototype.getTime.call(value);
    } catch {
      throw new QueryValidationError(field, value, EXPECTED_TIME);
    }
  } else {
    throw new QueryValidationError(field, value, EXPECTED_TIME);
  }
  if (!Number.isSafeInteger(ms) || ms < MIN_QUERY_TIME_MS || ms >= MAX_QUERY_TIME_MS) {
    throw new QueryValidationError(field, value instanceof Date ? ms : value, EXPECTED_TIME);
  }
  return ms;
}

/** A validated, closed time range in epoch milliseconds: `from <= to`, both within the query bounds. */
export interface EpochRange {
  readonly from: number;
  readonly to: number;
}

/**
 * The validated range `[from, to]`: both bounds present, `from` not after `to`, and at most `maxRangeMs` long (the
 * table's retention, and never more than {@link MAX_QUERY_RANGE_MS}), so no query can scan the whole table.
 *
 * @throws QueryValidationError for a missing, invalid, reversed or too long range.
 */
export function timeRange(from: unknown, to: unknown, maxRangeMs: number = MAX_QUERY_RANGE_MS): EpochRange {
  if (from === undefined || from === null) throw new QueryValidationError("from", from, `${EXPECTED_TIME}: every query needs a bounded time range`);
  if (to === undefined || to === null) throw new QueryValidationError("to", to, `${EXPECTED_TIME}: every query needs a bounded time range`);
  const a = epochMillisOf("from", from);
  const b = epochMillisOf("to", to);
  if (b < a) throw new QueryValidationError("to", to, `a time not before from (${new Date(a).toISOString()})`);
  const max = Math.min(maxRangeMs, MAX_QUERY_RANGE_MS);
  if (b - a > max) throw new QueryValidationError("to", to, `a time at most ${formatMs(max)} after from (${new Date(a).toISOString()}): the range is longer than the table keeps data`);
  return { from: a, to: b };
}

/** `time BETWEEN from_milliseconds(<from>) AND from_milliseconds(<to>)`: the predicate every query carries. */
export function timePredicate(range: EpochRange): string {
  return `time BETWEEN from_milliseconds(${integerText(range.from)}) AND from_milliseconds(${integerText(range.to)})`;
}

function integerText(n: number): string {
  // Defence in depth: only a safe integer is ever rendered as a number in SQL.
  if (!Number.isSafeInteger(n)) throw new QueryValidationError("time", n, "a whole number of milliseconds");
  return String(n);
}

// ---------------------------------------------------------------------------------------------- durations

/** Units of a duration: seconds, minutes, hours, days (Timestream's interval literal suffixes). */
export type DurationUnit = "s" | "m" | "h" | "d";

/** A duration as text: a whole number and a unit, e.g. `30s`, `5m`, `1h`, `7d`. */
export type Duration = `${number}${DurationUnit}`;

/** A validated duration: its canonical text (a Timestream interval literal) and length. */
export interface ParsedDuration {
  readonly text: string;
  readonly ms: number;
}

const UNIT_MS: Readonly<Record<DurationUnit, number>> = { s: SECOND, m: MINUTE, h: HOUR, d: DAY };

/**
 * A duration from its text (`5m`: a whole number from 1 to 999999 and a unit of `s`, `m`, `h`, `d`) or, where
 * `allowMillis`, a whole number of milliseconds (at least one second). The text is rebuilt from the parsed parts,
 * so what reaches the SQL is never the caller's string.
 *
 * @throws QueryValidationError for anything else (`5 m`, `1w`, `0h`, `1h; DROP`, NaN, negative numbers).
 */
export function parseDuration(field: string, value: unknown, allowMillis = false): ParsedDuration {
  if (allowMillis && typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < SECOND) throw new QueryValidationError(field, value, "a whole number of milliseconds, at least 1000");
    return { text: `${value}ms`, ms: value };
  }
  const match = typeof value === "string" ? /^([1-9][0-9]{0,5})([smhd])$/.exec(value) : null;
  const amount = match?.[1];
  const unit = match?.[2] as DurationUnit | undefined;
  if (amount === undefined || unit === undefined) {
    throw new QueryValidationError(field, value, `a duration such as 30s, 5m, 1h or 7d (a whole number from 1 to 999999 and a unit s, m, h or d)${allowMillis ? ", or whole milliseconds" : ""}`);
  }
  const n = Number(amount);
  return { text: `${n}${unit}`, ms: n * UNIT_MS[unit] };
}

function formatMs(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY} days`;
  if (ms % HOUR === 0) return `${ms / HOUR} hours`;
  if (ms % MINUTE === 0) return `${ms / MINUTE} minutes`;
  return `${ms} ms`;
}

// ---------------------------------------------------------------------------------------------- aggregates

/** An aggregate of binned telemetry: one of a fixed set, or a percentile `p` with 0 < p < 100. */
export type AggregateSpec = "avg" | "min" | "max" | "sum" | "count" | { readonly percentile: number };

/** The key an aggregate has in a bin: its name, or `p<p>` for a percentile (`{ percentile: 95 }` is `p95`). */
export type AggregateKey<A> = A extends "avg" | "min" | "max" | "sum" | "count"
  ? A
  : A extends { readonly percentile: infer P extends number }
    ? `p${P}`
    : never;

/** A validated aggregate: its key in a bin and how to compute it from a value expression. */
export interface AggregatePlan {
  /** The key the result carries the aggregate under (`avg`, `p95`). */
  readonly key: string;
  /** Suffix of the result column alias (`avg`, `p99_9`). */
  readonly alias: string;
  /** The aggregate over a value expression, as SQL (the expression is already built by the SDK). */
  readonly sql: (value: string) => string;
}

const SIMPLE_AGGREGATES = new Set(["avg", "min", "max", "sum", "count"]);

/**
 * The validated aggregates: each from the fixed set, percentiles with 0 < p < 100 and at most four decimals, no
 * key twice. `count` is always computed (a bin without values for a tag is dropped by it), so asking for it adds
 * no column. Percentiles use Timestream's `approx_percentile(x, fraction)`.
 *
 * @throws QueryValidationError naming the offending entry (`aggregates[2].percentile`).
 */
export function aggregatePlans(value: unknown): readonly AggregatePlan[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 16) {
    throw new QueryValidationError("aggregates", value, "a list of 1 to 16 aggregates: avg, min, max, sum, count or { percentile: p } with 0 < p < 100");
  }
  const plans: AggregatePlan[] = [];
  const keys = new Set<string>();
  value.forEach((spec: unknown, i) => {
    const field = `aggregates[${i}]`;
    let plan: AggregatePlan | undefined;
    if (typeof spec === "string" && SIMPLE_AGGREGATES.has(spec)) {
      plan = spec === "count" ? undefined : { key: spec, alias: spec, sql: (v) => `${spec}(${v})` };
    } else if (typeof spec === "object" && spec !== null && !Array.isArray(spec) && Object.keys(spec).length === 1 && "percentile" in spec) {
      const p: unknown = spec.percentile;
      const scaled = typeof p === "number" ? Math.round(p * 10_000) : NaN;
      if (typeof p !== "number" || !Number.isFinite(p) || p <= 0 || p >= 100 || Math.abs(scaled - p * 10_000) > 1e-6) {
        throw new QueryValidationError(`${field}.percentile`, p, "a number p with 0 < p < 100 and at most four decimals");
      }
      // p / 100 as exact decimal text: `scaled` is p * 10^4, so the fraction is scaled * 10^-6.
      const fraction = `0.${String(scaled).padStart(6, "0")}`.replace(/0+$/, "");
      const key = `p${String(p)}`;
      plan = { key, alias: key.replace(".", "_"), sql: (v) => `approx_percentile(${v}, ${fraction})` };
    } else {
      throw new QueryValidationError(field, spec, "avg, min, max, sum, count or { percentile: p } with 0 < p < 100");
    }
    const key = plan?.key ?? "count";
    if (keys.has(key)) throw new QueryValidationError(field, spec, `an aggregate not already asked for (${key} is)`);
    keys.add(key);
    if (plan !== undefined) plans.push(plan);
  });
  return plans;
}

// ---------------------------------------------------------------------------------------------- model values

/**
 * The validated, de-duplicated machine ids (order kept), each a {@link MachineId}.
 *
 * @throws QueryValidationError naming the first bad entry (`machineIds[3]`), or the list when empty or too long.
 */
export function machineIdsOf(value: unknown): readonly MachineId[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_QUERY_MACHINES) {
    throw new QueryValidationError("machineIds", value, `a list of 1 to ${MAX_QUERY_MACHINES} machine ids`);
  }
  const ids = new Set<MachineId>();
  value.forEach((id: unknown, i) => {
    if (!MachineId.is(id)) throw new QueryValidationError(`machineIds[${i}]`, id, MachineId.name);
    ids.add(id);
  });
  return [...ids];
}

/**
 * The validated, de-duplicated tag names (order kept), each a {@link TagName}: lowerCamelCase letters and digits,
 * so a tag is also a safe measure column name and `<tag>_quality` never collides with another tag.
 *
 * @throws QueryValidationError naming the first bad entry (`tags[1]`), or the list when empty or too long.
 */
export function tagsOf(value: unknown): readonly TagName[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_QUERY_TAGS) {
    throw new QueryValidationError("tags", value, `a list of 1 to ${MAX_QUERY_TAGS} tag names`);
  }
  const tags = new Set<TagName>();
  value.forEach((tag: unknown, i) => {
    if (!TagName.is(tag)) throw new QueryValidationError(`tags[${i}]`, tag, TagName.name);
    tags.add(tag);
  });
  return [...tags];
}

// ---------------------------------------------------------------------------------------------- target

/** Where a factory's telemetry lives, validated: the FROM clause and the factory's id. */
export interface TelemetryTarget {
  readonly database: string;
  readonly table: string;
  readonly factoryId: FactoryId;
  /** `"<database>"."<table>"`. */
  readonly from: string;
}

/**
 * The validated target of a factory's queries. The database and table come from the query context (usually the
 * stack's defaults), but they are still checked: a context can be built by anyone.
 *
 * @throws QueryValidationError for an invalid database, table or factory id.
 */
export function telemetryTarget(database: unknown, table: unknown, factoryId: unknown): TelemetryTarget {
  const db = quoteResourceName("database", database);
  const tb = quoteResourceName("table", table);
  if (!FactoryId.is(factoryId)) throw new QueryValidationError("factoryId", factoryId, FactoryId.name);
  return { database: database as string, table: table as string, factoryId, from: `${db}.${tb}` };
}

/** `DESCRIBE "<database>"."<table>"`: the table's columns, so queries name only measure columns that exist. */
export function describeSql(target: TelemetryTarget): string {
  return `DESCRIBE ${target.from}`;
}

/**
 * The measure columns a table has. Timestream creates a multi-measure column the first time a record carries it,
 * so `<tag>_quality` exists only once a non-good reading of that tag was written, and a tag's value column only
 * once a value was: naming a missing column fails the whole query.
 */
export type TableColumns = ReadonlySet<string>;

/** Which of a tag's columns exist. */
export interface TagColumns {
  readonly tag: TagName;
  readonly value: boolean;
  readonly quality: boolean;
}

/** The columns of each tag that exist, dropping tags with none (no data was ever written for them). */
export function tagColumnsOf(tags: readonly TagName[], columns: TableColumns): readonly TagColumns[] {
  const out: TagColumns[] = [];
  for (const tag of tags) {
    const value = columns.has(tag);
    const quality = columns.has(qualityMeasureName(tag));
    if (value || quality) out.push({ tag, value, quality });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- shared clauses

const MEASURE_NAME = quoteIdentifier("measure_name", "measure_name");
const FACTORY = quoteIdentifier("factory", "factory");
const MACHINE = quoteIdentifier("machine", "machine");

function valueColumn(tag: TagName): string {
  return quoteIdentifier("tags", tag);
}

function qualityColumn(tag: TagName): string {
  return quoteIdentifier("tags", qualityMeasureName(tag));
}

function alias(tag: TagName, suffix: string): string {
  return quoteIdentifier("tags", `${tag}_${suffix}`);
}

/** The predicate "this record carries a reading of the tag": a value, or a quality without one. */
function carries(t: TagColumns): string {
  const parts: string[] = [];
  if (t.value) parts.push(`${valueColumn(t.tag)} IS NOT NULL`);
  if (t.quality) parts.push(`${qualityColumn(t.tag)} IS NOT NULL`);
  return parts.join(" OR ");
}

function whereClause(target: TelemetryTarget, machines: readonly MachineId[], range: EpochRange, tags: readonly TagColumns[]): string {
  const machineList = machines.map((m, i) => quoteId(`machineIds[${i}]`, m, "machine")).join(", ");
  return [
    `WHERE ${MEASURE_NAME} = ${quoteString("measure_name", TELEMETRY_MEASURE_NAME)}`,
    `AND ${FACTORY} = ${quoteId("factoryId", target.factoryId, "factory")}`,
    `AND ${MACHINE} IN (${machineList})`,
    `AND ${timePredicate(range)}`,
    `AND (${tags.map(carries).join(" OR ")})`,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------- latest

/** A validated request for the latest reading of each machine and tag. */
export interface LatestPlan {
  readonly target: TelemetryTarget;
  readonly machineIds: readonly MachineId[];
  readonly tags: readonly TagName[];
  readonly range: EpochRange;
}

/**
 * The latest reading per machine and tag within the plan's window, one row per machine:
 * `machine`, then per tag `<tag>_time` (TIMESTAMP), `<tag>_value` (DOUBLE) and `<tag>_quality` (VARCHAR).
 *
 * Each tag's latest reading is found by `max_by(column, <time of the records carrying the tag>)` in one scan: a
 * record carries a tag when it has its value or its quality, so a latest reading that is `bad` without a value is
 * reported as such rather than skipped. Missing columns are selected as typed NULLs so the shape never changes.
 * Returns `undefined` when none of the tags has a column (nothing to query).
 */
export function latestSql(plan: LatestPlan, columns: TableColumns): { readonly sql: string; readonly tags: readonly TagColumns[] } | undefined {
  const tags = tagColumnsOf(plan.tags, columns);
  if (tags.length === 0) return undefined;
  const select = [MACHINE];
  for (const t of tags) {
    const at = `CASE WHEN ${carries(t)} THEN time END`;
    select.push(
      `max(${at}) AS ${alias(t.tag, "time")}`,
      t.value ? `max_by(${valueColumn(t.tag)}, ${at}) AS ${alias(t.tag, "value")}` : `CAST(NULL AS DOUBLE) AS ${alias(t.tag, "value")}`,
      t.quality ? `max_by(${qualityColumn(t.tag)}, ${at}) AS ${alias(t.tag, "quality")}` : `CAST(NULL AS VARCHAR) AS ${alias(t.tag, "quality")}`,
    );
  }
  const sql = [
    `SELECT ${select.join(", ")}`,
    `FROM ${plan.target.from}`,
    whereClause(plan.target, plan.machineIds, plan.range, tags),
    `GROUP BY ${MACHINE}`,
    `ORDER BY ${MACHINE}`,
  ].join("\n");
  return { sql, tags };
}

// ---------------------------------------------------------------------------------------------- binned

/** A validated request for binned aggregates. */
export interface BinnedPlan {
  readonly target: TelemetryTarget;
  readonly machineIds: readonly MachineId[];
  readonly tags: readonly TagName[];
  readonly range: EpochRange;
  readonly bin: ParsedDuration;
  readonly aggregates: readonly AggregatePlan[];
  /** Qualities whose values enter the aggregates (by default only good readings). */
  readonly qualities: readonly Quality[];
}

const QUALITIES: readonly Quality[] = ["good", "uncertain", "bad"];

/**
 * The validated qualities whose values enter aggregates; by default `["good"]`: a value the PLC marked bad or
 * uncertain would otherwise distort averages and extremes without anyone noticing.
 *
 * @throws QueryValidationError for an unknown quality or an empty list.
 */
export function qualitiesOf(value: unknown): readonly Quality[] {
  if (value === undefined) return ["good"];
  if (!Array.isArray(value) || value.length === 0) throw new QueryValidationError("qualities", value, 'a non-empty list of "good", "uncertain", "bad"');
  const out = new Set<Quality>();
  value.forEach((q: unknown, i) => {
    if (typeof q !== "string" || !(QUALITIES as readonly string[]).includes(q)) throw new QueryValidationError(`qualities[${i}]`, q, '"good", "uncertain" or "bad"');
    out.add(q as Quality);
  });
  return QUALITIES.filter((q) => out.has(q));
}

/**
 * The value expression aggregated for a tag: the value itself when every quality counts (or no quality column
 * exists and good values count), otherwise the value only where its quality is one of those asked for.
 */
function aggregatedValue(t: TagColumns, qualities: readonly Quality[]): string | undefined {
  const value = valueColumn(t.tag);
  const good = qualities.includes("good");
  const others = qualities.filter((q) => q !== "good");
  if (!t.quality) return good ? value : undefined;
  if (good && others.length === 2) return value;
  const conditions: string[] = [];
  if (good) conditions.push(`${qualityColumn(t.tag)} IS NULL`);
  if (others.length > 0) conditions.push(`${qualityColumn(t.tag)} IN (${others.map((q) => quoteString("qualities", q)).join(", ")})`);
  return `CASE WHEN ${conditions.join(" OR ")} THEN ${value} END`;
}

/**
 * Aggregates per machine and bin (`bin(time, <size>)`, aligned on the Unix epoch in UTC), one row per machine and
 * bin with, per tag, `<tag>_count` (BIGINT) then one DOUBLE column per aggregate (`<tag>_avg`, `<tag>_p95`...).
 * Only tags with a value column are aggregated; returns `undefined` when there is none.
 */
export function binnedSql(plan: BinnedPlan, columns: TableColumns): { readonly sql: string; readonly tags: readonly TagName[] } | undefined {
  const tags = tagColumnsOf(plan.tags, columns).filter((t) => t.value);
  const aggregated = tags.flatMap((t) => {
    const v = aggregatedValue(t, plan.qualities);
    return v === undefined ? [] : [{ t, v }];
  });
  if (aggregated.length === 0) return undefined;
  const bin = `bin(time, ${plan.bin.text})`;
  const select = [MACHINE, `${bin} AS ${quoteIdentifier("bin", "binStart")}`];
  for (const { t, v } of aggregated) {
    select.push(`count(${v}) AS ${alias(t.tag, "count")}`);
    for (const a of plan.aggregates) select.push(`${a.sql(v)} AS ${alias(t.tag, a.alias)}`);
  }
  const sql = [
    `SELECT ${select.join(", ")}`,
    `FROM ${plan.target.from}`,
    whereClause(plan.target, plan.machineIds, plan.range, aggregated.map(({ t }) => ({ tag: t.tag, value: true, quality: false }))),
    `GROUP BY ${MACHINE}, ${bin}`,
    `ORDER BY ${MACHINE}, ${quoteIdentifier("bin", "binStart")}`,
  ].join("\n");
  return { sql, tags: aggregated.map(({ t }) => t.tag) };
}

// ---------------------------------------------------------------------------------------------- raw

/** A validated request for raw readings. */
export interface RawPlan {
  readonly target: TelemetryTarget;
  readonly machineIds: readonly MachineId[];
  readonly tags: readonly TagName[];
  readonly range: EpochRange;
  /** Most rows in all (`LIMIT`), if any; pages are Timestream's own (`MaxRows`). */
  readonly limit?: number;
}

/**
 * Raw records carrying at least one of the tags, in time order: `time`, `machine`, then per tag its value (DOUBLE)
 * and quality (VARCHAR), missing columns as typed NULLs. Returns `undefined` when none of the tags has a column.
 */
export function rawSql(plan: RawPlan, columns: TableColumns): { readonly sql: string; readonly tags: readonly TagColumns[] } | undefined {
  const tags = tagColumnsOf(plan.tags, columns);
  if (tags.length === 0) return undefined;
  const select = ["time", MACHINE];
  for (const t of tags) {
    select.push(
      t.value ? valueColumn(t.tag) : `CAST(NULL AS DOUBLE) AS ${valueColumn(t.tag)}`,
      t.quality ? qualityColumn(t.tag) : `CAST(NULL AS VARCHAR) AS ${qualityColumn(t.tag)}`,
    );
  }
  const lines = [
    `SELECT ${select.join(", ")}`,
    `FROM ${plan.target.from}`,
    whereClause(plan.target, plan.machineIds, plan.range, tags),
    `ORDER BY time, ${MACHINE}`,
  ];
  if (plan.limit !== undefined) lines.push(`LIMIT ${integerText(plan.limit)}`);
  return { sql: lines.join("\n"), tags };
}

/**
 * A validated positive whole number no larger than `max` (page sizes, row limits), or `undefined` when absent.
 *
 * @throws QueryValidationError for anything else.
 */
export function optionalCount(field: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new QueryValidationError(field, value, `a whole number from 1 to ${max}`);
  }
  return value;
}
