import { strict as assert } from "node:assert";
import { machineCounters, oeeOf, sumCounters, windowsCovering, type MachineState, type MachineStateEvent } from "@smart-factory/sdk";

const T0 = Date.UTC(2026, 10, 23, 6, 0, 0); // a Monday, 06:00 UTC
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;

function ev(at: number, state: MachineState, good = 0, bad = 0): MachineStateEvent {
  return { machineId: "press-01" as MachineStateEvent["machineId"], timestamp: at, clock: "source", state, goodIncrement: good, badIncrement: bad };
}

function near(actual: number | undefined, expected: number): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-12, `${String(actual)} is not ${expected}`);
}

describe("OEE, computed locally (worked examples, hand-computed)", () => {
  const shift = { from: T0, to: T0 + 8 * H };

  it("a normal shift: runs, a fault, a planned break, idle at the end", () => {
    const events = [
      ev(T0 - 10 * MIN, "running"),
      ev(T0 + 1 * H, "fault", 3000, 60),
      ev(T0 + 1.5 * H, "running"),
      ev(T0 + 4 * H, "plannedStop", 8000, 140),
      ev(T0 + 4.5 * H, "running"),
      ev(T0 + 7 * H, "idle", 7000, 100),
    ];
    const c = machineCounters(events, shift, 60); // 60 parts/min: one ideal second per part
    assert.deepEqual(c, {
      runSeconds: 21_600,
      idleSeconds: 3_600,
      faultSeconds: 1_800,
      plannedStopSeconds: 1_800,
      plannedSeconds: 27_000,
      goodCount: 18_000,
      badCount: 300,
      idealSeconds: 18_300,
      goodIdealSeconds: 18_000,
    });
    const r = oeeOf(c);
    near(r.availability, 0.8); // 21600 / 27000
    near(r.performance, 18_300 / 21_600);
    near(r.quality, 18_000 / 18_300);
    near(r.oee, 2 / 3); // 18000 / 27000
    near((r.availability ?? 0) * (r.performance ?? 0) * (r.quality ?? 0), r.oee ?? Number.NaN);
  });

  it("no run time: availability 0, performance and quality no data", () => {
    assert.deepEqual(oeeOf(machineCounters([ev(T0 - MIN, "idle")], shift, 60)), { availability: 0, performance: undefined, quality: undefined, oee: 0 });
  });

  it("running without parts: performance 0, quality no data", () => {
    assert.deepEqual(oeeOf(machineCounters([ev(T0 - MIN, "running")], shift, 60)), { availability: 1, performance: 0, quality: undefined, oee: 0 });
  });

  it("planned stops only: no data at all, not zero", () => {
    assert.deepEqual(oeeOf(machineCounters([ev(T0 - MIN, "plannedStop")], shift, 60)), { availability: undefined, performance: undefined, quality: undefined, oee: undefined });
  });

  it("all faults: availability 0", () => {
    const r = oeeOf(machineCounters([ev(T0 - MIN, "fault"), ev(T0 + H, "fault")], shift, 60));
    assert.deepEqual(r, { availability: 0, performance: undefined, quality: undefined, oee: 0 });
  });

  it("before the first known state nothing counts", () => {
    const c = machineCounters([ev(T0 + 6 * H, "running", 0, 0)], shift, 60);
    assert.equal(c.plannedSeconds, 2 * 3600);
  });

  it("a state holds across a window boundary; a part at a window's end belongs to that window", () => {
    const events = [ev(T0 - 30 * MIN, "running"), ev(T0 + 15 * MIN, "running", 10, 1), ev(T0 + 20 * MIN, "idle", 4, 0)];
    const [first, second] = windowsCovering(T0, T0 + 30 * MIN, 15 * MIN).map((w) => machineCounters(events, w, 60));
    assert.ok(first && second);
    assert.deepEqual([first.runSeconds, first.idleSeconds, first.goodCount, first.badCount], [900, 0, 10, 1]);
    assert.deepEqual([second.runSeconds, second.idleSeconds, second.goodCount, second.badCount], [300, 600, 4, 0]);
    assert.deepEqual(sumCounters([first, second]), machineCounters(events, { from: T0, to: T0 + 30 * MIN }, 60));
  });

  it("a line sums its machines' counters: weighted by planned, run and ideal time, not a mean of ratios", () => {
    const span = { from: T0, to: T0 + 2000 * S };
    // Machine X: 30 parts/min (2 s each), runs 800 s, idles 200 s, planned stop for the rest.
    const x = machineCounters([ev(T0 - S, "running"), ev(T0 + 800 * S, "idle", 300, 20), ev(T0 + 1000 * S, "plannedStop")], span, 30);
    // Machine Y: 120 parts/min (0.5 s each), runs 1000 s, then 1000 s in fault.
    const y = machineCounters([ev(T0 - S, "running"), ev(T0 + 1000 * S, "fault", 1500, 300)], span, 120);
    assert.deepEqual([x.plannedSeconds, x.runSeconds, x.idealSeconds, x.goodIdealSeconds], [1000, 800, 640, 600]);
    assert.deepEqual([y.plannedSeconds, y.runSeconds, y.idealSeconds, y.goodIdealSeconds], [2000, 1000, 900, 750]);
    const line = oeeOf(sumCounters([x, y]));
    near(line.availability, 1800 / 3000);
    near(line.performance, 1540 / 1800);
    near(line.quality, 1350 / 1540);
    near(line.oee, 0.45);
    const meanOfOee = ((oeeOf(x).oee ?? 0) + (oeeOf(y).oee ?? 0)) / 2;
    assert.notEqual(Math.round(meanOfOee * 1e6), Math.round(0.45 * 1e6), "the roll-up is not a mean of the machines' OEE");
  });

  it("rejects an empty span and a non-positive ideal rate", () => {
    assert.throws(() => machineCounters([], { from: T0, to: T0 }, 60), /empty span/);
    assert.throws(() => machineCounters([], shift, 0), /idealRunRate must be greater than 0, got 0/);
  });
});
