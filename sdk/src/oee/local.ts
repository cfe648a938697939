/**
 * OEE as ARCHITECTURE.md defines it, computed locally from a machine's state events and part counts, with the
 * semantics SiteWise uses: a state holds until the machine's next event; windows are tumbling in UTC, start
 * exclusive and end inclusive (a part counted exactly at a window's end belongs to that window).
 *
 * The counters and ratios are those of `./definition`, the same the SiteWise models compute.
 * Everything is built from flat, additive counters, so a shift, a day, a line or the factory is the sum of its
 * windows' or machines' counters, and the ratios are computed from the sums: availability is thereby weighted by
 * planned time, performance by run time and quality by ideal time, never a mean of ratios.
 */
import type { MachineStateEvent } from "../codecs/state";
import {
  guardedRatio,
  OEE_COUNTER_KEYS,
  OEE_COUNTERS,
  OEE_RATIOS,
  SECONDS_PER_RATE_UNIT,
  STATE_TIME_COUNTERS,
  type OeeCounterKey,
  type OeeCounterSource,
  type PartMeasurement,
} from "./definition";

/** Additive OEE counters of one machine (or a sum of machines or windows) over a span of time. */
export interface OeeCounters {
  /** Seconds in `running`. */
  readonly runSeconds: number;
  /** Seconds in `idle`. */
  readonly idleSeconds: number;
  /** Seconds in `fault`. */
  readonly faultSeconds: number;
  /** Seconds in `plannedStop` (not counted against availability). */
  readonly plannedStopSeconds: number;
  /** Planned production time: seconds with a known state other than `plannedStop`. */
  readonly plannedSeconds: number;
  readonly goodCount: number;
  readonly badCount: number;
  /** Seconds all parts made would take at the ideal run rate. */
  readonly idealSeconds: number;
  /** Seconds the good parts would take at the ideal run rate. */
  readonly goodIdealSeconds: number;
}

/** The OEE ratios; a ratio whose denominator is zero is `undefined` ("no data"), never 0 or NaN. */
export interface OeeRatios {
  /** run / planned */
  readonly availability: number | undefined;
  /** ideal / run (may exceed 1 when a machine beats its configured ideal rate) */
  readonly performance: number | undefined;
  /** good ideal / ideal: for one machine, good / (good + bad) */
  readonly quality: number | undefined;
  /** good ideal / planned = availability x performance x quality */
  readonly oee: number | undefined;
}

/** Counters of nothing: the neutral element of {@link sumCounters}. */
export const ZERO_COUNTERS: OeeCounters = {
  runSeconds: 0,
  idleSeconds: 0,
  faultSeconds: 0,
  plannedStopSeconds: 0,
  plannedSeconds: 0,
  goodCount: 0,
  badCount: 0,
  idealSeconds: 0,
  goodIdealSeconds: 0,
};

/** The part increment of an event that each part measurement of the definition stands for. */
const INCREMENT_OF: Record<PartMeasurement, (event: MachineStateEvent) => number> = {
  goodParts: (event) => event.goodIncrement,
  badParts: (event) => event.badIncrement,
};
const INCREMENTS = Object.entries(INCREMENT_OF) as [PartMeasurement, (event: MachineStateEvent) => number][];

/**
 * Counters of one machine over the span (`from`, `to`] (epoch ms). `events` is the machine's history in any
 * order; events at or before `from` only set the state the span starts in. Time before the first known state
 * counts in no state (and so is not planned time).
 *
 * @param idealRunRate parts per minute, as in the stack config.
 */
export function machineCounters(events: readonly MachineStateEvent[], span: { from: number; to: number }, idealRunRate: number): OeeCounters {
  if (!(span.to > span.from)) throw new RangeError(`empty span: to (${span.to}) must be after from (${span.from})`);
  if (!(idealRunRate > 0)) throw new RangeError(`idealRunRate must be greater than 0, got ${idealRunRate}`);
  const sorted = [...events].sort((a, b) => a.timestamp - b.timestamp);
  const seconds = new Map<OeeCounterKey, number>();
  const parts = new Map<PartMeasurement, number>();
  const addSeconds = (key: OeeCounterKey, ms: number): void => {
    seconds.set(key, (seconds.get(key) ?? 0) + ms / 1000);
  };
  let state: MachineStateEvent["state"] | undefined;
  let since = span.from;
  for (const event of sorted) {
    if (event.timestamp <= span.from) {
      state = event.state;
      continue;
    }
    if (event.timestamp > span.to) break;
    if (state !== undefined) addSeconds(STATE_TIME_COUNTERS[state], event.timestamp - since);
    state = event.state;
    since = event.timestamp;
    for (const [measurement, increment] of INCREMENTS) {
      parts.set(measurement, (parts.get(measurement) ?? 0) + increment(event));
    }
  }
  if (state !== undefined) addSeconds(STATE_TIME_COUNTERS[state], span.to - since);
  // Every other counter follows from these as the definition says; it lists dependencies first.
  const secondsPerPart = SECONDS_PER_RATE_UNIT / idealRunRate;
  const counters: Record<OeeCounterKey, number> = { ...ZERO_COUNTERS };
  for (const key of OEE_COUNTER_KEYS) {
    const source: OeeCounterSource = OEE_COUNTERS[key].source;
    const total = (keys: readonly OeeCounterKey[]): number => keys.reduce((sum, k) => sum + counters[k], 0);
    switch (source.kind) {
      case "stateTime":
        counters[key] = seconds.get(key) ?? 0;
        break;
      case "partCount":
        counters[key] = parts.get(source.measurement) ?? 0;
        break;
      case "sumOf":
        counters[key] = total(source.terms);
        break;
      case "idealTime":
        counters[key] = total(source.counts) * secondsPerPart;
        break;
    }
  }
  return counters;
}

/** The sum of counters (of several windows, or of the machines of a line or factory). */
export function sumCounters(all: Iterable<OeeCounters>): OeeCounters {
  const total: Record<keyof OeeCounters, number> = { ...ZERO_COUNTERS };
  for (const counters of all) {
    for (const key of Object.keys(total) as (keyof OeeCounters)[]) total[key] += counters[key];
  }
  return total;
}

/** The ratios of a set of counters, each division guarded. */
export function oeeOf(c: OeeCounters): OeeRatios {
  const ratio = ({ numerator, denominator }: { numerator: OeeCounterKey; denominator: OeeCounterKey }): number | undefined =>
    guardedRatio(c[numerator], c[denominator]);
  return {
    availability: ratio(OEE_RATIOS.availability),
    performance: ratio(OEE_RATIOS.performance),
    quality: ratio(OEE_RATIOS.quality),
    oee: ratio(OEE_RATIOS.oee),
  };
}

/**
 * The tumbling windows of length `windowMs` (aligned to the Unix epoch, i.e. UTC) that cover (`from`, `to`],
 * each as its own (start, end] span; the first and last are whole windows.
 */
export function windowsCovering(from: number, to: number, windowMs: number): { from: number; to: number }[] {
  if (!(windowMs > 0) || !Number.isInteger(windowMs)) throw new RangeError(`window must be a positive whole number of ms, got ${windowMs}`);
  const windows: { from: number; to: number }[] = [];
  for (let start = Math.floor(from / windowMs) * windowMs; start < to; start += windowMs) {
    windows.push({ from: start, to: start + windowMs });
  }
  return windows;
}
