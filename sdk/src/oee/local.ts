/**
 * OEE as ARCHITECTURE.md defines it, computed locally from a machine's state events and part counts, with the
 * semantics SiteWise uses: a state holds until the machine's next event; windows are tumbling in UTC, start
 * exclusive and end inclusive (a part counted exactly at a window's end belongs to that window).
 *
 * Everything is built from flat, additive counters, so a shift, a day, a line or the factory is the sum of its
 * windows' or machines' counters, and the ratios are computed from the sums: availability is thereby weighted by
 * planned time, performance by run time and quality by ideal time, never a mean of ratios.
 */
import type { MachineState, MachineStateEvent } from "../codecs/state";

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

const SECONDS_OF: Record<MachineState, "runSeconds" | "idleSeconds" | "faultSeconds" | "plannedStopSeconds"> = {
  running: "runSeconds",
  idle: "idleSeconds",
  fault: "faultSeconds",
  plannedStop: "plannedStopSeconds",
};

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
  const seconds = { runSeconds: 0, idleSeconds: 0, faultSeconds: 0, plannedStopSeconds: 0 };
  let goodCount = 0;
  let badCount = 0;
  let state: MachineState | undefined;
  let since = span.from;
  for (const event of sorted) {
    if (event.timestamp <= span.from) {
      state = event.state;
      continue;
    }
    if (event.timestamp > span.to) break;
    if (state !== undefined) seconds[SECONDS_OF[state]] += (event.timestamp - since) / 1000;
    state = event.state;
    since = event.timestamp;
    goodCount += event.goodIncrement;
    badCount += event.badIncrement;
  }
  if (state !== undefined) seconds[SECONDS_OF[state]] += (span.to - since) / 1000;
  const secondsPerPart = 60 / idealRunRate;
  return {
    ...seconds,
    plannedSeconds: seconds.runSeconds + seconds.idleSeconds + seconds.faultSeconds,
    goodCount,
    badCount,
    idealSeconds: (goodCount + badCount) * secondsPerPart,
    goodIdealSeconds: goodCount * secondsPerPart,
  };
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
  const ratio = (numerator: number, denominator: number): number | undefined => (denominator > 0 ? numerator / denominator : undefined);
  return {
    availability: ratio(c.runSeconds, c.plannedSeconds),
    performance: ratio(c.idealSeconds, c.runSeconds),
    quality: ratio(c.goodIdealSeconds, c.idealSeconds),
    oee: ratio(c.goodIdealSeconds, c.plannedSeconds),
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
