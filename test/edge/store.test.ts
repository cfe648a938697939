import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  decodeTelemetryBatch,
  type FactoryId,
  type GatewayId,
  type LineId,
  type MachineId,
  type Reading,
  type SiteWiseStateMessage,
  type TagName,
} from "@smart-factory/sdk";
import type { PendingBatch, StoreLimits } from "../../edge/src/contracts";
import { openStore, type EdgeStore, type OverflowEvent, type StoreOptions } from "../../edge/src/store";
import { realisticReadings } from "../helpers/readings";

const FACTORY = "factory-a" as FactoryId;
const GATEWAY = "gw-cnc" as GatewayId;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 25, 8);
const ROOMY: StoreLimits = { maxBytes: 1024 ** 3, maxAgeHours: 24, onOverflow: "dropOldest" };

let dir: string;
let opened: EdgeStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edge-store-"));
  opened = [];
});

afterEach(() => {
  for (const store of opened) store.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Open a store in the test's directory; closed after the test (closing twice is harmless). Its clock stands at `T0`
 * unless a test gives its own: the readings here are stamped around `T0`, and the store expires readings by the age
 * its clock gives them, so the real clock would make every test a date bomb.
 */
function open(overrides: Partial<StoreOptions> = {}): EdgeStore {
  const store = openStore({ path: join(dir, "store.db"), factoryId: FACTORY, gatewayId: GATEWAY, limits: ROOMY, now: () => T0, ...overrides });
  opened.push(store);
  return store;
}

/** Take, check and ack every batch; returns the batches in order. */
function drain(store: EdgeStore, maxBytes: number, gatewayId = GATEWAY): PendingBatch[] {
  const batches: PendingBatch[] = [];
  for (let batch = store.nextBatch(maxBytes); batch !== undefined; batch = store.nextBatch(maxBytes)) {
    assert.ok(batch.payload.length <= maxBytes, `batch ${batch.sequence}: ${batch.payload.length} > ${maxBytes} bytes`);
    const decoded = decodeTelemetryBatch(batch.payload);
    assert.deepEqual(decoded.readings, batch.readings);
    assert.equal(decoded.sequence, batch.sequence);
    assert.equal(decoded.factoryId, FACTORY);
    assert.equal(decoded.gatewayId, gatewayId);
    batches.push(batch);
    store.ackBatch(batch.id);
  }
  return batches;
}

function numbered(from: number, count: number, machines = 3): Reading[] {
  return Array.from({ length: count }, (_, i) => ({
    machineId: `m-${(from + i) % machines}` as MachineId,
    tag: "spindleSpeed" as TagName,
    timestamp: T0 + from + i,
    clock: "source" as const,
    value: from + i,
    unit: "rpm" as const,
    quality: "good" as const,
  }));
}

const values = (readings: readonly Reading[]): (number | null)[] => readings.map((r) => r.value);

function stateMessage(machine: string, sequence: number): { lineId: LineId; message: SiteWiseStateMessage } {
  return {
    lineId: "line-1" as LineId,
    message: {
      schemaVersion: 1,
      factoryId: FACTORY,
      gatewayId: GATEWAY,
      lineId: "line-1" as LineId,
      machineId: machine as MachineId,
      sequence,
      stateCode: 1,
      goodIncrement: sequence,
      badIncrement: 0,
      timeInSeconds: Math.floor(T0 / 1000) + sequence,
      offsetInNanos: 0,
      clock: "source",
    },
  };
}

describe("edge store", () => {
  it("round-trips readings of several machines in order, in batches within maxBytes, with consecutive sequences", () => {
    const readings = realisticReadings(5000, { machines: 7 });
    let store = open();
    for (let i = 0; i < 3000; i += 1000) {
      assert.deepEqual(store.appendReadings(readings.slice(i, i + 1000)), { accepted: 1000, rejected: 0, dropped: 0 });
    }
    assert.equal(store.stats().readings, 3000);
    const first = drain(store, 2000);
    assert.ok(first.length > 1, "several batches");
    store.close();

    store = open();
    store.appendReadings(readings.slice(3000));
    const second = drain(store, 4096);
    const batches = [...first, ...second];
    batches.forEach((b, i) => {
      assert.equal(b.sequence, i + 1, "sequences start at 1, increase by one, continue after reopen");
    });
    const sent = batches.flatMap((b) => b.readings);
    assert.deepEqual(sent, readings, "every reading once, in append order");
    for (const machine of new Set(readings.map((r) => r.machineId))) {
      assert.deepEqual(
        sent.filter((r) => r.machineId === machine),
        readings.filter((r) => r.machineId === machine),
        `order of ${machine}`,
      );
    }
    const stats = store.stats();
    assert.equal(stats.readings, 0);
    assert.equal(stats.bytes, 0);
    assert.equal(stats.pendingBatches, 0);
    assert.equal(stats.oldestAppendedAt, undefined);
    assert.equal(stats.nextSequence, batches.length + 1);
  });

  it("returns a taken but unacked batch again, identical, also after close and reopen", () => {
    let store = open({ now: () => T0 });
    store.appendReadings(numbered(0, 500));
    const taken = store.nextBatch(1000);
    assert.ok(taken);
    store.appendReadings(numbered(500, 10));
    const again = store.nextBatch(64 * 1024);
    assert.ok(again);
    assert.equal(again.id, taken.id);
    assert.equal(again.sequence, taken.sequence);
    assert.ok(Buffer.from(again.payload).equals(Buffer.from(taken.payload)));
    store.close();

    store = open({ now: () => T0 + 60_000 });
    const afterRestart = store.nextBatch(200);
    assert.ok(afterRestart);
    assert.equal(afterRestart.id, taken.id);
    assert.equal(afterRestart.sequence, taken.sequence);
    assert.ok(Buffer.from(afterRestart.payload).equals(Buffer.from(taken.payload)), "same payload bytes");
    assert.deepEqual(afterRestart.readings, taken.readings);
    assert.equal(afterRestart.oldestAppendedAt, T0);
    assert.equal(store.stats().pendingBatches, 1);
    store.ackBatch(taken.id);
    store.ackBatch(taken.id); // a second PUBACK is harmless
    const next = store.nextBatch(64 * 1024);
    assert.ok(next);
    assert.equal(next.sequence, taken.sequence + 1);
    assert.equal(next.readings[0]?.value, (taken.readings[taken.readings.length - 1]?.value as number) + 1);
  });

  describe("keeping a machine's readings of one timestamp together (one Timestream record each)", () => {
    /** `tags` readings of machine `machine` at `timestamp`. */
    const group = (machine: string, timestamp: number, tags: readonly string[]): Reading[] =>
      tags.map((tag, i) => ({ machineId: machine as MachineId, tag: tag as TagName, timestamp, clock: "source" as const, value: i, unit: "rpm" as const, quality: "good" as const }));
    const keys = (b: PendingBatch): string[] => [...new Set(b.readings.map((r) => `${r.machineId}@${r.timestamp - T0}`))];

    it("holds readings back until they settled, so that a timestamp's later readings still join them", () => {
      let now = T0;
      const store = open({ settleMs: 1500, now: () => now });
      store.appendReadings(group("m-1", T0, ["a", "b"]), now);
      now += 1000;
      assert.equal(store.nextBatch(64 * 1024), undefined, "nothing is settled yet");
      // the slower subscription's reading of the same scan arrives a second later
      store.appendReadings(group("m-1", T0, ["c"]), now);
      now += 600;
      // the first two settled; the third has not, and it shares their timestamp: none goes yet
      assert.equal(store.nextBatch(64 * 1024), undefined);
      now += 1000;
      const batch = store.nextBatch(64 * 1024);
      assert.ok(batch);
      assert.deepEqual(batch.readings.map((r) => r.tag), ["a", "b", "c"]);
    });

    it("a settled timestamp goes while a newer one waits", () => {
      let now = T0;
      const store = open({ settleMs: 1500, now: () => now });
      store.appendReadings(group("m-1", T0, ["a", "b"]), now);
      now += 2000;
      store.appendReadings(group("m-1", T0 + 2000, ["a", "b"]), now);
      const batch = store.nextBatch(64 * 1024);
      assert.ok(batch);
      assert.deepEqual(keys(batch), ["m-1@0"]);
      store.ackBatch(batch.id);
      assert.equal(store.nextBatch(64 * 1024), undefined);
    });

    it("a full batch ends before a timestamp it would split; the group goes whole in the next", () => {
      const store = open();
      const readings = [...group("m-1", T0, ["a", "b", "c", "d"]), ...group("m-2", T0, ["a", "b", "c", "d"])];
      for (let i = 0; i < 40; i++) readings.push(...group(`m-${3 + i}`, T0 + 7, ["a", "b", "c", "d", "e", "f"]));
      store.appendReadings(readings, T0);
      const batches = drain(store, 400);
      assert.ok(batches.length > 2, `${batches.length} batches`);
      const seen = new Map<string, number>();
      for (const b of batches) for (const key of keys(b)) seen.set(key, (seen.get(key) ?? 0) + 1);
      for (const [key, count] of seen) assert.equal(count, 1, `${key} is in ${count} batches`);
      assert.equal(batches.reduce((n, b) => n + b.readings.length, 0), readings.length, "every reading leaves once");
    });

    it("a backlog older than the settle time goes at once", () => {
      let now = T0;
      const store = open({ settleMs: 5000, now: () => now });
      store.appendReadings(numbered(0, 500), now);
      now += 60_000;
      assert.equal(drain(store, 64 * 1024).reduce((n, b) => n + b.readings.length, 0), 500);
    });

    it("refuses a negative settle time, naming it", () => {
      assert.throws(() => open({ settleMs: -1 }), /settleMs: expected a number of milliseconds >= 0, got -1/);
    });
  });

  describe("overflow", () => {
    const readingBytes = Buffer.byteLength(JSON.stringify(numbered(100, 1)[0]));

    it("dropOldest by bytes: drops the oldest unclaimed readings, never a pending batch's, counts and reports them", () => {
      const events: OverflowEvent[] = [];
      const limits: StoreLimits = { maxBytes: readingBytes * 100, maxAgeHours: 24, onOverflow: "dropOldest" };
      const store = open({ limits, onOverflow: (e) => events.push(e), now: () => T0 });
      assert.equal(store.appendReadings(numbered(100, 100)).accepted, 100);
      const batch = store.nextBatch(300); // claims the oldest few
      assert.ok(batch);
      const claimed = batch.readings.length;
      assert.ok(claimed > 0 && claimed < 50);

      const result = store.appendReadings(numbered(200, 30));
      assert.deepEqual(result, { accepted: 30, rejected: 0, dropped: 30 });
      assert.equal(events.length, 1);
      assert.deepEqual(
        { kind: events[0]?.kind, action: events[0]?.action, count: events[0]?.count, reason: events[0]?.reason, policy: events[0]?.policy },
        { kind: "reading", action: "dropped", count: 30, reason: "bytes", policy: "dropOldest" },
      );
      assert.match(events[0]?.message ?? "", /dropped 30 readings/);
      assert.equal(store.stats().droppedTotal, 30);
      assert.ok(store.stats().bytes <= limits.maxBytes);

      // More than the whole store: everything unclaimed goes, then the oldest incoming; the batch stays intact.
      const big = store.appendReadings(numbered(300, 120));
      // Room for 100 readings, `claimed` of them pinned by the batch: all 100 - claimed unclaimed ones go, then
      // the oldest incoming ones until the newest 100 - claimed fit.
      assert.deepEqual(big, { accepted: 100 - claimed, rejected: 0, dropped: 120 });
      assert.equal(store.stats().droppedTotal, 30 + big.dropped);
      assert.equal(events.reduce((n, e) => n + e.count, 0), store.stats().droppedTotal);
      const same = store.nextBatch(300);
      assert.ok(same && Buffer.from(same.payload).equals(Buffer.from(batch.payload)));
      assert.deepEqual(same.readings, batch.readings);
      store.ackBatch(batch.id);
      const rest = values(drain(store, 4096).flatMap((b) => b.readings));
      assert.deepEqual(rest, values(numbered(420 - rest.length, rest.length)), "the newest readings survive, in order");
      assert.equal(store.stats().readings, 0);
    });

    it("rejectNew by bytes: keeps the oldest, refuses what does not fit, counts and reports it", () => {
      const events: OverflowEvent[] = [];
      const limits: StoreLimits = { maxBytes: readingBytes * 100, maxAgeHours: 24, onOverflow: "rejectNew" };
      const store = open({ limits, onOverflow: (e) => events.push(e) });
      assert.deepEqual(store.appendReadings(numbered(100, 90)), { accepted: 90, rejected: 0, dropped: 0 });
      assert.deepEqual(store.appendReadings(numbered(190, 25)), { accepted: 10, rejected: 15, dropped: 0 });
      assert.deepEqual(store.appendStates([stateMessage("m-1", 1)]), { accepted: 0, rejected: 1, dropped: 0 });
      assert.deepEqual(
        events.map((e) => [e.kind, e.action, e.count, e.reason, e.policy]),
        [
          ["reading", "rejected", 15, "bytes", "rejectNew"],
          ["state", "rejected", 1, "bytes", "rejectNew"],
        ],
      );
      assert.equal(store.stats().rejectedTotal, 16);
      assert.equal(store.stats().droppedTotal, 0);
      assert.deepEqual(values(drain(store, 4096).flatMap((b) => b.readings)), values(numbered(100, 100)));
      assert.equal(store.appendReadings(numbered(200, 5)).accepted, 5, "room again once sent");
    });

    for (const policy of ["dropOldest", "rejectNew"] as const) {
      it(`${policy} by age: readings older than maxAgeHours are dropped (not a pending batch's), counted and reported`, () => {
        const events: OverflowEvent[] = [];
        let now = T0;
        const limits: StoreLimits = { maxBytes: 1024 ** 2, maxAgeHours: 2, onOverflow: policy };
        let store = open({ limits, onOverflow: (e) => events.push(e), now: () => now });
        store.appendReadings(numbered(0, 40));
        const batch = store.nextBatch(200);
        assert.ok(batch);
        now = T0 + HOUR;
        store.appendReadings(numbered(40, 10));
        store.close();

        now = T0 + 2 * HOUR + 1;
        store = open({ limits, onOverflow: (e) => events.push(e), now: () => now });
        const result = store.appendReadings(numbered(50, 5));
        const expired = 40 - batch.readings.length;
        assert.deepEqual(result, { accepted: 5, rejected: 0, dropped: expired });
        assert.deepEqual(
          events.map((e) => [e.kind, e.action, e.count, e.reason, e.policy]),
          [["reading", "dropped", expired, "age", policy]],
        );
        assert.equal(store.stats().droppedTotal, expired);
        assert.equal(store.stats().oldestAppendedAt, T0, "the pending batch's readings are still there");

        store.ackBatch(batch.id);
        now = T0 + 3 * HOUR + 1; // the readings appended at T0 + 1h expire when the next batch is cut
        const rest = drain(store, 4096).flatMap((b) => b.readings);
        assert.deepEqual(values(rest), values(numbered(50, 5)));
        assert.equal(store.stats().droppedTotal, expired + 10);
        assert.equal(events.reduce((n, e) => n + e.count, 0), expired + 10);
      });
    }

    it("without a listener, overflows are logged, not silent", () => {
      const warnings: unknown[] = [];
      const original = console.warn;
      console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
      try {
        const store = open({ limits: { maxBytes: readingBytes * 2, maxAgeHours: 1, onOverflow: "rejectNew" } });
        store.appendReadings(numbered(100, 3));
      } finally {
        console.warn = original;
      }
      assert.equal(warnings.length, 1);
      assert.match(String(warnings[0]), /rejected 1 reading: the store reached maxBytes/);
    });
  });

  it("keeps state messages FIFO until acked, across restarts", () => {
    let store = open();
    const states = [stateMessage("m-1", 1), stateMessage("m-2", 2), stateMessage("m-1", 3)];
    assert.equal(store.appendStates(states).accepted, 3);
    const first = store.nextStates(2);
    assert.deepEqual(first.map((s) => s.message), states.slice(0, 2).map((s) => s.message));
    assert.equal(first[0]?.lineId, "line-1");
    store.ackStates(first.map((s) => s.id));
    store.close();
    store = open();
    assert.equal(store.stats().stateMessages, 1);
    const rest = store.nextStates(10);
    assert.deepEqual(rest.map((s) => s.message), [states[2]?.message]);
    store.ackStates(rest.map((s) => s.id));
    assert.deepEqual(store.nextStates(10), []);
    assert.equal(store.stats().bytes, 0);
  });

  it("dead-letters a reading that can never fit instead of wedging the queue, and keeps dead letters with their reason", () => {
    let store = open({ now: () => T0 });
    const huge: Reading = {
      ...(numbered(1, 1)[0] as Reading),
      machineId: "m-very-long-machine-name-0123456" as MachineId,
      tag: "anExtremelyLongTagNameThatTheGatewayReportsForThisSensor" as TagName,
    };
    store.appendReadings([...numbered(0, 1), huge, ...numbered(2, 3)]);
    const first = store.nextBatch(128);
    assert.ok(first);
    store.ackBatch(first.id);
    const rest = drain(store, 128);
    assert.deepEqual(values([...first.readings, ...rest.flatMap((b) => b.readings)]), [0, 2, 3, 4]);
    store.deadLetter("stateEvent", { machineId: "m-9", state: "exploded" }, "unknown state", T0 + 5);
    store.deadLetter("weird", { big: 10n }, "not JSON");
    assert.equal(store.stats().deadLetters, 3);
    store.close();

    store = open();
    assert.equal(store.stats().deadLetters, 3);
    const letters = store.listDeadLetters();
    assert.equal(letters[0]?.kind, "reading");
    assert.deepEqual(JSON.parse(letters[0].item), huge);
    assert.match(letters[0].reason, /does not fit in a batch of 128 bytes/);
    assert.deepEqual(
      letters.slice(1).map((l) => [l.kind, l.reason, l.at]),
      [
        ["stateEvent", "unknown state", T0 + 5],
        ["weird", "not JSON", T0],
      ],
    );
    assert.throws(() => store.nextBatch(16), RangeError);
  });

  it("refuses a store file of another gateway, and one written by a newer schema", () => {
    open().close();
    assert.throws(() => open({ gatewayId: "gw-other" as GatewayId }), /belongs to gateway "factory-a\/gw-cnc"/);
    const raw = new Database(join(dir, "store.db"));
    raw.prepare("UPDATE schema_version SET version = 99").run();
    raw.close();
    assert.throws(() => open(), /schema version 99 is newer/);
  });

  it("appends 1,000 readings per transaction quickly (measured, not asserted)", () => {
    const store = open();
    const readings = realisticReadings(1000);
    const rounds = 30;
    const started = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) store.appendReadings(readings);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const perSecond = Math.round((rounds * readings.length) / seconds);
    console.log(`      store: ${perSecond} readings appended/s (${rounds} appends of 1000, synchronous=FULL)`);
    const drainStart = process.hrtime.bigint();
    const batches = drain(store, 128 * 1024);
    const drainSeconds = Number(process.hrtime.bigint() - drainStart) / 1e9;
    console.log(`      store: drained ${rounds * 1000} readings in ${batches.length} batches at ${Math.round((rounds * 1000) / drainSeconds)} readings/s`);
    assert.equal(store.stats().readings, 0);
  });

  it("loses nothing and duplicates nothing when the writer is killed with SIGKILL mid-stream", async () => {
    const path = join(dir, "killed.db");
    const child = spawn(
      process.execPath,
      ["--conditions=@smart-factory/source", "--import", "tsx", join(__dirname, "fixtures", "storeWriter.ts"), path, "37"],
      { cwd: join(__dirname, "..", ".."), stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => {
        resolve(signal);
      }));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        // Kill once a few hundred appends have returned, at whatever point the child happens to be.
        if (out.split("\n").length > 300) resolve();
      });
      child.on("exit", () => {
        reject(new Error(`writer exited early: ${err}`));
      });
    });
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");

    const lines = out.split("\n");
    lines.pop(); // an unterminated last line was not (known to be) reported
    const reported = lines.map(Number);
    const lastReported = reported[reported.length - 1] as number;
    assert.ok(reported.length >= 300 && reported.every((v, i) => v === 37 * (i + 1) - 1));

    const store = openStore({ path, factoryId: FACTORY, gatewayId: "gw-kill" as GatewayId, limits: ROOMY });
    opened.push(store);
    const stored = values(drain(store, 128 * 1024, "gw-kill" as GatewayId).flatMap((b) => b.readings)) as number[];
    assert.ok(stored.length > lastReported, `every reported reading is there (${stored.length} > ${lastReported})`);
    assert.equal(stored.length % 37, 0, "appends are all or nothing");
    stored.forEach((v, i) => {
      assert.equal(v, i, "each value exactly once, in order");
    });
    console.log(`      store: child reported ${lastReported + 1} readings before SIGKILL; ${stored.length} found`);
  });
});
