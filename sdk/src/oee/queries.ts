/**
 * OEE queries against the factory's digital twin in IoT SiteWise. The asset models compute, per tumbling
 * window (the stack's `oee.window`, in UTC, start exclusive, end inclusive, the value stamped at the window's
 * end), the additive counters and the guarded ratios of `./definition`. These queries read them back:
 *
 * - {@link OeeQueries.current}: the ratios of the latest window of any machines, lines or the factory, with
 *   `BatchGetAssetPropertyValue`, 128 entries a call (500 machines x 4 ratios = 16 calls).
 * - {@link OeeQueries.history}: every window's values over a range, with `BatchGetAssetPropertyValueHistory`,
 *   16 entries a call and every page, streamed target by target.
 * - {@link OeeQueries.forRange} / {@link OeeQueries.forShift}: OEE of any range as the definition says it must
 *   be computed: the windows' ADDITIVE counters summed (`sumCounters`), then the ratios of the sums (`oeeOf`),
 *   never a mean of ratios; the same for the total of several targets and for line and factory roll-ups
 *   ({@link rollUpRange}), which weights availability by planned time, performance by run time and quality by
 *   ideal time.
 *
 * Honesty rules. SiteWise's windows are the finest grain there is, so a range uses only the windows that lie
 * wholly inside it (and have ended): a shift 06:00-14:30 with 1 h windows uses the eight windows 06:00-14:00 and
 * reports the 14:00-15:00 window as partial and its 30 minutes inside the shift as uncovered; nothing is
 * pro-rated, because SiteWise does not say when within a window the machine ran. A window without data is
 * reported as such (windows with data / windows expected, the missing windows listed), never counted as zero;
 * ratios without a denominator are `undefined`.
 */
import type { AssetPropertyValue } from "@aws-sdk/client-iotsitewise";
import type { QueryContext } from "../client/context";
import { windowMinutes } from "../codecs/config";
import { QueryValidationError, SmartFactoryError } from "../errors";
import type { AssetQueries, AssetRef, FactoryTree, LineRef, MachineRef } from "../assets/queries";
import type { CallOptions } from "../assets/calls";
import { historyValues, latestValues, numericValue, timestampMs, type EntryIssue, type HistoryKey, type PropertyKey } from "../assets/values";
import { shiftRange, type ShiftOccurrence, type ShiftQuery } from "./calendar";
import { OEE_COUNTER_KEYS, OEE_COUNTERS, OEE_RATIO_KEYS, OEE_RATIOS, type OeeCounterKey, type OeeRatioKey } from "./definition";
import { machineCounters, oeeOf, sumCounters, windowsCovering, ZERO_COUNTERS, type OeeCounters, type OeeRatios } from "./local";

// ---------------------------------------------------------------------------------------------- types

/** A property of the OEE metrics: an additive counter or a ratio (the logical id and name in SiteWise). */
export type OeeMetricKey = OeeCounterKey | OeeRatioKey;

/** The counters that lines and the factory sum from their children: every counter in seconds. */
export type RolledUpCounterKey = { [K in OeeCounterKey]: (typeof OEE_COUNTERS)[K]["rollsUp"] extends true ? K : never }[OeeCounterKey];

/** Summed additive seconds of a range or of several assets (part counts do not roll up, so are not here). */
export type RolledUpCounters = Readonly<Record<RolledUpCounterKey, number>>;

/** The counters the four ratios divide (run, planned, ideal and good ideal seconds). */
export type RatioInputKey = (typeof OEE_RATIOS)[OeeRatioKey]["numerator" | "denominator"];

/**
 * What an OEE query is about: a reference from the asset queries (or built by the caller from known ids, which
 * saves every lookup), or an asset id, which is resolved with one `DescribeAsset` (cached).
 */
export type OeeTarget = AssetRef | string;

/** A span of time in epoch ms, start exclusive and end inclusive, as SiteWise's windows. */
export interface TimeSpan {
  readonly from: number;
  readonly to: number;
}

/** A range as callers give it: `Date`s or epoch ms; start exclusive, end inclusive. */
export interface TimeRange {
  readonly from: Date | number;
  readonly to: Date | number;
}

/** Why a property of a target has no (usable) value; reported per target, never thrown for the whole batch. */
export interface ValueIssue {
  readonly property: string;
  /**
   * `error` / `skipped` / `notAnswered`: what the batch call said about the entry (see {@link EntryIssue});
   * `noSuchProperty`: the target's model has no property of that name; `badQuality`: values of quality other
   * than GOOD, left out; `unaligned`: values whose time is not the end of a window, left out.
   */
  readonly kind: EntryIssue["kind"] | "noSuchProperty" | "badQuality" | "unaligned";
  readonly code?: string;
  readonly message: string;
}

/** The current OEE of one target: the ratios of its latest computed window. */
export interface CurrentOee {
  readonly target: AssetRef;
  /**
   * End (epoch ms) of the window the values are of: the latest time any requested property has a value for.
   * `undefined` when none has any value.
   */
  readonly windowEnd: number | undefined;
  /**
   * The ratios of that window. A ratio whose latest value is older than `windowEnd` had no value in that window
   * (no run time: no performance; no parts: no quality) and is `undefined` here: an older window's value is not
   * this window's.
   */
  readonly ratios: OeeRatios;
  /** With `withCounters`: the ratio inputs of the same window (absent ones had no value in it). */
  readonly counters?: Readonly<Partial<Record<RatioInputKey, number>>>;
  readonly issues: readonly ValueIssue[];
}

/** Options of {@link OeeQueries.current}. */
export interface CurrentOptions extends CallOptions {
  /**
   * Also read the additive counters the ratios are computed from (run, planned, ideal and good ideal seconds),
   * which {@link rollUpCurrent} needs to combine targets correctly. Doubles the entries (and calls).
   */
  readonly withCounters?: boolean;
}

/** The values of one window of one target. */
export interface OeeWindowValues extends TimeSpan {
  readonly values: Readonly<Partial<Record<OeeMetricKey, number>>>;
}

/** The history of one target over a range: its windows that have at least one value, in time order. */
export interface OeeHistoryChunk {
  readonly target: AssetRef;
  readonly windows: readonly OeeWindowValues[];
  readonly issues: readonly ValueIssue[];
}

/** Options of {@link OeeQueries.history}. */
export interface HistoryOptions extends CallOptions {
  /** The properties to read (default: the four ratios). */
  readonly properties?: readonly OeeMetricKey[];
}

/** The OEE figures of a range for one target or a sum of targets. */
export interface RangeFigures {
  /** The sums of the additive seconds over the windows with data. */
  readonly counters: RolledUpCounters;
  /** The ratios of the sums; `undefined` where the denominator is 0 (no planned time: no data at all). */
  readonly ratios: OeeRatios;
  /** Windows (per target, summed over targets) that had every counter. */
  readonly windowsWithData: number;
  /** Windows (per target, summed over targets) the range was expected to have. */
  readonly windowsExpected: number;
}

/** The OEE figures of a range for one target, with what was missing. */
export interface TargetRangeOee extends RangeFigures {
  readonly target: AssetRef;
  /** Windows without any counter value: no data, not zero. */
  readonly missingWindows: readonly TimeSpan[];
  /** Windows with some counters but not all: left out of the sums, reported here. */
  readonly incompleteWindows: readonly TimeSpan[];
  readonly issues: readonly ValueIssue[];
}

/** A window only partly inside the range: not used (SiteWise does not say when within it things happened). */
export interface PartialWindow extends TimeSpan {
  /** Seconds of the window that are inside the range. */
  readonly secondsInRange: number;
}

/** OEE of a range. */
export interface RangeOee {
  /** The range as asked (epoch ms). */
  readonly range: TimeSpan;
  /** The metric window of the targets' models, e.g. `1h`. */
  readonly window: string;
  /** The whole, ended windows inside the range that were read and summed. */
  readonly windows: readonly TimeSpan[];
  /** Windows that overlap the range only in part, at its start or end: not used. */
  readonly partialWindows: readonly PartialWindow[];
  /** Whole windows inside the range that had not ended at the time of the query: not used. */
  readonly pendingWindows: readonly TimeSpan[];
  /** Seconds of the range outside the windows used (the parts in partial and pending windows). */
  readonly uncoveredSeconds: number;
  /** Per target, in the order given. */
  readonly targets: readonly TargetRangeOee[];
  /**
   * All targets together: their counters summed, the ratios of the sums. `undefined` when a target contains
   * another (a line and one of its machines, the factory and anything), which would count time twice.
   */
  readonly total: RangeFigures | undefined;
}

/** OEE of one occurrence of a shift. */
export interface ShiftOee extends RangeOee {
  readonly shift: ShiftOccurrence;
}

/** The roll-up of a range's machine figures to lines and the factory (see {@link rollUpRange}). */
export interface TreeRangeOee {
  readonly factory: RangeFigures;
  readonly lines: readonly {
    readonly line: LineRef;
    readonly figures: RangeFigures;
    readonly machines: readonly TargetRangeOee[];
    /** Machines of the line the range result has no figures for (counted as windows without data). */
    readonly missingMachines: readonly MachineRef[];
  }[];
}

/** The combination of several targets' current values (see {@link rollUpCurrent}). */
export interface CurrentRollUp {
  /** The window combined: the latest among the targets. */
  readonly windowEnd: number | undefined;
  readonly counters: Readonly<Record<RatioInputKey, number>>;
  readonly ratios: OeeRatios;
  readonly included: readonly AssetRef[];
  /** Targets left out, with the reason (no counters requested, an older latest window, a counter missing). */
  readonly excluded: readonly { readonly target: AssetRef; readonly reason: string }[];
}

/** The local computation of the same definition, for data that is not in SiteWise (tests, replays, the edge). */
export interface LocalOee {
  /** Additive counters of one machine from its state events over a span. */
  readonly machineCounters: typeof machineCounters;
  /** The guarded ratios of a set of counters. */
  readonly oeeOf: typeof oeeOf;
  /** The sum of counters (windows, or the machines of a line). */
  readonly sumCounters: typeof sumCounters;
  /** The tumbling windows (UTC) that cover a span. */
  readonly windowsCovering: typeof windowsCovering;
}

/** The OEE queries of one factory. */
export interface OeeQueries {
  /** Ratios of the latest window of each target (see {@link CurrentOee}), in the order given. */
  current(targets: readonly OeeTarget[], options?: CurrentOptions): Promise<CurrentOee[]>;
  /**
   * Per-window values over the whole, ended windows of the range (see {@link RangeOee} for which those are),
   * streamed one target at a time in the order given, so that a long range over many machines is never held in
   * memory at once. A malformed range or property throws at once; target and AWS errors reject the iteration.
   */
  history(targets: readonly OeeTarget[], range: TimeRange, options?: HistoryOptions): AsyncIterable<OeeHistoryChunk>;
  /** OEE of a range from its windows' additive counters (see {@link RangeOee}). */
  forRange(targets: readonly OeeTarget[], range: TimeRange, options?: CallOptions): Promise<RangeOee>;
  /** OEE of one shift of the context's calendar on a local date (see `shiftRange`), as {@link forRange}. */
  forShift(targets: readonly OeeTarget[], shift: ShiftQuery, options?: CallOptions): Promise<ShiftOee>;
  /** The local computation that matches the cloud's. */
  readonly local: LocalOee;
}

/** Options of {@link createOeeQueries}. */
export interface OeeQueriesOptions {
  /**
   * The metric window (`1h`, `15m`...), if known; otherwise it is read from the targets' asset models (one
   * cached `DescribeAssetModel` per model).
   */
  readonly window?: string;
  /** Batch calls in flight at once (default 4). */
  readonly concurrency?: number;
  /** `maxResults` of the history calls (default and maximum 20,000 data points a page). */
  readonly maxResults?: number;
}

// ---------------------------------------------------------------------------------------------- constants

/** The rolled-up counters, in definition order. */
export const ROLLED_UP_COUNTER_KEYS: readonly RolledUpCounterKey[] = OEE_COUNTER_KEYS.filter(
  (key): key is RolledUpCounterKey => OEE_COUNTERS[key].rollsUp,
);

/** The counters the ratios divide, in definition order. */
export const RATIO_INPUT_KEYS: readonly RatioInputKey[] = OEE_COUNTER_KEYS.filter((key): key is RatioInputKey =>
  OEE_RATIO_KEYS.some((r) => OEE_RATIOS[r].numerator === key || OEE_RATIOS[r].denominator === key),
);

const METRIC_KEYS: ReadonlySet<string> = new Set<string>([...OEE_COUNTER_KEYS, ...OEE_RATIO_KEYS]);

const LOCAL: LocalOee = { machineCounters, oeeOf, sumCounters, windowsCovering };

const MINUTE = 60_000;
/** 1970-01-05, a Monday: SiteWise ends weekly windows on Sunday midnight UTC. */
const MONDAY_ORIGIN = Date.UTC(1970, 0, 5);

// ---------------------------------------------------------------------------------------------- pure helpers

/** The grid of a metric window: its length and an instant on which windows start. */
export interface WindowGrid {
  readonly interval: string;
  readonly ms: number;
  readonly origin: number;
}

/**
 * The grid of a tumbling window: UTC windows aligned to the Unix epoch (whole minutes, hours, days), weeks
 * ending on Sunday midnight UTC as SiteWise documents.
 */
export function windowGrid(interval: string): WindowGrid {
  const minutes = windowMinutes(interval);
  if (minutes === undefined) throw new QueryValidationError("window", interval, "a metric window such as 15m, 1h or 1d");
  return { interval, ms: minutes * MINUTE, origin: interval.endsWith("w") ? MONDAY_ORIGIN : 0 };
}

/** Which windows of `grid` a range uses, which it only touches, and which have not ended by `now`. */
export function planWindows(
  range: TimeSpan,
  grid: WindowGrid,
  now: number,
): { windows: TimeSpan[]; partialWindows: PartialWindow[]; pendingWindows: TimeSpan[]; uncoveredSeconds: number } {
  const overlapping = windowsCovering(range.from - grid.origin, range.to - grid.origin, grid.ms).map((w) => ({
    from: w.from + grid.origin,
    to: w.to + grid.origin,
  }));
  const windows: TimeSpan[] = [];
  const partialWindows: PartialWindow[] = [];
  const pendingWindows: TimeSpan[] = [];
  for (const w of overlapping) {
    if (w.from < range.from || w.to > range.to) {
      partialWindows.push({ ...w, secondsInRange: (Math.min(w.to, range.to) - Math.max(w.from, range.from)) / 1000 });
    } else if (w.to > now) {
      pendingWindows.push(w);
    } else {
      windows.push(w);
    }
  }
  const uncoveredSeconds = (range.to - range.from - windows.length * grid.ms) / 1000;
  return { windows, partialWindows, pendingWindows, uncoveredSeconds };
}

/** Counters with every rolled-up counter present, for `sumCounters`/`oeeOf` (part counts are 0 and unused). */
function asCounters(values: Readonly<Partial<Record<OeeMetricKey, number>>>): OeeCounters {
  const counters: Record<OeeCounterKey, number> = { ...ZERO_COUNTERS };
  for (const key of ROLLED_UP_COUNTER_KEYS) counters[key] = values[key] ?? 0;
  return counters;
}

function rolledUp(counters: OeeCounters): RolledUpCounters {
  return Object.fromEntries(ROLLED_UP_COUNTER_KEYS.map((key) => [key, counters[key]])) as Record<RolledUpCounterKey, number>;
}

/** The sum of several figures: counters summed, ratios of the sums, windows added up. */
export function combineFigures(parts: readonly RangeFigures[]): RangeFigures {
  const counters = sumCounters(parts.map((p) => asCounters(p.counters)));
  return {
    counters: rolledUp(counters),
    ratios: oeeOf(counters),
    windowsWithData: parts.reduce((n, p) => n + p.windowsWithData, 0),
    windowsExpected: parts.reduce((n, p) => n + p.windowsExpected, 0),
  };
}

/**
 * Lines and the factory from the machines' figures of a range: each line's machines' counters summed and the
 * ratios of the sums, the factory's the sum of all machines. Query the machines, then roll up:
 * `rollUpRange(tree, await oee.forRange(tree.lines.flatMap((l) => l.machines), range))`. A machine of the tree
 * without figures in `result` counts its expected windows as windows without data.
 */
export function rollUpRange(tree: FactoryTree, result: Pick<RangeOee, "targets" | "windows">): TreeRangeOee {
  const byAsset = new Map(result.targets.map((t) => [t.target.assetId, t]));
  const absent: RangeFigures = { counters: rolledUp(ZERO_COUNTERS), ratios: oeeOf(ZERO_COUNTERS), windowsWithData: 0, windowsExpected: result.windows.length };
  const lines = tree.lines.map(({ line, machines }) => {
    const found = machines.flatMap((m) => {
      const figures = byAsset.get(m.assetId);
      return figures === undefined ? [] : [figures];
    });
    const missingMachines = machines.filter((m) => !byAsset.has(m.assetId));
    return { line, figures: combineFigures([...found, ...missingMachines.map(() => absent)]), machines: found, missingMachines };
  });
  return { factory: combineFigures(lines.map((l) => l.figures)), lines };
}

/**
 * Several targets' current values combined correctly: the ratio inputs of the latest window summed, the ratios of
 * the sums. Needs `current(..., { withCounters: true })`; a target whose latest window is older, or that lacks a
 * counter in it, is excluded and listed with the reason rather than mixed in.
 */
export function rollUpCurrent(currents: readonly CurrentOee[]): CurrentRollUp {
  const ends = currents.flatMap((c) => (c.windowEnd === undefined ? [] : [c.windowEnd]));
  const windowEnd = ends.length === 0 ? undefined : Math.max(...ends);
  const included: AssetRef[] = [];
  const excluded: { target: AssetRef; reason: string }[] = [];
  const parts: OeeCounters[] = [];
  for (const c of currents) {
    const missing = RATIO_INPUT_KEYS.filter((k) => c.counters?.[k] === undefined);
    if (c.counters === undefined) excluded.push({ target: c.target, reason: "no counters: query with withCounters" });
    else if (c.windowEnd === undefined || c.windowEnd !== windowEnd) excluded.push({ target: c.target, reason: "its latest window is older than the others'" });
    else if (missing.length > 0) excluded.push({ target: c.target, reason: `no ${missing.join(", ")} in the window` });
    else {
      included.push(c.target);
      parts.push(asCounters(c.counters));
    }
  }
  const sum = sumCounters(parts);
  const counters = Object.fromEntries(RATIO_INPUT_KEYS.map((k) => [k, sum[k]])) as Record<RatioInputKey, number>;
  return { windowEnd: included.length === 0 ? undefined : windowEnd, counters, ratios: oeeOf(sum), included, excluded };
}

function toEpoch(value: Date | number, field: string): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new QueryValidationError(field, value, "a Date or epoch milliseconds");
  return ms;
}

/** Checks and converts a range; the end must be after the start. */
export function toTimeSpan(range: TimeRange): TimeSpan {
  const from = toEpoch(range.from, "range.from");
  const to = toEpoch(range.to, "range.to");
  if (!(to > from)) throw new QueryValidationError("range.to", range.to, `a time after range.from (${new Date(from).toISOString()})`);
  return { from, to };
}

/** Whether some target contains another (the factory and anything; a line and one of its machines). */
function overlapping(refs: readonly AssetRef[]): boolean {
  if (refs.length > 1 && refs.some((r) => r.level === "factory")) return true;
  const lines = new Set(refs.flatMap((r) => (r.level === "line" ? [r.lineId] : [])));
  return refs.some((r) => r.level === "machine" && lines.has(r.lineId));
}

// ---------------------------------------------------------------------------------------------- queries

/**
 * The OEE queries of the context's factory. `assets` resolves targets given as asset ids and the metric window
 * of their models; targets given as references with property ids (see {@link OeeTarget}) need no lookup, so
 * `current` over known machines costs exactly `ceil(4 x machines / 128)` calls.
 */
export function createOeeQueries(
  ctx: QueryContext,
  assets: Pick<AssetQueries, "assetRef" | "describeModel">,
  options: OeeQueriesOptions = {},
): OeeQueries {
  const concurrency = options.concurrency ?? 4;
  const batch = (call: CallOptions) => ({ concurrency, ...(call.signal === undefined ? {} : { signal: call.signal }) });

  const resolve = async (targets: readonly OeeTarget[]): Promise<AssetRef[]> => {
    const list: unknown = targets;
    if (!Array.isArray(list) || targets.length === 0) throw new QueryValidationError("targets", targets, "at least one asset id or asset reference");
    const seen = new Map<string, number>();
    targets.forEach((t, i) => {
      const id = typeof t === "string" ? t : (t as Partial<AssetRef> | null)?.assetId;
      if (typeof id !== "string" || id === "") throw new QueryValidationError(`targets[${i}]`, t, "an asset id or an asset reference with an assetId");
      if (typeof t !== "string" && (typeof t.properties !== "object" || (t.properties as unknown) === null)) {
        throw new QueryValidationError(`targets[${i}].properties`, t.properties, "property ids by name");
      }
      const first = seen.get(id);
      if (first !== undefined) throw new QueryValidationError(`targets[${i}]`, id, `each asset once (it is targets[${first}] too)`);
      seen.set(id, i);
    });
    return Promise.all(targets.map((t) => (typeof t === "string" ? assets.assetRef(t) : Promise.resolve(t))));
  };

  const gridOf = async (refs: readonly AssetRef[]): Promise<WindowGrid> => {
    if (options.window !== undefined) return windowGrid(options.window);
    const modelIds = [...new Set(refs.map((r) => r.modelId))];
    const windows = await Promise.all(
      modelIds.map(async (id) => {
        const model = await assets.describeModel(id);
        if (model.window === undefined) throw new SmartFactoryError(`asset model ${model.name} (${id}) has no metrics, so no OEE windows`);
        return model.window;
      }),
    );
    const distinct = [...new Set(windows.map((w) => windowMinutes(w)))];
    if (distinct.length > 1) throw new QueryValidationError("targets", refs.map((r) => r.name), `assets whose models share one metric window (found ${windows.join(", ")})`);
    return windowGrid(windows[0] as string);
  };

  /** The entries of `properties` for each target; properties a target's model lacks become issues. */
  const entriesOf = (refs: readonly AssetRef[], properties: readonly OeeMetricKey[]) => {
    const keys: (PropertyKey & { target: number; property: OeeMetricKey })[] = [];
    const issues: ValueIssue[][] = refs.map(() => []);
    refs.forEach((ref, target) => {
      for (const property of properties) {
        const propertyId = ref.properties[property];
        if (propertyId === undefined) {
          issues[target]?.push({ property, kind: "noSuchProperty", message: `${ref.name} (${ref.modelKey}) has no property ${property}` });
        } else {
          keys.push({ assetId: ref.assetId, propertyId, target, property });
        }
      }
    });
    return { keys, issues };
  };

  const current = async (targets: readonly OeeTarget[], call: CurrentOptions = {}): Promise<CurrentOee[]> => {
    const refs = await resolve(targets);
    const properties: readonly OeeMetricKey[] = call.withCounters === true ? [...OEE_RATIO_KEYS, ...RATIO_INPUT_KEYS] : OEE_RATIO_KEYS;
    const { keys, issues } = entriesOf(refs, properties);
    const outcomes = await latestValues(ctx.sitewise, keys, batch(call));
    const latest = refs.map(() => new Map<OeeMetricKey, { at: number; value: number }>());
    keys.forEach((key, i) => {
      const outcome = outcomes[i];
      const targetIssues = issues[key.target];
      if (outcome === undefined || targetIssues === undefined) return;
      if (!outcome.ok) {
        targetIssues.push({ property: key.property, ...outcome.issue });
        return;
      }
      const v = outcome.value;
      if (v === undefined) return;
      const usable = usableValue(v);
      if (typeof usable === "string") targetIssues.push({ property: key.property, kind: "badQuality", message: usable });
      else latest[key.target]?.set(key.property, usable);
    });
    return refs.map((target, i): CurrentOee => {
      const values = latest[i] ?? new Map<OeeMetricKey, { at: number; value: number }>();
      const ends = [...values.values()].map((v) => v.at);
      const windowEnd = ends.length === 0 ? undefined : Math.max(...ends);
      const inWindow = (key: OeeMetricKey): number | undefined => {
        const v = values.get(key);
        return v !== undefined && v.at === windowEnd ? v.value : undefined;
      };
      const ratios = Object.fromEntries(OEE_RATIO_KEYS.map((k) => [k, inWindow(k)])) as unknown as OeeRatios;
      const counters =
        call.withCounters === true
          ? Object.fromEntries(RATIO_INPUT_KEYS.flatMap((k) => {
              const v = inWindow(k);
              return v === undefined ? [] : [[k, v]];
            }))
          : undefined;
      return { target, windowEnd, ratios, ...(counters === undefined ? {} : { counters }), issues: issues[i] ?? [] };
    });
  };

  /** The per-target history of `properties` over `windows` (all on `grid`), streamed in target order. */
  async function* windowsOf(
    refs: readonly AssetRef[],
    grid: WindowGrid,
    windows: readonly TimeSpan[],
    properties: readonly OeeMetricKey[],
    call: CallOptions,
  ): AsyncGenerator<OeeHistoryChunk, void, undefined> {
    const first = windows[0];
    const last = windows[windows.length - 1];
    const { keys, issues } = entriesOf(refs, properties);
    const pending = refs.map(() => 0);
    for (const k of keys) pending[k.target] = (pending[k.target] ?? 0) + 1;
    const values = refs.map(() => new Map<number, Partial<Record<OeeMetricKey, number>>>());
    const chunkOf = (target: number): OeeHistoryChunk => ({
      target: refs[target] as AssetRef,
      windows: [...(values[target] ?? new Map<number, Partial<Record<OeeMetricKey, number>>>()).entries()]
        .sort(([a], [b]) => a - b)
        .map(([end, v]) => ({ from: end - grid.ms, to: end, values: v })),
      issues: issues[target] ?? [],
    });
    let next = 0;
    if (first === undefined || last === undefined || keys.length === 0) {
      for (; next < refs.length; next++) yield chunkOf(next);
      return;
    }
    const historyKeys: HistoryKey[] = keys.map((k) => ({ assetId: k.assetId, propertyId: k.propertyId, startDate: new Date(first.from), endDate: new Date(last.to) }));
    for await (const { offset, outcomes } of historyValues(ctx.sitewise, historyKeys, { ...batch(call), ...(options.maxResults === undefined ? {} : { maxResults: options.maxResults }) })) {
      outcomes.forEach((outcome, j) => {
        const key = keys[offset + j];
        if (key === undefined) return;
        pending[key.target] = (pending[key.target] ?? 1) - 1;
        const targetIssues = issues[key.target];
        const byWindow = values[key.target];
        if (targetIssues === undefined || byWindow === undefined) return;
        if (!outcome.ok) {
          targetIssues.push({ property: key.property, ...outcome.issue });
          return;
        }
        let bad = 0;
        let unaligned = 0;
        for (const v of outcome.value) {
          const usable = usableValue(v);
          if (typeof usable === "string") {
            bad++;
            continue;
          }
          if ((usable.at - grid.origin) % grid.ms !== 0 || usable.at <= first.from || usable.at > last.to) {
            unaligned++;
            continue;
          }
          const window = byWindow.get(usable.at) ?? {};
          window[key.property] = usable.value;
          byWindow.set(usable.at, window);
        }
        if (bad > 0) targetIssues.push({ property: key.property, kind: "badQuality", message: `${bad} value(s) without GOOD quality or a number, left out` });
        if (unaligned > 0) {
          targetIssues.push({ property: key.property, kind: "unaligned", message: `${unaligned} value(s) not at the end of a ${grid.interval} window of the range, left out` });
        }
      });
      // Entries are grouped by target and batches arrive in order, so targets complete in order.
      while (next < refs.length && (pending[next] ?? 0) <= 0) yield chunkOf(next++);
    }
    for (; next < refs.length; next++) yield chunkOf(next);
  }

  const history = (targets: readonly OeeTarget[], range: TimeRange, call: HistoryOptions = {}): AsyncIterable<OeeHistoryChunk> => {
    const span = toTimeSpan(range);
    const properties = call.properties ?? OEE_RATIO_KEYS;
    properties.forEach((p, i) => {
      if (!METRIC_KEYS.has(p)) throw new QueryValidationError(`options.properties[${i}]`, p, `an OEE metric: ${[...METRIC_KEYS].join(", ")}`);
    });
    return {
      [Symbol.asyncIterator]: async function* () {
        const refs = await resolve(targets);
        const grid = await gridOf(refs);
        const { windows } = planWindows(span, grid, ctx.now());
        yield* windowsOf(refs, grid, windows, [...new Set(properties)], call);
      },
    };
  };

  const forRange = async (targets: readonly OeeTarget[], range: TimeRange, call: CallOptions = {}): Promise<RangeOee> => {
    const span = toTimeSpan(range);
    const refs = await resolve(targets);
    const grid = await gridOf(refs);
    const plan = planWindows(span, grid, ctx.now());
    const results: TargetRangeOee[] = [];
    for await (const chunk of windowsOf(refs, grid, plan.windows, ROLLED_UP_COUNTER_KEYS, call)) {
      const byEnd = new Map(chunk.windows.map((w) => [w.to, w.values]));
      const complete: OeeCounters[] = [];
      const missingWindows: TimeSpan[] = [];
      const incompleteWindows: TimeSpan[] = [];
      for (const w of plan.windows) {
        const v = byEnd.get(w.to);
        const present = v === undefined ? 0 : ROLLED_UP_COUNTER_KEYS.filter((k) => v[k] !== undefined).length;
        if (v === undefined || present === 0) missingWindows.push(w);
        else if (present < ROLLED_UP_COUNTER_KEYS.length) incompleteWindows.push(w);
        else complete.push(asCounters(v));
      }
      const sum = sumCounters(complete);
      results.push({
        target: chunk.target,
        counters: rolledUp(sum),
        ratios: oeeOf(sum),
        windowsWithData: complete.length,
        windowsExpected: plan.windows.length,
        missingWindows,
        incompleteWindows,
        issues: chunk.issues,
      });
    }
    return {
      range: span,
      window: grid.interval,
      ...plan,
      targets: results,
      total: overlapping(refs) ? undefined : combineFigures(results),
    };
  };

  const forShift = async (targets: readonly OeeTarget[], shift: ShiftQuery, call: CallOptions = {}): Promise<ShiftOee> => {
    const occurrence = shiftRange(ctx.calendar, shift);
    const result = await forRange(targets, occurrence, call);
    return { ...result, shift: occurrence };
  };

  return { current, history, forRange, forShift, local: LOCAL };
}

/** The time and number of a value, or why it cannot be used (quality other than GOOD, no number, no time). */
function usableValue(v: AssetPropertyValue): { at: number; value: number } | string {
  if (v.quality !== undefined && v.quality !== "GOOD") return `a value of quality ${v.quality}`;
  const at = timestampMs(v);
  const value = numericValue(v);
  if (at === undefined || value === undefined) return "a value without a time or a number";
  return { at, value };
}
