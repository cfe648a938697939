import { strict as assert } from "node:assert";
import {
  CancelQueryCommand,
  QueryCommand,
  ThrottlingException,
  TimestreamQueryClient,
  type ColumnInfo,
  type QueryCommandInput,
  type QueryCommandOutput,
  type Row,
} from "@aws-sdk/client-timestream-query";
import { mockClient } from "aws-sdk-client-mock";
import { QueryCancelledError, SmartFactoryError, ThrottledError } from "@smart-factory/sdk";
import type { QueryContext } from "../../sdk/src/client/context";
import { createTelemetryQueries, type TelemetryPage, type TelemetryQueriesOptions } from "../../sdk/src/telemetry/queries";
import { decodeRows, parseTimestreamTime } from "../../sdk/src/telemetry/rows";
import { testQueryContext } from "../helpers/queryContext";

const NOW = Date.UTC(2026, 10, 23, 7, 0, 0); // 2026-11-23 07:00:00 UTC
const FROM = Date.UTC(2026, 10, 23, 6, 0, 0);
const TO = Date.UTC(2026, 10, 23, 7, 0, 0);
const DESCRIBE_SQL = 'DESCRIBE "factory-a-telemetry"."telemetry"';

type Response = Omit<QueryCommandOutput, "$metadata">;

const scalar = (Name: string, ScalarType: string): ColumnInfo => ({ Name, Type: { ScalarType: ScalarType as "VARCHAR" } });
const s = (ScalarValue: string): { ScalarValue: string } => ({ ScalarValue });
const NULL = { NullValue: true } as const;

/** A DESCRIBE result as Timestream returns it: one row per column (name, type, Timestream attribute type). */
function describeResponse(measures: readonly string[]): Response {
  const columns: [string, string, string][] = [
    ["factory", "varchar", "DIMENSION"],
    ["line", "varchar", "DIMENSION"],
    ["machine_type", "varchar", "DIMENSION"],
    ["machine", "varchar", "DIMENSION"],
    ["measure_name", "varchar", "MEASURE_NAME"],
    ["time", "timestamp", "TIMESTAMP"],
    ...measures.map((m): [string, string, string] => [m, m.endsWith("_quality") ? "varchar" : "double", "MULTI"]),
  ];
  return {
    QueryId: "q-describe",
    ColumnInfo: [scalar("Column", "VARCHAR"), scalar("Type", "VARCHAR"), scalar("Timestream attribute type", "VARCHAR")],
    Rows: columns.map(([a, b, c]) => ({ Data: [s(a), s(b), s(c)] })),
    QueryStatus: { ProgressPercentage: 100, CumulativeBytesScanned: 0, CumulativeBytesMetered: 0 },
  };
}

const MEASURES = ["spindleTemperature", "spindleTemperature_quality", "vibration"];

function context(): QueryContext {
  return testQueryContext(NOW);
}

/** Every QueryCommand input the mock received, DESCRIBE excluded. */
function dataQueries(mock: ReturnType<typeof mockClient>): QueryCommandInput[] {
  return mock
    .commandCalls(QueryCommand)
    .map((c) => c.args[0].input)
    .filter((i) => i.QueryString !== DESCRIBE_SQL);
}

async function collect<T>(pages: AsyncIterable<TelemetryPage<T>>): Promise<TelemetryPage<T>[]> {
  const out: TelemetryPage<T>[] = [];
  for await (const page of pages) out.push(page);
  return out;
}

const RAW_SQL = [
  'SELECT time, "machine", "spindleTemperature", "spindleTemperature_quality", "vibration", CAST(NULL AS VARCHAR) AS "vibration_quality"',
  'FROM "factory-a-telemetry"."telemetry"',
  "WHERE \"measure_name\" = 'telemetry'",
  "AND \"factory\" = 'factory-a'",
  "AND \"machine\" IN ('press-01', 'press-02')",
  `AND time BETWEEN from_milliseconds(${FROM}) AND from_milliseconds(${TO})`,
  'AND ("spindleTemperature" IS NOT NULL OR "spindleTemperature_quality" IS NOT NULL OR "vibration" IS NOT NULL)',
  'ORDER BY time, "machine"',
].join("\n");

const RAW_COLUMNS: ColumnInfo[] = [
  scalar("time", "TIMESTAMP"),
  scalar("machine", "VARCHAR"),
  scalar("spindleTemperature", "DOUBLE"),
  scalar("spindleTemperature_quality", "VARCHAR"),
  scalar("vibration", "DOUBLE"),
  scalar("vibration_quality", "VARCHAR"),
];

function rawRow(second: number, machine: string, temperature: string | null, quality: string | null, vibration: string | null): Row {
  return {
    Data: [
      s(`2026-11-23 06:00:${String(second).padStart(2, "0")}.000000000`),
      s(machine),
      temperature === null ? NULL : s(temperature),
      quality === null ? NULL : s(quality),
      vibration === null ? NULL : s(vibration),
      NULL,
    ],
  };
}

describe("telemetry queries (Timestream)", () => {
  let mock: ReturnType<typeof mockClient>;

  beforeEach(() => {
    mock = mockClient(TimestreamQueryClient);
  });
  afterEach(() => {
    mock.restore();
  });

  /** Answers DESCRIBE with the table's measures and data queries from `pages`, keyed by NextToken ("" first). */
  function serve(pages: Record<string, Response>, measures: readonly string[] = MEASURES): void {
    mock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      if (input.QueryString === DESCRIBE_SQL) return Promise.resolve(describeResponse(measures));
      const page = pages[input.NextToken ?? ""];
      if (page === undefined) return Promise.reject(new Error(`unexpected NextToken ${String(input.NextToken)}`));
      return Promise.resolve(page);
    });
    mock.on(CancelQueryCommand).resolves({});
  }

  const queries = (options?: TelemetryQueriesOptions): ReturnType<typeof createTelemetryQueries> => createTelemetryQueries(context(), options);

  describe("paging", () => {
    it("follows NextToken across 3 pages, passing every token back with the same query, and yields all rows in order", async () => {
      serve({
        "": {
          QueryId: "q-raw",
          NextToken: "token-1",
          ColumnInfo: RAW_COLUMNS,
          Rows: [rawRow(1, "press-01", "41.5", null, "0.002"), rawRow(2, "press-02", null, "bad", null)],
          QueryStatus: { ProgressPercentage: 30, CumulativeBytesScanned: 1000, CumulativeBytesMetered: 10_485_760 },
        },
        "token-1": {
          QueryId: "q-raw",
          NextToken: "token-2",
          ColumnInfo: RAW_COLUMNS,
          Rows: [rawRow(3, "press-01", "41.75", "uncertain", null)],
          QueryStatus: { ProgressPercentage: 60, CumulativeBytesScanned: 2500, CumulativeBytesMetered: 10_485_760 },
        },
        "token-2": {
          QueryId: "q-raw",
          ColumnInfo: RAW_COLUMNS,
          Rows: [rawRow(4, "press-02", "40", null, "0.004"), rawRow(5, "press-01", null, null, "0.003")],
          QueryStatus: { ProgressPercentage: 100, CumulativeBytesScanned: 4000, CumulativeBytesMetered: 10_485_760 },
        },
      });
      const pages = await collect(
        queries().raw({ machineIds: ["press-01", "press-02"], tags: ["spindleTemperature", "vibration"], from: FROM, to: new Date(TO), pageSize: 2 }),
      );

      assert.deepEqual(
        dataQueries(mock).map((i) => ({ QueryString: i.QueryString, NextToken: i.NextToken, MaxRows: i.MaxRows })),
        [
          { QueryString: RAW_SQL, NextToken: undefined, MaxRows: 2 },
          { QueryString: RAW_SQL, NextToken: "token-1", MaxRows: 2 },
          { QueryString: RAW_SQL, NextToken: "token-2", MaxRows: 2 },
        ],
      );
      assert.deepEqual(
        pages.map((p) => [p.pageIndex, p.queryId, p.last, p.items.length]),
        [
          [0, "q-raw", false, 2],
          [1, "q-raw", false, 1],
          [2, "q-raw", true, 2],
        ],
      );
      const at = (second: number): Date => new Date(FROM + second * 1000);
      assert.deepEqual(
        pages.flatMap((p) => p.items),
        [
          { time: at(1), machineId: "press-01", values: { spindleTemperature: 41.5, vibration: 0.002 }, quality: { spindleTemperature: "good", vibration: "good" } },
          { time: at(2), machineId: "press-02", values: { spindleTemperature: null, vibration: null }, quality: { spindleTemperature: "bad", vibration: null } },
          { time: at(3), machineId: "press-01", values: { spindleTemperature: 41.75, vibration: null }, quality: { spindleTemperature: "uncertain", vibration: null } },
          { time: at(4), machineId: "press-02", values: { spindleTemperature: 40, vibration: 0.004 }, quality: { spindleTemperature: "good", vibration: "good" } },
          { time: at(5), machineId: "press-01", values: { spindleTemperature: null, vibration: 0.003 }, quality: { spindleTemperature: null, vibration: "good" } },
        ],
      );
    });

    it("reports the cumulative bytes scanned and metered on every page", async () => {
      const page = (token: string | undefined, scanned: number, metered: number, progress: number): Response => ({
        QueryId: "q-bytes",
        ...(token === undefined ? {} : { NextToken: token }),
        ColumnInfo: RAW_COLUMNS,
        Rows: [],
        QueryStatus: { ProgressPercentage: progress, CumulativeBytesScanned: scanned, CumulativeBytesMetered: metered },
      });
      serve({ "": page("a", 0, 0, 0), a: page("b", 123_456, 10_485_760, 50), b: page(undefined, 987_654, 10_485_760, 100) });
      const pages = await collect(queries().raw({ machineIds: ["press-01"], tags: ["vibration"], from: FROM, to: TO }));
      assert.deepEqual(
        pages.map((p) => ({ bytesScanned: p.bytesScanned, bytesMetered: p.bytesMetered, progress: p.progressPercentage, items: p.items.length })),
        [
          { bytesScanned: 0, bytesMetered: 0, progress: 0, items: 0 },
          { bytesScanned: 123_456, bytesMetered: 10_485_760, progress: 50, items: 0 },
          { bytesScanned: 987_654, bytesMetered: 10_485_760, progress: 100, items: 0 },
        ],
      );
    });
  });

  describe("decoding", () => {
    it("decodes every scalar type, nulls, arrays, rows and time series to exact JavaScript values", () => {
      const columns: ColumnInfo[] = [
        scalar("i", "INTEGER"),
        scalar("big", "BIGINT"),
        scalar("huge", "BIGINT"),
        scalar("negHuge", "BIGINT"),
        scalar("d", "DOUBLE"),
        scalar("b", "BOOLEAN"),
        scalar("v", "VARCHAR"),
        scalar("ts", "TIMESTAMP"),
        scalar("day", "DATE"),
        scalar("t", "TIME"),
        scalar("ids", "INTERVAL_DAY_TO_SECOND"),
        scalar("iym", "INTERVAL_YEAR_TO_MONTH"),
        scalar("unknown", "UNKNOWN"),
        scalar("nullDouble", "DOUBLE"),
        { Name: "arr", Type: { ArrayColumnInfo: { Type: { ScalarType: "DOUBLE" } } } },
        { Name: "nested", Type: { ArrayColumnInfo: { Type: { ArrayColumnInfo: { Type: { ScalarType: "BIGINT" } } } } } },
        { Name: "row", Type: { RowColumnInfo: [scalar("name", "VARCHAR"), scalar("at", "TIMESTAMP"), { Type: { ScalarType: "BOOLEAN" } }] } },
        { Name: "series", Type: { TimeSeriesMeasureValueColumnInfo: { Type: { ScalarType: "DOUBLE" } } } },
        { Name: "nullArray", Type: { ArrayColumnInfo: { Type: { ScalarType: "VARCHAR" } } } },
      ];
      const rows: Row[] = [
        {
          Data: [
            s("-42"),
            s("9007199254740991"),
            s("9007199254740993"),
            s("-12345678901234567890"),
            s("3.14159"),
            s("true"),
            s("it's 'quoted'"),
            s("2026-11-23 06:00:00.123456789"),
            s("2026-11-23"),
            s("06:30:00.000000000"),
            s("0 02:00:00.000000000"),
            s("1-2"),
            NULL,
            NULL,
            { ArrayValue: [s("1.5"), NULL, s("-0.25")] },
            { ArrayValue: [{ ArrayValue: [s("1"), s("2")] }, { ArrayValue: [] }] },
            { RowValue: { Data: [s("press-01"), s("2026-11-23 06:00:05.000000000"), s("false")] } },
            {
              TimeSeriesValue: [
                { Time: "2026-11-23 06:00:00.000000000", Value: s("20.5") },
                { Time: "2026-11-23 06:00:01.500000000", Value: NULL },
              ],
            },
            NULL,
          ],
        },
      ];
      const [decoded] = decodeRows(columns, rows);
      assert.deepStrictEqual(decoded, {
        i: -42,
        big: 9007199254740991,
        huge: 9007199254740993n,
        negHuge: -12345678901234567890n,
        d: 3.14159,
        b: true,
        v: "it's 'quoted'",
        ts: new Date(Date.UTC(2026, 10, 23, 6, 0, 0, 123)),
        day: new Date(Date.UTC(2026, 10, 23)),
        t: "06:30:00.000000000",
        ids: "0 02:00:00.000000000",
        iym: "1-2",
        unknown: null,
        nullDouble: null,
        arr: [1.5, null, -0.25],
        nested: [[1, 2], []],
        row: { name: "press-01", at: new Date(Date.UTC(2026, 10, 23, 6, 0, 5)), _2: false },
        series: [
          { time: new Date(Date.UTC(2026, 10, 23, 6, 0, 0)), value: 20.5 },
          { time: new Date(Date.UTC(2026, 10, 23, 6, 0, 1, 500)), value: null },
        ],
        nullArray: null,
      });
    });

    it("parses Timestream timestamps as UTC, with or without fractions, and refuses impossible ones", () => {
      assert.equal(parseTimestreamTime("2026-11-23 06:00:00.000000000"), Date.UTC(2026, 10, 23, 6));
      assert.equal(parseTimestreamTime("2026-11-23 06:00:00"), Date.UTC(2026, 10, 23, 6));
      assert.equal(parseTimestreamTime("2026-11-23 06:00:00.5"), Date.UTC(2026, 10, 23, 6, 0, 0, 500));
      assert.equal(parseTimestreamTime("2024-02-29"), Date.UTC(2024, 1, 29));
      for (const bad of ["2026-02-30", "2026-13-01", "2026-11-23 24:00:00", "2026-11-23 06:00:00.", "2026-11-23 06:00:00.12x", "23/11/2026", ""]) {
        assert.ok(Number.isNaN(parseTimestreamTime(bad)), bad);
      }
    });

    it("refuses an unknown type, naming the column", () => {
      assert.throws(
        () => decodeRows([scalar("ok", "DOUBLE"), scalar("weird", "DECIMAL")], []),
        (e: unknown) => e instanceof SmartFactoryError && /"weird" \(column 1\)/.test(e.message) && /unknown Timestream scalar type "DECIMAL"/.test(e.message),
      );
      assert.throws(
        () => decodeRows([{ Name: "typeless", Type: {} }], []),
        (e: unknown) => e instanceof SmartFactoryError && /"typeless"/.test(e.message),
      );
      assert.throws(
        () => decodeRows([{ Name: "deep", Type: { ArrayColumnInfo: { Type: { ScalarType: "FLOAT8" as "DOUBLE" } } } }], []),
        (e: unknown) => e instanceof SmartFactoryError && /"deep" \(column 0\)\[\]/.test(e.message),
      );
    });

    it("refuses values that do not fit their type, and rows of the wrong width, naming the column", () => {
      const cases: [ColumnInfo, Row, RegExp][] = [
        [scalar("n", "BIGINT"), { Data: [s("12abc")] }, /"n".*not an integer/],
        [scalar("d", "DOUBLE"), { Data: [s("zwölf")] }, /"d".*not a number/],
        [scalar("b", "BOOLEAN"), { Data: [s("yes")] }, /"b".*not a boolean/],
        [scalar("ts", "TIMESTAMP"), { Data: [s("yesterday")] }, /"ts".*not a timestamp/],
        [scalar("v", "VARCHAR"), { Data: [{}] }, /"v".*empty datum/],
        [scalar("v", "VARCHAR"), { Data: [] }, /expected 1 values, got 0/],
      ];
      for (const [column, row, message] of cases) {
        assert.throws(() => decodeRows([column], [row]), (e: unknown) => e instanceof SmartFactoryError && message.test(e.message), message.source);
      }
      assert.throws(() => decodeRows([scalar("x", "DOUBLE"), scalar("x", "DOUBLE")], []), /two columns have this name/);
    });
  });

  describe("the SQL of each family (the contract with Timestream)", () => {
    it("latest: max_by per tag within a bounded lookback ending a skew after now, identifiers quoted, missing columns as typed NULLs", async () => {
      serve({
        "": {
          QueryId: "q-latest",
          ColumnInfo: [
            scalar("machine", "VARCHAR"),
            scalar("spindleTemperature_time", "TIMESTAMP"),
            scalar("spindleTemperature_value", "DOUBLE"),
            scalar("spindleTemperature_quality", "VARCHAR"),
            scalar("vibration_time", "TIMESTAMP"),
            scalar("vibration_value", "DOUBLE"),
            scalar("vibration_quality", "VARCHAR"),
          ],
          Rows: [
            { Data: [s("press-01"), s("2026-11-23 06:59:58.000000000"), s("41.5"), NULL, s("2026-11-23 06:59:59.250000000"), s("0.002"), NULL] },
            { Data: [s("press-02"), s("2026-11-23 06:59:00.000000000"), NULL, s("bad"), NULL, NULL, NULL] },
          ],
          QueryStatus: { ProgressPercentage: 100, CumulativeBytesScanned: 2048, CumulativeBytesMetered: 10_485_760 },
        },
      });
      const result = await queries().latest({ machineIds: ["press-01", "press-02", "press-01"], tags: ["spindleTemperature", "vibration", "neverStored"], lookback: "15m" });

      const at = 'CASE WHEN "spindleTemperature" IS NOT NULL OR "spindleTemperature_quality" IS NOT NULL THEN time END';
      const vAt = 'CASE WHEN "vibration" IS NOT NULL THEN time END';
      const expected = [
        `SELECT "machine", max(${at}) AS "spindleTemperature_time", max_by("spindleTemperature", ${at}) AS "spindleTemperature_value", max_by("spindleTemperature_quality", ${at}) AS "spindleTemperature_quality", max(${vAt}) AS "vibration_time", max_by("vibration", ${vAt}) AS "vibration_value", CAST(NULL AS VARCHAR) AS "vibration_quality"`,
        'FROM "factory-a-telemetry"."telemetry"',
        "WHERE \"measure_name\" = 'telemetry'",
        "AND \"factory\" = 'factory-a'",
        "AND \"machine\" IN ('press-01', 'press-02')",
        `AND time BETWEEN from_milliseconds(${NOW - 15 * 60_000}) AND from_milliseconds(${NOW + 300_000})`,
        'AND ("spindleTemperature" IS NOT NULL OR "spindleTemperature_quality" IS NOT NULL OR "vibration" IS NOT NULL)',
        'GROUP BY "machine"',
        'ORDER BY "machine"',
      ].join("\n");
      assert.deepEqual(
        mock.commandCalls(QueryCommand).map((c) => c.args[0].input.QueryString),
        [DESCRIBE_SQL, expected],
      );
      assert.deepEqual(result, {
        data: [
          { machineId: "press-01", tag: "spindleTemperature", time: new Date(Date.UTC(2026, 10, 23, 6, 59, 58)), value: 41.5, quality: "good" },
          { machineId: "press-01", tag: "vibration", time: new Date(Date.UTC(2026, 10, 23, 6, 59, 59, 250)), value: 0.002, quality: "good" },
          { machineId: "press-02", tag: "spindleTemperature", time: new Date(Date.UTC(2026, 10, 23, 6, 59)), value: null, quality: "bad" },
        ],
        queryId: "q-latest",
        bytesScanned: 2048,
        bytesMetered: 10_485_760,
        pages: 1,
      });
    });

    it("latest: the default lookback is one hour", async () => {
      serve({ "": { QueryId: "q", ColumnInfo: [], Rows: [], QueryStatus: {} } });
      const result = await queries().latest({ machineIds: ["press-01"], tags: ["vibration"] });
      const [sql] = dataQueries(mock).map((i) => i.QueryString);
      assert.match(sql ?? "", new RegExp(`time BETWEEN from_milliseconds\\(${NOW - 3_600_000}\\) AND from_milliseconds\\(${NOW + 300_000}\\)`));
      assert.deepEqual(result.data, []);
    });

    it("binned: bin(time, 5m) per machine, per-tag count and aggregates over good readings only, exact SQL", async () => {
      const tagColumns = (tag: string): ColumnInfo[] => [
        scalar(`${tag}_count`, "BIGINT"),
        scalar(`${tag}_avg`, "DOUBLE"),
        scalar(`${tag}_min`, "DOUBLE"),
        scalar(`${tag}_max`, "DOUBLE"),
        scalar(`${tag}_p95`, "DOUBLE"),
      ];
      const columns = [scalar("machine", "VARCHAR"), scalar("binStart", "TIMESTAMP"), ...tagColumns("spindleTemperature"), ...tagColumns("vibration")];
      serve({
        "": {
          QueryId: "q-bin",
          NextToken: "n1",
          ColumnInfo: columns,
          Rows: [{ Data: [s("press-01"), s("2026-11-23 06:00:00.000000000"), s("300"), s("41.25"), s("40"), s("43.5"), s("43.1"), s("0"), NULL, NULL, NULL, NULL] }],
          QueryStatus: { ProgressPercentage: 50, CumulativeBytesScanned: 5_000, CumulativeBytesMetered: 10_485_760 },
        },
        n1: {
          QueryId: "q-bin",
          ColumnInfo: columns,
          Rows: [{ Data: [s("press-01"), s("2026-11-23 06:05:00.000000000"), s("299"), s("41.5"), s("40.5"), s("44"), s("43.75"), s("12"), s("0.002"), s("0.001"), s("0.004"), s("0.0035")] }],
          QueryStatus: { ProgressPercentage: 100, CumulativeBytesScanned: 9_000, CumulativeBytesMetered: 10_485_760 },
        },
      });
      const pages = await collect(
        queries().binned({
          machineIds: ["press-01"],
          tags: ["spindleTemperature", "vibration"],
          from: new Date(FROM),
          to: TO,
          bin: "5m",
          aggregates: ["avg", "min", "max", { percentile: 95 }, "count"],
          pageSize: 500,
        }),
      );
      const good = (tag: string): string => `CASE WHEN "${tag}_quality" IS NULL THEN "${tag}" END`;
      const t = good("spindleTemperature");
      const expected = [
        `SELECT "machine", bin(time, 5m) AS "binStart", count(${t}) AS "spindleTemperature_count", avg(${t}) AS "spindleTemperature_avg", min(${t}) AS "spindleTemperature_min", max(${t}) AS "spindleTemperature_max", approx_percentile(${t}, 0.95) AS "spindleTemperature_p95", count("vibration") AS "vibration_count", avg("vibration") AS "vibration_avg", min("vibration") AS "vibration_min", max("vibration") AS "vibration_max", approx_percentile("vibration", 0.95) AS "vibration_p95"`,
        'FROM "factory-a-telemetry"."telemetry"',
        "WHERE \"measure_name\" = 'telemetry'",
        "AND \"factory\" = 'factory-a'",
        "AND \"machine\" IN ('press-01')",
        `AND time BETWEEN from_milliseconds(${FROM}) AND from_milliseconds(${TO})`,
        'AND ("spindleTemperature" IS NOT NULL OR "vibration" IS NOT NULL)',
        'GROUP BY "machine", bin(time, 5m)',
        'ORDER BY "machine", "binStart"',
      ].join("\n");
      assert.deepEqual(dataQueries(mock), [
        { QueryString: expected, NextToken: undefined, MaxRows: 500 },
        { QueryString: expected, NextToken: "n1", MaxRows: 500 },
      ]);
      assert.deepEqual(
        pages.map((p) => [p.queryId, p.bytesScanned, p.bytesMetered]),
        [
          ["q-bin", 5_000, 10_485_760],
          ["q-bin", 9_000, 10_485_760],
        ],
      );
      const bins = pages.flatMap((p) => p.items);
      assert.deepEqual(bins, [
        { machineId: "press-01", tag: "spindleTemperature", binStart: new Date(FROM), count: 300, avg: 41.25, min: 40, max: 43.5, p95: 43.1 },
        { machineId: "press-01", tag: "spindleTemperature", binStart: new Date(FROM + 300_000), count: 299, avg: 41.5, min: 40.5, max: 44, p95: 43.75 },
        { machineId: "press-01", tag: "vibration", binStart: new Date(FROM + 300_000), count: 12, avg: 0.002, min: 0.001, max: 0.004, p95: 0.0035 },
      ]);
      // The type follows the aggregates asked for.
      const first = bins[0]!;
      const typed: { avg: number | null; p95: number | null; count: number } = first;
      assert.equal(typed.p95, 43.1);
    });

    it("binned: other qualities and percentiles with decimals on request", async () => {
      serve({ "": { QueryId: "q", ColumnInfo: [], Rows: [], QueryStatus: {} } });
      await collect(
        queries().binned({
          machineIds: ["press-01"],
          tags: ["spindleTemperature"],
          from: FROM,
          to: TO,
          bin: "1h",
          aggregates: [{ percentile: 99.9 }, "sum"],
          qualities: ["good", "uncertain"],
        }),
      );
      const v = `CASE WHEN "spindleTemperature_quality" IS NULL OR "spindleTemperature_quality" IN ('uncertain') THEN "spindleTemperature" END`;
      const [sql] = dataQueries(mock).map((i) => i.QueryString);
      assert.equal(
        sql?.split("\n")[0],
        `SELECT "machine", bin(time, 1h) AS "binStart", count(${v}) AS "spindleTemperature_count", approx_percentile(${v}, 0.999) AS "spindleTemperature_p99_9", sum(${v}) AS "spindleTemperature_sum"`,
      );
    });

    it("raw: LIMIT when asked, tags the table has never stored are null without being named in the SQL", async () => {
      serve({
        "": {
          QueryId: "q-raw",
          ColumnInfo: [scalar("time", "TIMESTAMP"), scalar("machine", "VARCHAR"), scalar("vibration", "DOUBLE"), scalar("vibration_quality", "VARCHAR")],
          Rows: [{ Data: [s("2026-11-23 06:00:00.000000000"), s("press-01"), s("0.002"), NULL] }],
          QueryStatus: { ProgressPercentage: 100, CumulativeBytesScanned: 10, CumulativeBytesMetered: 10 },
        },
      });
      const pages = await collect(queries().raw({ machineIds: ["press-01"], tags: ["neverStored", "vibration"], from: FROM, to: TO, limit: 10_000 }));
      assert.deepEqual(
        dataQueries(mock).map((i) => i.QueryString),
        [
          [
            'SELECT time, "machine", "vibration", CAST(NULL AS VARCHAR) AS "vibration_quality"',
            'FROM "factory-a-telemetry"."telemetry"',
            "WHERE \"measure_name\" = 'telemetry'",
            "AND \"factory\" = 'factory-a'",
            "AND \"machine\" IN ('press-01')",
            `AND time BETWEEN from_milliseconds(${FROM}) AND from_milliseconds(${TO})`,
            'AND ("vibration" IS NOT NULL)',
            'ORDER BY time, "machine"',
            "LIMIT 10000",
          ].join("\n"),
        ],
      );
      assert.deepEqual(pages[0]?.items, [
        { time: new Date(FROM), machineId: "press-01", values: { neverStored: null, vibration: 0.002 }, quality: { neverStored: null, vibration: "good" } },
      ]);
    });

    it("sends no data query when none of the tags has ever been stored", async () => {
      serve({});
      const q = queries();
      assert.deepEqual(await q.latest({ machineIds: ["press-01"], tags: ["neverStored"] }), {
        data: [],
        queryId: undefined,
        bytesScanned: 0,
        bytesMetered: 0,
        pages: 0,
      });
      assert.deepEqual(await collect(q.raw({ machineIds: ["press-01"], tags: ["neverStored"], from: FROM, to: TO })), []);
      assert.deepEqual(dataQueries(mock), []);
    });
  });

  describe("the table's columns", () => {
    it("reads them once per cache period", async () => {
      let now = NOW;
      serve({ "": { QueryId: "q", ColumnInfo: [], Rows: [], QueryStatus: {} } });
      const q = createTelemetryQueries({ ...context(), now: () => now }, { schemaCacheMs: 60_000 });
      const describes = (): number => mock.commandCalls(QueryCommand, { QueryString: DESCRIBE_SQL }).length;
      await q.latest({ machineIds: ["press-01"], tags: ["vibration"] });
      now += 59_999;
      await q.latest({ machineIds: ["press-01"], tags: ["vibration"] });
      assert.equal(describes(), 1);
      now += 1;
      await q.latest({ machineIds: ["press-01"], tags: ["vibration"] });
      assert.equal(describes(), 2);
    });
  });

  describe("errors", () => {
    const throttled = (): ThrottlingException =>
      new ThrottlingException({ message: "Rate exceeded", $metadata: { httpStatusCode: 400, attempts: 3, totalRetryDelay: 1_200 } });

    it("surfaces throttling that outlasted the AWS SDK's retries as ThrottledError, with the AWS error as cause", async () => {
      const error = throttled();
      mock.on(QueryCommand).rejects(error);
      await assert.rejects(queries().latest({ machineIds: ["press-01"], tags: ["vibration"] }), (e: unknown) => {
        assert.ok(e instanceof ThrottledError);
        assert.equal(e.operation, "Query");
        assert.equal(e.attempts, 3);
        assert.equal(e.cause, error);
        assert.equal((e.cause as Error).name, "ThrottlingException");
        assert.match(e.message, /Query was throttled after 3 attempts/);
        return true;
      });
      // One call: retries are the AWS SDK's job (its retry strategy), not a loop of ours.
      assert.equal(mock.commandCalls(QueryCommand).length, 1);
    });

    it("surfaces throttling in the middle of a stream the same way", async () => {
      const error = throttled();
      mock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
        if (input.QueryString === DESCRIBE_SQL) return Promise.resolve(describeResponse(MEASURES));
        if (input.NextToken === undefined) return Promise.resolve({ QueryId: "q-t", NextToken: "n1", ColumnInfo: RAW_COLUMNS, Rows: [], QueryStatus: {} });
        return Promise.reject(error);
      });
      mock.on(CancelQueryCommand).resolves({});
      const seen: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const page of queries().raw({ machineIds: ["press-01"], tags: ["vibration"], from: FROM, to: TO })) seen.push(page.pageIndex);
        })(),
        (e: unknown) => e instanceof ThrottledError && e.cause === error && e.attempts === 3,
      );
      assert.deepEqual(seen, [0]);
    });

    it("refuses a result whose shape is not the query's", async () => {
      serve({ "": { QueryId: "q", ColumnInfo: [scalar("machine", "VARCHAR")], Rows: [{ Data: [s("press-01")] }], QueryStatus: {} } });
      await assert.rejects(queries().latest({ machineIds: ["press-01"], tags: ["vibration"] }), (e: unknown) => e instanceof SmartFactoryError && /1 columns, the query selects 4/.test(e.message));
    });
  });

  describe("cancellation", () => {
    function threePages(): void {
      const page = (token: string | undefined, second: number): Response => ({
        QueryId: "q-cancel",
        ...(token === undefined ? {} : { NextToken: token }),
        ColumnInfo: RAW_COLUMNS,
        Rows: [rawRow(second, "press-01", "41", null, null)],
        QueryStatus: { ProgressPercentage: 10, CumulativeBytesScanned: 1, CumulativeBytesMetered: 1 },
      });
      serve({ "": page("p2", 1), p2: page("p3", 2), p3: page(undefined, 3) });
    }

    it("aborting mid-stream sends CancelQuery with the QueryId and the iteration throws QueryCancelledError", async () => {
      threePages();
      const controller = new AbortController();
      const seen: number[] = [];
      await assert.rejects(
        (async () => {
          for await (const page of queries().raw({ machineIds: ["press-01"], tags: ["spindleTemperature", "vibration"], from: FROM, to: TO, signal: controller.signal })) {
            seen.push(page.pageIndex);
            controller.abort(new Error("operator closed the dashboard"));
          }
        })(),
        (e: unknown) => e instanceof QueryCancelledError && /q-cancel/.test(e.message) && (e.cause as Error).message === "operator closed the dashboard",
      );
      assert.deepEqual(seen, [0]);
      assert.deepEqual(
        mock.commandCalls(CancelQueryCommand).map((c) => c.args[0].input),
        [{ QueryId: "q-cancel" }],
      );
      assert.equal(dataQueries(mock).length, 1, "no page is fetched after the abort");
    });

    it("aborting while a page is in flight rejects at once and cancels the query", async () => {
      let pending = false;
      mock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
        if (input.QueryString === DESCRIBE_SQL) return Promise.resolve(describeResponse(MEASURES));
        if (input.NextToken === undefined) return Promise.resolve({ QueryId: "q-slow", NextToken: "n1", ColumnInfo: RAW_COLUMNS, Rows: [], QueryStatus: {} });
        pending = true;
        return new Promise(() => undefined); // never answers
      });
      mock.on(CancelQueryCommand).resolves({});
      const controller = new AbortController();
      const iterator = queries().raw({ machineIds: ["press-01"], tags: ["vibration"], from: FROM, to: TO, signal: controller.signal })[Symbol.asyncIterator]();
      await iterator.next();
      const second = iterator.next();
      await new Promise((r) => setImmediate(r));
      assert.ok(pending);
      controller.abort();
      await assert.rejects(second, QueryCancelledError);
      assert.deepEqual(
        mock.commandCalls(CancelQueryCommand).map((c) => c.args[0].input),
        [{ QueryId: "q-slow" }],
      );
    });

    it("leaving the loop early cancels the running query", async () => {
      threePages();
      for await (const page of queries().raw({ machineIds: ["press-01"], tags: ["spindleTemperature", "vibration"], from: FROM, to: TO })) {
        assert.equal(page.pageIndex, 0);
        break;
      }
      assert.deepEqual(
        mock.commandCalls(CancelQueryCommand).map((c) => c.args[0].input),
        [{ QueryId: "q-cancel" }],
      );
    });

    it("a completed query is not cancelled", async () => {
      threePages();
      const pages = await collect(queries().raw({ machineIds: ["press-01"], tags: ["spindleTemperature", "vibration"], from: FROM, to: TO, signal: new AbortController().signal }));
      assert.equal(pages.length, 3);
      assert.equal(mock.commandCalls(CancelQueryCommand).length, 0);
    });

    it("an already aborted signal sends nothing", async () => {
      threePages();
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(queries().latest({ machineIds: ["press-01"], tags: ["vibration"], signal: controller.signal }), QueryCancelledError);
      await assert.rejects(collect(queries().raw({ machineIds: ["press-01"], tags: ["vibration"], from: FROM, to: TO, signal: controller.signal })), QueryCancelledError);
      assert.equal(mock.calls().length, 0);
    });
  });
});
