/**
 * What the simulator did, as it did it: the record an end-to-end test compares the pipeline's view with. State
 * intervals carry the timestamps written to the PLC's state register, part counts the cumulative parts made
 * since the simulation began, and faults and injections say which were random and which were asked for.
 *
 * {@link oeeFromTruth} computes OEE from that record with the SDK's local OEE (the one definition the cloud
 * uses), at the compressed ideal rate (`idealRunRate x speed`), as the local cloud configures it.
 */
import {
  machineCounters,
  oeeOf,
  sumCounters,
  type MachineId,
  type MachineState,
  type MachineStateEvent,
  type OeeCounters,
  type OeeRatios,
} from "@smart-factory/sdk";

/** A span of time in one state; `to` is `null` while the machine is still in it. */
export interface StateInterval {
  readonly state: MachineState;
  /** The code written to the state register. */
  readonly code: number;
  /** When the state was written (epoch ms, the register's source timestamp). */
  readonly from: number;
  readonly to: number | null;
}

/** The parts made since the simulation began, after a change (cumulative, not wrapped at a rollover). */
export interface PartsRecord {
  readonly at: number;
  readonly good: number;
  readonly bad: number;
}

/** A fault, random or injected. */
export interface FaultRecord {
  readonly machineId: string;
  readonly from: number;
  /** `null` while it lasts. */
  readonly to: number | null;
  readonly injected: boolean;
  /** When the drift that announced a random fault began; `null` for an injected one (no warning). */
  readonly driftFrom: number | null;
}

/** A value written outside its tag's `[min, max]` on purpose. */
export interface OutOfRangeRecord {
  readonly machineId: string;
  readonly tag: string;
  readonly at: number;
  readonly value: number;
}

/** Everything one machine did. */
export interface MachineTruth {
  readonly machineId: string;
  readonly lineId: string;
  /** From the config, in parts per minute of real time (the compressed rate is this x speed). */
  readonly idealRunRate: number;
  /** The machine's share of the ideal rate while running. */
  readonly performance: number;
  /** The machine's share of bad parts. */
  readonly scrapRate: number;
  readonly counterRollover: number | null;
  /** The counter registers when the simulation began; a register reads (initial + parts made) mod rollover. */
  readonly initialRegisters: { readonly good: number; readonly bad: number };
  /** Contiguous, oldest first, the first from the simulation's start. */
  readonly states: readonly StateInterval[];
  /** One record per change of the counters, oldest first. */
  readonly parts: readonly PartsRecord[];
  readonly faults: readonly FaultRecord[];
  readonly outOfRange: readonly OutOfRangeRecord[];
}

/** The simulator's record of a whole run. */
export interface GroundTruth {
  readonly factoryId: string;
  readonly seed: number;
  readonly speed: number;
  readonly startedAt: number;
  /** When this snapshot was taken. */
  readonly at: number;
  /** When the simulator stopped (then every interval is closed), or `null`. */
  readonly stoppedAt: number | null;
  readonly machines: Readonly<Record<string, MachineTruth>>;
  /** Every machine's faults, by start time. */
  readonly faults: readonly FaultRecord[];
  /** Every machine's out-of-range injections, by time. */
  readonly outOfRange: readonly OutOfRangeRecord[];
  /** Sensor payloads published that the agent must dead-letter. */
  readonly malformedInjected: number;
}

/**
 * The state events a machine's PLC signals amount to, as the edge agent derives them: one per change of state
 * and one per change of the counters, with the parts made since the previous event. Parts counted at the
 * instant of a state change were made in the state that ended, so their event comes first.
 */
export function truthEvents(machine: MachineTruth): MachineStateEvent[] {
  const events: MachineStateEvent[] = [];
  const machineId = machine.machineId as MachineId;
  let good = 0;
  let bad = 0;
  let p = 0;
  const states = machine.states;
  for (let s = 0; s < states.length; s++) {
    const interval = states[s];
    if (interval === undefined) continue;
    const end = states[s + 1]?.from ?? Infinity;
    events.push({ machineId, timestamp: interval.from, clock: "source", state: interval.state, goodIncrement: 0, badIncrement: 0 });
    for (let part = machine.parts[p]; part !== undefined && part.at <= end; part = machine.parts[++p]) {
      events.push({ machineId, timestamp: part.at, clock: "source", state: interval.state, goodIncrement: part.good - good, badIncrement: part.bad - bad });
      good = part.good;
      bad = part.bad;
    }
  }
  return events;
}

/** OEE counters and their ratios. */
export interface OeeSummary {
  readonly counters: OeeCounters;
  readonly ratios: OeeRatios;
}

/** OEE of each machine, each line and the factory over one span. */
export interface TruthOee {
  readonly machines: Readonly<Record<string, OeeSummary>>;
  readonly lines: Readonly<Record<string, OeeSummary>>;
  readonly factory: OeeSummary;
}

/**
 * OEE over (`span.from`, `span.to`] computed from the ground truth with the SDK's local OEE, each machine at its
 * compressed ideal rate (`idealRunRate x truth.speed`); lines and the factory sum the machines' counters.
 */
export function oeeFromTruth(truth: GroundTruth, span: { readonly from: number; readonly to: number }): TruthOee {
  const machines: Record<string, OeeSummary> = {};
  const byLine = new Map<string, OeeCounters[]>();
  for (const machine of Object.values(truth.machines)) {
    const counters = machineCounters(truthEvents(machine), span, machine.idealRunRate * truth.speed);
    machines[machine.machineId] = { counters, ratios: oeeOf(counters) };
    const list = byLine.get(machine.lineId) ?? [];
    list.push(counters);
    byLine.set(machine.lineId, list);
  }
  const lines: Record<string, OeeSummary> = {};
  for (const [lineId, list] of byLine) {
    const counters = sumCounters(list);
    lines[lineId] = { counters, ratios: oeeOf(counters) };
  }
  const factory = sumCounters(Object.values(machines).map((m) => m.counters));
  return { machines, lines, factory: { counters: factory, ratios: oeeOf(factory) } };
}
