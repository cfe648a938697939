/**
 * The detector's hourly feature accumulator (pure: no AWS client, no clock): what a machine's document keeps of the
 * current UTC hour so that, once the machine's event time passes the hour's end, the hour's row of the
 * failure-risk model (the SDK's `trainingColumns`) can be built exactly as the training set defines it:
 *
 * - per feature tag of the machine's type, the count, sum, sum of squared deviations, minimum and maximum of the
 *   readings' values in the telemetry table's unit (canonical SI, as the enrichment Lambda writes them), of every
 *   reading with a value whatever its quality (the telemetry column holds them all, and Timestream's AVG, STDDEV,
 *   MIN and MAX take them all);
 * - `samples`: the distinct timestamps of the machine's readings (the telemetry table has one record per machine
 *   and timestamp, and `COUNT(*)` counts records);
 * - the time in fault and the entries into fault within the hour from the machine's state events (a state holds
 *   until the next event, as in IoT SiteWise and the pipeline's processing step);
 * - the readings of the hour whose quality is `bad` (one `<tag>_quality = 'bad'` per record and tag).
 *
 * One hour is kept per machine: a document stays small.
 */
import { addToStatistics, emptyStatistics, type MachineState, type RunningStatistics } from "@smart-factory/sdk";

/** One hour in milliseconds. */
export const HOUR_MS = 3_600_000;

/**
 * How many of the hour's newest record timestamps a document remembers, so that readings of one timestamp that
 * reach the detector in different batches count as one record. The gateway sends a machine's readings in the
 * order it read them, so readings of one timestamp arrive together or close together; one older than all of
 * these that no other reading of the hour had is counted (an overcount only when it had one).
 */
export const SAMPLE_MEMORY = 32;

/** The start of the UTC hour of event time `t` (epoch ms). */
export function hourOf(t: number): number {
  return Math.floor(t / HOUR_MS) * HOUR_MS;
}

/** The accumulator of a machine's current UTC hour. Times are event times (epoch ms). */
export interface FeatureHour {
  /** Start of the hour. */
  start: number;
  /**
   * Whether the detector accumulated the hour from its start (`MachineFeatures.since`). The first hour of a new
   * document (a new machine, or scoring just switched on) may lack its beginning: it is not scored.
   */
  whole: boolean;
  /** Statistics of the values of each feature tag, by tag (only tags with a value in the hour). */
  stats: Record<string, RunningStatistics>;
  /** Distinct record timestamps in the hour. */
  samples: number;
  /** The newest of them (at most {@link SAMPLE_MEMORY}), as offsets from `start`, ascending. */
  recent: number[];
  /** Time in fault within the hour, up to the newest state event (the stretch since then is added later). */
  faultMs: number;
  /** Transitions into fault within the hour. */
  faultEntries: number;
  /** Readings of the hour whose quality is `bad`. */
  badReadings: number;
}

/** A completed hour's row, waiting to be scored. */
export interface PendingScore {
  /** Start of the completed hour. */
  hour: number;
  /** Its row: one CSV line of the SDK's `trainingColumns`. */
  vector: string;
  /** When (wall clock) an invocation last took it on to score it; `null`: not yet. */
  claimedAt: number | null;
  /** Invocations of the endpoint for it so far. */
  attempts: number;
}

/** What a machine's document keeps for its failure-window score. */
export interface MachineFeatures {
  /** The event time from which the document accumulates (its first event or clock since scoring is on). */
  since: number | null;
  /**
   * Start of the newest hour the machine's event time reached: the hours before it are closed, and data of them
   * that arrives late no longer counts. `null` before the first event.
   */
  closedUntil: number | null;
  /** The current hour, from the machine's first reading or state event in it. */
  hour: FeatureHour | null;
  /** The newest completed hour, until it is scored (or superseded, or long past). */
  pending: PendingScore | null;
}

/** Nothing accumulated yet. */
export function emptyFeatures(): MachineFeatures {
  return { since: null, closedUntil: null, hour: null, pending: null };
}

/** A new accumulator for the hour starting at `start`. */
export function emptyHour(start: number, whole: boolean): FeatureHour {
  return { start, whole, stats: {}, samples: 0, recent: [], faultMs: 0, faultEntries: 0, badReadings: 0 };
}

/** Count a record timestamp of the hour once. */
export function countSample(hour: FeatureHour, t: number): void {
  const offset = t - hour.start;
  const recent = hour.recent;
  if (recent.includes(offset)) return;
  hour.samples++;
  let i = recent.length;
  while (i > 0 && (recent[i - 1] as number) > offset) i--;
  recent.splice(i, 0, offset);
  if (recent.length > SAMPLE_MEMORY) recent.shift();
}

/** Add a value of a feature tag. */
export function addValue(hour: FeatureHour, tag: string, value: number): void {
  let s = hour.stats[tag];
  if (s === undefined) hour.stats[tag] = s = emptyStatistics();
  addToStatistics(s, value);
}

/**
 * Add the time in fault from the newest state event (`state` since `stateAt`) up to `until`, within the hour:
 * called before a newer state event is applied (with its time) and when the hour closes (with its end).
 */
export function addFaultTime(hour: FeatureHour, state: MachineState | null, stateAt: number | null, until: number): void {
  if (state !== "fault" || stateAt === null) return;
  const from = Math.max(stateAt, hour.start);
  const to = Math.min(until, hour.start + HOUR_MS);
  if (to > from) hour.faultMs += to - from;
}
