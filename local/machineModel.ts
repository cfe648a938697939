/**
 * The behaviour of one simulated machine, free of any server: a state machine over running, idle, fault and
 * planned stop, part counters, and telemetry per tag. Everything random comes from seeded PRNG streams, so a
 * model advanced at the same instants with the same seed does exactly the same thing; the simulator
 * (`./simulator`) drives one model per machine from a timer and writes what it says to the PLC and the sensors.
 *
 * Time is the wall clock (epoch ms) throughout. `speed` compresses behaviour: durations drawn in factory time are
 * divided by it, parts come `speed` times as fast, and thermal lags and slow drifts run `speed` times as fast.
 * A state change only happens inside {@link MachineModel.advance}, at the instant it is called, so the model's
 * record (`truth`) holds exactly the timestamps a caller writes to the PLC.
 */
import { convert, quantityOf, type FactoryConfig, type Machine, type MachineState, type MachineType, type TagSpec } from "@smart-factory/sdk";
import type { FaultRecord, MachineTruth, OutOfRangeRecord, PartsRecord, StateInterval } from "./groundTruth";

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** A PRNG (mulberry32): uniform in [0, 1), fully determined by the 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed for one named stream of one seed (FNV-1a over the key, mixed with the seed). */
export function streamSeed(seed: number, key: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
}

/** How a tag behaves; chosen from its name and unit. */
export type TagKind = "temperature" | "vibration" | "process" | "rate" | "cycle" | "supply" | "leak";

/** The levels and dynamics of one tag of one machine, in the tag's unit. */
export interface TagProfile {
  readonly spec: TagSpec;
  readonly kind: TagKind;
  /** Level the tag settles at in each state. */
  readonly levels: Readonly<Record<MachineState, number>>;
  /** Standard deviation of the sample noise. */
  readonly noise: number;
  /** Time constant (factory ms) with which the tag follows a change of level. */
  readonly lagMs: number;
  /** Amplitude and period (factory ms) of the slow drift around the level. */
  readonly wander: { readonly amplitude: number; readonly periodMs: number; readonly phase: number };
  /** How far the tag has risen by the instant a fault begins (0: it shows no pre-fault drift). */
  readonly preFaultRise: number;
}

/** Knobs of a model; the simulator fills them from its options. */
export interface ModelSettings {
  readonly seed: number;
  /** Behaviour compression, > 0 (1 = real time). */
  readonly speed: number;
  /** Random faults (with their pre-fault drift); off, only injected faults happen. */
  readonly randomFaults: boolean;
  /** Random planned stops (breaks, planned maintenance). */
  readonly plannedStops: boolean;
  /** Shortest wall-clock time a state lasts, so that a client sampling the state register sees every state. */
  readonly minStateMs: number;
}

/** What one {@link MachineModel.advance} changed. */
export interface ModelChange {
  readonly state: boolean;
  readonly parts: boolean;
}

/** A record the model still updates (the interval or fault in progress gets its end). */
type Open<T> = { -readonly [K in keyof T]: T[K] };

/** The planned end of the current state, and whether a fault follows it (with the drift that announces it). */
interface Plan {
  readonly endsAt: number;
  readonly next: MachineState;
  /** Set when the running state ends in a random fault: when its drift starts. */
  readonly driftFrom?: number;
}

/** A standard normal deviate from a uniform source (Box-Muller). */
function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function between(random: () => number, low: number, high: number): number {
  return low + (high - low) * random();
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/** Alert limits configured for a tag of a machine type, converted into the tag's unit. */
export interface TagLimits {
  readonly above?: number;
  readonly below?: number;
}

/** The alert thresholds of a machine type's tags, in each tag's unit (the tightest when several apply). */
export function thresholdLimits(config: FactoryConfig, type: MachineType): Map<string, TagLimits> {
  const limits = new Map<string, TagLimits>();
  for (const threshold of config.alerts.thresholds) {
    if (threshold.machineType !== type.id) continue;
    const spec = type.tags.find((tag) => tag.name === threshold.tag);
    if (spec === undefined) continue;
    const current = limits.get(spec.name) ?? {};
    const above = threshold.above === undefined ? current.above : Math.min(current.above ?? Infinity, convert(threshold.above, threshold.unit, spec.unit));
    const below = threshold.below === undefined ? current.below : Math.max(current.below ?? -Infinity, convert(threshold.below, threshold.unit, spec.unit));
    limits.set(spec.name, { ...(above === undefined ? {} : { above }), ...(below === undefined ? {} : { below }) });
  }
  return limits;
}

/** The kind of a tag, from its name and the quantity its unit measures. */
export function tagKind(spec: TagSpec): TagKind {
  const quantity = quantityOf(spec.unit);
  const name = spec.name.toLowerCase();
  if (quantity === "temperature") return "temperature";
  if (name.includes("vibration")) return "vibration";
  if (name.includes("leak")) return "leak";
  if (name.includes("stroke")) return "rate";
  if (quantity === "time" && name.includes("cycle")) return "cycle";
  // Pressures a pump or compressor holds whatever the machine does (a process pressure only exists while it works).
  if (quantity === "pressure" && /hydraulic|air|vacuum|supply|coolant/.test(name)) return "supply";
  return "process";
}

/**
 * The profile of each tag of a machine. Normal levels stay inside the configured alert thresholds (with a
 * margin), so alerts come from the drift before a fault, an injected fault or an injected out-of-range value;
 * the drift before a fault carries temperature- and vibration-like tags (current or load where a type has
 * neither) past the threshold, or a fifth of the way to the top of the range where none is configured.
 */
export function tagProfiles(type: MachineType, machine: Machine, limits: ReadonlyMap<string, TagLimits>, settings: ModelSettings, performance: number): TagProfile[] {
  const random = mulberry32(streamSeed(settings.seed, `${machine.id}/profiles`));
  const hasPrimaryDrift = type.tags.some((spec) => ["temperature", "vibration"].includes(tagKind(spec)));
  return type.tags.map((spec) => {
    const kind = tagKind(spec);
    const range = spec.max - spec.min;
    const limit = limits.get(spec.name) ?? {};
    // Normal operation keeps a tenth of the range (at most a third of the allowed band) away from each limit.
    const bandLow = limit.below ?? spec.min;
    const bandHigh = limit.above ?? spec.max;
    const margin = Math.min(0.1 * range, (bandHigh - bandLow) / 3);
    const low = limit.below === undefined ? spec.min : bandLow + margin;
    const high = limit.above === undefined ? spec.max : bandHigh - margin;
    const safe = (value: number): number => clamp(value, low, high);
    const spread = between(random, 0.9, 1.1); // machines of a type differ a little
    const at = (fraction: number): number => spec.min + fraction * range;
    let levels: Record<MachineState, number>;
    let noise: number;
    let lagMs = 2 * SECOND;
    switch (kind) {
      case "temperature": {
        const ambient = clamp(convert(22, "degC", spec.unit), spec.min, spec.max);
        const running = safe(ambient + 0.35 * spread * (spec.max - ambient));
        const warm = (share: number): number => safe(ambient + share * (running - ambient));
        levels = { running, idle: warm(0.75), fault: warm(0.6), plannedStop: warm(0.4) };
        noise = 0.002 * range;
        lagMs = 3 * MINUTE;
        break;
      }
      case "vibration": {
        const running = safe(spec.min + 0.12 * spread * range);
        levels = { running, idle: safe(spec.min + 0.15 * (running - spec.min)), fault: safe(spec.min + 0.02 * (running - spec.min)), plannedStop: safe(spec.min + 0.02 * (running - spec.min)) };
        noise = 0.04 * (running - spec.min);
        break;
      }
      case "rate": {
        // Strokes per minute are the parts per minute the machine makes (in real time, whatever the speed).
        const running = safe(machine.idealRunRate * performance);
        levels = { running, idle: safe(spec.min), fault: safe(spec.min), plannedStop: safe(spec.min) };
        noise = 0.005 * running;
        break;
      }
      case "cycle": {
        const seconds = 60 / (machine.idealRunRate * performance);
        const running = safe(convert(seconds, "s", spec.unit));
        // A PLC holds the last cycle time while the machine does not cycle.
        levels = { running, idle: running, fault: running, plannedStop: running };
        noise = 0.01 * running;
        break;
      }
      case "supply": {
        const level = safe(at((spec.name.toLowerCase().includes("vacuum") ? 0.3 : 0.75) * (spread * 0.5 + 0.5)));
        levels = { running: level, idle: level, fault: level, plannedStop: level };
        noise = 0.003 * range;
        break;
      }
      case "leak": {
        const running = safe(at(0.03 * spread));
        levels = { running, idle: running, fault: running, plannedStop: running };
        noise = 0.003 * range;
        break;
      }
      case "process": {
        const running = safe(at(0.5 * spread));
        levels = { running, idle: safe(at(0.03 * 0.5 * spread)), fault: safe(spec.min), plannedStop: safe(spec.min) };
        noise = 0.015 * (running - spec.min) + 0.001 * range;
        break;
      }
    }
    const drifts = kind === "temperature" || kind === "vibration" || (!hasPrimaryDrift && /current|load/i.test(spec.name));
    const peak = limit.above !== undefined ? limit.above + 0.25 * (limit.above - levels.running) : levels.running + 0.2 * (spec.max - levels.running);
    return {
      spec,
      kind,
      levels,
      noise,
      lagMs,
      wander: { amplitude: (kind === "supply" || kind === "leak" ? 0.005 : 0.015) * range, periodMs: between(random, 20, 60) * MINUTE, phase: between(random, 0, 2 * Math.PI) },
      preFaultRise: drifts ? Math.max(0, Math.min(spec.max, peak) - levels.running) : 0,
    };
  });
}

/** Everything a model needs about its machine. */
export interface MachineSetup {
  readonly machine: Machine;
  readonly type: MachineType;
  readonly lineId: string;
  readonly limits: ReadonlyMap<string, TagLimits>;
}

/** One simulated machine. */
export class MachineModel {
  readonly machineId: string;
  /** Share of the ideal rate the machine achieves while running (0.85 to 0.98). */
  readonly performance: number;
  /** Share of parts that are bad (0.01 to 0.04). */
  readonly scrapRate: number;
  readonly profiles: readonly TagProfile[];
  private readonly schedule: () => number;
  private readonly scrap: () => number;
  private readonly noise: () => number;
  private readonly rollover: number | undefined;
  private readonly initial: { readonly good: number; readonly bad: number };
  private current: MachineState;
  private since: number;
  private plan: Plan;
  private lastAt: number;
  private partCredit = 0;
  private good = 0;
  private bad = 0;
  private readonly lagged = new Map<string, { value: number; at: number }>();
  private readonly states: Open<StateInterval>[] = [];
  private readonly parts: PartsRecord[] = [];
  private readonly faults: Open<FaultRecord>[] = [];
  private readonly outOfRange: OutOfRangeRecord[] = [];
  private ended: number | null = null;

  constructor(
    private readonly setup: MachineSetup,
    private readonly settings: ModelSettings,
    private readonly startedAt: number,
  ) {
    const { machine, type } = setup;
    this.machineId = machine.id;
    const traits = mulberry32(streamSeed(settings.seed, `${machine.id}/traits`));
    this.performance = between(traits, 0.85, 0.98);
    this.scrapRate = between(traits, 0.01, 0.04);
    this.rollover = type.counterRollover;
    const span = Math.min(this.rollover ?? 2 ** 32, 1_000_000);
    // PLC counters hold whatever they counted before the simulation began.
    this.initial = { good: Math.floor(traits() * span), bad: Math.floor(traits() * Math.min(span, 20_000)) };
    this.schedule = mulberry32(streamSeed(settings.seed, `${machine.id}/schedule`));
    this.scrap = mulberry32(streamSeed(settings.seed, `${machine.id}/scrap`));
    this.noise = mulberry32(streamSeed(settings.seed, `${machine.id}/noise`));
    this.profiles = tagProfiles(type, machine, setup.limits, settings, this.performance);
    // Machines start at different points of their cycle, most of them running.
    this.current = this.schedule() < 0.8 ? "running" : "idle";
    this.since = startedAt;
    this.lastAt = startedAt;
    this.plan = this.planFrom(this.current, startedAt, between(this.schedule, 0.1, 1));
    this.states.push({ state: this.current, code: this.code(this.current), from: startedAt, to: null });
    for (const profile of this.profiles) this.lagged.set(profile.spec.name, { value: profile.levels[this.current], at: startedAt });
  }

  /** The current state. */
  state(): MachineState {
    return this.current;
  }

  /** When the current state began (epoch ms). */
  stateSince(): number {
    return this.since;
  }

  /** The PLC code of the current state (the first code the machine type lists for it). */
  stateCode(): number {
    return this.code(this.current);
  }

  /** The good and bad counter registers: the initial counts plus the parts made, wrapped at `counterRollover`. */
  registers(): { good: number; bad: number } {
    const wrap = (n: number): number => (this.rollover === undefined ? n : n % this.rollover);
    return { good: wrap(this.initial.good + this.good), bad: wrap(this.initial.bad + this.bad) };
  }

  /** When the pre-fault drift of the coming random fault starts and when the fault begins, if one is planned. */
  upcomingFault(): { driftFrom: number; at: number } | undefined {
    return this.plan.driftFrom === undefined ? undefined : { driftFrom: this.plan.driftFrom, at: this.plan.endsAt };
  }

  /**
   * Make the parts of the time since the last call and, when the current state is due to end, change state at
   * `now`. Call it with non-decreasing times.
   */
  advance(now: number): ModelChange {
    const parts = this.makeParts(now);
    if (now < this.plan.endsAt) return { state: false, parts };
    const next = this.plan.next;
    if (next === "fault") {
      const driftFrom = this.plan.driftFrom ?? now;
      this.enter("fault", now, this.planFrom("fault", now));
      this.faults.push({ machineId: this.machineId, from: now, to: null, injected: false, driftFrom });
    } else {
      this.enter(next, now, this.planFrom(next, now));
    }
    return { state: true, parts };
  }

  /** Put the machine in fault at `now` for `durationMs` (wall clock), with no drift before it. */
  injectFault(now: number, durationMs: number): void {
    this.makeParts(now);
    const plan: Plan = { endsAt: now + durationMs, next: "idle" };
    if (this.current === "fault") {
      // The fault in progress is taken over by the injected one: the register keeps showing fault.
      this.closeFault(now);
      this.plan = plan;
    } else {
      this.enter("fault", now, plan);
    }
    this.faults.push({ machineId: this.machineId, from: now, to: null, injected: true, driftFrom: null });
  }

  /** A value of the tag at `now` (call {@link advance} first), in the tag's unit and within its range. */
  sample(tag: string, now: number): number {
    const profile = this.profile(tag);
    const lag = this.lagged.get(tag) ?? { value: profile.levels[this.current], at: now };
    const level = profile.levels[this.current];
    const dt = Math.max(0, now - lag.at) * this.settings.speed;
    lag.value = level + (lag.value - level) * Math.exp(-dt / profile.lagMs);
    lag.at = now;
    this.lagged.set(tag, lag);
    const factoryElapsed = (now - this.startedAt) * this.settings.speed;
    // What a machine does makes the variation of its process values: a stopped spindle neither wanders nor jitters.
    const activity = profile.kind === "process" || profile.kind === "vibration" || profile.kind === "rate" ? clamp((lag.value - profile.spec.min) / Math.max(1e-9, profile.levels.running - profile.spec.min), 0.02, 1) : 1;
    const wander = profile.wander.amplitude * Math.sin((2 * Math.PI * factoryElapsed) / profile.wander.periodMs + profile.wander.phase);
    const drift = profile.preFaultRise * this.driftShare(now);
    const value = lag.value + activity * (wander + profile.noise * gaussian(this.noise)) + drift;
    return clamp(value, profile.spec.min, profile.spec.max);
  }

  /** A value outside the tag's range (above its max by a fifth of the range), recorded as injected at `now`. */
  outOfRangeValue(tag: string, now: number): number {
    const { spec } = this.profile(tag);
    const value = spec.max + 0.2 * (spec.max - spec.min);
    this.outOfRange.push({ machineId: this.machineId, tag, at: now, value });
    return value;
  }

  /** Close the record at `now` (the simulation stops). */
  end(now: number): void {
    if (this.ended !== null) return;
    this.makeParts(now);
    this.ended = now;
  }

  /** What the machine did so far. */
  truth(): MachineTruth {
    const close = <T extends { to: number | null }>(item: T): T => (item.to === null && this.ended !== null ? { ...item, to: this.ended } : { ...item });
    return {
      machineId: this.machineId,
      lineId: this.setup.lineId,
      idealRunRate: this.setup.machine.idealRunRate,
      performance: this.performance,
      scrapRate: this.scrapRate,
      counterRollover: this.rollover ?? null,
      initialRegisters: { ...this.initial },
      states: this.states.map(close),
      parts: this.parts.slice(),
      faults: this.faults.map(close),
      outOfRange: this.outOfRange.slice(),
    };
  }

  private profile(tag: string): TagProfile {
    const profile = this.profiles.find((p) => p.spec.name === tag);
    if (profile === undefined) throw new Error(`tag: machine ${this.machineId} has no tag ${JSON.stringify(tag)} (it has ${this.profiles.map((p) => p.spec.name).join(", ")})`);
    return profile;
  }

  private code(state: MachineState): number {
    const code = this.setup.type.stateCodes[state][0];
    // The config requires a running code; a type without a code for another state shows it as idle.
    return code ?? this.setup.type.stateCodes.idle[0] ?? this.setup.type.stateCodes.running[0] ?? 0;
  }

  /** 0 outside the drift before a random fault; rising to 1 at the fault (accelerating, as wear does). */
  private driftShare(now: number): number {
    const from = this.plan.driftFrom;
    if (from === undefined || this.current !== "running" || now <= from) return 0;
    return Math.min(1, (now - from) / Math.max(1, this.plan.endsAt - from)) ** 2;
  }

  private makeParts(now: number): boolean {
    const dt = now - this.lastAt;
    if (dt <= 0 || this.ended !== null) return false;
    this.lastAt = now;
    if (this.current !== "running") return false;
    this.partCredit += (dt * this.setup.machine.idealRunRate * this.performance * this.settings.speed) / MINUTE;
    const made = Math.floor(this.partCredit);
    if (made === 0) return false;
    this.partCredit -= made;
    for (let i = 0; i < made; i++) {
      if (this.scrap() < this.scrapRate) this.bad++;
      else this.good++;
    }
    this.parts.push({ at: now, good: this.good, bad: this.bad });
    return true;
  }

  private enter(state: MachineState, now: number, plan: Plan): void {
    // A drifting tag keeps the heat it built up: it cools from there instead of jumping back.
    for (const profile of this.profiles) {
      const lag = this.lagged.get(profile.spec.name);
      if (lag !== undefined && profile.kind === "temperature") lag.value += profile.preFaultRise * this.driftShare(now);
    }
    if (this.current === "fault") this.closeFault(now);
    const last = this.states[this.states.length - 1];
    if (last !== undefined) last.to = now;
    this.states.push({ state, code: this.code(state), from: now, to: null });
    this.current = state;
    this.since = now;
    this.plan = plan;
  }

  private closeFault(now: number): void {
    for (const fault of this.faults) if (fault.to === null) fault.to = now;
  }

  /**
   * The plan of a state entered at `now`: how long it lasts (drawn in factory time, divided by the speed, never
   * under `minStateMs`) and what follows. `share` shortens the first state so machines start out of step.
   */
  private planFrom(state: MachineState, now: number, share = 1): Plan {
    const r = this.schedule;
    const wall = (factoryMs: number): number => Math.max(this.settings.minStateMs, (factoryMs * share) / this.settings.speed);
    switch (state) {
      case "running": {
        const endsAt = now + wall(4 * MINUTE - Math.log(1 - r()) * 10 * MINUTE);
        const roll = r();
        if (this.settings.randomFaults && roll < 0.12) {
          // Wear shows for 3 to 6 minutes (factory time) before the machine trips; never before the run began.
          const driftFrom = Math.max(now, endsAt - between(r, 3, 6) * MINUTE / this.settings.speed);
          return { endsAt, next: "fault", driftFrom };
        }
        return { endsAt, next: this.settings.plannedStops && roll > 0.94 ? "plannedStop" : "idle" };
      }
      case "idle":
        return { endsAt: now + wall(20 * SECOND - Math.log(1 - r()) * 90 * SECOND), next: "running" };
      case "fault":
        return { endsAt: now + wall(1.5 * MINUTE - Math.log(1 - r()) * 3 * MINUTE), next: "idle" };
      case "plannedStop":
        return { endsAt: now + wall(between(r, 10, 25) * MINUTE), next: "idle" };
    }
  }
}
