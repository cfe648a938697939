/**
 * OEE, defined once (ARCHITECTURE.md, "OEE"). Everything that computes OEE reads this module: the SDK's local
 * computation (`./local`) and the generator of the SiteWise asset models (`./sitewise`). It says which additive
 * counters a machine has per window and how each is obtained from the machine's inputs, which of them a line or
 * the factory sums, and which counters divide into which ratio.
 *
 * Counters are additive so that a line, the factory, a shift or any range is a plain sum of them; ratios are
 * computed only from sums, each division guarded: a zero denominator is "no data", never 0, NaN or an error.
 */
import { STATE_CODES, type MachineState } from "../codecs/state";
import type { MACHINE_PROPERTIES } from "../names";
import type { OeeCounters, OeeRatios } from "./local";

/** Name of an additive counter: a key of {@link OeeCounters}, the logical id of the SiteWise metric too. */
export type OeeCounterKey = keyof OeeCounters;

/** Name of a ratio: a key of {@link OeeRatios}, the logical id of the SiteWise metric too. */
export type OeeRatioKey = keyof OeeRatios;

/** A machine input that carries part increments (a measurement of every machine model). */
export type PartMeasurement = Extract<keyof typeof MACHINE_PROPERTIES, "goodParts" | "badParts">;

/**
 * How a machine's counter is obtained in one window. Each kind is something both a few lines of TypeScript and
 * a SiteWise metric can compute, which is why the set is closed.
 */
export type OeeCounterSource =
  /** Seconds of the window the machine spent in `state` (state before the first known one counts nowhere). */
  | { readonly kind: "stateTime"; readonly state: MachineState }
  /** The sum of other counters of the same machine and window. */
  | { readonly kind: "sumOf"; readonly terms: readonly OeeCounterKey[] }
  /** The sum of the part increments reported in the window (0 when none were). */
  | { readonly kind: "partCount"; readonly measurement: PartMeasurement }
  /** Seconds the given counts of parts take at the machine's ideal run rate (parts per minute). */
  | { readonly kind: "idealTime"; readonly counts: readonly OeeCounterKey[] };

/** One additive counter. */
export interface OeeCounterDefinition {
  readonly source: OeeCounterSource;
  /** `s` for seconds, `parts` for part counts. */
  readonly unit: "s" | "parts";
  /**
   * Whether lines and the factory sum it from their children. Part counts do not roll up: a sum of parts of
   * different machine types means nothing; ideal seconds are what makes them comparable.
   */
  readonly rollsUp: boolean;
  readonly description: string;
}

/**
 * The additive counters, in an order in which every counter comes after the counters it is computed from.
 * Planned time is run + idle + fault: a planned stop and time of unknown state are not planned production time.
 */
export const OEE_COUNTERS = {
  runSeconds: { source: { kind: "stateTime", state: "running" }, unit: "s", rollsUp: true, description: "seconds in running" },
  idleSeconds: { source: { kind: "stateTime", state: "idle" }, unit: "s", rollsUp: true, description: "seconds in idle" },
  faultSeconds: { source: { kind: "stateTime", state: "fault" }, unit: "s", rollsUp: true, description: "seconds in fault" },
  plannedStopSeconds: {
    source: { kind: "stateTime", state: "plannedStop" },
    unit: "s",
    rollsUp: true,
    description: "seconds in a planned stop (not counted against availability)",
  },
  plannedSeconds: {
    source: { kind: "sumOf", terms: ["runSeconds", "idleSeconds", "faultSeconds"] },
    unit: "s",
    rollsUp: true,
    description: "planned production seconds: run + idle + fault",
  },
  goodCount: { source: { kind: "partCount", measurement: "goodParts" }, unit: "parts", rollsUp: false, description: "good parts made" },
  badCount: { source: { kind: "partCount", measurement: "badParts" }, unit: "parts", rollsUp: false, description: "bad parts made" },
  idealSeconds: {
    source: { kind: "idealTime", counts: ["goodCount", "badCount"] },
    unit: "s",
    rollsUp: true,
    description: "seconds all parts made would take at the ideal run rate",
  },
  goodIdealSeconds: {
    source: { kind: "idealTime", counts: ["goodCount"] },
    unit: "s",
    rollsUp: true,
    description: "seconds the good parts would take at the ideal run rate",
  },
} as const satisfies Record<OeeCounterKey, OeeCounterDefinition>;

/** A ratio of two counters; no data when the denominator is 0. */
export interface OeeRatioDefinition {
  readonly numerator: OeeCounterKey;
  readonly denominator: OeeCounterKey;
  readonly description: string;
}

/**
 * The four ratios. With these pairs OEE = availability x performance x quality exactly, for a machine and for
 * any sum of machines or windows, and each ratio of a sum is weighted by its own denominator.
 */
export const OEE_RATIOS = {
  availability: { numerator: "runSeconds", denominator: "plannedSeconds", description: "run / planned" },
  performance: { numerator: "idealSeconds", denominator: "runSeconds", description: "ideal / run (above 1 when faster than the ideal rate)" },
  quality: { numerator: "goodIdealSeconds", denominator: "idealSeconds", description: "good ideal / ideal (good / all parts for one machine)" },
  oee: { numerator: "goodIdealSeconds", denominator: "plannedSeconds", description: "good ideal / planned = A x P x Q" },
} as const satisfies Record<OeeRatioKey, OeeRatioDefinition>;

/** Every counter, in definition order (dependencies first), so that callers can iterate without casts. */
export const OEE_COUNTER_KEYS: readonly OeeCounterKey[] = Object.keys(OEE_COUNTERS) as OeeCounterKey[];

/** Every ratio, in definition order. */
export const OEE_RATIO_KEYS: readonly OeeRatioKey[] = Object.keys(OEE_RATIOS) as OeeRatioKey[];

/** The counters that lines and the factory sum from their children (all seconds, no part counts). */
export const ROLLED_UP_COUNTERS: readonly OeeCounterKey[] = OEE_COUNTER_KEYS.filter((key) => OEE_COUNTERS[key].rollsUp);

/** The stack config gives ideal run rates in parts per minute, so seconds per part = this / rate. */
export const SECONDS_PER_RATE_UNIT = 60;

/**
 * The counter that holds the seconds of each machine state, derived from {@link OEE_COUNTERS} (and checked to
 * cover every state exactly once) so that code that attributes time to states never keeps its own mapping.
 */
export const STATE_TIME_COUNTERS: Readonly<Record<MachineState, OeeCounterKey>> = stateTimeCounters();

function stateTimeCounters(): Record<MachineState, OeeCounterKey> {
  const found = new Map<MachineState, OeeCounterKey>();
  for (const key of OEE_COUNTER_KEYS) {
    const source: OeeCounterSource = OEE_COUNTERS[key].source;
    if (source.kind !== "stateTime") continue;
    if (found.has(source.state)) throw new Error(`OEE definition: state ${source.state} has two counters`);
    found.set(source.state, key);
  }
  const states = Object.keys(STATE_CODES) as MachineState[];
  const missing = states.filter((state) => !found.has(state));
  if (missing.length > 0) throw new Error(`OEE definition: no counter for the seconds in ${missing.join(", ")}`);
  return Object.fromEntries(found) as Record<MachineState, OeeCounterKey>;
}

/** `numerator / denominator`, or `undefined` ("no data") when the denominator is not positive. */
export function guardedRatio(numerator: number, denominator: number): number | undefined {
  return denominator > 0 ? numerator / denominator : undefined;
}
