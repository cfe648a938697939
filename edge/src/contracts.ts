/**
 * The seams between the edge agent's parts: the adapters append what they read to the durable store, the
 * publisher drains the store. Both sides are tested on their own against these interfaces.
 */
import type { Reading, SiteWiseStateMessage } from "@smart-factory/sdk";

/** What the store says after an append: every accepted item is on disk when `append*` returns. */
export interface AppendResult {
  /** Items now stored durably. */
  readonly accepted: number;
  /** Items refused because the store is full and the overflow policy is `rejectNew`. */
  readonly rejected: number;
  /** Oldest items dropped to make room because the overflow policy is `dropOldest`. */
  readonly dropped: number;
}

/**
 * A telemetry batch waiting for its PUBACK. Its sequence and readings are fixed when it is first taken from the
 * store and survive restarts, so a batch sent again after a crash or a lost PUBACK is an exact duplicate (same
 * gateway, same sequence) that the cloud drops.
 */
export interface PendingBatch {
  /** Store-local id, for `ackBatch`. */
  readonly id: number;
  /** The gateway's batch sequence number (increases by one per batch, never reused). */
  readonly sequence: number;
  /** The readings, oldest first, in the order the adapters appended them (order per machine is kept). */
  readonly readings: readonly Reading[];
  /** The encoded payload (`encodeTelemetryBatch`), at most the size the batch was taken with. */
  readonly payload: Uint8Array;
  /** When the oldest reading of the batch was appended (epoch ms). */
  readonly oldestAppendedAt: number;
}

/** A state message waiting for its PUBACK (one message per machine event, on the machine's own topic). */
export interface PendingState {
  readonly id: number;
  readonly lineId: string;
  readonly message: SiteWiseStateMessage;
}

/** How big a store may grow, and what it does when it is full. */
export interface StoreLimits {
  /** Bytes of stored readings and state messages (not counting SQLite overhead). */
  readonly maxBytes: number;
  /** Readings older than this (by append time) are dropped and counted. */
  readonly maxAgeHours: number;
  /** `dropOldest`: keep the newest data; `rejectNew`: keep the oldest. Logged and counted either way. */
  readonly onOverflow: "dropOldest" | "rejectNew";
}

/** Buffer figures for the health message. */
export interface StoreStats {
  readonly readings: number;
  readonly stateMessages: number;
  readonly pendingBatches: number;
  readonly bytes: number;
  /** Append time of the oldest unsent item, or `undefined` when empty. */
  readonly oldestAppendedAt: number | undefined;
  readonly droppedTotal: number;
  readonly rejectedTotal: number;
  readonly deadLetters: number;
  /** The next batch sequence the store will hand out. */
  readonly nextSequence: number;
}

/** The durable store-and-forward buffer of one gateway. */
export interface ReadingStore {
  /** Append readings (already validated) in one transaction; durable on return. */
  appendReadings(readings: readonly Reading[], now?: number): AppendResult;
  /** Append state messages (already validated); durable on return. */
  appendStates(states: readonly { lineId: string; message: SiteWiseStateMessage }[], now?: number): AppendResult;
  /**
   * The oldest batch not yet acknowledged: a batch taken earlier and not acked is returned again, unchanged;
   * otherwise the oldest readings are taken into a new batch whose encoded size is at most `maxBytes`.
   * `undefined` when there is nothing to send.
   */
  nextBatch(maxBytes: number): PendingBatch | undefined;
  /** The batch reached IoT Core (PUBACK): its readings leave the store. */
  ackBatch(id: number): void;
  /** The oldest state messages not yet acknowledged, at most `max`. */
  nextStates(max: number): PendingState[];
  /** These state messages reached IoT Core. */
  ackStates(ids: readonly number[]): void;
  /** Keep an item the agent refused (invalid, skewed) with the reason, for the OT engineer to inspect. */
  deadLetter(kind: string, item: unknown, reason: string, now?: number): void;
  stats(now?: number): StoreStats;
  close(): void;
}
