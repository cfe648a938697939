/**
 * The local digital twin: what the state rule's IoT SiteWise action writes, and the OEE SiteWise's metrics would
 * compute from it, since the box started.
 *
 * The action puts three values per state message, by property alias (`/sf/<factory>/<line>/<machine>/state`,
 * `goodParts`, `badParts`, line and machine taken from the topic): the state's code and the part increments, at
 * the message's time. An alias that names no machine of the factory fails the action, as SiteWise refuses a value
 * for an alias no asset property has, and so does a time SiteWise does not take (older than 7 days or more than
 * 10 minutes ahead). A second value for the same alias and time replaces the first, so a redelivered message
 * counts once.
 *
 * OEE is the SDK's local computation (`machineCounters`, `sumCounters`, `oeeOf`), with the ideal run rate of the
 * config the twin is given (the box gives it the compressed one). A line and the factory sum their machines'
 * counters, then divide. Counters are additive over time, so each machine keeps a checkpoint: the counters up to
 * the last event older than a minute, to which only the newer events are added; an event at or before the
 * checkpoint (a replayed backlog) drops it and the next computation starts over.
 */
import {
  checkTimestamp,
  fromSiteWiseStateMessage,
  listMachines,
  machineCounters,
  machinePropertyAlias,
  MACHINE_PROPERTIES,
  oeeOf,
  SITEWISE_BOUNDS,
  STATE_CODES,
  sumCounters,
  ZERO_COUNTERS,
  type FactoryConfig,
  type FactoryId,
  type LineId,
  type MachineId,
  type MachineState,
  type MachineStateEvent,
  type OeeCounters,
  type SiteWiseStateMessage,
} from "@smart-factory/sdk";
import type { OeeFigures } from "../contracts";

/** A value of a property as SiteWise stores it: its time (epoch ms) and value. */
export interface PropertyValue {
  readonly time: number;
  readonly value: number;
}

/** A machine's figures since the box started. */
export interface MachineFigures {
  /** The state of the newest event; `unknown` before the first. */
  readonly state: MachineState | "unknown";
  /** When that state began: the first of the newest run of events in it. */
  readonly stateSince: number | null;
  readonly counters: OeeCounters;
  readonly oee: OeeFigures;
}

/** Events newer than this behind the newest are not folded into a checkpoint: they may still be reordered. */
const CHECKPOINT_LAG_MS = 60_000;

interface MachineHistory {
  readonly machineId: string;
  readonly lineId: string;
  readonly idealRunRate: number;
  readonly aliases: { readonly state: string; readonly goodParts: string; readonly badParts: string };
  /** Sorted by timestamp, one per timestamp. */
  readonly events: MachineStateEvent[];
  checkpoint: { at: number; index: number; counters: OeeCounters } | null;
}

/** The ratios with "no data" as `null`. */
export function oeeFigures(counters: OeeCounters): OeeFigures {
  const r = oeeOf(counters);
  return { availability: r.availability ?? null, performance: r.performance ?? null, quality: r.quality ?? null, oee: r.oee ?? null };
}

/** The machines' state histories by alias and their OEE since `startedAt`. */
export class LocalTwin {
  private readonly machines = new Map<string, MachineHistory>();
  /** Alias of the `state` property -> machine. */
  private readonly byAlias = new Map<string, MachineHistory>();
  private stored = 0;

  constructor(
    config: FactoryConfig,
    readonly startedAt: number,
  ) {
    const factoryId = config.factory.id;
    for (const { machine, line } of listMachines(config)) {
      const history: MachineHistory = {
        machineId: machine.id,
        lineId: line.id,
        idealRunRate: machine.idealRunRate,
        aliases: {
          state: machinePropertyAlias(factoryId, line.id, machine.id, MACHINE_PROPERTIES.state),
          goodParts: machinePropertyAlias(factoryId, line.id, machine.id, MACHINE_PROPERTIES.goodParts),
          badParts: machinePropertyAlias(factoryId, line.id, machine.id, MACHINE_PROPERTIES.badParts),
        },
        events: [],
        checkpoint: null,
      };
      this.machines.set(machine.id, history);
      this.byAlias.set(history.aliases.state, history);
    }
  }

  /**
   * The state rule's IoT SiteWise action: the message's three values, under the aliases of the topic's `line` and
   * `machine`, at wall-clock `now` (for SiteWise's time bounds).
   *
   * @throws Error naming the alias or the time when SiteWise would refuse the values (the rule's error action runs).
   */
  putStateMessage(message: SiteWiseStateMessage, topic: { readonly factory: string; readonly line: string; readonly machine: string }, now: number): void {
    // ids from a topic: parseTopic checked their levels, the alias lookup below checks that they name a machine
    const alias = machinePropertyAlias(topic.factory as FactoryId, topic.line as LineId, topic.machine as MachineId, MACHINE_PROPERTIES.state);
    const history = this.byAlias.get(alias);
    if (history === undefined) throw new Error(`no asset property has the alias ${alias}: BatchPutAssetPropertyValue refused the values of ${topic.line}/${topic.machine}`);
    const event = { ...fromSiteWiseStateMessage(message), machineId: history.machineId } as MachineStateEvent;
    const verdict = checkTimestamp(event.timestamp, now, SITEWISE_BOUNDS);
    if (!verdict.ok) throw new Error(`SiteWise refused the values of ${alias} at ${new Date(event.timestamp).toISOString()}: ${verdict.message}`);
    this.insert(history, event);
    this.stored++;
  }

  /** State messages stored (redeliveries included). */
  stateEvents(): number {
    return this.stored;
  }

  /** The values SiteWise holds for `alias` (`state`: the state codes, `goodParts`/`badParts`: the increments), oldest first. */
  propertyValues(alias: string): PropertyValue[] {
    for (const h of this.machines.values()) {
      const pick: ((e: MachineStateEvent) => number) | undefined =
        alias === h.aliases.state ? (e) => STATE_CODES[e.state] : alias === h.aliases.goodParts ? (e) => e.goodIncrement : alias === h.aliases.badParts ? (e) => e.badIncrement : undefined;
      if (pick !== undefined) return h.events.map((e) => ({ time: e.timestamp, value: pick(e) }));
    }
    return [];
  }

  /** A machine's state events as SiteWise holds them, oldest first (one per timestamp). */
  events(machineId: string): readonly MachineStateEvent[] {
    const h = this.machines.get(machineId);
    if (h === undefined) throw new Error(`machine ${JSON.stringify(machineId)} is not a machine of the twin's factory`);
    return [...h.events];
  }

  /** A machine's state and OEE since the box started, at wall-clock `now`. */
  machine(machineId: string, now: number): MachineFigures {
    const h = this.machines.get(machineId);
    if (h === undefined) throw new Error(`machine ${JSON.stringify(machineId)} is not a machine of the twin's factory`);
    const counters = this.countersOf(h, now);
    const latest = h.events.length === 0 ? undefined : h.events[h.events.length - 1];
    let since: number | null = null;
    if (latest !== undefined) {
      since = latest.timestamp;
      for (let i = h.events.length - 2; i >= 0; i--) {
        const e = h.events[i];
        if (e === undefined || e.state !== latest.state) break;
        since = e.timestamp;
      }
    }
    return { state: latest?.state ?? "unknown", stateSince: since, counters, oee: oeeFigures(counters) };
  }

  /** The counters of machines summed, and their ratios. */
  static total(counters: Iterable<OeeCounters>): { counters: OeeCounters; oee: OeeFigures } {
    const sum = sumCounters(counters);
    return { counters: sum, oee: oeeFigures(sum) };
  }

  private insert(h: MachineHistory, event: MachineStateEvent): void {
    const events = h.events;
    const t = event.timestamp;
    let index = events.length;
    // events arrive in order almost always: search from the end
    while (index > 0 && (events[index - 1]?.timestamp ?? -Infinity) > t) index--;
    if (index > 0 && events[index - 1]?.timestamp === t) events[index - 1] = event;
    else events.splice(index, 0, event);
    if (h.checkpoint !== null && t <= h.checkpoint.at) h.checkpoint = null;
  }

  /** Counters over (startedAt, now]: the checkpoint's, plus those of the events after it. */
  private countersOf(h: MachineHistory, now: number): OeeCounters {
    const from = this.startedAt;
    if (now <= from) return ZERO_COUNTERS;
    let base = h.checkpoint;
    if (base === null || base.at > now) base = { at: from, index: this.countAtOrBefore(h, from), counters: ZERO_COUNTERS };
    // move the checkpoint to the newest event old enough not to be reordered any more
    const settledIndex = this.countAtOrBefore(h, Math.min(now, (h.events[h.events.length - 1]?.timestamp ?? from) - CHECKPOINT_LAG_MS));
    const settled = h.events[settledIndex - 1];
    if (settled !== undefined && settled.timestamp > base.at) {
      base = { at: settled.timestamp, index: settledIndex, counters: sumCounters([base.counters, this.after(h, base, settled.timestamp)]) };
      h.checkpoint = base;
    }
    return sumCounters([base.counters, this.after(h, base, now)]);
  }

  /** Counters over (`base.at`, `to`]: the last event at or before `base.at` only sets the state the span starts in. */
  private after(h: MachineHistory, base: { readonly at: number; readonly index: number }, to: number): OeeCounters {
    if (to <= base.at) return ZERO_COUNTERS;
    return machineCounters(h.events.slice(Math.max(0, base.index - 1)), { from: base.at, to }, h.idealRunRate);
  }

  /** How many events are at or before `t`. */
  private countAtOrBefore(h: MachineHistory, t: number): number {
    let lo = 0;
    let hi = h.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((h.events[mid]?.timestamp ?? Infinity) <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
