/**
 * Hostile input against the telemetry queries. Timestream SQL has no bind parameters, so every argument either is
 * refused with a QueryValidationError naming it, before any AWS call, or ends up only inside one properly escaped
 * string literal: checked here by tokenizing the SQL the SDK produces.
 */
import { strict as assert } from "node:assert";
import { QueryCommand, TimestreamQueryClient, type QueryCommandInput } from "@aws-sdk/client-timestream-query";
import { mockClient } from "aws-sdk-client-mock";
import { QueryValidationError } from "@smart-factory/sdk";
import type { QueryContext } from "../../sdk/src/client/context";
import { createTelemetryQueries, type TelemetryQueriesOptions } from "../../sdk/src/telemetry/queries";
import { quoteId, quoteIdentifier, quoteString, timeRange } from "../../sdk/src/telemetry/sql";
import { testQueryContext } from "../helpers/queryContext";

const NOW = Date.UTC(2026, 10, 23, 7, 0, 0);
const FROM = Date.UTC(2026, 10, 23, 6, 0, 0);
const TO = NOW;
const YEAR = 365.25 * 86_400_000;

// ---------------------------------------------------------------------------------------------- a tiny SQL lexer

type Token =
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "identifier"; readonly value: string }
  | { readonly kind: "word" | "number" | "punct" | "comment"; readonly value: string };

/** Splits SQL into tokens the way a SQL lexer does: '...' with '' escapes, "..." with "" escapes, comments. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const quoted = (quote: string): string => {
    let value = "";
    i++;
    for (;;) {
      if (i >= sql.length) throw new Error(`unterminated ${quote} in ${sql}`);
      const c = sql[i]!;
      if (c === quote) {
        if (sql[i + 1] === quote) {
          value += quote;
          i += 2;
          continue;
        }
        i++;
        return value;
      }
      value += c;
      i++;
    }
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      tokens.push({ kind: "string", value: quoted("'") });
    } else if (c === '"') {
      tokens.push({ kind: "identifier", value: quoted('"') });
    } else if (sql.startsWith("--", i)) {
      const end = sql.indexOf("\n", i);
      tokens.push({ kind: "comment", value: sql.slice(i, end < 0 ? sql.length : end) });
      i = end < 0 ? sql.length : end;
    } else if (sql.startsWith("/*", i)) {
      const end = sql.indexOf("*/", i + 2);
      tokens.push({ kind: "comment", value: sql.slice(i, end < 0 ? sql.length : end + 2) });
      i = end < 0 ? sql.length : end + 2;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i))![0];
      tokens.push({ kind: "word", value: m });
      i += m.length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(?:\.[0-9]+)?[a-z]*/.exec(sql.slice(i))![0];
      tokens.push({ kind: "number", value: m });
      i += m.length;
    } else {
      tokens.push({ kind: "punct", value: c });
      i++;
    }
  }
  return tokens;
}

/** Every keyword and function name the SDK's queries use: anything else outside a literal is an injection. */
const KEYWORDS = new Set(
  "SELECT FROM WHERE AND OR IN IS NOT NULL BETWEEN GROUP BY ORDER LIMIT AS CASE WHEN THEN END CAST DOUBLE VARCHAR DESCRIBE time max max_by min avg sum count approx_percentile bin from_milliseconds".split(
    " ",
  ),
);
const PUNCTUATION = new Set(["(", ")", ",", ".", "="]);

/** Asserts that `sql` is made only of known keywords, safe identifiers and literals from `literals`. */
function assertOnlyExpectedTokens(sql: string, literals: ReadonlySet<string>): void {
  for (const token of tokenize(sql)) {
    switch (token.kind) {
      case "comment":
        assert.fail(`comment in SQL: ${token.value}`);
        break;
      case "punct":
        assert.ok(PUNCTUATION.has(token.value), `unexpected ${JSON.stringify(token.value)} in\n${sql}`);
        break;
      case "word":
        assert.ok(KEYWORDS.has(token.value), `unexpected word ${token.value} in\n${sql}`);
        break;
      case "number":
        assert.match(token.value, /^(?:\d+|0\.\d+|\d+[smhd])$/);
        break;
      case "identifier":
        assert.match(token.value, /^(?:[A-Za-z_][A-Za-z0-9_]*|factory-a-telemetry)$/);
        break;
      case "string":
        assert.ok(literals.has(token.value), `unexpected literal ${JSON.stringify(token.value)}`);
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------- hostile values

/** Machine ids an attacker (or a careless caller) might send. */
const HOSTILE_IDS: readonly unknown[] = [
  "press-01'",
  "press-01' OR '1'='1",
  "press-01') OR machine IS NOT NULL --",
  'press-01"',
  "press-01\\",
  "press-01\\'",
  "press-01 -- comment",
  "press-01--",
  "press-01/* */",
  "/**/press-01",
  "press-01'; DROP TABLE telemetry; --",
  "press-01; DROP TABLE telemetry",
  "press-01' UNION SELECT * FROM \"other\".\"table\" --",
  "press-01\uFF07", // fullwidth apostrophe
  "press-01\u2019", // right single quotation mark
  "press-01\u02BC", // modifier letter apostrophe
  "press-\u200B01", // zero-width space
  "press-01\u202E", // right-to-left override
  "pre\u0455s-01", // Cyrillic dze, looks like s
  "press-01\n",
  "press-01\r\nAND 1=1",
  "press-01\0",
  "PRESS-01",
  "press--01",
  "press_01",
  " press-01",
  "",
  "a".repeat(33),
  42,
  null,
  { toString: () => "press-01" },
  ["press-01"],
];

/** Tag names likewise (the tag becomes a quoted measure column). */
const HOSTILE_TAGS: readonly unknown[] = [
  'vibration"',
  'vibration", "other',
  'vibration" FROM "x"."y" --',
  "vibration'",
  "vibration--",
  "vibration/**/",
  "vibration; DROP TABLE telemetry",
  "vibration UNION SELECT 1",
  "vibration_quality", // the quality column is not a tag
  "Vibration",
  "1vibration",
  "vibr\u0430tion", // Cyrillic a
  "vibration\uFF02", // fullwidth quotation mark
  "vibration\u200B",
  "vibration\n",
  "vibration\0",
  "v".repeat(33),
  "",
  7,
  undefined,
];

/** Time bounds that are not whole epoch milliseconds or valid Dates. */
const HOSTILE_TIMES: readonly unknown[] = [
  "2026-01-01",
  "'2026-01-01' OR 1=1",
  "2026-11-23T06:00:00Z",
  String(FROM),
  "now()",
  "ago(1h)",
  NaN,
  Infinity,
  -Infinity,
  FROM + 0.5,
  -1,
  0,
  946_684_799_999, // before 2000
  4_102_444_800_000, // 2100
  new Date("not a date"),
  Object.create(Date.prototype) as unknown,
  { valueOf: () => FROM },
  [FROM],
  BigInt(FROM),
  null,
];

// ---------------------------------------------------------------------------------------------- harness

describe("telemetry queries against hostile input", () => {
  let mock: ReturnType<typeof mockClient>;
  const issued: string[] = [];

  beforeEach(() => {
    mock = mockClient(TimestreamQueryClient);
    issued.length = 0;
    mock.on(QueryCommand).callsFake((input: QueryCommandInput) => {
      issued.push(input.QueryString ?? "");
      if (input.QueryString?.startsWith("DESCRIBE") === true) {
        return Promise.resolve({
          QueryId: "q-describe",
          ColumnInfo: [{ Name: "Column", Type: { ScalarType: "VARCHAR" } }],
          Rows: ["machine", "time", "vibration", "vibration_quality", "spindleTemperature"].map((c) => ({ Data: [{ ScalarValue: c }] })),
          QueryStatus: {},
        });
      }
      return Promise.resolve({ QueryId: "q", ColumnInfo: [], Rows: [], QueryStatus: {} });
    });
  });
  afterEach(() => {
    mock.restore();
  });

  function context(overrides: Partial<Record<"database" | "table" | "factoryId", unknown>> = {}): QueryContext {
    return testQueryContext(NOW, overrides);
  }
  const queries = (options?: TelemetryQueriesOptions): ReturnType<typeof createTelemetryQueries> => createTelemetryQueries(context(), options);

  /** Runs `run` to completion (a promise, or an iterable of pages) and returns the QueryValidationError it raised. */
  async function validationError(run: () => unknown): Promise<QueryValidationError> {
    try {
      const result = run();
      if (typeof result === "object" && result !== null && Symbol.asyncIterator in result) {
        for await (const _ of result as AsyncIterable<unknown>) {
          /* drain */
        }
      } else {
        await result;
      }
    } catch (e) {
      if (e instanceof QueryValidationError) return e;
      throw e;
    }
    return assert.fail("expected a QueryValidationError");
  }

  /** Asserts the refusal names `field` and carries `value`, and that nothing at all reached AWS. */
  async function refused(run: () => unknown, field: string, value: unknown): Promise<void> {
    const e = await validationError(run);
    assert.equal(e.field, field, e.message);
    if (typeof value === "number" && Number.isNaN(value)) assert.ok(Number.isNaN(e.value));
    else assert.deepStrictEqual(e.value, value);
    assert.equal(mock.commandCalls(QueryCommand).length, 0, `a query was sent for ${e.message}`);
    assert.equal(mock.calls().length, 0);
  }

  const RANGE = { from: FROM, to: TO };
  const BIN = { bin: "5m", aggregates: ["avg"] } as const;

  // -------------------------------------------------------------------------------------------- refusals

  it("refuses hostile machine ids in every query family before calling AWS, naming the entry", async () => {
    const q = queries();
    for (const id of HOSTILE_IDS) {
      const machineIds = ["press-01", id] as string[];
      await refused(() => q.latest({ machineIds, tags: ["vibration"] }), "machineIds[1]", id);
      await refused(() => q.binned({ machineIds, tags: ["vibration"], ...RANGE, ...BIN }), "machineIds[1]", id);
      await refused(() => q.raw({ machineIds, tags: ["vibration"], ...RANGE }), "machineIds[1]", id);
    }
  });

  it("refuses hostile tag names in every query family before calling AWS, naming the entry", async () => {
    const q = queries();
    for (const tag of HOSTILE_TAGS) {
      const tags = ["vibration", tag] as string[];
      await refused(() => q.latest({ machineIds: ["press-01"], tags }), "tags[1]", tag);
      await refused(() => q.binned({ machineIds: ["press-01"], tags, ...RANGE, ...BIN }), "tags[1]", tag);
      await refused(() => q.raw({ machineIds: ["press-01"], tags, ...RANGE }), "tags[1]", tag);
    }
  });

  it("refuses empty, missing and oversized machine and tag lists", async () => {
    const q = queries();
    await refused(() => q.raw({ machineIds: [], tags: ["vibration"], ...RANGE }), "machineIds", []);
    await refused(() => q.raw({ machineIds: undefined as unknown as string[], tags: ["vibration"], ...RANGE }), "machineIds", undefined);
    await refused(() => q.raw({ machineIds: "press-01" as unknown as string[], tags: ["vibration"], ...RANGE }), "machineIds", "press-01");
    const many = Array.from({ length: 501 }, (_, i) => `m-${i}`);
    await refused(() => q.raw({ machineIds: many, tags: ["vibration"], ...RANGE }), "machineIds", many);
    await refused(() => q.latest({ machineIds: ["press-01"], tags: [] }), "tags", []);
  });

  it("refuses hostile time bounds: text, NaN, Infinity, fractions, out-of-range numbers, invalid or fake Dates, nothing", async () => {
    const q = queries();
    for (const bad of HOSTILE_TIMES) {
      // A genuine invalid Date is reported by its time (NaN); anything else as given.
      const expectedValue = Object.prototype.toString.call(bad) === "[object Date]" ? NaN : bad;
      await refused(() => q.raw({ machineIds: ["press-01"], tags: ["vibration"], from: bad as number, to: TO }), "from", expectedValue);
      await refused(() => q.binned({ machineIds: ["press-01"], tags: ["vibration"], from: FROM, to: bad as number, ...BIN }), "to", expectedValue);
    }
  });

  it("refuses unbounded, reversed and too long ranges", async () => {
    const q = queries();
    await refused(() => q.raw({ machineIds: ["press-01"], tags: ["vibration"], from: FROM } as never), "to", undefined);
    await refused(() => q.raw({ machineIds: ["press-01"], tags: ["vibration"], to: TO } as never), "from", undefined);
    await refused(() => q.raw({ machineIds: ["press-01"], tags: ["vibration"], from: TO, to: FROM }), "to", FROM);
    await refused(() => q.binned({ machineIds: ["press-01"], tags: ["vibration"], from: new Date(TO), to: new Date(FROM), ...BIN }), "to", new Date(FROM));
    const elevenYears = TO - Math.ceil(11 * YEAR);
    await refused(() => q.raw({ machineIds: ["press-01"], tags: ["vibration"], from: elevenYears, to: TO }), "to", TO);
    // With the table's retention given, ranges longer than it are refused too.
    const month = queries({ retentionDays: 30 });
    await refused(() => month.raw({ machineIds: ["press-01"], tags: ["vibration"], from: TO - 31 * 86_400_000, to: TO }), "to", TO);
    await refused(() => month.latest({ machineIds: ["press-01"], tags: ["vibration"], lookback: "31d" }), "lookback", "31d");
    // Exactly ten years and exactly the retention are accepted.
    assert.deepEqual(timeRange(TO - 3653 * 86_400_000, TO), { from: TO - 3653 * 86_400_000, to: TO });
    await month.latest({ machineIds: ["press-01"], tags: ["vibration"], lookback: "30d" });
  });

  it("refuses hostile bin sizes, aggregates, lookbacks, qualities, page sizes and limits", async () => {
    const q = queries();
    const base = { machineIds: ["press-01"], tags: ["vibration"], ...RANGE };
    for (const bin of ["5m); DROP TABLE telemetry; --", "5m--", "5 m", "5min", "1w", "0m", "-5m", "5.5m", "\uFF15m", "5m\n", "5M", "", 300_000, null]) {
      await refused(() => q.binned({ ...base, bin: bin as "5m", aggregates: ["avg"] }), "bin", bin);
    }
    const aggregates: [unknown, string, unknown][] = [
      ["avg); DROP TABLE telemetry; --", "aggregates[0]", "avg); DROP TABLE telemetry; --"],
      ["stddev", "aggregates[0]", "stddev"],
      ["AVG", "aggregates[0]", "AVG"],
      [{ percentile: 100 }, "aggregates[0].percentile", 100],
      [{ percentile: 0 }, "aggregates[0].percentile", 0],
      [{ percentile: -5 }, "aggregates[0].percentile", -5],
      [{ percentile: NaN }, "aggregates[0].percentile", NaN],
      [{ percentile: Infinity }, "aggregates[0].percentile", Infinity],
      [{ percentile: 95.00001 }, "aggregates[0].percentile", 95.00001],
      [{ percentile: "95) --" }, "aggregates[0].percentile", "95) --"],
      [{ percentile: 95, extra: "x" }, "aggregates[0]", { percentile: 95, extra: "x" }],
    ];
    for (const [spec, field, value] of aggregates) {
      await refused(() => q.binned({ ...base, bin: "5m", aggregates: [spec as "avg"] }), field, value);
    }
    await refused(() => q.binned({ ...base, bin: "5m", aggregates: [] }), "aggregates", []);
    await refused(() => q.binned({ ...base, bin: "5m", aggregates: ["avg", "min", "avg"] }), "aggregates[2]", "avg");
    await refused(() => q.binned({ ...base, bin: "5m", aggregates: [{ percentile: 95 }, { percentile: 95 }] }), "aggregates[1]", { percentile: 95 });
    for (const lookback of ["1h' OR 1=1", "1h; DROP", "-1h", "0h", "3700d", 999, -1, NaN, 1.5e3 + 0.5]) {
      await refused(() => q.latest({ machineIds: ["press-01"], tags: ["vibration"], lookback: lookback as "1h" }), "lookback", lookback);
    }
    await refused(() => q.binned({ ...base, bin: "5m", aggregates: ["avg"], qualities: ["good'; DROP TABLE x; --" as "good"] }), "qualities[0]", "good'; DROP TABLE x; --");
    await refused(() => q.binned({ ...base, bin: "5m", aggregates: ["avg"], qualities: [] }), "qualities", []);
    for (const size of [0, 1001, 1.5, -1, NaN, "10; DROP"]) {
      await refused(() => q.raw({ ...base, pageSize: size as number }), "pageSize", size);
      await refused(() => q.binned({ ...base, bin: "5m", aggregates: ["avg"], pageSize: size as number }), "pageSize", size);
    }
    for (const limit of [0, 10_000_001, 2.5, "1; DROP"]) {
      await refused(() => q.raw({ ...base, limit: limit as number }), "limit", limit);
    }
  });

  it("refuses a hostile database, table or factory id in the context before any query", () => {
    const cases: ["database" | "table" | "factoryId", unknown][] = [
      ["database", 'factory-a-telemetry"; DROP TABLE "x'],
      ["database", 'factory-a-telemetry"."other'],
      ["database", "factory a telemetry"],
      ["database", "db"],
      ["database", "factory-a-telemetry\u200B"],
      ["table", 'telemetry" --'],
      ["table", "telemetry; DELETE"],
      ["table", "tele\u2019metry"],
      ["factoryId", "factory-a' OR '1'='1"],
      ["factoryId", "Factory-A"],
    ];
    for (const [field, value] of cases) {
      assert.throws(
        () => createTelemetryQueries(context({ [field]: value })),
        (e: unknown) => e instanceof QueryValidationError && e.field === field && e.value === value,
        `${field} ${String(value)}`,
      );
    }
    assert.equal(mock.calls().length, 0);
  });

  // -------------------------------------------------------------------------------------------- escaping

  it("keeps hostile text that is a legitimate literal inside one string literal, quotes doubled", () => {
    const texts = [
      "O'Brien",
      "'; DROP TABLE telemetry; --",
      "\\' OR 1=1 --",
      "' OR '1'='1",
      "/* comment */ UNION SELECT * FROM x",
      '"quoted" identifier',
      "it\uFF07s (fullwidth)",
      "it\u2019s (curly)",
      "''",
      "\\",
      "-- just a comment",
      "Grüße, 温度",
    ];
    for (const text of texts) {
      const sql = `SELECT ${quoteString("note", text)} AS "note"`;
      const tokens = tokenize(sql);
      assert.deepEqual(tokens, [
        { kind: "word", value: "SELECT" },
        { kind: "string", value: text },
        { kind: "word", value: "AS" },
        { kind: "identifier", value: "note" },
      ]);
    }
    assert.equal(quoteString("note", "O'Brien"), "'O''Brien'");
  });

  it("refuses control, separator and invisible formatting characters in literals instead of escaping them", () => {
    for (const text of ["a\nb", "a\rb", "a\0b", "a\x1bb", "a\u0085b", "a\u200Bb", "a\u200Db", "a\u202Eb", "a\u2066b", "a\u2028b", "a\u2029b", "a\uFEFFb", "a\uD800b"]) {
      assert.throws(
        () => quoteString("note", text),
        (e: unknown) => e instanceof QueryValidationError && e.field === "note" && e.value === text,
        JSON.stringify(text),
      );
    }
    assert.throws(() => quoteString("note", 5), QueryValidationError);
  });

  it("quotes only strict identifiers and ids", () => {
    assert.equal(quoteIdentifier("column", "spindleTemperature_quality"), '"spindleTemperature_quality"');
    for (const name of ['a"b', 'a""b', "a b", "", "1abc", "a--", "a;b", "\uFF41", "a\u200B", 3]) {
      assert.throws(() => quoteIdentifier("column", name), (e: unknown) => e instanceof QueryValidationError && e.field === "column" && e.value === name);
    }
    assert.equal(quoteId("machine", "press-01"), "'press-01'");
    // Every hostile id but the over-long one (refused by the MachineId codec, not by the id alphabet) is refused here too.
    for (const id of HOSTILE_IDS.filter((i) => i !== "a".repeat(33))) assert.throws(() => quoteId("machine", id), QueryValidationError, String(id));
  });

  // -------------------------------------------------------------------------------------------- what is sent

  it("sends only SQL made of known keywords, strict identifiers and expected literals", async () => {
    const q = queries();
    const machineIds = ["press-01", "cnc-mill-7", "x9"];
    const tags = ["vibration", "spindleTemperature", "neverStored"];
    await q.latest({ machineIds, tags, lookback: "7d" });
    for await (const _ of q.binned({ machineIds, tags, from: new Date(FROM), to: TO, bin: "15m", aggregates: ["avg", "min", "max", "sum", "count", { percentile: 99.5 }], qualities: ["good", "bad"] })) {
      /* drain */
    }
    for await (const _ of q.raw({ machineIds, tags, ...RANGE, limit: 100, pageSize: 10 })) {
      /* drain */
    }
    assert.equal(issued.length, 4); // DESCRIBE once (cached), then one query per family
    const literals = new Set(["telemetry", "factory-a", "bad", ...machineIds]);
    for (const sql of issued) assertOnlyExpectedTokens(sql, literals);
    // Every query is bounded in time.
    for (const sql of issued.slice(1)) assert.match(sql, /\nAND time BETWEEN from_milliseconds\(\d+\) AND from_milliseconds\(\d+\)\n/);
  });

  it("the tokenizer used here does see injections (self-check)", () => {
    assert.throws(() => {
      assertOnlyExpectedTokens("SELECT 'a' -- x", new Set(["a"]));
    }, /comment in SQL/);
    assert.throws(() => {
      assertOnlyExpectedTokens("SELECT 'a'; DROP TABLE t", new Set(["a"]));
    }, /unexpected ";"/);
    assert.throws(() => {
      assertOnlyExpectedTokens("SELECT 'a' UNION SELECT 1", new Set(["a"]));
    }, /unexpected word UNION/);
    assert.throws(() => {
      assertOnlyExpectedTokens("SELECT 'a' OR 'b'", new Set(["a"]));
    }, /unexpected literal "b"/);
  });
});
