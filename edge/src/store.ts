/**
 * The edge agent's durable store-and-forward buffer: one SQLite file per gateway (better-sqlite3, synchronous
 * API, WAL journal). The adapters append what they read; the publisher takes batches, publishes them and acks
 * them on PUBACK. Everything the gateway must not lose or repeat differently after a crash lives in this file:
 * the readings and state messages, the batch being sent (with its sequence and exact payload bytes), the next
 * sequence number, the overflow counters and the dead letters.
 *
 * Design notes:
 * - A reading's row id (AUTOINCREMENT, so ids are never reused even after the newest row is deleted) is its
 *   append order; batches take readings strictly in id order, so the order of each machine's readings is kept.
 * - A pending batch claims a contiguous id range of readings (`first_reading_id..last_reading_id`): it is always
 *   cut from the oldest unclaimed readings, and the store hands out a new batch only when no batch is pending, so
 *   "claimed" is simply `id <= max(last_reading_id)` and claiming costs no per-reading write.
 * - Byte and row counters are derived from the database when the store opens and updated only after a
 *   transaction commits, so they can never drift from what is on disk across restarts.
 */
import Database from "better-sqlite3";
import {
  BatchSizer,
  encodeTelemetryBatch,
  MAX_MESSAGE_BYTES,
  TELEMETRY_BATCH_SCHEMA_VERSION,
  type FactoryId,
  type GatewayId,
  type Reading,
  type SiteWiseStateMessage,
} from "@smart-factory/sdk";
import type {
  AppendResult,
  PendingBatch,
  PendingState,
  ReadingStore,
  StoreLimits,
  StoreStats,
} from "./contracts";

/**
 * The smallest `maxBytes` {@link ReadingStore.nextBatch} accepts. Below it even a small reading cannot fit, and
 * the store would dead-letter every reading it holds one by one instead of waiting for a sane size.
 */
export const MIN_BATCH_BYTES = 128;

/** The schema version this code writes; a file written by a newer agent is refused rather than misread. */
export const STORE_SCHEMA_VERSION = 1;

/**
 * One overflow, as reported to {@link StoreOptions.onOverflow}: every reading or state message the store does
 * not keep is counted in the stats and reported here, so the agent can log it and put it in its health message.
 */
export interface OverflowEvent {
  /** What was not kept. */
  readonly kind: "reading" | "state";
  /** `dropped`: stored (or being appended) items removed to make room or because they expired; `rejected`: new items refused. */
  readonly action: "dropped" | "rejected";
  /** How many items. */
  readonly count: number;
  /** `bytes`: the store reached `limits.maxBytes`; `age`: readings older than `limits.maxAgeHours`. */
  readonly reason: "bytes" | "age";
  /** The policy in force (`limits.onOverflow`). */
  readonly policy: StoreLimits["onOverflow"];
  /** When it happened (epoch ms). */
  readonly at: number;
  /** A sentence for the log. */
  readonly message: string;
}

/** How to open a gateway's store. */
export interface StoreOptions {
  /** The SQLite file (created with its directory's permissions if missing). */
  readonly path: string;
  /** Written into every batch envelope; a store file belongs to one gateway and refuses to open for another. */
  readonly factoryId: FactoryId;
  readonly gatewayId: GatewayId;
  readonly limits: StoreLimits;
  /** Told about every overflow; without it overflows are written to `console.warn` (never silent). */
  readonly onOverflow?: (event: OverflowEvent) => void;
  /** The clock (epoch ms), for append times, `sentAt` and expiry; injectable for tests. */
  readonly now?: () => number;
  /**
   * How long a reading waits before it may join a batch (default 0), so that the readings of a machine with the
   * same timestamp, which OPC UA delivers in the notifications of different subscriptions up to a publishing
   * interval apart, leave together: the cloud builds one Timestream record per machine and timestamp, and a
   * record split over two batches would conflict with itself. Set it to the gateway's longest publishing interval
   * and a margin. A backlog is older than this and goes at once.
   */
  readonly settleMs?: number;
}

/** An item the agent refused, kept for the OT engineer. */
export interface DeadLetter {
  readonly id: number;
  readonly kind: string;
  /** The item as JSON text (or a description when it has no JSON form). */
  readonly item: string;
  readonly reason: string;
  readonly at: number;
}

/** The store as {@link openStore} returns it: the {@link ReadingStore} contract plus inspection of dead letters. */
export interface EdgeStore extends ReadingStore {
  /** The oldest dead letters, at most `max`, for diagnostics. */
  listDeadLetters(max?: number): DeadLetter[];
}

/**
 * Schema migrations; migration `i` takes the file from version `i` to `i + 1`. Append only: a released
 * migration is never edited, because gateways in the field already ran it.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
  CREATE TABLE readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    appended_at INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TABLE state_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    appended_at INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    line_id TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TABLE pending_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sequence INTEGER NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    first_reading_id INTEGER NOT NULL,
    last_reading_id INTEGER NOT NULL,
    reading_count INTEGER NOT NULL,
    oldest_appended_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  INSERT INTO meta (key, value) VALUES ('next_sequence', 1), ('dropped_total', 0), ('rejected_total', 0);
  `,
];

interface ReadingRow {
  readonly id: number;
  readonly appended_at: number;
  readonly bytes: number;
  readonly body: string;
}

interface BatchRow {
  readonly id: number;
  readonly sequence: number;
  readonly payload: Buffer;
  readonly first_reading_id: number;
  readonly last_reading_id: number;
  readonly oldest_appended_at: number;
}

interface StateRow {
  readonly id: number;
  readonly line_id: string;
  readonly bytes: number;
  readonly body: string;
}

/** Rows fetched at a time when walking the oldest readings (bounded memory, few round trips). */
const CHUNK = 512;

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** JSON of anything, even what JSON cannot represent: a dead letter must never fail to be written. */
function describe(item: unknown): string {
  try {
    const json = JSON.stringify(item) as string | undefined;
    if (json !== undefined) return json;
  } catch {
    // fall through: cycles, BigInt
  }
  return JSON.stringify({ unserializable: String(item) });
}

/** What an append reports: the items it stored, and every overflow of its transaction (expiry included). */
function appendResult(delta: { readonly events: readonly OverflowEvent[] }, accepted: number): AppendResult {
  const sum = (action: OverflowEvent["action"]): number =>
    delta.events.filter((e) => e.action === action).reduce((total, e) => total + e.count, 0);
  return { accepted, rejected: sum("rejected"), dropped: sum("dropped") };
}

function migrate(db: Database.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare<[], { version: number }>("SELECT version FROM schema_version").get();
  let version = row?.version ?? 0;
  if (row === undefined) db.prepare("INSERT INTO schema_version (version) VALUES (0)").run();
  if (version > MIGRATIONS.length) {
    throw new Error(
      `store schema version ${version} is newer than this agent's (${MIGRATIONS.length}): refusing to open it rather than misread it`,
    );
  }
  const setVersion = db.prepare<[number]>("UPDATE schema_version SET version = ?");
  for (; version < MIGRATIONS.length; version++) {
    const sql = MIGRATIONS[version] as string;
    const to = version + 1;
    db.transaction(() => {
      db.exec(sql);
      setVersion.run(to);
    }).immediate();
  }
}

/**
 * Open (creating or migrating) the store of one gateway.
 *
 * Durability: WAL journal with `synchronous = FULL`. With WAL, `NORMAL` already survives a crash of the agent
 * (SIGKILL, OOM), but on power loss — routine on a factory floor — it may lose the last commits, which would break
 * the promise that an accepted reading is on disk when `append*` returns and, worse, could forget a sequence
 * number already published (the cloud would then drop the next batch as a duplicate). `FULL` fsyncs the WAL at
 * every commit; the cost is one fsync per append call, which is why callers append in batches (one transaction
 * per call), not reading by reading.
 *
 * @throws when the file belongs to another gateway or was written by a newer schema.
 */
export function openStore(options: StoreOptions): EdgeStore {
  const { limits } = options;
  if (!(limits.maxBytes > 0) || !(limits.maxAgeHours > 0)) {
    throw new RangeError(`store limits must be positive (maxBytes ${limits.maxBytes}, maxAgeHours ${limits.maxAgeHours})`);
  }
  const clock = options.now ?? Date.now;
  const settleMs = options.settleMs ?? 0;
  if (!(Number.isFinite(settleMs) && settleMs >= 0)) throw new RangeError(`settleMs: expected a number of milliseconds >= 0, got ${String(options.settleMs)}`);
  const report =
    options.onOverflow ??
    ((event: OverflowEvent) => {
      console.warn(`[store] ${event.message}`);
    });
  const maxAgeMs = limits.maxAgeHours * 3_600_000;

  const db = new Database(options.path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    // Another process (a diagnostic tool) may hold the lock briefly: wait instead of failing an append.
    db.pragma("busy_timeout = 5000");
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }

  // ------------------------------------------------------------------------------------------ statements
  const getMeta = db.prepare<[string], { value: unknown }>("SELECT value FROM meta WHERE key = ?");
  const setMeta = db.prepare<[string, number | string]>(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  );
  const addMeta = db.prepare<[number, string]>("UPDATE meta SET value = value + ? WHERE key = ?");

  const insertReading = db.prepare<[number, number, string]>(
    "INSERT INTO readings (appended_at, bytes, body) VALUES (?, ?, ?)",
  );
  const claimedUpto = db.prepare<[], { upto: number }>(
    "SELECT COALESCE(MAX(last_reading_id), 0) AS upto FROM pending_batches",
  );
  const unclaimedChunk = db.prepare<[number, number], ReadingRow>(
    "SELECT id, appended_at, bytes, body FROM readings WHERE id > ? ORDER BY id LIMIT ?",
  );
  const deleteReadingRange = db.prepare<[number, number]>("DELETE FROM readings WHERE id BETWEEN ? AND ?");
  const deleteReading = db.prepare<[number]>("DELETE FROM readings WHERE id = ?");
  const readingsInRange = db.prepare<[number, number], { body: string }>(
    "SELECT body FROM readings WHERE id BETWEEN ? AND ? ORDER BY id",
  );
  const readingTotals = db.prepare<[], { n: number; bytes: number }>(
    "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM readings",
  );
  const rangeTotals = db.prepare<[number, number], { n: number; bytes: number }>(
    "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM readings WHERE id BETWEEN ? AND ?",
  );
  const oldestReading = db.prepare<[], { at: number }>("SELECT appended_at AS at FROM readings ORDER BY id LIMIT 1");

  const insertState = db.prepare<[number, number, string, string]>(
    "INSERT INTO state_messages (appended_at, bytes, line_id, body) VALUES (?, ?, ?, ?)",
  );
  const oldestStates = db.prepare<[number], StateRow>(
    "SELECT id, line_id, bytes, body FROM state_messages ORDER BY id LIMIT ?",
  );
  const stateBytesById = db.prepare<[number], { bytes: number }>("SELECT bytes FROM state_messages WHERE id = ?");
  const deleteState = db.prepare<[number]>("DELETE FROM state_messages WHERE id = ?");
  const stateTotals = db.prepare<[], { n: number; bytes: number }>(
    "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM state_messages",
  );
  const oldestState = db.prepare<[], { at: number }>(
    "SELECT appended_at AS at FROM state_messages ORDER BY id LIMIT 1",
  );

  const oldestBatch = db.prepare<[], BatchRow>(
    "SELECT id, sequence, payload, first_reading_id, last_reading_id, oldest_appended_at FROM pending_batches ORDER BY id LIMIT 1",
  );
  const batchById = db.prepare<[number], BatchRow>(
    "SELECT id, sequence, payload, first_reading_id, last_reading_id, oldest_appended_at FROM pending_batches WHERE id = ?",
  );
  const insertBatch = db.prepare<[number, Buffer, number, number, number, number, number]>(
    `INSERT INTO pending_batches (sequence, payload, first_reading_id, last_reading_id, reading_count, oldest_appended_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const deleteBatch = db.prepare<[number]>("DELETE FROM pending_batches WHERE id = ?");
  const countBatches = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM pending_batches");

  const insertDeadLetter = db.prepare<[string, string, string, number]>(
    "INSERT INTO dead_letters (kind, item, reason, at) VALUES (?, ?, ?, ?)",
  );
  const countDeadLetters = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM dead_letters");
  const listDeadLetters = db.prepare<[number], DeadLetter>(
    "SELECT id, kind, item, reason, at FROM dead_letters ORDER BY id LIMIT ?",
  );

  const metaNumber = (key: string): number => {
    const value = getMeta.get(key)?.value;
    if (typeof value !== "number") throw new Error(`store meta ${key} is missing or not a number`);
    return value;
  };

  // A store file holds one gateway's sequence numbers and payloads: opening it for another would publish
  // batches under the wrong identity (and the cloud would reject or mis-deduplicate them).
  const identity = `${options.factoryId}/${options.gatewayId}`;
  const stored = getMeta.get("gateway")?.value;
  if (stored === undefined) setMeta.run("gateway", identity);
  else if (stored !== identity) {
    db.close();
    throw new Error(`store ${options.path} belongs to gateway ${JSON.stringify(stored)}, not ${identity}`);
  }

  // ------------------------------------------------------------------------------------------ counters
  // Derived from the database at open; updated only after a commit (see `commit`).
  const totals = { readings: 0, readingBytes: 0, states: 0, stateBytes: 0, deadLetters: 0 };
  {
    const r = readingTotals.get();
    const s = stateTotals.get();
    totals.readings = r?.n ?? 0;
    totals.readingBytes = r?.bytes ?? 0;
    totals.states = s?.n ?? 0;
    totals.stateBytes = s?.bytes ?? 0;
    totals.deadLetters = countDeadLetters.get()?.n ?? 0;
  }

  /** Changes made inside one transaction: applied to the counters and reported only once it has committed. */
  interface Delta {
    readings: number;
    readingBytes: number;
    states: number;
    stateBytes: number;
    deadLetters: number;
    events: OverflowEvent[];
  }
  const emptyDelta = (): Delta => ({ readings: 0, readingBytes: 0, states: 0, stateBytes: 0, deadLetters: 0, events: [] });

  /** Run `body` in one IMMEDIATE transaction; apply its delta to the counters and report its events after commit. */
  function commit<T>(body: (delta: Delta) => T): T {
    const delta = emptyDelta();
    const result = db.transaction(() => body(delta)).immediate();
    totals.readings += delta.readings;
    totals.readingBytes += delta.readingBytes;
    totals.states += delta.states;
    totals.stateBytes += delta.stateBytes;
    totals.deadLetters += delta.deadLetters;
    for (const event of delta.events) {
      try {
        report(event);
      } catch (error) {
        // A failing listener must not make a committed append look failed (the caller would append it again).
        console.error("[store] onOverflow listener threw", error);
      }
    }
    return result;
  }

  function overflow(delta: Delta, kind: OverflowEvent["kind"], action: OverflowEvent["action"], count: number, reason: OverflowEvent["reason"], at: number): void {
    if (count === 0) return;
    addMeta.run(count, action === "dropped" ? "dropped_total" : "rejected_total");
    const why =
      reason === "age"
        ? `older than maxAgeHours ${limits.maxAgeHours}`
        : `the store reached maxBytes ${limits.maxBytes}`;
    delta.events.push({
      kind,
      action,
      count,
      reason,
      policy: limits.onOverflow,
      at,
      message: `${action} ${count} ${kind}${count === 1 ? "" : "s"}: ${why} (policy ${limits.onOverflow})`,
    });
  }

  const usedBytes = (delta: Delta): number => totals.readingBytes + delta.readingBytes + totals.stateBytes + delta.stateBytes;

  /**
   * Delete the oldest unclaimed readings: while `shouldDrop(row)` holds, or until `bytesWanted` bytes are freed.
   * Readings inside a pending batch are never touched (its payload is fixed and may already be in flight).
   * Returns how many rows and bytes were deleted.
   */
  function dropOldestReadings(delta: Delta, bytesWanted: number, shouldDrop: (row: ReadingRow) => boolean): { count: number; bytes: number } {
    const from = claimedUpto.get()?.upto ?? 0;
    let after = from;
    let lastDropped = -1;
    let count = 0;
    let bytes = 0;
    for (;;) {
      const rows = unclaimedChunk.all(after, CHUNK);
      let stop = rows.length < CHUNK;
      for (const row of rows) {
        if (bytes >= bytesWanted || !shouldDrop(row)) {
          stop = true;
          break;
        }
        lastDropped = row.id;
        count++;
        bytes += row.bytes;
      }
      const last = rows[rows.length - 1];
      if (stop || last === undefined) break;
      after = last.id;
    }
    if (count > 0) {
      deleteReadingRange.run(from + 1, lastDropped);
      delta.readings -= count;
      delta.readingBytes -= bytes;
    }
    return { count, bytes };
  }

  /** Drop unclaimed readings appended before `now - maxAgeHours` (oldest first: append order is kept). */
  function expire(delta: Delta, now: number): void {
    const cutoff = now - maxAgeMs;
    const { count } = dropOldestReadings(delta, Number.POSITIVE_INFINITY, (row) => row.appended_at < cutoff);
    overflow(delta, "reading", "dropped", count, "age", now);
  }

  /** Free `needed` bytes by dropping oldest unclaimed readings; returns the bytes still missing. */
  function makeRoom(delta: Delta, needed: number, now: number): number {
    if (needed <= 0) return 0;
    const { count, bytes } = dropOldestReadings(delta, needed, () => true);
    overflow(delta, "reading", "dropped", count, "bytes", now);
    return Math.max(0, needed - bytes);
  }

  /**
   * Which of the incoming items (sizes in order) to keep under the byte limit, applying the policy to what is
   * already stored. Returns the index of the first kept item and the index past the last kept one.
   */
  function admit(delta: Delta, sizes: readonly number[], kind: OverflowEvent["kind"], now: number): { start: number; end: number } {
    const incoming = sizes.reduce((a, b) => a + b, 0);
    let room = limits.maxBytes - usedBytes(delta);
    if (incoming <= room) return { start: 0, end: sizes.length };
    if (limits.onOverflow === "rejectNew") {
      // Keep the oldest data: accept the leading items that fit, refuse the rest (appends stay in order).
      let end = 0;
      while (end < sizes.length && (sizes[end] as number) <= room) room -= sizes[end++] as number;
      overflow(delta, kind, "rejected", sizes.length - end, "bytes", now);
      return { start: 0, end };
    }
    // dropOldest: keep the newest data. First the oldest unclaimed readings go (state messages, the inputs of
    // OEE, are worth more than a few seconds of telemetry)...
    let missing = makeRoom(delta, incoming - room, now);
    if (missing > 0 && kind === "state") {
      // ...then, for incoming state messages, the oldest stored state messages...
      let dropped = 0;
      for (const row of oldestStates.all(CHUNK)) {
        if (missing <= 0) break;
        deleteState.run(row.id);
        delta.states--;
        delta.stateBytes -= row.bytes;
        missing -= row.bytes;
        dropped++;
      }
      overflow(delta, "state", "dropped", dropped, "bytes", now);
    }
    // ...and last the oldest of the incoming items themselves.
    let start = 0;
    while (missing > 0 && start < sizes.length) missing -= sizes[start++] as number;
    overflow(delta, kind, "dropped", start, "bytes", now);
    return { start, end: sizes.length };
  }

  function rowsToReadings(rows: readonly { body: string }[]): Reading[] {
    return rows.map((row) => JSON.parse(row.body) as Reading);
  }

  function toPendingBatch(row: BatchRow, readings: readonly Reading[]): PendingBatch {
    const payload = new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength);
    return { id: row.id, sequence: row.sequence, readings, payload, oldestAppendedAt: row.oldest_appended_at };
  }

  function deadLetterIn(delta: Delta, kind: string, item: unknown, reason: string, at: number): void {
    insertDeadLetter.run(kind, describe(item), reason, at);
    delta.deadLetters++;
  }

  // ------------------------------------------------------------------------------------------ the store
  return {
    appendReadings(readings, now = clock()) {
      if (readings.length === 0) return { accepted: 0, rejected: 0, dropped: 0 };
      const bodies = readings.map((r) => JSON.stringify(r));
      const sizes = bodies.map(utf8Bytes);
      return commit((delta): AppendResult => {
        expire(delta, now);
        const { start, end } = admit(delta, sizes, "reading", now);
        for (let i = start; i < end; i++) {
          insertReading.run(now, sizes[i] as number, bodies[i] as string);
        }
        delta.readings += end - start;
        delta.readingBytes += sizes.slice(start, end).reduce((a, b) => a + b, 0);
        return appendResult(delta, end - start);
      });
    },

    appendStates(states, now = clock()) {
      if (states.length === 0) return { accepted: 0, rejected: 0, dropped: 0 };
      const bodies = states.map((s) => JSON.stringify(s.message));
      const sizes = bodies.map((body, i) => utf8Bytes(body) + utf8Bytes((states[i] as { lineId: string }).lineId));
      return commit((delta): AppendResult => {
        expire(delta, now);
        const { start, end } = admit(delta, sizes, "state", now);
        for (let i = start; i < end; i++) {
          const state = states[i] as { lineId: string };
          insertState.run(now, sizes[i] as number, state.lineId, bodies[i] as string);
        }
        delta.states += end - start;
        delta.stateBytes += sizes.slice(start, end).reduce((a, b) => a + b, 0);
        return appendResult(delta, end - start);
      });
    },

    nextBatch(maxBytes) {
      /**
       * How many of `readings` the batch keeps so that no machine-and-timestamp group is split at its end: the
       * readings after the stop that arrived within a settle window (or a second) of the stop belong to groups
       * that must not be cut; the batch ends before the first taken member of any of them. When the batch stopped
       * because it was full and would be left empty, it keeps everything (a group larger than a batch cannot be
       * kept whole); when it stopped at readings not settled yet, it may be empty: they settle soon.
       */
      const groupBoundary = (readings: readonly Reading[], stop: ReadingRow, full: boolean): number => {
        const window = Math.max(settleMs, 1000);
        const open = new Set<string>();
        let from = stop.id - 1;
        for (let done = false; !done; ) {
          const rows = unclaimedChunk.all(from, CHUNK);
          for (const row of rows) {
            if (row.appended_at > stop.appended_at + window) {
              done = true;
              break;
            }
            const r = JSON.parse(row.body) as Reading;
            open.add(`${r.machineId}@${r.timestamp}`);
            from = row.id;
          }
          if (rows.length < CHUNK) break;
        }
        const cut = readings.findIndex((r) => open.has(`${r.machineId}@${r.timestamp}`));
        if (cut < 0) return readings.length;
        return cut === 0 && full ? readings.length : cut;
      };
      if (!(maxBytes >= MIN_BATCH_BYTES)) {
        throw new RangeError(`nextBatch(maxBytes = ${maxBytes}): at least ${MIN_BATCH_BYTES} bytes`);
      }
      const limit = Math.min(Math.floor(maxBytes), MAX_MESSAGE_BYTES);
      const now = clock();
      return commit((delta): PendingBatch | undefined => {
        // A batch taken earlier and not acked goes again byte for byte: a re-send is then an exact duplicate
        // (same sequence) that the cloud drops. It may be larger than a smaller `maxBytes` asked for now.
        const pending = oldestBatch.get();
        if (pending !== undefined) {
          return toPendingBatch(pending, rowsToReadings(readingsInRange.all(pending.first_reading_id, pending.last_reading_id)));
        }
        expire(delta, now);
        const sequence = metaNumber("next_sequence");
        const sizer = new BatchSizer({ factoryId: options.factoryId, gatewayId: options.gatewayId, sequence, sentAt: now }, limit);
        const taken: ReadingRow[] = [];
        const readings: Reading[] = [];
        let after = claimedUpto.get()?.upto ?? 0;
        const settledBy = now - settleMs;
        /** The first reading left out, where the batch stops (too full, or not settled yet). */
        let stoppedAt: ReadingRow | undefined;
        let stoppedFull = false;
        for (let full = false; !full; ) {
          const rows = unclaimedChunk.all(after, CHUNK);
          for (const row of rows) {
            if (row.appended_at > settledBy) {
              stoppedAt = row;
              full = true;
              break;
            }
            after = row.id;
            const reading = JSON.parse(row.body) as Reading;
            let fits: boolean;
            let problem: string | undefined;
            try {
              fits = sizer.tryAdd(reading);
            } catch (error) {
              fits = false;
              problem = `cannot be encoded: ${(error as Error).message}`;
            }
            if (fits) {
              taken.push(row);
              readings.push(reading);
              continue;
            }
            if (problem === undefined && sizer.count > 0) {
              full = true; // the batch is full: this reading starts the next one
              stoppedAt = row;
              stoppedFull = true;
              break;
            }
            // Alone in an empty batch and still too big (or not encodable): it can never be sent, and left in
            // place it would block every reading behind it. Keep it as a dead letter and go on.
            deadLetterIn(delta, "reading", reading, problem ?? `does not fit in a batch of ${limit} bytes`, now);
            deleteReading.run(row.id);
            delta.readings--;
            delta.readingBytes -= row.bytes;
          }
          if (rows.length < CHUNK) break;
        }
        if (stoppedAt !== undefined) {
          const keep = groupBoundary(readings, stoppedAt, stoppedFull);
          taken.length = keep;
          readings.length = keep;
        }
        const first = taken[0];
        const last = taken[taken.length - 1];
        if (first === undefined || last === undefined) return undefined;
        const payload = encodeTelemetryBatch({
          schemaVersion: TELEMETRY_BATCH_SCHEMA_VERSION,
          factoryId: options.factoryId,
          gatewayId: options.gatewayId,
          sequence,
          sentAt: now,
          readings,
        });
        // BatchSizer bounds the uncompressed size and compression is used only when smaller; check anyway,
        // since a payload over the limit would be refused by IoT Core forever.
        if (payload.length > limit) throw new Error(`encoded batch of ${payload.length} bytes exceeds ${limit}`);
        const info = insertBatch.run(sequence, Buffer.from(payload), first.id, last.id, taken.length, first.appended_at, now);
        setMeta.run("next_sequence", sequence + 1);
        return { id: Number(info.lastInsertRowid), sequence, readings, payload, oldestAppendedAt: first.appended_at };
      });
    },

    ackBatch(id) {
      commit((delta) => {
        // Acking an unknown id (a second PUBACK for a batch already acked) does nothing.
        const batch = batchById.get(id);
        if (batch === undefined) return;
        const removed = rangeTotals.get(batch.first_reading_id, batch.last_reading_id);
        deleteReadingRange.run(batch.first_reading_id, batch.last_reading_id);
        deleteBatch.run(id);
        delta.readings -= removed?.n ?? 0;
        delta.readingBytes -= removed?.bytes ?? 0;
      });
    },

    nextStates(max) {
      if (max <= 0) return [];
      return oldestStates.all(Math.floor(max)).map(
        (row): PendingState => ({
          id: row.id,
          lineId: row.line_id,
          message: JSON.parse(row.body) as SiteWiseStateMessage,
        }),
      );
    },

    ackStates(ids) {
      if (ids.length === 0) return;
      commit((delta) => {
        for (const id of ids) {
          const row = stateBytesById.get(id);
          if (row === undefined) continue;
          deleteState.run(id);
          delta.states--;
          delta.stateBytes -= row.bytes;
        }
      });
    },

    deadLetter(kind, item, reason, now = clock()) {
      commit((delta) => {
        deadLetterIn(delta, kind, item, reason, now);
      });
    },

    listDeadLetters(max = 100) {
      return listDeadLetters.all(max);
    },

    stats(): StoreStats {
      const oldest = [oldestReading.get()?.at, oldestState.get()?.at].filter((at): at is number => at !== undefined);
      return {
        readings: totals.readings,
        stateMessages: totals.states,
        pendingBatches: countBatches.get()?.n ?? 0,
        bytes: totals.readingBytes + totals.stateBytes,
        oldestAppendedAt: oldest.length === 0 ? undefined : Math.min(...oldest),
        droppedTotal: metaNumber("dropped_total"),
        rejectedTotal: metaNumber("rejected_total"),
        deadLetters: totals.deadLetters,
        nextSequence: metaNumber("next_sequence"),
      };
    },

    close() {
      if (!db.open) return;
      // Fold the WAL into the main file so a closed store is one self-contained file (backups, copies).
      db.pragma("wal_checkpoint(TRUNCATE)");
      db.close();
    },
  };
}
