/**
 * Decoding of Timestream `Query` results: each `Datum` of a row becomes a typed JavaScript value according to its
 * column's `ColumnInfo`.
 *
 * | Timestream type | JavaScript value |
 * |---|---|
 * | `INTEGER`, `DOUBLE` | `number` (`DOUBLE` may be `NaN` or `±Infinity` if Timestream returns them) |
 * | `BIGINT` | `number` when it is a safe integer (within ±(2^53 − 1)), otherwise `bigint`, so no digit is lost |
 * | `BOOLEAN` | `boolean` |
 * | `VARCHAR` | `string` |
 * | `TIMESTAMP` (`2026-11-23 06:00:00.000000000`, UTC) | `Date` (digits below the millisecond are dropped) |
 * | `DATE` (`2026-11-23`) | `Date` at 00:00 UTC of that day |
 * | `TIME`, `INTERVAL_DAY_TO_SECOND`, `INTERVAL_YEAR_TO_MONTH` | `string`, as Timestream writes it |
 * | `UNKNOWN` (the type of a bare `NULL`), or any `NullValue` | `null` |
 * | array (`ArrayColumnInfo`) | array of decoded elements |
 * | row (`RowColumnInfo`) | object keyed by field name (`_<index>` for an unnamed field) |
 * | time series (`TimeSeriesMeasureValueColumnInfo`) | array of `{ time: Date, value }` |
 *
 * A type the SDK does not know, or a value that does not fit its type, is an error naming the column: guessing
 * would hand callers wrong numbers. Decoders are built once per page from the column list, then applied to every
 * row, so the per-value work is a single switch-free function call.
 */
import type { ColumnInfo, Datum, Row } from "@aws-sdk/client-timestream-query";
import { SmartFactoryError } from "../errors";

/** A decoded Timestream value. */
export type TimestreamValue =
  | number
  | bigint
  | boolean
  | string
  | Date
  | null
  | readonly TimestreamValue[]
  | readonly TimeSeriesPoint[]
  | DecodedRow;

/** A decoded row (or `ROW` value): column name to value. */
export interface DecodedRow {
  readonly [column: string]: TimestreamValue;
}

/** One point of a Timestream time series value. */
export interface TimeSeriesPoint {
  readonly time: Date;
  readonly value: TimestreamValue;
}

/** Decodes one datum of a column. */
export type DatumDecoder = (datum: Datum) => TimestreamValue;

/** A decoder for the rows of one result page: column names and a per-column decoder, in column order. */
export interface RowDecoder {
  readonly names: readonly string[];
  readonly decoders: readonly DatumDecoder[];
  /** The row's values in column order (the cheapest form, for callers that know the column order). */
  decodeTuple(row: Row): TimestreamValue[];
  /** The row as an object keyed by column name. */
  decodeObject(row: Row): DecodedRow;
}

function fail(path: string, problem: string): SmartFactoryError {
  return new SmartFactoryError(`Timestream result column ${path}: ${problem}`);
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value) : String(value);
}

// ---------------------------------------------------------------------------------------------- scalars

/** Reads `count` decimal digits at `start`; -1 if any is not a digit. */
function digits(s: string, start: number, count: number): number {
  let n = 0;
  for (let i = start; i < start + count; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Epoch milliseconds of `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS.fffffffff` (UTC), or NaN.
 * Hand-written because this is the hot path of every telemetry row and `Date.parse` would read the text as local
 * time without a zone.
 */
export function parseTimestreamTime(s: string): number {
  const n = s.length;
  if (n < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31) return NaN;
  if (n === 10) return validDay(Date.UTC(year, month - 1, day), day);
  const sep = s.charCodeAt(10);
  if (n < 19 || (sep !== 32 && sep !== 84) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return NaN;
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return NaN;
  let ms = 0;
  if (n > 19) {
    if (s.charCodeAt(19) !== 46 || n === 20) return NaN;
    for (let i = 20; i < n; i++) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return NaN;
    }
    // The first three fraction digits are the milliseconds (`.5` is 500 ms); finer digits are dropped.
    const fraction = n - 20;
    ms = fraction >= 3 ? digits(s, 20, 3) : digits(s, 20, fraction) * (fraction === 1 ? 100 : 10);
  }
  return validDay(Date.UTC(year, month - 1, day, hour, minute, second, ms), day);
}

/** `t`, unless Date.UTC rolled a day the month does not have (2026-02-30) over into the next month. */
function validDay(t: number, day: number): number {
  return new Date(t).getUTCDate() === day ? t : NaN;
}

type ScalarParser = (s: string, path: string) => TimestreamValue;

const INTEGER_TEXT = /^[+-]?\d+$/;

const parseInteger: ScalarParser = (s, path) => {
  const n = Number(s);
  if (!Number.isInteger(n) || s.length === 0) throw fail(path, `${describe(s)} is not an integer`);
  return n;
};

const parseBigint: ScalarParser = (s, path) => {
  const n = Number(s);
  if (Number.isSafeInteger(n) && s.length > 0) return n;
  if (!INTEGER_TEXT.test(s)) throw fail(path, `${describe(s)} is not an integer`);
  // Beyond 2^53 a number would silently round: keep every digit.
  return BigInt(s);
};

const parseDouble: ScalarParser = (s, path) => {
  const n = Number(s);
  if (Number.isNaN(n) && s !== "NaN") throw fail(path, `${describe(s)} is not a number`);
  if (s.length === 0) throw fail(path, "an empty text is not a number");
  return n;
};

const parseBoolean: ScalarParser = (s, path) => {
  if (s === "true") return true;
  if (s === "false") return false;
  throw fail(path, `${describe(s)} is not a boolean`);
};

const parseText: ScalarParser = (s) => s;

const parseTimestamp: ScalarParser = (s, path) => {
  const t = parseTimestreamTime(s);
  if (Number.isNaN(t)) throw fail(path, `${describe(s)} is not a timestamp (YYYY-MM-DD HH:MM:SS.fffffffff)`);
  return new Date(t);
};

const parseDate: ScalarParser = (s, path) => {
  const t = s.length === 10 ? parseTimestreamTime(s) : NaN;
  if (Number.isNaN(t)) throw fail(path, `${describe(s)} is not a date (YYYY-MM-DD)`);
  return new Date(t);
};

const SCALAR_PARSERS: Readonly<Record<string, ScalarParser>> = {
  BIGINT: parseBigint,
  INTEGER: parseInteger,
  DOUBLE: parseDouble,
  BOOLEAN: parseBoolean,
  VARCHAR: parseText,
  TIMESTAMP: parseTimestamp,
  DATE: parseDate,
  TIME: parseText,
  INTERVAL_DAY_TO_SECOND: parseText,
  INTERVAL_YEAR_TO_MONTH: parseText,
};

const decodeUnknown: DatumDecoder = () => null;

function scalarDecoder(type: string, path: string): DatumDecoder {
  if (type === "UNKNOWN") return decodeUnknown;
  const parse = Object.prototype.hasOwnProperty.call(SCALAR_PARSERS, type) ? SCALAR_PARSERS[type] : undefined;
  if (parse === undefined) throw fail(path, `unknown Timestream scalar type ${describe(type)}`);
  return (datum) => {
    const s = datum.ScalarValue;
    if (s !== undefined) return parse(s, path);
    if (datum.NullValue === true) return null;
    throw fail(path, `expected a ${type} scalar value, got ${describeDatum(datum)}`);
  };
}

function describeDatum(datum: Datum): string {
  const keys = Object.keys(datum).filter((k) => (datum as Record<string, unknown>)[k] !== undefined);
  return keys.length === 0 ? "an empty datum" : `a datum with ${keys.join(", ")}`;
}

// ---------------------------------------------------------------------------------------------- columns

/**
 * The decoder of one column, built from its `ColumnInfo` once and applied to every row.
 *
 * @param path how errors name the column, e.g. `"avg" (column 3)`.
 * @throws SmartFactoryError when the column's type is missing or unknown.
 */
export function columnDecoder(column: ColumnInfo | undefined, path: string): DatumDecoder {
  const type = column?.Type;
  if (type === undefined) throw fail(path, "the column has no type");
  if (type.ScalarType !== undefined) return scalarDecoder(type.ScalarType, path);
  if (type.ArrayColumnInfo !== undefined) {
    const element = columnDecoder(type.ArrayColumnInfo, `${path}[]`);
    return (datum) => {
      const values = datum.ArrayValue;
      if (values !== undefined) {
        const out = new Array<TimestreamValue>(values.length);
        for (let i = 0; i < values.length; i++) out[i] = element(values[i] as Datum);
        return out;
      }
      if (datum.NullValue === true) return null;
      throw fail(path, `expected an array value, got ${describeDatum(datum)}`);
    };
  }
  if (type.TimeSeriesMeasureValueColumnInfo !== undefined) {
    const measure = columnDecoder(type.TimeSeriesMeasureValueColumnInfo, `${path}.value`);
    return (datum) => {
      const points = datum.TimeSeriesValue;
      if (points !== undefined) {
        return points.map((p, i): TimeSeriesPoint => {
          const t = typeof p.Time === "string" ? parseTimestreamTime(p.Time) : NaN;
          if (Number.isNaN(t)) throw fail(`${path}[${i}].time`, `${describe(p.Time)} is not a timestamp`);
          if (p.Value === undefined) throw fail(`${path}[${i}].value`, "the point has no value");
          return { time: new Date(t), value: measure(p.Value) };
        });
      }
      if (datum.NullValue === true) return null;
      throw fail(path, `expected a time series value, got ${describeDatum(datum)}`);
    };
  }
  if (type.RowColumnInfo !== undefined) {
    const fields = rowDecoder(type.RowColumnInfo, path);
    return (datum) => {
      const row = datum.RowValue;
      if (row !== undefined) return fields.decodeObject(row);
      if (datum.NullValue === true) return null;
      throw fail(path, `expected a row value, got ${describeDatum(datum)}`);
    };
  }
  throw fail(path, "the column type is neither scalar, array, row nor time series");
}

/**
 * The decoder of a page's rows, built once from the page's `ColumnInfo` and reused for each row. Column names must
 * be unique (an object cannot hold two values under one key); an unnamed column is called `_<index>`.
 *
 * @param parent prefix of the column paths in errors (for nested rows).
 * @throws SmartFactoryError for a column of unknown type or a duplicate name.
 */
export function rowDecoder(columnInfo: readonly ColumnInfo[], parent = ""): RowDecoder {
  const names = columnInfo.map((c, i) => (c.Name === undefined || c.Name === "" ? `_${i}` : c.Name));
  const seen = new Set<string>();
  const decoders = names.map((name, i) => {
    const path = parent === "" ? `${JSON.stringify(name)} (column ${i})` : `${parent}.${name}`;
    if (seen.has(name)) throw fail(path, "two columns have this name; alias them in the query");
    // Assigning `__proto__` would replace the decoded object's prototype instead of setting a value.
    if (name === "__proto__") throw fail(path, "this column name cannot be a key of a decoded row; alias it in the query");
    seen.add(name);
    return columnDecoder(columnInfo[i], path);
  });
  const width = decoders.length;
  const where = parent === "" ? "row" : parent;
  const dataOf = (row: Row): Datum[] => {
    const data = row.Data;
    if (data?.length !== width) throw fail(where, `expected ${width} values, got ${data === undefined ? "none" : data.length}`);
    return data;
  };
  return {
    names,
    decoders,
    decodeTuple(row) {
      const data = dataOf(row);
      const out = new Array<TimestreamValue>(width);
      for (let i = 0; i < width; i++) out[i] = (decoders[i] as DatumDecoder)(data[i] as Datum);
      return out;
    },
    decodeObject(row) {
      const data = dataOf(row);
      const out: Record<string, TimestreamValue> = {};
      for (let i = 0; i < width; i++) out[names[i] as string] = (decoders[i] as DatumDecoder)(data[i] as Datum);
      return out;
    },
  };
}

/**
 * All rows of one `Query` page as objects keyed by column name. The decoders are built once for the page, so this
 * is what a benchmark of the decoding (rows per second) measures.
 *
 * @example
 * ```ts
 * const page = await client.send(new QueryCommand({ QueryString }));
 * const rows = decodeRows(page.ColumnInfo ?? [], page.Rows ?? []);
 * ```
 * @throws SmartFactoryError naming the column when a type is unknown or a value does not fit its type.
 */
export function decodeRows(columnInfo: readonly ColumnInfo[], rows: readonly Row[]): DecodedRow[] {
  const decoder = rowDecoder(columnInfo);
  const out = new Array<DecodedRow>(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = decoder.decodeObject(rows[i] as Row);
  return out;
}
