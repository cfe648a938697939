/**
 * An in-memory {@link ReadingStore} for tests of the store's consumers (the publisher). It follows the contract of
 * `edge/src/contracts.ts`: the pending batch is returned again, unchanged, until acked; its sequence and readings
 * are fixed when it is first taken; batches are cut with the SDK's `BatchSizer` so their encoding fits `maxBytes`.
 * Nothing is durable, and there are no limits.
 */
import {
  BatchSizer,
  encodeTelemetryBatch,
  type FactoryId,
  type GatewayId,
  type Reading,
  type SiteWiseStateMessage,
} from "@smart-factory/sdk";
import type { AppendResult, PendingBatch, PendingState, ReadingStore, StoreStats } from "../../edge/src/contracts";

interface Stored<T> {
  readonly item: T;
  readonly appendedAt: number;
}

/** A {@link ReadingStore} in memory, with counters for assertions. */
export class MemoryStore implements ReadingStore {
  private readings: Stored<Reading>[] = [];
  private head = 0;
  private pending: PendingBatch | undefined;
  private states: Stored<PendingState>[] = [];
  private nextId = 1;
  private sequence = 0;
  private stateId = 1;
  /** Every batch taken, in order (for assertions). */
  readonly taken: PendingBatch[] = [];
  /** Ids passed to `ackBatch`, in order. */
  readonly acked: number[] = [];
  /** Called when a new batch is taken (not when the pending one is returned again). */
  onTake: ((batch: PendingBatch) => void) | undefined;

  constructor(
    private readonly factoryId: FactoryId,
    private readonly gatewayId: GatewayId,
  ) {}

  appendReadings(readings: readonly Reading[], now = Date.now()): AppendResult {
    for (const item of readings) this.readings.push({ item, appendedAt: now });
    return { accepted: readings.length, rejected: 0, dropped: 0 };
  }

  appendStates(states: readonly { lineId: string; message: SiteWiseStateMessage }[], now = Date.now()): AppendResult {
    for (const s of states) this.states.push({ item: { id: this.stateId++, lineId: s.lineId, message: s.message }, appendedAt: now });
    return { accepted: states.length, rejected: 0, dropped: 0 };
  }

  nextBatch(maxBytes: number): PendingBatch | undefined {
    if (this.pending !== undefined) return this.pending;
    if (this.head >= this.readings.length) return undefined;
    const sentAt = Date.now();
    const sizer = new BatchSizer({ factoryId: this.factoryId, gatewayId: this.gatewayId, sequence: this.sequence, sentAt }, maxBytes);
    let end = this.head;
    while (end < this.readings.length && sizer.tryAdd((this.readings[end] as Stored<Reading>).item)) end++;
    if (end === this.head) throw new Error(`a single reading does not fit in ${maxBytes} bytes`);
    const slice = this.readings.slice(this.head, end);
    const readings = slice.map((s) => s.item);
    const payload = encodeTelemetryBatch({
      schemaVersion: 1,
      factoryId: this.factoryId,
      gatewayId: this.gatewayId,
      sequence: this.sequence,
      sentAt,
      readings,
    });
    this.pending = { id: this.nextId++, sequence: this.sequence++, readings, payload, oldestAppendedAt: (slice[0] as Stored<Reading>).appendedAt };
    this.head = end;
    this.taken.push(this.pending);
    this.onTake?.(this.pending);
    return this.pending;
  }

  ackBatch(id: number): void {
    if (this.pending?.id !== id) throw new Error(`ackBatch(${id}): the pending batch is ${String(this.pending?.id)}`);
    this.acked.push(id);
    this.pending = undefined;
    if (this.head > 10_000) {
      this.readings = this.readings.slice(this.head);
      this.head = 0;
    }
  }

  nextStates(max: number): PendingState[] {
    return this.states.slice(0, max).map((s) => s.item);
  }

  ackStates(ids: readonly number[]): void {
    const gone = new Set(ids);
    this.states = this.states.filter((s) => !gone.has(s.item.id));
  }

  deadLetter(): void {
    // not needed by the publisher's tests
  }

  stats(): StoreStats {
    const unsent = this.readings.length - this.head + (this.pending?.readings.length ?? 0);
    const oldest = Math.min(
      this.pending?.oldestAppendedAt ?? Infinity,
      this.readings[this.head]?.appendedAt ?? Infinity,
      this.states[0]?.appendedAt ?? Infinity,
    );
    return {
      readings: unsent,
      stateMessages: this.states.length,
      pendingBatches: this.pending === undefined ? 0 : 1,
      bytes: unsent * 40 + this.states.length * 200,
      oldestAppendedAt: Number.isFinite(oldest) ? oldest : undefined,
      droppedTotal: 0,
      rejectedTotal: 0,
      deadLetters: 0,
      nextSequence: this.sequence,
    };
  }

  close(): void {
    // nothing to release
  }
}
