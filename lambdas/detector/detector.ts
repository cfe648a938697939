/**
 * The pure core of the detector Lambda (the job of the retired AWS IoT Events detector models): no AWS client, no
 * clock, no I/O. It keeps one small state document per machine and per gateway and moves the conditions in them on
 * **event time**, the readings' and state events' own timestamps, never on the time they arrive:
 *
 * - `threshold:<id>`: a tag above/below a limit (in the threshold's unit) held for `forSeconds`; once active it clears
 *   only when the value is back inside the limit by `hysteresis`, so a value oscillating around the limit does not flap;
 * - `rate:<id>`: a tag changing faster than `maxRatePerSecond` (its unit per second);
 * - `fault`: the machine's state is `fault` for longer than `faultAlertSeconds`;
 * - `silent`: no telemetry from the machine for `silentMachineSeconds` while its gateway is up and up to date;
 * - `score`: the predictive-maintenance endpoint's failure-window score at or above its threshold (see below);
 * - `uplink` (gateway): nothing heard from the gateway for `silentMachineSeconds`. Its machines' silence is then not
 *   reported one by one: the gateway's single alert stands for them.
 *
 * Between two readings a value holds (as in SiteWise): a condition held for `forSeconds` fires at `start + forSeconds`
 * even if the next reading only comes later. A machine's clock advances with its newest reading (or state event) and
 * with its gateway's watermark, the event time up to which the gateway's health message says it has delivered
 * everything (its `sentAt` less the age of its oldest buffered reading), so held conditions also fire when a deadband
 * keeps a steady value off the wire.
 *
 * **The paging rule for delayed data** (a gateway's store-and-forward backlog replayed after an outage). Data is
 * *live* when its event time is within {@link DetectorOptions.liveWindowMs} of the detector's clock (the wall clock),
 * or when its gateway is *current*: its latest health message, received in the last {@link HEALTH_FRESH_MS}, says
 * nothing is buffered (so a PLC clock that lags does not silence its machine). During a replay the gateway's health
 * reports its backlog, so neither holds for the replayed data.
 * - A condition that becomes active at a live event time is paged at once.
 * - A condition that becomes active in delayed data is paged only once it is still active at a live event time (the
 *   newest data of the machine has caught up): then it is paged once, with its original start ("since 07:02Z,
 *   found in delayed data"). Nothing is missed: the sweep re-checks every minute.
 * - A condition that starts and ends inside delayed data is recorded in the machine's state (`recorded`,
 *   `lastEpisode`), logged and counted, but never paged: it ended long ago.
 * - A condition that was paged is always told when it ends, even when the end is found in delayed data ("cleared at
 *   07:40Z, after 38m, reported late").
 *
 * **The failure-window score** (only with a score endpoint: {@link DetectorOptions.scoring}). The model scores one
 * row per machine and UTC hour, the row its training set has (the SDK's `trainingColumns`), so each machine's
 * document accumulates its current hour (`features.ts`: the feature tags' statistics, the record count, fault
 * seconds and entries, bad readings). When the machine's event time passes the hour's end (a reading or state event
 * of a later hour, or its gateway's watermark), the hour is closed and its row kept as `pending`, replacing an older
 * one: only the newest completed hour is ever scored. It is scored once, by the invocation whose write claims it
 * (the handler then calls the endpoint and applies the score), and only when the machine's clock is live and still
 * in the hour after it. So live, an hour is scored as soon as the next one begins; in a replayed backlog the hours
 * close on their own times but none is scored until the data catches up, and then only the hour before the live
 * one: hours long past are dropped, never scored as if current. An hour without a telemetry record (the training set
 * has no row for it) and an hour whose beginning the detector did not see are not scored. A failed call is tried
 * again after {@link SCORE_RETRY_MS}, at most {@link MAX_SCORE_ATTEMPTS} times.
 */
import {
  canonicalUnitOf,
  converter,
  featureRow,
  featureTags,
  featureVector,
  formatDuration,
  listMachines,
  type FactoryConfig,
  type MachinePlacement,
  type MachineState,
  type Quality,
  type Reading,
  type TagSpec,
} from "@smart-factory/sdk";
import { addFaultTime, addValue, countSample, emptyFeatures, emptyHour, hourOf, HOUR_MS, type FeatureHour, type MachineFeatures } from "./features";

// ---------------------------------------------------------------------------------------------- state documents

/** Whether a condition holds: `pending` has started but not been held long enough yet. */
export type ConditionStatus = "ok" | "pending" | "active";

/** How bad a condition is, as configured. */
export type Severity = "warning" | "critical";

/** A past episode of a condition. */
export interface Episode {
  readonly since: number;
  readonly activeAt: number;
  readonly until: number;
  readonly peak: number | null;
  readonly notified: boolean;
}

/** The state of one condition of one machine (or gateway). Times are event times (epoch ms). */
export interface ConditionState {
  status: ConditionStatus;
  /** When the current episode started (pending or active). */
  since: number | null;
  /** When the current episode became active (`since` + the hold time). */
  activeAt: number | null;
  /** The latest value seen in the episode, in the condition's unit. */
  value: number | null;
  /** The worst value of the episode (farthest outside the limit). */
  peak: number | null;
  /** For a threshold with both limits: which one is crossed. */
  direction: "above" | "below" | null;
  /** A rate condition: when the rate last exceeded the limit. */
  lastViolationAt: number | null;
  /** Whether this episode was paged. */
  notified: boolean;
  /** Episodes that started and ended in delayed data: recorded, never paged. */
  recorded: number;
  lastEpisode: Episode | null;
}

/** The latest reading of a tag: its time (the tag's event-time frontier) and its latest good value (canonical unit). */
export interface TagValue {
  t: number;
  v: number | null;
}

/** Everything the detector keeps about one machine. */
export interface MachineDoc {
  kind: "machine";
  /** Latest reading per tag. A reading not newer than its tag's is a duplicate or late, and is skipped. */
  tags: Record<string, TagValue>;
  /** Reference point of each rate alert (the reading the next rate is measured from). */
  rateRefs: Record<string, TagValue>;
  /** Event time of the newest reading of any tag. */
  lastReadingAt: number | null;
  /** The machine's state and the event time of the newest state event. */
  state: MachineState | null;
  stateAt: number | null;
  conditions: Record<string, ConditionState>;
  /** The current hour's features and the completed hour waiting to be scored; only while scoring is on. */
  features?: MachineFeatures;
}

/** Everything the detector keeps about one gateway. */
export interface GatewayDoc {
  kind: "gateway";
  /** When the cloud last heard from the gateway (arrival time of any of its messages). */
  heardAt: number | null;
  /** `sentAt` of the newest health message. */
  healthSentAt: number | null;
  /** When the newest health message arrived (wall clock). */
  healthReceivedAt: number | null;
  /** Event time up to which the gateway has delivered everything it had (see the module comment). */
  watermark: number | null;
  backlogReadings: number | null;
  backlogAgeSeconds: number | null;
  conditions: Record<string, ConditionState>;
}

/** A new, empty machine document. */
export function emptyMachineDoc(): MachineDoc {
  return { kind: "machine", tags: {}, rateRefs: {}, lastReadingAt: null, state: null, stateAt: null, conditions: {} };
}

/** A new, empty gateway document. */
export function emptyGatewayDoc(): GatewayDoc {
  return { kind: "gateway", heardAt: null, healthSentAt: null, healthReceivedAt: null, watermark: null, backlogReadings: null, backlogAgeSeconds: null, conditions: {} };
}

function emptyCondition(): ConditionState {
  return { status: "ok", since: null, activeAt: null, value: null, peak: null, direction: null, lastViolationAt: null, notified: false, recorded: 0, lastEpisode: null };
}

// ---------------------------------------------------------------------------------------------- notices

/** A notification to publish: what an on-call engineer reads. */
export interface Notice {
  /** Unique per subject, condition, episode and event: `<subject key>/<condition>/<since>/<event>`. */
  readonly id: string;
  readonly event: "raise" | "clear";
  readonly severity: Severity;
  /** At most {@link MAX_SUBJECT_LENGTH} characters, ASCII. */
  readonly subject: string;
  readonly message: string;
  /** SNS message attributes (filterable by subscriptions). */
  readonly attributes: Readonly<Record<string, string>>;
}

/** SNS takes subjects shorter than 100 characters. */
export const MAX_SUBJECT_LENGTH = 99;

/** An episode that ended without a page (it started and ended in delayed data). */
export interface RecordedEpisode {
  readonly subject: string;
  readonly condition: string;
  readonly episode: Episode;
}

/** A completed hour to score on the endpoint, claimed by the evaluation that produced it. */
export interface ScoreRequest {
  readonly machineId: string;
  /** Start of the completed hour (epoch ms). */
  readonly hour: number;
  /** The hour's row: one CSV line of the SDK's `trainingColumns`. */
  readonly vector: string;
  /** The event time the score is taken at: the machine's clock when the hour was claimed. */
  readonly at: number;
}

/** What an evaluation produced besides the new document. */
export interface Outcome {
  readonly notices: Notice[];
  readonly recorded: RecordedEpisode[];
  /** Hours to score: only once the evaluation's write won (the claim is in it). */
  readonly scores: ScoreRequest[];
  /** Whether the document changed in a way worth storing. */
  write: boolean;
  /** Readings skipped as duplicates or late (not newer than their tag's frontier). */
  late: number;
}

function outcome(): Outcome {
  return { notices: [], recorded: [], scores: [], write: false, late: 0 };
}

// ---------------------------------------------------------------------------------------------- options

/** Tunables of the detector; the defaults suit a factory. */
export interface DetectorOptions {
  /**
   * How far behind the wall clock data may be and still count as live. Default 5 minutes: live data reaches the
   * detector within seconds, and a held condition is re-checked by the sweep every minute at the gateway's watermark
   * (at most a minute or two behind); a backlog replayed after an outage is older.
   */
  readonly liveWindowMs?: number;
  /** The failure-window score at or above which the `score` condition fires. Default 0.8. */
  readonly scoreThreshold?: number;
  /** How far below the threshold the score must fall to clear. Default 0.1. */
  readonly scoreHysteresis?: number;
  /**
   * Whether machines are scored (there is a score endpoint): their documents then accumulate each hour's features
   * and completed hours are handed out to score. Default false (documents keep no features).
   */
  readonly scoring?: boolean;
}

/** A gateway's health message is recent for this long (it sends one a minute). */
export const HEALTH_FRESH_MS = 150_000;
/** See {@link DetectorOptions.liveWindowMs}. */
export const DEFAULT_LIVE_WINDOW_MS = 300_000;
/** A rate condition clears once the rate is under this share of its limit... */
export const RATE_CLEAR_SHARE = 0.8;
/** ...or once it has not exceeded the limit for this long (the value holds still between readings). */
export const RATE_SETTLE_MS = 60_000;
/** Rates are measured between readings at least this far apart (closer ones amplify noise). */
export const RATE_MIN_INTERVAL_MS = 1_000;
/** Taken off a gateway's watermark for messages still in flight between IoT Core and this function. */
export const WATERMARK_GRACE_MS = 10_000;
/** A gateway document is rewritten for a newer arrival time only when it moved by this much (or by a tenth of the silence). */
export const HEARD_WRITE_INTERVAL_MS = 30_000;
/** A claimed hour whose score was not applied this long after (the call failed) is claimed again. */
export const SCORE_RETRY_MS = 120_000;
/** Calls of the endpoint for one hour before it is given up. */
export const MAX_SCORE_ATTEMPTS = 3;

// ---------------------------------------------------------------------------------------------- specs

interface ConditionSpec {
  /** `threshold:<id>`, `rate:<id>`, `fault`, `silent`, `score`, `uplink`. */
  readonly key: string;
  readonly severity: Severity;
  /** The unit values are shown in, or `null`. */
  readonly unit: string | null;
  /** What is wrong, for people: `motorTemperature above 95 degC for 2m`. */
  readonly describe: (c: ConditionState) => string;
  /** Short form for subjects: `motorTemperature > 95 degC`. */
  readonly short: (c: ConditionState) => string;
  /** Which way is worse, for the peak. */
  readonly worse: (c: ConditionState) => "higher" | "lower" | "farther" | null;
}

interface ThresholdSpec extends ConditionSpec {
  readonly tag: string;
  readonly above: number | null;
  readonly below: number | null;
  readonly hysteresis: number;
  readonly holdMs: number;
  /** Canonical unit -> the threshold's unit. */
  readonly toUnit: (canonical: number) => number;
}

interface RateSpec extends ConditionSpec {
  readonly id: string;
  readonly tag: string;
  readonly maxRatePerSecond: number;
  readonly toUnit: (canonical: number) => number;
}

interface MachineModel {
  readonly placement: MachinePlacement;
  readonly thresholds: readonly ThresholdSpec[];
  readonly rates: readonly RateSpec[];
  /** The feature tags (the SDK's `featureTags`) its type has. */
  readonly featureTags: ReadonlySet<string>;
}

/** Where a notice is about: the names an engineer needs. */
interface Subject {
  /** `machine#<id>` or `gateway#<id>`: the key of its state document. */
  readonly key: string;
  /** `factory-a press-03` */
  readonly short: string;
  /** Lines of the message that say where. */
  readonly where: readonly string[];
  readonly attributes: Readonly<Record<string, string>>;
}

/** The state document key of a machine. */
export function machineKey(machineId: string): string {
  return `machine#${machineId}`;
}

/** The state document key of a gateway. */
export function gatewayKey(gatewayId: string): string {
  return `gateway#${gatewayId}`;
}

// ---------------------------------------------------------------------------------------------- the detector

/**
 * Evaluates one factory's conditions. Build it once per container (it indexes the inventory and its alerts and
 * prepares unit converters) and call its methods with a state document, which they change in place.
 */
export class Detector {
  readonly factoryId: string;
  readonly liveWindowMs: number;
  readonly silentMs: number;
  readonly faultMs: number;
  readonly scoreThreshold: number;
  readonly scoreHysteresis: number;
  readonly scoring: boolean;
  private readonly config: FactoryConfig;
  private readonly machines = new Map<string, MachineModel>();
  private readonly canonicalConverters = new Map<string, (value: number) => number>();
  private readonly faultSpec: ConditionSpec;
  private readonly silentSpec: ConditionSpec;
  private readonly scoreSpec: ConditionSpec;
  private readonly uplinkSpec: ConditionSpec;

  constructor(config: FactoryConfig, options: DetectorOptions = {}) {
    this.config = config;
    this.factoryId = config.factory.id;
    this.silentMs = config.alerts.silentMachineSeconds * 1000;
    this.faultMs = config.alerts.faultAlertSeconds * 1000;
    this.liveWindowMs = options.liveWindowMs ?? DEFAULT_LIVE_WINDOW_MS;
    this.scoreThreshold = options.scoreThreshold ?? 0.8;
    this.scoreHysteresis = Math.max(0, options.scoreHysteresis ?? 0.1);
    this.scoring = options.scoring ?? false;
    const features = featureTags(config);
    for (const placement of listMachines(config)) {
      const type = placement.type;
      const specOf = (tag: string): TagSpec => type.tags.find((s) => s.name === tag) as TagSpec;
      const thresholds = config.alerts.thresholds
        .filter((th) => th.machineType === type.id)
        .map((th): ThresholdSpec => {
          const limits = [th.above === undefined ? null : `above ${fmt(th.above)} ${th.unit}`, th.below === undefined ? null : `below ${fmt(th.below)} ${th.unit}`];
          const hold = th.forSeconds > 0 ? ` for ${formatDuration(th.forSeconds * 1000)}` : "";
          const crossed = (c: ConditionState): string => (c.direction === null ? limits.filter((l) => l !== null).join(" or ") : limits[c.direction === "above" ? 0 : 1] ?? "");
          return {
            key: `threshold:${th.id}`,
            severity: th.severity,
            unit: th.unit,
            tag: th.tag,
            above: th.above ?? null,
            below: th.below ?? null,
            hysteresis: th.hysteresis ?? 0,
            holdMs: th.forSeconds * 1000,
            toUnit: converter(canonicalUnitOf(specOf(th.tag).unit), th.unit),
            describe: (c) => `${th.id}: ${th.tag} ${crossed(c)}${hold}`,
            short: (c) => `${th.tag} ${c.direction === "below" ? "<" : c.direction === "above" ? ">" : "outside"} ${fmt(c.direction === "below" ? (th.below ?? 0) : (th.above ?? th.below ?? 0))} ${th.unit}`,
            worse: (c) => (c.direction === "below" ? "lower" : "higher"),
          };
        });
      const rates = (config.alerts.rates ?? [])
        .filter((r) => r.machineType === type.id)
        .map((r): RateSpec => ({
          key: `rate:${r.id}`,
          id: r.id,
          severity: r.severity,
          unit: `${r.unit}/s`,
          tag: r.tag,
          maxRatePerSecond: r.maxRatePerSecond,
          toUnit: converter(canonicalUnitOf(specOf(r.tag).unit), r.unit),
          describe: () => `${r.id}: ${r.tag} changing faster than ${fmt(r.maxRatePerSecond)} ${r.unit}/s`,
          short: () => `${r.tag} changing > ${fmt(r.maxRatePerSecond)} ${r.unit}/s`,
          worse: () => "farther",
        }));
      const tags = new Set(features.filter((f) => f.machineTypes.includes(type.id)).map((f) => f.name));
      this.machines.set(placement.machine.id, { placement, thresholds, rates, featureTags: tags });
    }
    const faultFor = formatDuration(Math.max(this.faultMs, 1));
    this.faultSpec = {
      key: "fault",
      severity: "critical",
      unit: null,
      describe: () => `machine in fault for more than ${this.faultMs === 0 ? "0s" : faultFor}`,
      short: () => "machine in fault",
      worse: () => null,
    };
    this.silentSpec = {
      key: "silent",
      severity: "warning",
      unit: null,
      describe: () => `no telemetry for more than ${formatDuration(this.silentMs)} while its gateway reports`,
      short: () => "no telemetry (machine silent)",
      worse: () => null,
    };
    this.scoreSpec = {
      key: "score",
      severity: "warning",
      unit: null,
      describe: () => `predictive-maintenance failure-window score at or above ${fmt(this.scoreThreshold)}`,
      short: (c) => `failure-window score ${fmt(c.peak ?? c.value ?? 0)}`,
      worse: () => "higher",
    };
    this.uplinkSpec = {
      key: "uplink",
      severity: "critical",
      unit: null,
      describe: () => `nothing heard from the gateway (telemetry, state or health) for more than ${formatDuration(this.silentMs)}: its uplink or agent is down`,
      short: () => "gateway uplink down",
      worse: () => null,
    };
  }

  /** Whether the factory has this machine. */
  hasMachine(machineId: string): boolean {
    return this.machines.has(machineId);
  }

  /** The machine's placement (line, type, gateway), or `undefined`. */
  placementOf(machineId: string): MachinePlacement | undefined {
    return this.machines.get(machineId)?.placement;
  }

  /** Every machine of the factory, in config order. */
  machineIds(): string[] {
    return [...this.machines.keys()];
  }

  /** Every gateway of the factory. */
  gatewayIds(): string[] {
    return this.config.gateways.map((g) => g.id);
  }

  /** Whether data at event time `t` (of a machine behind `gateway`) counts as live at wall-clock `now`. */
  isLive(t: number, now: number, gateway?: GatewayDoc): boolean {
    return now - t <= this.liveWindowMs || Detector.current(gateway, now);
  }

  /** Whether the gateway's latest health message is recent and says nothing is buffered. */
  static current(gateway: GatewayDoc | undefined, now: number): boolean {
    return gateway?.healthReceivedAt != null && now - gateway.healthReceivedAt <= HEALTH_FRESH_MS && gateway.backlogReadings === 0;
  }

  // ------------------------------------------------------------------------------------------- telemetry

  /**
   * Apply a machine's readings (already validated against the inventory; any order) to its document. Readings not
   * newer than their tag's newest are skipped as duplicates or late; the rest are applied in event-time order. Of
   * readings of one tag and timestamp the one the enrichment Lambda writes counts (the best quality, then one with a
   * value, then the smallest value); the others are duplicates.
   */
  applyReadings(machineId: string, doc: MachineDoc, readings: readonly Reading[], now: number, gateway?: GatewayDoc): Outcome {
    const model = this.model(machineId);
    const out = outcome();
    const ev = new Evaluator(this, this.machineSubject(model), out, now, gateway);
    const features = this.featuresOf(doc, out);
    if (features !== null) this.closeHour(model, doc, features, this.featureClock(doc, gateway), out);
    const sorted = readings.map((r) => ({ r, canonical: r.value === null ? null : this.toCanonical(r.unit)(r.value) })).sort(compareReadings);
    for (const { r, canonical } of sorted) {
      const previous = doc.tags[r.tag];
      if (previous !== undefined && r.timestamp <= previous.t) {
        out.late++;
        continue;
      }
      const t = r.timestamp;
      // the values held up to this reading: conditions held long enough fire now
      this.advanceTelemetry(ev, model, doc, t);
      const silent = doc.conditions.silent;
      if (silent !== undefined && silent.status !== "ok") ev.end(silent, this.silentSpec, t, null);
      if (features !== null) this.accumulateReading(model, doc, features, r.tag, r.quality, canonical, t, out);
      const usable = r.quality === "good" && canonical !== null ? canonical : null;
      if (usable !== null) {
        for (const th of model.thresholds) if (th.tag === r.tag) this.threshold(ev, th, cond(doc, th.key), t, th.toUnit(usable));
        for (const rate of model.rates) if (rate.tag === r.tag) this.rate(ev, rate, doc, t, usable);
      }
      doc.tags[r.tag] = { t, v: usable ?? previous?.v ?? null };
      doc.lastReadingAt = Math.max(doc.lastReadingAt ?? t, t);
      out.write = true;
    }
    if (doc.lastReadingAt !== null) {
      this.advanceTelemetry(ev, model, doc, doc.lastReadingAt);
      this.settleTelemetry(ev, model, doc, doc.lastReadingAt);
    }
    if (features !== null) this.advanceFeatures(machineId, model, doc, features, this.featureClock(doc, gateway), now, gateway, out);
    return out;
  }

  private threshold(ev: Evaluator, th: ThresholdSpec, c: ConditionState, t: number, x: number): void {
    const direction = th.above !== null && x > th.above ? "above" : th.below !== null && x < th.below ? "below" : null;
    const inside = (th.above === null || x <= th.above - th.hysteresis) && (th.below === null || x >= th.below + th.hysteresis);
    switch (c.status) {
      case "ok":
        if (direction !== null) {
          c.direction = direction;
          ev.start(c, th, t, x, th.holdMs);
        }
        return;
      case "pending":
        // held means held without a break: back within the limit, the timer starts again
        if (direction !== null && direction === c.direction) {
          ev.observe(c, th, x);
          return;
        }
        ev.end(c, th, t, x);
        if (direction !== null) {
          c.direction = direction;
          ev.start(c, th, t, x, th.holdMs);
        }
        return;
      case "active":
        if (inside) ev.end(c, th, t, x);
        else ev.observe(c, th, x);
        return;
    }
  }

  private rate(ev: Evaluator, rate: RateSpec, doc: MachineDoc, t: number, canonical: number): void {
    const ref = doc.rateRefs[rate.id];
    if (ref === undefined || ref.v === null) {
      doc.rateRefs[rate.id] = { t, v: canonical };
      return;
    }
    if (t - ref.t < RATE_MIN_INTERVAL_MS) return;
    const perSecond = (rate.toUnit(canonical) - rate.toUnit(ref.v)) / ((t - ref.t) / 1000);
    doc.rateRefs[rate.id] = { t, v: canonical };
    const c = cond(doc, rate.key);
    if (Math.abs(perSecond) > rate.maxRatePerSecond) {
      c.lastViolationAt = t;
      if (c.status === "ok") ev.start(c, rate, t, perSecond, 0);
      else ev.observe(c, rate, perSecond);
    } else if (c.status === "active" && Math.abs(perSecond) <= RATE_CLEAR_SHARE * rate.maxRatePerSecond) {
      ev.end(c, rate, t, perSecond);
    }
  }

  /** Move the telemetry conditions' timers to `clock` (values held since their last reading). */
  private advanceTelemetry(ev: Evaluator, model: MachineModel, doc: MachineDoc, clock: number): void {
    for (const th of model.thresholds) {
      const c = doc.conditions[th.key];
      if (c?.status === "pending" && c.since !== null && clock >= c.since + th.holdMs) ev.activate(c, th, c.since + th.holdMs);
    }
    for (const rate of model.rates) {
      const c = doc.conditions[rate.key];
      if (c?.status === "active" && c.lastViolationAt !== null && clock >= c.lastViolationAt + RATE_SETTLE_MS) ev.end(c, rate, c.lastViolationAt + RATE_SETTLE_MS, 0);
    }
  }

  /** Page the telemetry conditions active at `clock` that were not paged yet, if `clock` is live. */
  private settleTelemetry(ev: Evaluator, model: MachineModel, doc: MachineDoc, clock: number): void {
    for (const spec of [...model.thresholds, ...model.rates]) {
      const c = doc.conditions[spec.key];
      if (c !== undefined) ev.settle(c, spec, clock);
    }
    const score = doc.conditions.score;
    if (score !== undefined) ev.settle(score, this.scoreSpec, clock);
  }

  // ------------------------------------------------------------------------------------------- state events

  /** Apply a machine state event (event time `t`). An event not newer than the newest state event is skipped. */
  applyState(machineId: string, doc: MachineDoc, state: MachineState, t: number, now: number, gateway?: GatewayDoc): Outcome {
    const model = this.model(machineId);
    const out = outcome();
    if (doc.stateAt !== null && t <= doc.stateAt) {
      out.late++;
      return out;
    }
    const ev = new Evaluator(this, this.machineSubject(model), out, now, gateway);
    this.advanceFault(ev, doc, t);
    const features = this.featuresOf(doc, out);
    if (features !== null) {
      this.closeHour(model, doc, features, this.featureClock(doc, gateway), out);
      this.closeHour(model, doc, features, t, out);
      const hour = this.hourFor(features, t);
      if (hour !== null) {
        // the previous state held until now; a fault entry is a transition into fault
        addFaultTime(hour, doc.state, doc.stateAt, t);
        if (state === "fault" && doc.state !== "fault") hour.faultEntries++;
      }
    }
    doc.state = state;
    doc.stateAt = t;
    out.write = true;
    const c = cond(doc, this.faultSpec.key);
    if (state === "fault") {
      if (c.status === "ok") ev.start(c, this.faultSpec, t, null, this.faultMs);
    } else if (c.status !== "ok") {
      ev.end(c, this.faultSpec, t, null);
    }
    ev.settle(c, this.faultSpec, t);
    if (features !== null) this.advanceFeatures(machineId, model, doc, features, this.featureClock(doc, gateway), now, gateway, out);
    return out;
  }

  private advanceFault(ev: Evaluator, doc: MachineDoc, clock: number): void {
    const c = doc.conditions.fault;
    if (c?.status === "pending" && c.since !== null && clock >= c.since + this.faultMs) ev.activate(c, this.faultSpec, c.since + this.faultMs);
  }

  // ------------------------------------------------------------------------------------------- gateways

  /**
   * The gateway was heard from at `heardAt` (arrival time), optionally with its health message: a down uplink
   * is back, and the watermark moves on.
   */
  heard(gatewayId: string, doc: GatewayDoc, heardAt: number, now: number, health?: { sentAt: number; backlogReadings: number; backlogAgeSeconds: number }): Outcome {
    const out = outcome();
    const ev = new Evaluator(this, this.gatewaySubject(gatewayId), out, now, doc);
    const interval = Math.min(HEARD_WRITE_INTERVAL_MS, this.silentMs / 10);
    if (doc.heardAt === null || heardAt >= doc.heardAt + interval) out.write = true;
    doc.heardAt = Math.max(doc.heardAt ?? heardAt, heardAt);
    if (health !== undefined && (doc.healthSentAt === null || health.sentAt > doc.healthSentAt)) {
      doc.healthSentAt = health.sentAt;
      doc.healthReceivedAt = heardAt;
      doc.backlogReadings = health.backlogReadings;
      doc.backlogAgeSeconds = health.backlogAgeSeconds;
      doc.watermark = Math.max(doc.watermark ?? -Infinity, health.sentAt - health.backlogAgeSeconds * 1000 - WATERMARK_GRACE_MS);
      out.write = true;
    }
    const uplink = doc.conditions.uplink;
    if (uplink !== undefined && uplink.status !== "ok") {
      ev.end(uplink, this.uplinkSpec, heardAt, null, this.backlogNote(doc));
      out.write = true;
    }
    return out;
  }

  /** The sweep's check of a gateway at wall-clock `now`: nothing heard for the silence time is an uplink down. */
  sweepGateway(gatewayId: string, doc: GatewayDoc, now: number): Outcome {
    const out = outcome();
    if (doc.heardAt === null) return out; // never heard: nothing to compare with (not commissioned yet)
    const ev = new Evaluator(this, this.gatewaySubject(gatewayId), out, now, doc);
    const c = cond(doc, this.uplinkSpec.key);
    if (c.status === "ok" && now - doc.heardAt > this.silentMs) {
      ev.start(c, this.uplinkSpec, doc.heardAt, null, this.silentMs);
      ev.activate(c, this.uplinkSpec, doc.heardAt + this.silentMs);
    }
    // measured on the wall clock: an uplink found down is always current
    ev.settle(c, this.uplinkSpec, now);
    out.write = out.notices.length > 0 || out.write;
    return out;
  }

  /** Whether the gateway's uplink condition is pending or active. */
  static uplinkDown(doc: GatewayDoc | undefined): boolean {
    return doc !== undefined && (doc.conditions.uplink?.status ?? "ok") !== "ok";
  }

  // ------------------------------------------------------------------------------------------- the sweep

  /**
   * The sweep's check of a machine at wall-clock `now`: timers move to the machine's clock (its newest data, or its
   * gateway's watermark), silence is judged against its gateway's watermark and its siblings' newest readings, and
   * active conditions not yet paged are paged once their clock is live. `gateway` is its gateway's document.
   */
  sweepMachine(machineId: string, doc: MachineDoc, gateway: GatewayDoc | undefined, siblingsNewestReading: number | null, now: number): Outcome {
    const model = this.model(machineId);
    const out = outcome();
    const ev = new Evaluator(this, this.machineSubject(model), out, now, gateway);
    const watermark = gateway?.watermark ?? null;
    const down = Detector.uplinkDown(gateway);
    const telemetryClock = maxOf(doc.lastReadingAt, down ? null : watermark);
    if (telemetryClock !== null) {
      this.advanceTelemetry(ev, model, doc, telemetryClock);
      this.settleTelemetry(ev, model, doc, telemetryClock);
    }
    const faultClock = maxOf(doc.stateAt, down ? null : watermark);
    const fault = doc.conditions.fault;
    if (faultClock !== null && fault !== undefined) {
      this.advanceFault(ev, doc, faultClock);
      ev.settle(fault, this.faultSpec, faultClock);
    }
    // Silence: measured against what the gateway says it has delivered, never while its uplink is down (the
    // gateway's own alert stands for its machines) and never for a machine in a planned stop.
    const reference = maxOf(watermark, siblingsNewestReading);
    const silent = cond(doc, this.silentSpec.key);
    if (!down && doc.lastReadingAt !== null && reference !== null && doc.state !== "plannedStop") {
      if (silent.status === "ok" && reference - doc.lastReadingAt > this.silentMs) {
        ev.start(silent, this.silentSpec, doc.lastReadingAt, null, this.silentMs);
        ev.activate(silent, this.silentSpec, doc.lastReadingAt + this.silentMs);
      }
      if (silent.status === "active") ev.settle(silent, this.silentSpec, reference);
    }
    if (doc.conditions.silent?.status === "ok" && doc.conditions.silent.recorded === 0 && doc.conditions.silent.lastEpisode === null) {
      Reflect.deleteProperty(doc.conditions, "silent"); // keep documents free of never-used conditions
    }
    const features = this.featuresOf(doc, out);
    if (features !== null) this.advanceFeatures(machineId, model, doc, features, this.featureClock(doc, gateway), now, gateway, out);
    out.write = out.write || out.notices.length > 0 || out.recorded.length > 0;
    return out;
  }

  // ------------------------------------------------------------------------------------------- the score

  /**
   * Apply the failure-window score of the machine's completed hour starting at `hour` (a {@link ScoreRequest}),
   * taken at event time `at`. A score of an hour no longer pending (applied already, superseded or dropped) is
   * ignored.
   */
  applyScore(machineId: string, doc: MachineDoc, hour: number, score: number, at: number, now: number, gateway?: GatewayDoc): Outcome {
    const model = this.model(machineId);
    const out = outcome();
    const features = doc.features;
    if (features?.pending?.hour !== hour) return out;
    features.pending = null;
    out.write = true;
    const ev = new Evaluator(this, this.machineSubject(model), out, now, gateway);
    const c = cond(doc, this.scoreSpec.key);
    if (score >= this.scoreThreshold) {
      if (c.status === "ok") ev.start(c, this.scoreSpec, at, score, 0);
      else ev.observe(c, this.scoreSpec, score);
    } else if (c.status === "active" && score < this.scoreThreshold - this.scoreHysteresis) {
      ev.end(c, this.scoreSpec, at, score);
    } else if (c.status === "active") {
      ev.observe(c, this.scoreSpec, score);
    }
    ev.settle(c, this.scoreSpec, at);
    return out;
  }

  /** The machine's event time for its features: its newest reading or state event, or its gateway's watermark. */
  private featureClock(doc: MachineDoc, gateway: GatewayDoc | undefined): number | null {
    return maxOf(maxOf(doc.lastReadingAt, doc.stateAt), Detector.uplinkDown(gateway) ? null : (gateway?.watermark ?? null));
  }

  /** The document's features while scoring is on (created when missing); `null`, and dropped from it, when off. */
  private featuresOf(doc: MachineDoc, out: Outcome): MachineFeatures | null {
    if (!this.scoring) {
      if (doc.features !== undefined) {
        delete doc.features;
        out.write = true;
      }
      return null;
    }
    return (doc.features ??= emptyFeatures());
  }

  /**
   * The accumulator of event time `t`'s hour, opened if needed; `null` for a time in a closed hour. Call
   * {@link closeHour} with `t` first.
   */
  private hourFor(features: MachineFeatures, t: number): FeatureHour | null {
    if (features.closedUntil !== null && t < features.closedUntil) return null;
    const start = hourOf(t);
    features.since ??= t;
    features.hour ??= emptyHour(start, start >= features.since);
    return features.hour.start === start ? features.hour : null;
  }

  /** Count an applied reading (not a duplicate) at `t` into its hour, closing the current hour if `t` passed it. */
  private accumulateReading(model: MachineModel, doc: MachineDoc, features: MachineFeatures, tag: string, quality: Quality, canonical: number | null, t: number, out: Outcome): void {
    this.closeHour(model, doc, features, t, out);
    const hour = this.hourFor(features, t);
    if (hour === null) return; // a late reading of a closed hour
    countSample(hour, t);
    if (quality === "bad") hour.badReadings++;
    // the telemetry column holds the value of every reading that has one, whatever its quality
    if (canonical !== null && model.featureTags.has(tag)) addValue(hour, tag, canonical);
    out.write = true;
  }

  /**
   * Move the features to the machine's event time `clock`: the hours before its hour are closed. The current hour,
   * once `clock` reached its end, is closed (the state holds to the end) and its row becomes the pending one
   * (replacing an older one) when it is worth scoring: accumulated whole, with a telemetry record, and not long past
   * (`clock` still in the next hour).
   */
  private closeHour(model: MachineModel, doc: MachineDoc, features: MachineFeatures, clock: number | null, out: Outcome): void {
    if (clock === null) return;
    features.since ??= clock;
    const passed = hourOf(clock);
    if (features.closedUntil === null || passed > features.closedUntil) {
      features.closedUntil = passed;
      out.write = true;
    }
    const hour = features.hour;
    if (hour === null || clock < hour.start + HOUR_MS) return;
    const end = hour.start + HOUR_MS;
    addFaultTime(hour, doc.state, doc.stateAt, end);
    features.hour = null;
    out.write = true;
    if (!hour.whole || hour.samples === 0 || clock >= end + HOUR_MS) return;
    const values = featureVector(this.config, {
      machineType: model.placement.type.id,
      statistics: hour.stats,
      samples: hour.samples,
      faultSeconds: hour.faultMs / 1000,
      faultEntries: hour.faultEntries,
      badReadings: hour.badReadings,
    });
    features.pending = { hour: hour.start, vector: featureRow(values), claimedAt: null, attempts: 0 };
  }

  /**
   * Move the features to the machine's clock: close the hour it passed, then claim the pending hour for scoring
   * if the clock is live and still in the hour after it (drop it once it is long past or was tried enough).
   */
  private advanceFeatures(machineId: string, model: MachineModel, doc: MachineDoc, features: MachineFeatures, clock: number | null, now: number, gateway: GatewayDoc | undefined, out: Outcome): void {
    if (clock === null) return;
    this.closeHour(model, doc, features, clock, out);
    const pending = features.pending;
    if (pending === null) return;
    const end = pending.hour + HOUR_MS;
    const retryable = pending.claimedAt === null || now - pending.claimedAt >= SCORE_RETRY_MS;
    if (clock >= end + HOUR_MS || (retryable && pending.attempts >= MAX_SCORE_ATTEMPTS)) {
      features.pending = null;
      out.write = true;
      return;
    }
    if (!retryable || !this.isLive(clock, now, gateway)) return;
    pending.claimedAt = now;
    pending.attempts++;
    out.write = true;
    out.scores.push({ machineId, hour: pending.hour, vector: pending.vector, at: Math.max(clock, end) });
  }

  // ------------------------------------------------------------------------------------------- helpers

  private toCanonical(unit: string): (value: number) => number {
    let fn = this.canonicalConverters.get(unit);
    if (fn === undefined) this.canonicalConverters.set(unit, (fn = converter(unit, canonicalUnitOf(unit))));
    return fn;
  }

  private model(machineId: string): MachineModel {
    const m = this.machines.get(machineId);
    if (m === undefined) throw new Error(`machine ${JSON.stringify(machineId)} is not a machine of factory ${this.factoryId}`);
    return m;
  }

  private machineSubject(model: MachineModel): Subject {
    const { machine, line, type, gateway } = model.placement;
    return {
      key: machineKey(machine.id),
      short: `${this.factoryId} ${machine.id}`,
      where: [
        `Factory:   ${this.config.factory.name} (${this.factoryId})`,
        `Line:      ${line.name} (${line.id})`,
        `Machine:   ${machine.name} (${machine.id}, ${type.name})`,
        `Gateway:   ${gateway.id}`,
      ],
      attributes: { factory: this.factoryId, line: line.id, machine: machine.id, gateway: gateway.id },
    };
  }

  private gatewaySubject(gatewayId: string): Subject {
    const gateway = this.config.gateways.find((g) => g.id === gatewayId);
    const machines = listMachines(this.config).filter((p) => p.gateway.id === gatewayId).map((p) => p.machine.id);
    const shown = machines.slice(0, 12).join(", ") + (machines.length > 12 ? `, ... (${machines.length - 12} more)` : "");
    return {
      key: gatewayKey(gatewayId),
      short: `${this.factoryId} gateway ${gatewayId}`,
      where: [
        `Factory:   ${this.config.factory.name} (${this.factoryId})`,
        `Gateway:   ${gateway?.name ?? gatewayId} (${gatewayId})`,
        `Lines:     ${(gateway?.lines ?? []).join(", ")}`,
        `Machines:  ${machines.length} (${shown}); their silence is not alerted one by one while the uplink is down`,
      ],
      attributes: { factory: this.factoryId, gateway: gatewayId },
    };
  }

  private backlogNote(doc: GatewayDoc): string | undefined {
    if (doc.backlogReadings === null || doc.backlogReadings === 0) return undefined;
    return `The gateway reports a backlog of ${doc.backlogReadings} readings (oldest ${formatDuration((doc.backlogAgeSeconds ?? 0) * 1000)}); they are evaluated on their own timestamps: only conditions still active when the data catches up are paged.`;
  }
}

// ---------------------------------------------------------------------------------------------- transitions

/** Moves conditions through their episodes and writes the notices: the paging rule lives here. */
class Evaluator {
  constructor(
    private readonly detector: Detector,
    private readonly subject: Subject,
    private readonly out: Outcome,
    private readonly now: number,
    /** The gateway of the machine (or the gateway itself), for the liveness of its data. */
    private readonly gateway?: GatewayDoc,
  ) {}

  /** ok -> pending (or straight to active when nothing needs to be held). */
  start(c: ConditionState, spec: ConditionSpec, t: number, value: number | null, holdMs: number): void {
    c.status = "pending";
    c.since = t;
    c.activeAt = null;
    c.value = value;
    c.peak = value;
    c.notified = false;
    this.out.write = true;
    if (holdMs <= 0) this.activate(c, spec, t);
  }

  observe(c: ConditionState, spec: ConditionSpec, value: number): void {
    c.value = value;
    c.peak = c.peak === null ? value : worst(spec.worse(c), c.peak, value);
    this.out.write = true;
  }

  /** pending -> active at event time `at`; paged at once when `at` is live. */
  activate(c: ConditionState, spec: ConditionSpec, at: number): void {
    c.status = "active";
    c.activeAt = at;
    this.out.write = true;
    if (this.detector.isLive(at, this.now, this.gateway)) this.raise(c, spec, at, false);
  }

  /** Page an active condition not yet paged once its clock is live (delayed data that caught up). */
  settle(c: ConditionState, spec: ConditionSpec, clock: number): void {
    if (c.status !== "active" || c.notified || !this.detector.isLive(clock, this.now, this.gateway)) return;
    // silence and uplink are judged on arrival, not found in data: no "delayed data" note for them
    const fromData = spec.key !== "silent" && spec.key !== "uplink";
    this.raise(c, spec, clock, fromData && !this.detector.isLive(c.activeAt ?? clock, this.now, this.gateway));
  }

  /** pending/active -> ok at event time `t`. */
  end(c: ConditionState, spec: ConditionSpec, t: number, value: number | null, note?: string): void {
    if (c.status === "active" && c.since !== null && c.activeAt !== null) {
      if (value !== null) this.observe(c, spec, value);
      const episode: Episode = { since: c.since, activeAt: c.activeAt, until: t, peak: c.peak, notified: c.notified };
      if (c.notified) this.clear(c, spec, episode, note);
      else {
        c.recorded++;
        this.out.recorded.push({ subject: this.subject.key, condition: spec.key, episode });
      }
      c.lastEpisode = episode;
    }
    c.status = "ok";
    c.since = null;
    c.activeAt = null;
    c.value = null;
    c.peak = null;
    c.direction = null;
    c.lastViolationAt = null;
    c.notified = false;
    this.out.write = true;
  }

  private raise(c: ConditionState, spec: ConditionSpec, clock: number, late: boolean): void {
    c.notified = true;
    this.out.write = true;
    const since = c.since ?? clock;
    const severity = spec.severity;
    const lines = [
      `${severity.toUpperCase()}: ${spec.short(c)} (${this.subject.short})`,
      "",
      ...this.subject.where,
      `Condition: ${spec.describe(c)}`,
      ...(c.value === null ? [] : [`Value:     ${showValue(c.value, spec.unit)}${c.peak !== null && c.peak !== c.value ? ` (worst ${showValue(c.peak, spec.unit)})` : ""}`]),
      `Since:     ${iso(since)} (active since ${iso(c.activeAt ?? since)}, ${formatDuration(Math.max(0, this.now - since))} ago)`,
      `Severity:  ${severity}`,
      ...(late
        ? [`Note:      found in delayed data (the gateway's backlog); still active at ${iso(clock)}, the newest data of this ${this.subject.key.startsWith("gateway#") ? "gateway" : "machine"}`]
        : []),
    ];
    this.out.notices.push({
      id: `${this.subject.key}/${spec.key}/${since}/raise`,
      event: "raise",
      severity,
      subject: subjectLine(`[${severity.toUpperCase()}] ${this.subject.short}: ${spec.short(c)}`),
      message: lines.join("\n"),
      attributes: { ...this.subject.attributes, condition: spec.key, severity, event: "raise" },
    });
  }

  private clear(c: ConditionState, spec: ConditionSpec, episode: Episode, note: string | undefined): void {
    const lasted = formatDuration(Math.max(0, episode.until - episode.since));
    const reportedLate = !this.detector.isLive(episode.until, this.now, this.gateway);
    const lines = [
      `CLEARED after ${lasted}: ${spec.short(c)} (${this.subject.short})`,
      "",
      ...this.subject.where,
      `Condition: ${spec.describe(c)}`,
      ...(c.value === null ? [] : [`Value:     ${showValue(c.value, spec.unit)} at the end${episode.peak !== null ? ` (worst ${showValue(episode.peak, spec.unit)})` : ""}`]),
      `Since:     ${iso(episode.since)}`,
      `Cleared:   ${iso(episode.until)} (after ${lasted})${reportedLate ? ", reported late: found in delayed data" : ""}`,
      `Severity:  ${spec.severity}`,
      ...(note === undefined ? [] : [`Note:      ${note}`]),
    ];
    this.out.notices.push({
      id: `${this.subject.key}/${spec.key}/${episode.since}/clear`,
      event: "clear",
      severity: spec.severity,
      subject: subjectLine(`[CLEARED] ${this.subject.short}: ${spec.short(c)} after ${lasted}`),
      message: lines.join("\n"),
      attributes: { ...this.subject.attributes, condition: spec.key, severity: spec.severity, event: "clear" },
    });
  }
}

function cond(doc: { conditions: Record<string, ConditionState> }, key: string): ConditionState {
  let c = doc.conditions[key];
  if (c === undefined) doc.conditions[key] = c = emptyCondition();
  return c;
}

function worst(way: ReturnType<ConditionSpec["worse"]>, a: number, b: number): number {
  switch (way) {
    case "higher":
      return Math.max(a, b);
    case "lower":
      return Math.min(a, b);
    case "farther":
      return Math.abs(b) > Math.abs(a) ? b : a;
    case null:
      return b;
  }
}

const QUALITY_RANK: Readonly<Record<Quality, number>> = { good: 0, uncertain: 1, bad: 2 };

/** Event time, then tag; of readings of one tag and timestamp, the enrichment Lambda's choice first. */
function compareReadings(a: { r: Reading; canonical: number | null }, b: { r: Reading; canonical: number | null }): number {
  if (a.r.timestamp !== b.r.timestamp) return a.r.timestamp - b.r.timestamp;
  if (a.r.tag !== b.r.tag) return a.r.tag < b.r.tag ? -1 : 1;
  const q = QUALITY_RANK[a.r.quality] - QUALITY_RANK[b.r.quality];
  if (q !== 0) return q;
  if (a.canonical === null || b.canonical === null) return a.canonical === b.canonical ? 0 : a.canonical === null ? 1 : -1;
  return a.canonical - b.canonical;
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** A number as people read it: at most 4 significant decimals, no exponent for everyday magnitudes. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const rounded = Math.abs(n) >= 1000 ? Math.round(n * 10) / 10 : Number(n.toPrecision(4));
  return String(Object.is(rounded, -0) ? 0 : rounded);
}

function showValue(value: number, unit: string | null): string {
  return unit === null ? fmt(value) : `${fmt(value)} ${unit}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** An SNS subject: ASCII without control characters, shorter than 100 characters. */
export function subjectLine(text: string): string {
  // control and non-ASCII characters are what SNS refuses
  const ascii = text.replace(/[^\x20-\x7e]/g, "?");
  return ascii.length <= MAX_SUBJECT_LENGTH ? ascii : `${ascii.slice(0, MAX_SUBJECT_LENGTH - 3)}...`;
}
