/**
 * Where every reading and state event the adapters produce enters the agent: checked with the SDK's codecs and
 * the factory's inventory (the same `ReadingValidator` the cloud uses, with the timestamp policy), then appended
 * to the durable store in one transaction. A refused item is dead-lettered locally with its reason and counted;
 * the agent keeps running. Nothing is dropped without a trace.
 */
import {
  check,
  checkTimestamp,
  formatIssues,
  Reading,
  ReadingValidator,
  SiteWiseStateMessage,
  stateEventBounds,
  type TimestampBounds,
} from "@smart-factory/sdk";
import type { GatewayPlan } from "./config";
import type { ReadingStore } from "./contracts";

/** Figures of the intake, for the health message. */
export interface IntakeCounters {
  readonly acceptedReadings: number;
  readonly acceptedStates: number;
  /** Items refused by validation (dead-lettered). */
  readonly refused: number;
  /** Items the store refused (full, overflow policy `rejectNew`). */
  readonly rejectedByStore: number;
  /** Items the store dropped to make room (overflow policy `dropOldest`). */
  readonly droppedByStore: number;
  /** Latest reading time per machine (epoch ms): a machine whose time stops moving is stale. */
  readonly lastValueAt: ReadonlyMap<string, number>;
}

/** Validates and buffers what the adapters read. */
export class Intake {
  private readonly validator: ReadingValidator;
  private readonly stateBounds: TimestampBounds;
  private readonly lineOfMachine: ReadonlyMap<string, string>;
  private acceptedReadings = 0;
  private acceptedStates = 0;
  private refused = 0;
  private rejectedByStore = 0;
  private droppedByStore = 0;
  private readonly lastValueAt = new Map<string, number>();

  constructor(
    private readonly plan: GatewayPlan,
    private readonly store: ReadingStore,
    private readonly now: () => number = Date.now,
  ) {
    this.validator = new ReadingValidator(plan.config.factory);
    this.stateBounds = stateEventBounds(plan.config.factory.telemetry);
    this.lineOfMachine = new Map(plan.machines.map((m) => [m.machine.id as string, m.line.id as string]));
  }

  /** Check and buffer candidate readings from `source` (e.g. `opcua:press-01`, `mqtt:sensors/pl1/press-01/vibration`). */
  readings(candidates: readonly unknown[], source: string): { accepted: number; refused: number } {
    const now = this.now();
    const good: Reading[] = [];
    let refused = 0;
    for (const candidate of candidates) {
      const decoded = check(Reading, candidate);
      if (!decoded.ok) {
        this.refuse("reading", candidate, `${source}: ${formatIssues(decoded.issues)}`);
        refused++;
        continue;
      }
      const verdict = this.validator.check(decoded.value, this.plan.gateway.id, now);
      if (!verdict.ok) {
        this.refuse("reading", candidate, `${source}: ${verdict.field} ${JSON.stringify(verdict.value)}: ${verdict.message}`);
        refused++;
        continue;
      }
      good.push(decoded.value);
    }
    if (good.length > 0) {
      const result = this.store.appendReadings(good, now);
      this.acceptedReadings += result.accepted;
      this.rejectedByStore += result.rejected;
      this.droppedByStore += result.dropped;
      for (const r of good) this.lastValueAt.set(r.machineId, Math.max(this.lastValueAt.get(r.machineId) ?? 0, r.timestamp));
      return { accepted: result.accepted, refused };
    }
    return { accepted: 0, refused };
  }

  /** Check and buffer candidate state messages (one per machine event). */
  states(candidates: readonly unknown[], source: string): { accepted: number; refused: number } {
    const now = this.now();
    const good: { lineId: string; message: SiteWiseStateMessage }[] = [];
    let refused = 0;
    for (const candidate of candidates) {
      const decoded = check(SiteWiseStateMessage, candidate);
      if (!decoded.ok) {
        this.refuse("state", candidate, `${source}: ${formatIssues(decoded.issues)}`);
        refused++;
        continue;
      }
      const message = decoded.value;
      const lineId = this.lineOfMachine.get(message.machineId);
      const time = message.timeInSeconds * 1000 + message.offsetInNanos / 1_000_000;
      const verdict = checkTimestamp(time, now, this.stateBounds);
      if (lineId === undefined || lineId !== message.lineId || message.gatewayId !== this.plan.gateway.id) {
        this.refuse("state", candidate, `${source}: machineId ${JSON.stringify(message.machineId)} on line ${JSON.stringify(message.lineId)} is not served by gateway ${this.plan.gateway.id}`);
        refused++;
      } else if (!verdict.ok) {
        this.refuse("state", candidate, `${source}: timestamp: ${verdict.message}`);
        refused++;
      } else {
        good.push({ lineId, message });
      }
    }
    if (good.length === 0) return { accepted: 0, refused };
    const result = this.store.appendStates(good, now);
    this.acceptedStates += result.accepted;
    this.rejectedByStore += result.rejected;
    this.droppedByStore += result.dropped;
    return { accepted: result.accepted, refused };
  }

  /** Dead-letter something an adapter could not even turn into a candidate (bad JSON, unknown topic). */
  refuse(kind: string, item: unknown, reason: string): void {
    this.refused++;
    this.store.deadLetter(kind, item, reason, this.now());
  }

  counters(): IntakeCounters {
    return {
      acceptedReadings: this.acceptedReadings,
      acceptedStates: this.acceptedStates,
      refused: this.refused,
      rejectedByStore: this.rejectedByStore,
      droppedByStore: this.droppedByStore,
      lastValueAt: new Map(this.lastValueAt),
    };
  }
}
