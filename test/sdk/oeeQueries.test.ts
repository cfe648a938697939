/**
 * The OEE queries against a mocked IoT SiteWise that answers like the API reference says: batch entries
 * answered in `successEntries`, `errorEntries` or `skippedEntries`, pages chained by `nextToken` with the same
 * entries sent again, metric values stamped at the end of their window. Every expected figure below is computed
 * by hand in the comments next to it.
 */
import { strict as assert } from "node:assert";
import {
  BatchGetAssetPropertyValueCommand,
  BatchGetAssetPropertyValueHistoryCommand,
  DescribeAssetCommand,
  DescribeAssetModelCommand,
  IoTSiteWiseClient,
  type AssetPropertyValue,
  type BatchGetAssetPropertyValueEntry,
  type BatchGetAssetPropertyValueHistoryEntry,
  type BatchGetAssetPropertyValueHistoryResponse,
  type BatchGetAssetPropertyValueResponse,
} from "@aws-sdk/client-iotsitewise";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";
import {
  OEE_COUNTER_KEYS,
  OEE_RATIO_KEYS,
  oeeOf,
  QueryValidationError,
  ThrottledError,
} from "@smart-factory/sdk";
import type { FactoryCalendar, QueryContext } from "../../sdk/src/client/context";
import { createAssetQueries, type FactoryTree, type LineRef, type MachineRef } from "../../sdk/src/assets/queries";
import { shiftRange } from "../../sdk/src/oee/calendar";
import { createOeeQueries, rollUpCurrent, rollUpRange, type OeeMetricKey, type OeeQueries, type RolledUpCounterKey } from "../../sdk/src/oee/queries";
import { testQueryContext } from "../helpers/queryContext";

/** Created per test: a mock made at load time would be replaced by another test file's mock of the same class. */
let sitewise: AwsClientStub<IoTSiteWiseClient>;
const S = 1000;
const H = 3600 * S;
const u = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const T0 = Date.parse("2026-01-12T08:00:00Z"); // a Monday
const LATE = Date.parse("2027-01-01T00:00:00Z"); // long after every range of these tests

const MACHINE_MODEL = u(1);
const LINE_MODEL = u(2);
const PROPERTY_KEYS: OeeMetricKey[] = [...OEE_COUNTER_KEYS, ...OEE_RATIO_KEYS];
/** Property ids: the assets of a model share them; here every model uses the same id per name. */
const pid = (key: OeeMetricKey): string => u(1000 + PROPERTY_KEYS.indexOf(key));
const ALL_PROPERTIES = Object.fromEntries(PROPERTY_KEYS.map((k) => [k, pid(k)]));

function machine(n: number, lineId = "line-1", machineId = `m-${n}`): MachineRef {
  return {
    level: "machine",
    assetId: u(100_000 + n),
    name: `factory-a/${lineId}/${machineId}`,
    modelId: MACHINE_MODEL,
    modelKey: "machine-cnc",
    lineId,
    machineId,
    properties: ALL_PROPERTIES,
  };
}

function lineRef(n: number, lineId: string): LineRef {
  return { level: "line", assetId: u(200_000 + n), name: `factory-a/${lineId}`, modelId: LINE_MODEL, modelKey: "line-cnc", lineId, properties: ALL_PROPERTIES };
}

function context(now = LATE, calendar?: FactoryCalendar): QueryContext {
  return testQueryContext(now, calendar === undefined ? {} : { calendar });
}

function queries(ctx = context()): OeeQueries {
  return createOeeQueries(ctx, createAssetQueries(ctx));
}

function near(actual: number | undefined, expected: number, what = ""): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${what}: ${String(actual)} is not ${expected}`);
}

// ---------------------------------------------------------------------------------------------- the fake

function pv(at: number, value: number, quality: "GOOD" | "BAD" | "UNCERTAIN" = "GOOD"): AssetPropertyValue {
  return { value: { doubleValue: value }, timestamp: { timeInSeconds: Math.floor(at / 1000), offsetInNanos: (at % 1000) * 1e6 }, quality };
}

const keyOf = (e: { assetId?: string | undefined; propertyId?: string | undefined }): string => `${e.assetId ?? ""}|${e.propertyId ?? ""}`;

/** A SiteWise that holds values per (asset, property) and answers the two batch reads as documented. */
class FakeSiteWise {
  readonly values = new Map<string, AssetPropertyValue[]>();
  readonly errors = new Map<string, { code: "ResourceNotFoundException" | "InvalidRequestException" | "AccessDeniedException"; message: string }>();
  readonly skipped = new Map<string, "ResourceNotFoundException" | "InvalidRequestException" | "AccessDeniedException">();
  /** Data points per history page (SiteWise: up to maxResults or 4 MB). */
  historyPageSize = Number.POSITIVE_INFINITY;
  /** Split every BatchGetAssetPropertyValue answer over two pages. */
  paginateLatest = false;

  set(target: { assetId: string }, key: OeeMetricKey, at: number, value: number, quality: "GOOD" | "BAD" = "GOOD"): void {
    const k = `${target.assetId}|${pid(key)}`;
    const list = this.values.get(k) ?? [];
    list.push(pv(at, value, quality));
    list.sort((a, b) => (a.timestamp?.timeInSeconds ?? 0) - (b.timestamp?.timeInSeconds ?? 0));
    this.values.set(k, list);
  }

  /** One window's counters (and the ratios SiteWise would compute from them) for a target, stamped at `end`. */
  window(target: { assetId: string }, end: number, c: Partial<Record<RolledUpCounterKey, number>>): void {
    for (const [key, value] of Object.entries(c)) this.set(target, key as OeeMetricKey, end, value);
  }

  latest(input: { entries?: BatchGetAssetPropertyValueEntry[]; nextToken?: string }): BatchGetAssetPropertyValueResponse {
    const entries = input.entries ?? [];
    assert.ok(entries.length >= 1 && entries.length <= 128, `BatchGetAssetPropertyValue with ${entries.length} entries`);
    const split = this.paginateLatest ? Math.ceil(entries.length / 2) : entries.length;
    const secondPage = input.nextToken !== undefined;
    if (secondPage) assert.equal(input.nextToken, "cGFnZTI=");
    const out: BatchGetAssetPropertyValueResponse = { successEntries: [], errorEntries: [], skippedEntries: [] };
    entries.forEach((e, i) => {
      assert.match(e.entryId ?? "", /^[a-zA-Z0-9_-]{1,64}$/);
      const k = keyOf(e);
      const onThisPage = secondPage ? i >= split : i < split;
      if (!onThisPage) {
        if (secondPage) out.skippedEntries!.push({ entryId: e.entryId, completionStatus: this.errors.has(k) ? "ERROR" : "SUCCESS" });
        return;
      }
      const error = this.errors.get(k);
      const skipped = this.skipped.get(k);
      if (error !== undefined) out.errorEntries!.push({ entryId: e.entryId, errorCode: error.code, errorMessage: error.message });
      else if (skipped !== undefined) out.skippedEntries!.push({ entryId: e.entryId, completionStatus: "ERROR", errorInfo: { errorCode: skipped, errorTimestamp: new Date(T0) } });
      else {
        const list = this.values.get(k);
        const last = list?.[list.length - 1];
        out.successEntries!.push({ entryId: e.entryId, ...(last === undefined ? {} : { assetPropertyValue: last }) });
      }
    });
    if (!secondPage && split < entries.length) out.nextToken = "cGFnZTI=";
    return out;
  }

  history(input: { entries?: BatchGetAssetPropertyValueHistoryEntry[]; nextToken?: string; maxResults?: number }): BatchGetAssetPropertyValueHistoryResponse {
    const entries = input.entries ?? [];
    assert.ok(entries.length >= 1 && entries.length <= 16, `BatchGetAssetPropertyValueHistory with ${entries.length} entries`);
    // every data point of the request, entry by entry, ascending; a page is a slice of them
    const points: { entry: number; value: AssetPropertyValue }[] = [];
    entries.forEach((e, entry) => {
      assert.equal(e.timeOrdering, "ASCENDING");
      const from = e.startDate!.getTime();
      const to = e.endDate!.getTime();
      if (this.errors.has(keyOf(e))) return;
      for (const value of this.values.get(keyOf(e)) ?? []) {
        const at = (value.timestamp?.timeInSeconds ?? 0) * 1000;
        if (at > from && at <= to) points.push({ entry, value }); // start exclusive, end inclusive
      }
    });
    const offset = input.nextToken === undefined ? 0 : Number(Buffer.from(input.nextToken, "base64").toString().replace("offset:", ""));
    const size = Math.min(this.historyPageSize, input.maxResults ?? 20_000);
    const page = points.slice(offset, offset + size);
    const out: BatchGetAssetPropertyValueHistoryResponse = { successEntries: [], errorEntries: [], skippedEntries: [] };
    entries.forEach((e, entry) => {
      const error = this.errors.get(keyOf(e));
      if (error !== undefined) {
        if (offset === 0) out.errorEntries!.push({ entryId: e.entryId, errorCode: error.code, errorMessage: error.message });
        else out.skippedEntries!.push({ entryId: e.entryId, completionStatus: "ERROR", errorInfo: { errorCode: error.code, errorTimestamp: new Date(T0) } });
        return;
      }
      const mine = points.map((p, i) => ({ ...p, i })).filter((p) => p.entry === entry);
      const inPage = page.filter((p) => p.entry === entry).map((p) => p.value);
      const lastIndex = mine[mine.length - 1]?.i ?? -1;
      if (inPage.length > 0 || (mine.length === 0 && offset === 0)) out.successEntries!.push({ entryId: e.entryId, assetPropertyValueHistory: inPage });
      else if (lastIndex < offset) out.skippedEntries!.push({ entryId: e.entryId, completionStatus: "SUCCESS" });
    });
    if (offset + size < points.length) out.nextToken = Buffer.from(`offset:${offset + size}`).toString("base64");
    return out;
  }

  install(): void {
    sitewise.on(BatchGetAssetPropertyValueCommand).callsFake((input: Parameters<FakeSiteWise["latest"]>[0]) => this.latest(input));
    sitewise.on(BatchGetAssetPropertyValueHistoryCommand).callsFake((input: Parameters<FakeSiteWise["history"]>[0]) => this.history(input));
    sitewise.on(DescribeAssetModelCommand).callsFake((input: { assetModelId: string }) => ({
      assetModelId: input.assetModelId,
      assetModelArn: `arn:aws:iotsitewise:eu-central-1:123456789012:asset-model/${input.assetModelId}`,
      assetModelName: input.assetModelId === LINE_MODEL ? "factory-a-line-cnc" : "factory-a-machine-cnc",
      assetModelDescription: "",
      assetModelProperties: PROPERTY_KEYS.map((k) => ({
        id: pid(k),
        name: k,
        dataType: "DOUBLE",
        type: { metric: { expression: "x", variables: [], window: { tumbling: { interval: "1h" } } } },
      })),
      assetModelHierarchies: [],
      assetModelCreationDate: new Date(T0),
      assetModelLastUpdateDate: new Date(T0),
      assetModelStatus: { state: "ACTIVE" },
    }));
  }
}

/** Counters of one window: planned = run + idle + fault. */
function counters(run: number, idle: number, fault: number, plannedStop: number, ideal: number, goodIdeal: number): Record<RolledUpCounterKey, number> {
  return { runSeconds: run, idleSeconds: idle, faultSeconds: fault, plannedStopSeconds: plannedStop, plannedSeconds: run + idle + fault, idealSeconds: ideal, goodIdealSeconds: goodIdeal };
}

function throttling(attempts: number): Error {
  return Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $fault: "client", $metadata: { httpStatusCode: 429, attempts } });
}

const historyCalls = () => sitewise.commandCalls(BatchGetAssetPropertyValueHistoryCommand).map((c) => c.args[0].input);

describe("OEE queries (mocked SiteWise)", () => {
  let fake: FakeSiteWise;
  beforeEach(() => {
    sitewise = mockClient(IoTSiteWiseClient);
    fake = new FakeSiteWise();
    fake.install();
  });
  afterEach(() => {
    sitewise.restore();
  });

  // -------------------------------------------------------------------------------------------- current
  describe("current", () => {
    it("500 machines x 4 ratios: exactly 16 calls of at most 128 entries; errors and skips reported per machine", async () => {
      const machines = Array.from({ length: 500 }, (_, i) => machine(i, `line-${Math.floor(i / 50)}`, `m-${i}`));
      const end = T0 + H;
      machines.forEach((m, i) => {
        fake.set(m, "availability", end, 0.5 + (i % 50) / 100);
        fake.set(m, "performance", end, 0.9);
        fake.set(m, "quality", end, 0.95);
        fake.set(m, "oee", end, (0.5 + (i % 50) / 100) * 0.9 * 0.95);
      });
      fake.errors.set(`${machines[7]!.assetId}|${pid("oee")}`, { code: "ResourceNotFoundException", message: "property not found" });
      fake.skipped.set(`${machines[300]!.assetId}|${pid("quality")}`, "AccessDeniedException");

      const results = await queries().current(machines);

      const calls = sitewise.commandCalls(BatchGetAssetPropertyValueCommand);
      assert.equal(calls.length, 16, "2000 entries / 128 = 15.6: 16 calls");
      const entries = calls.flatMap((c) => c.args[0].input.entries ?? []);
      for (const c of calls) assert.ok((c.args[0].input.entries ?? []).length <= 128);
      assert.equal(entries.length, 2000);
      assert.equal(new Set(entries.map(keyOf)).size, 2000, "each (asset, property) once");
      assert.equal(sitewise.commandCalls(DescribeAssetCommand).length + sitewise.commandCalls(DescribeAssetModelCommand).length, 0, "references need no lookup");

      assert.equal(results.length, 500);
      assert.deepEqual(results.map((r) => r.target.assetId), machines.map((m) => m.assetId));
      const first = results[0]!;
      assert.equal(first.windowEnd, end);
      near(first.ratios.availability, 0.5, "availability");
      near(first.ratios.oee, 0.5 * 0.9 * 0.95, "oee");
      assert.deepEqual(first.issues, []);

      const seven = results[7]!;
      assert.equal(seven.ratios.oee, undefined);
      near(seven.ratios.availability, 0.57, "others' values of the same machine still come back");
      assert.deepEqual(seven.issues, [{ property: "oee", kind: "error", code: "ResourceNotFoundException", message: "property not found" }]);

      const three = results[300]!;
      assert.equal(three.ratios.quality, undefined);
      assert.equal(three.issues.length, 1);
      assert.equal(three.issues[0]!.property, "quality");
      assert.equal(three.issues[0]!.kind, "skipped");
      assert.equal(three.issues[0]!.code, "AccessDeniedException");
      assert.equal(results.filter((r) => r.issues.length > 0).length, 2, "only the two machines with problems report any");
    });

    it("a ratio without a value in the latest window is undefined, not an older window's value", async () => {
      const m = machine(1);
      const idle = machine(2);
      const nothing = machine(3);
      const end = T0 + 2 * H;
      // m ran in the previous window only: this window has availability and OEE (planned time), no P, no Q
      fake.set(m, "performance", end - H, 0.9);
      fake.set(m, "quality", end - H, 0.98);
      fake.set(m, "availability", end, 0);
      fake.set(m, "oee", end, 0);
      fake.set(idle, "availability", end, 0.8, "BAD");
      const [a, b, c] = await queries().current([m, idle, nothing]);
      assert.equal(a!.windowEnd, end);
      assert.deepEqual(a!.ratios, { availability: 0, performance: undefined, quality: undefined, oee: 0 });
      assert.equal(b!.windowEnd, undefined);
      assert.deepEqual(b!.issues.map((i) => [i.property, i.kind]), [["availability", "badQuality"]]);
      assert.equal(c!.windowEnd, undefined, "no value at all: no window");
      assert.deepEqual(c!.ratios, { availability: undefined, performance: undefined, quality: undefined, oee: undefined });
      assert.deepEqual(c!.issues, []);
    });

    it("follows nextToken with the same entries; entries skipped as already answered are no issue", async () => {
      fake.paginateLatest = true;
      const ms = [machine(1), machine(2), machine(3)];
      ms.forEach((m, i) => {
        for (const k of OEE_RATIO_KEYS) fake.set(m, k, T0, 0.1 * (i + 1));
      });
      const results = await queries().current(ms);
      const calls = sitewise.commandCalls(BatchGetAssetPropertyValueCommand).map((c) => c.args[0].input);
      assert.equal(calls.length, 2);
      assert.equal(calls[0]!.nextToken, undefined);
      assert.equal(calls[1]!.nextToken, "cGFnZTI=", "the token of the first page is passed back");
      assert.deepEqual(calls[1]!.entries, calls[0]!.entries, "with the same entries");
      results.forEach((r, i) => {
        assert.deepEqual(r.issues, []);
        for (const k of OEE_RATIO_KEYS) near(r.ratios[k], 0.1 * (i + 1), k);
      });
    });

    it("withCounters: several machines combined from their counters (rollUpCurrent), not a mean of ratios", async () => {
      const x = machine(1);
      const y = machine(2);
      const late = machine(3);
      const end = T0 + H;
      // X: run 3000 of 3600 planned, 2,400 good + 300 bad parts at 60/min (1 s each): ideal 2700, good ideal 2400
      fake.window(x, end, { runSeconds: 3000, plannedSeconds: 3600, idealSeconds: 2700, goodIdealSeconds: 2400 });
      fake.set(x, "availability", end, 3000 / 3600);
      fake.set(x, "oee", end, 2400 / 3600);
      // Y: run 1200 of 1800 planned, 500 good + 100 bad at 30/min (2 s each): ideal 1200, good ideal 1000
      fake.window(y, end, { runSeconds: 1200, plannedSeconds: 1800, idealSeconds: 1200, goodIdealSeconds: 1000 });
      fake.set(y, "availability", end, 1200 / 1800);
      fake.set(y, "oee", end, 1000 / 1800);
      fake.window(late, end - H, { runSeconds: 10, plannedSeconds: 10, idealSeconds: 10, goodIdealSeconds: 10 });

      const currents = await queries().current([x, y, late], { withCounters: true });
      assert.equal(sitewise.commandCalls(BatchGetAssetPropertyValueCommand).length, 1, "3 x 8 = 24 entries: one call");
      assert.deepEqual(currents[0]!.counters, { runSeconds: 3000, plannedSeconds: 3600, idealSeconds: 2700, goodIdealSeconds: 2400 });
      const all = rollUpCurrent(currents);
      assert.equal(all.windowEnd, end);
      assert.deepEqual(all.included.map((t) => t.assetId), [x.assetId, y.assetId]);
      assert.deepEqual(all.excluded.map((e) => e.target.assetId), [late.assetId]);
      // sums: run 4200, planned 5400, ideal 3900, good ideal 3400
      near(all.ratios.availability, 4200 / 5400, "A weighted by planned time");
      near(all.ratios.performance, 3900 / 4200, "P weighted by run time");
      near(all.ratios.quality, 3400 / 3900, "Q weighted by ideal time");
      near(all.ratios.oee, 3400 / 5400, "OEE");
      assert.ok(Math.abs(all.ratios.oee! - (2400 / 3600 + 1000 / 1800) / 2) > 0.01, "not the mean of the machines' OEE (0.6111)");
    });

    it("targets given as asset ids are described once (cached) and then queried", async () => {
      const m = machine(1);
      sitewise.on(DescribeAssetCommand).resolves({
        assetId: m.assetId,
        assetArn: "arn:aws:iotsitewise:eu-central-1:123456789012:asset/x",
        assetName: m.name,
        assetModelId: MACHINE_MODEL,
        assetProperties: PROPERTY_KEYS.map((k) => ({ id: pid(k), name: k, dataType: "DOUBLE" })),
        assetHierarchies: [],
        assetCreationDate: new Date(T0),
        assetLastUpdateDate: new Date(T0),
        assetStatus: { state: "ACTIVE" },
      });
      fake.set(m, "oee", T0, 0.42);
      const q = queries();
      const [first] = await q.current([m.assetId]);
      const [second] = await q.current([m.assetId]);
      near(first!.ratios.oee, 0.42);
      assert.equal(second!.target.level, "machine");
      assert.equal(sitewise.commandCalls(DescribeAssetCommand).length, 1);
    });

    it("throttling after the AWS SDK's retries surfaces as ThrottledError with the AWS error as cause", async () => {
      const error = throttling(3);
      sitewise.on(BatchGetAssetPropertyValueCommand).rejects(error);
      await assert.rejects(
        queries().current([machine(1)]),
        (e: unknown) => e instanceof ThrottledError && e.operation === "BatchGetAssetPropertyValue" && e.attempts === 3 && e.cause === error,
      );
    });

    it("rejects no targets and a target given twice, before calling AWS", async () => {
      await assert.rejects(queries().current([]), (e: unknown) => e instanceof QueryValidationError && e.field === "targets");
      await assert.rejects(queries().current([machine(1), machine(1)]), (e: unknown) => e instanceof QueryValidationError && e.field === "targets[1]");
      assert.equal(sitewise.commandCalls(BatchGetAssetPropertyValueCommand).length, 0);
    });
  });

  // -------------------------------------------------------------------------------------------- history
  describe("history", () => {
    it("16 entries a call, every page via nextToken, streamed target by target", async () => {
      fake.historyPageSize = 7;
      const ms = Array.from({ length: 5 }, (_, i) => machine(i));
      ms.forEach((m, i) => {
        for (let w = 1; w <= 3; w++) {
          OEE_RATIO_KEYS.forEach((k, j) => {
            fake.set(m, k, T0 + w * H, i + w / 10 + j / 100);
          });
        }
      });
      fake.set(ms[0]!, "oee", T0 + 4 * H, 9); // outside the range: not asked for
      const q = createOeeQueries(context(), createAssetQueries(context()), { window: "1h" });
      const chunks = [];
      for await (const chunk of q.history(ms, { from: new Date(T0), to: new Date(T0 + 3 * H) })) chunks.push(chunk);

      // 20 entries: a batch of 16 (48 points, 7 a page: 7 pages) and one of 4 (12 points: 2 pages); the two
      // batches run concurrently, so their calls interleave: group them by batch (the entries sent)
      const calls = sitewise.commandCalls(BatchGetAssetPropertyValueHistoryCommand);
      const batches = new Map<string, { input: (typeof calls)[number]["args"][0]["input"]; nextToken: string | undefined }[]>();
      for (const c of calls) {
        const input = c.args[0].input;
        assert.ok((input.entries ?? []).length <= 16);
        assert.equal(input.maxResults, 20_000);
        for (const e of input.entries ?? []) {
          assert.equal(e.startDate?.toISOString(), "2026-01-12T08:00:00.000Z");
          assert.equal(e.endDate?.toISOString(), "2026-01-12T11:00:00.000Z");
        }
        const id = JSON.stringify(input.entries?.map(keyOf));
        const list = batches.get(id) ?? [];
        list.push({ input, nextToken: ((await c.returnValue) as { nextToken?: string }).nextToken });
        batches.set(id, list);
      }
      assert.deepEqual([...batches.values()].map((b) => [b[0]!.input.entries?.length, b.length]).sort(), [[16, 7], [4, 2]].sort());
      for (const pages of batches.values()) {
        pages.forEach((p, i) => {
          assert.equal(p.input.nextToken, i === 0 ? undefined : pages[i - 1]!.nextToken, "each page passes back the previous page's token");
        });
        assert.equal(pages[pages.length - 1]!.nextToken, undefined, "until a page has none");
      }

      assert.deepEqual(chunks.map((c) => c.target.assetId), ms.map((m) => m.assetId), "in target order");
      chunks.forEach((chunk, i) => {
        assert.deepEqual(chunk.issues, []);
        assert.deepEqual(chunk.windows.map((w) => [w.from, w.to]), [1, 2, 3].map((w) => [T0 + (w - 1) * H, T0 + w * H]));
        chunk.windows.forEach((w, wi) => {
          OEE_RATIO_KEYS.forEach((k, j) => {
            near(w.values[k], i + (wi + 1) / 10 + j / 100, `${i}/${wi}/${k}`);
          });
        });
      });
    });

    it("an entry's error is that target's issue; the others' histories come back", async () => {
      const [a, b] = [machine(1), machine(2)];
      for (const m of [a, b]) fake.window(m, T0 + H, counters(3000, 600, 0, 0, 2700, 2400));
      fake.errors.set(`${b.assetId}|${pid("idealSeconds")}`, { code: "AccessDeniedException", message: "not allowed" });
      const q = createOeeQueries(context(), createAssetQueries(context()), { window: "1h" });
      const chunks = [];
      for await (const c of q.history([a, b], { from: T0, to: T0 + H }, { properties: ["runSeconds", "idealSeconds"] })) chunks.push(c);
      assert.deepEqual(chunks[0]!.windows[0]!.values, { runSeconds: 3000, idealSeconds: 2700 });
      assert.deepEqual(chunks[1]!.windows[0]!.values, { runSeconds: 3000 });
      assert.deepEqual(chunks[1]!.issues, [{ property: "idealSeconds", kind: "error", code: "AccessDeniedException", message: "not allowed" }]);
    });

    it("reads the window from the targets' model when not given", async () => {
      const m = machine(1);
      fake.set(m, "oee", T0 + H, 0.5);
      const chunks = [];
      for await (const c of queries().history([m], { from: T0, to: T0 + H })) chunks.push(c);
      assert.equal(sitewise.commandCalls(DescribeAssetModelCommand).length, 1);
      near(chunks[0]!.windows[0]!.values.oee, 0.5);
    });
  });

  // -------------------------------------------------------------------------------------------- ranges
  describe("forRange", () => {
    // Two 1 h windows, 08:00-09:00 and 09:00-10:00 UTC. Three machines with unequal planned time, run time, parts
    // and ideal rates (ideal seconds = parts x 60 / rate):
    //   X (60/min, 1 s a part)  w1: run 3000, idle 600, planned 3600; 2,400 good + 300 bad: ideal 2700, good ideal 2400
    //                           w2: run 3600, planned 3600; 3,300 good: ideal 3300, good ideal 3300
    //   Y (30/min, 2 s a part)  w1: run 1200, fault 600, planned stop 1800, planned 1800; 500 good + 100 bad: ideal 1200, good ideal 1000
    //                           w2: fault 3600, planned 3600, no parts
    //   Z (on another line)     w1: run 1800, idle 1800, planned 3600; ideal 1500, good ideal 1500;  w2: no data
    const x = machine(1, "line-1", "x");
    const y = machine(2, "line-1", "y");
    const z = machine(3, "line-2", "z");
    const tree: FactoryTree = {
      factory: { level: "factory", assetId: u(300_000), name: "factory-a", modelId: u(9), modelKey: "factory", properties: {} },
      lines: [
        { line: lineRef(1, "line-1"), machines: [x, y] },
        { line: lineRef(2, "line-2"), machines: [z] },
      ],
    };
    const range = { from: T0, to: T0 + 2 * H };
    const install = (): void => {
      fake.window(x, T0 + H, counters(3000, 600, 0, 0, 2700, 2400));
      fake.window(x, T0 + 2 * H, counters(3600, 0, 0, 0, 3300, 3300));
      fake.window(y, T0 + H, counters(1200, 0, 600, 1800, 1200, 1000));
      fake.window(y, T0 + 2 * H, counters(0, 0, 3600, 0, 0, 0));
      fake.window(z, T0 + H, counters(1800, 1800, 0, 0, 1500, 1500));
    };

    it("machines, their total and line/factory roll-ups equal the hand-computed sums, never a mean of ratios", async () => {
      install();
      const q = createOeeQueries(context(), createAssetQueries(context()), { window: "1h" });
      const result = await q.forRange([x, y, z], range);
      // 3 targets x 7 counters = 21 entries: two history calls (16 + 5)
      assert.deepEqual(historyCalls().map((c) => c.entries?.length), [16, 5]);
      const [rx, ry, rz] = result.targets;

      // X: run 6600, idle 600, planned 7200, ideal 6000, good ideal 5700
      assert.deepEqual(rx!.counters, { runSeconds: 6600, idleSeconds: 600, faultSeconds: 0, plannedStopSeconds: 0, plannedSeconds: 7200, idealSeconds: 6000, goodIdealSeconds: 5700 });
      near(rx!.ratios.availability, 6600 / 7200, "X A = 0.9167");
      near(rx!.ratios.performance, 6000 / 6600, "X P = 0.9091");
      near(rx!.ratios.quality, 5700 / 6000, "X Q = 0.95");
      near(rx!.ratios.oee, 5700 / 7200, "X OEE = 0.7917");
      assert.equal(rx!.windowsWithData, 2);
      // Y: run 1200, fault 4200, planned stop 1800, planned 5400, ideal 1200, good ideal 1000
      near(ry!.ratios.availability, 1200 / 5400, "Y A = 0.2222");
      near(ry!.ratios.performance, 1, "Y P = 1200/1200");
      near(ry!.ratios.oee, 1000 / 5400, "Y OEE = 0.1852");
      assert.equal(ry!.counters.plannedStopSeconds, 1800);
      // Z: one window of two has data; its ratios are of that window, its missing window is listed, not zeroed
      assert.equal(rz!.windowsWithData, 1);
      assert.equal(rz!.windowsExpected, 2);
      assert.deepEqual(rz!.missingWindows, [{ from: T0 + H, to: T0 + 2 * H }]);
      near(rz!.ratios.availability, 1800 / 3600, "Z A");

      // line-1 = X + Y: run 7800, planned 12600, ideal 7200, good ideal 6700
      const tree_ = rollUpRange(tree, result);
      const line1 = tree_.lines[0]!.figures;
      assert.deepEqual(line1.counters, { runSeconds: 7800, idleSeconds: 600, faultSeconds: 4200, plannedStopSeconds: 1800, plannedSeconds: 12600, idealSeconds: 7200, goodIdealSeconds: 6700 });
      near(line1.ratios.availability, 7800 / 12600, "line A = 0.6190, weighted by planned time");
      near(line1.ratios.performance, 7200 / 7800, "line P = 0.9231, weighted by run time");
      near(line1.ratios.quality, 6700 / 7200, "line Q = 0.9306, weighted by ideal time");
      near(line1.ratios.oee, 6700 / 12600, "line OEE = 0.5317");
      near(line1.ratios.availability! * line1.ratios.performance! * line1.ratios.quality!, line1.ratios.oee!, "A x P x Q = OEE");
      const meanOfOee = (rx!.ratios.oee! + ry!.ratios.oee!) / 2; // 0.4884
      const meanOfA = (rx!.ratios.availability! + ry!.ratios.availability!) / 2; // 0.5694
      assert.ok(Math.abs(line1.ratios.oee! - meanOfOee) > 0.04, "not the mean of the machines' OEE");
      assert.ok(Math.abs(line1.ratios.availability! - meanOfA) > 0.04, "not the mean of the machines' availability");
      assert.deepEqual([line1.windowsWithData, line1.windowsExpected], [4, 4]);

      // factory = X + Y + Z: run 9600, planned 16200, ideal 8700, good ideal 8200; 5 of 6 machine-windows with data
      const factory = tree_.factory;
      near(factory.ratios.availability, 9600 / 16200, "factory A = 0.5926");
      near(factory.ratios.performance, 8700 / 9600, "factory P = 0.90625");
      near(factory.ratios.quality, 8200 / 8700, "factory Q = 0.9425");
      near(factory.ratios.oee, 8200 / 16200, "factory OEE = 0.5062");
      assert.deepEqual([factory.windowsWithData, factory.windowsExpected], [5, 6]);
      assert.deepEqual(result.total, factory, "the total of the three targets is the factory roll-up");
    });

    it("windows with no data are reported as no data: counted, listed, and no ratios without planned time", async () => {
      const none = machine(4);
      const stopped = machine(5);
      const partial = machine(6);
      fake.window(stopped, T0 + H, counters(0, 0, 0, 3600, 0, 0));
      fake.window(stopped, T0 + 2 * H, counters(0, 0, 0, 3600, 0, 0));
      fake.window(partial, T0 + H, counters(3600, 0, 0, 0, 3000, 3000));
      fake.window(partial, T0 + 2 * H, { runSeconds: 1800 }); // some counters but not all
      const q = createOeeQueries(context(), createAssetQueries(context()), { window: "1h" });
      const [rn, rs, rp] = (await q.forRange([none, stopped, partial], range)).targets;
      assert.deepEqual([rn!.windowsWithData, rn!.windowsExpected], [0, 2]);
      assert.equal(rn!.missingWindows.length, 2);
      assert.deepEqual(rn!.ratios, { availability: undefined, performance: undefined, quality: undefined, oee: undefined });
      // a planned stop all range long is data (the machine reported), but no planned time: no ratios at all
      assert.equal(rs!.windowsWithData, 2);
      assert.deepEqual(rs!.ratios, { availability: undefined, performance: undefined, quality: undefined, oee: undefined });
      // an incomplete window is left out of the sums and listed
      assert.equal(rp!.windowsWithData, 1);
      assert.deepEqual(rp!.incompleteWindows, [{ from: T0 + H, to: T0 + 2 * H }]);
      near(rp!.ratios.availability, 1, "from the complete window only");
      assert.equal(rp!.counters.runSeconds, 3600);
    });

    it("a shift that spans partial windows (05:30-14:30, 1 h windows) uses only whole windows and reports the rest", async () => {
      const m = machine(7);
      const day = Date.parse("2026-01-12T00:00:00Z");
      // every hour 05:00-15:00: run 3000 + idle 600 of 3600 planned; 2,700 parts at 1 s, 2,400 good
      for (let end = day + 6 * H; end <= day + 15 * H; end += H) fake.window(m, end, counters(3000, 600, 0, 0, 2700, 2400));
      // the two windows the shift only touches have very different values, which must not leak in
      fake.window(m, day + 6 * H, counters(0, 0, 3600, 0, 0, 0)); // 05:00-06:00
      fake.window(m, day + 15 * H, counters(0, 0, 3600, 0, 0, 0)); // 14:00-15:00
      const q = createOeeQueries(context(), createAssetQueries(context()), { window: "1h" });
      const result = await q.forRange([m], { from: day + 5.5 * H, to: day + 14.5 * H });

      // whole windows inside (05:30, 14:30]: 06:00-07:00 ... 13:00-14:00, eight of them
      assert.deepEqual(result.windows.map((w) => new Date(w.from).toISOString().slice(11, 16)), ["06:00", "07:00", "08:00", "09:00", "10:00", "11:00", "12:00", "13:00"]);
      assert.deepEqual(result.partialWindows, [
        { from: day + 5 * H, to: day + 6 * H, secondsInRange: 1800 },
        { from: day + 14 * H, to: day + 15 * H, secondsInRange: 1800 },
      ]);
      assert.equal(result.uncoveredSeconds, 3600, "30 min at each end");
      assert.deepEqual(result.pendingWindows, []);
      const entry = historyCalls()[0]!.entries![0]!;
      assert.equal(entry.startDate?.toISOString(), "2026-01-12T06:00:00.000Z", "start exclusive: the 06:00 value (05:00-06:00) is not read");
      assert.equal(entry.endDate?.toISOString(), "2026-01-12T14:00:00.000Z", "end inclusive: the 14:00 value (13:00-14:00) is");
      // 8 windows: run 24000, planned 28800, ideal 21600, good ideal 19200
      const r = result.targets[0]!;
      assert.deepEqual([r.windowsWithData, r.windowsExpected], [8, 8]);
      assert.equal(r.counters.plannedSeconds, 28_800);
      near(r.ratios.availability, 24_000 / 28_800, "A = 0.8333");
      near(r.ratios.performance, 21_600 / 24_000, "P = 0.9");
      near(r.ratios.quality, 19_200 / 21_600, "Q = 0.8889");
      near(r.ratios.oee, 19_200 / 28_800, "OEE = 0.6667");
    });

    it("windows that have not ended yet are pending, not missing", async () => {
      const m = machine(8);
      fake.window(m, T0 + H, counters(3600, 0, 0, 0, 3600, 3600));
      fake.window(m, T0 + 2 * H, counters(1800, 1800, 0, 0, 1800, 1800));
      const ctx = context(T0 + 2.5 * H);
      const result = await createOeeQueries(ctx, createAssetQueries(ctx), { window: "1h" }).forRange([m], { from: T0, to: T0 + 4 * H });
      assert.equal(result.windows.length, 2);
      assert.deepEqual(result.pendingWindows, [
        { from: T0 + 2 * H, to: T0 + 3 * H },
        { from: T0 + 3 * H, to: T0 + 4 * H },
      ]);
      assert.equal(result.uncoveredSeconds, 7200);
      assert.deepEqual([result.targets[0]!.windowsWithData, result.targets[0]!.windowsExpected], [2, 2]);
      near(result.targets[0]!.ratios.availability, 5400 / 7200);
    });

    it("a range within one window uses no window and sends nothing", async () => {
      const q = createOeeQueries(context(), createAssetQueries(context()), { window: "1h" });
      const result = await q.forRange([machine(1)], { from: T0 + 10 * 60 * S, to: T0 + 50 * 60 * S });
      assert.deepEqual(result.windows, []);
      assert.deepEqual(result.partialWindows, [{ from: T0, to: T0 + H, secondsInRange: 2400 }]);
      assert.equal(result.uncoveredSeconds, 2400);
      assert.deepEqual(result.targets[0]!.ratios, { availability: undefined, performance: undefined, quality: undefined, oee: undefined });
      assert.equal(historyCalls().length, 0);
    });

    it("no total when targets contain one another (a line and its machine), and a reversed range is rejected", async () => {
      const q = createOeeQueries(context(), createAssetQueries(context()), { window: "1h" });
      const result = await q.forRange([lineRef(1, "line-1"), x], range);
      assert.equal(result.total, undefined);
      assert.equal(result.targets.length, 2);
      await assert.rejects(q.forRange([x], { from: T0, to: T0 }), (e: unknown) => e instanceof QueryValidationError && e.field === "range.to");
    });
  });

  // -------------------------------------------------------------------------------------------- shifts
  describe("forShift", () => {
    const berlin: FactoryCalendar = {
      timeZone: "Europe/Berlin",
      shifts: [
        { id: "early", start: "07:00", end: "15:30", days: ["mon", "tue", "wed", "thu", "fri"] },
        { id: "night", start: "22:00", end: "06:00", days: ["sat"] },
      ],
    };

    it("a winter shift 07:00-15:30 in Berlin is 06:00-14:30 UTC: eight whole 1 h windows, half an hour uncovered", async () => {
      const m = machine(1);
      const day = Date.parse("2026-01-12T00:00:00Z");
      for (let end = day + 7 * H; end <= day + 15 * H; end += H) fake.window(m, end, counters(3000, 600, 0, 0, 2700, 2400));
      const ctx = context(LATE, berlin);
      const result = await createOeeQueries(ctx, createAssetQueries(ctx), { window: "1h" }).forShift([m], { shiftId: "early", date: "2026-01-12" });
      assert.equal(new Date(result.shift.from).toISOString(), "2026-01-12T06:00:00.000Z");
      assert.equal(new Date(result.shift.to).toISOString(), "2026-01-12T14:30:00.000Z");
      assert.equal(result.windows.length, 8);
      assert.deepEqual(result.partialWindows, [{ from: day + 14 * H, to: day + 15 * H, secondsInRange: 1800 }]);
      assert.equal(result.uncoveredSeconds, 1800);
      near(result.targets[0]!.ratios.oee, 19_200 / 28_800);
    });

    it("Europe/Berlin, night into 2026-03-29 (clocks 02:00 -> 03:00): 22:00 CET to 06:00 CEST is 7 hours", async () => {
      const ctx = context(LATE, berlin);
      const result = await createOeeQueries(ctx, createAssetQueries(ctx), { window: "1h" }).forShift([machine(1)], { shiftId: "night", date: "2026-03-28" });
      // 22:00 CET (UTC+1) = 21:00Z; 06:00 CEST (UTC+2) = 04:00Z
      assert.equal(new Date(result.range.from).toISOString(), "2026-03-28T21:00:00.000Z");
      assert.equal(new Date(result.range.to).toISOString(), "2026-03-29T04:00:00.000Z");
      assert.equal(result.windows.length, 7);
      assert.equal(result.targets[0]!.windowsExpected, 7);
      const entry = historyCalls()[0]!.entries![0]!;
      assert.deepEqual([entry.startDate?.toISOString(), entry.endDate?.toISOString()], ["2026-03-28T21:00:00.000Z", "2026-03-29T04:00:00.000Z"]);
    });

    it("America/New_York, night into 2026-11-01 (clocks 02:00 -> 01:00): 22:00 EDT to 06:00 EST is 9 hours", async () => {
      const ny: FactoryCalendar = { timeZone: "America/New_York", shifts: [{ id: "night", start: "22:00", end: "06:00", days: ["sat"] }] };
      const ctx = context(LATE, ny);
      const result = await createOeeQueries(ctx, createAssetQueries(ctx), { window: "1h" }).forShift([machine(1)], { shiftId: "night", date: "2026-10-31" });
      // 22:00 EDT (UTC-4) = 02:00Z on Nov 1; 06:00 EST (UTC-5) = 11:00Z
      assert.equal(new Date(result.range.from).toISOString(), "2026-11-01T02:00:00.000Z");
      assert.equal(new Date(result.range.to).toISOString(), "2026-11-01T11:00:00.000Z");
      assert.equal(result.windows.length, 9);
    });

    it("local times in the spring gap move forward; repeated autumn times take the first occurrence", () => {
      const gap = shiftRange({ timeZone: "Europe/Berlin", shifts: [{ id: "s", start: "02:30", end: "04:00", days: ["sun"] }] }, { shiftId: "s", date: "2026-03-29" });
      // 02:30 does not exist; it is 03:30 CEST = 01:30Z; 04:00 CEST = 02:00Z: a half-hour shift
      assert.equal(new Date(gap.from).toISOString(), "2026-03-29T01:30:00.000Z");
      assert.equal(new Date(gap.to).toISOString(), "2026-03-29T02:00:00.000Z");
      const fold = shiftRange({ timeZone: "America/New_York", shifts: [{ id: "s", start: "01:30", end: "03:00", days: ["sun"] }] }, { shiftId: "s", date: "2026-11-01" });
      // 01:30 happens twice; the first is EDT = 05:30Z; 03:00 EST = 08:00Z
      assert.equal(new Date(fold.from).toISOString(), "2026-11-01T05:30:00.000Z");
      assert.equal(new Date(fold.to).toISOString(), "2026-11-01T08:00:00.000Z");
    });

    it("no calendar, an unknown shift, a day the shift does not run, a bad date: QueryValidationError", async () => {
      const none = queries(context());
      await assert.rejects(none.forShift([machine(1)], { shiftId: "early", date: "2026-01-12" }), (e: unknown) => e instanceof QueryValidationError && e.field === "calendar");
      const q = queries(context(LATE, berlin));
      await assert.rejects(q.forShift([machine(1)], { shiftId: "late", date: "2026-01-12" }), (e: unknown) => e instanceof QueryValidationError && e.field === "shiftId");
      await assert.rejects(q.forShift([machine(1)], { shiftId: "early", date: "2026-01-11" }), (e: unknown) => e instanceof QueryValidationError && e.field === "date");
      await assert.rejects(q.forShift([machine(1)], { shiftId: "early", date: "2026-02-30" }), (e: unknown) => e instanceof QueryValidationError && e.field === "date");
      assert.throws(() => shiftRange({ timeZone: "Mars/Olympus", shifts: berlin.shifts }, { shiftId: "early", date: "2026-01-12" }), (e: unknown) => e instanceof QueryValidationError && e.field === "calendar.timeZone");
      assert.equal(historyCalls().length, 0);
    });
  });

  it("points to the local computation of the same definition", () => {
    assert.equal(queries().local.oeeOf, oeeOf);
  });
});
