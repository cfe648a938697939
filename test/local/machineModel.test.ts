/** The simulated machines' behaviour, without a server: determinism, states, parts, telemetry, drift, OEE. */
import assert from "node:assert/strict";
import { listMachines, machineCounters, type FactoryConfig, type MachinePlacement } from "@smart-factory/sdk";
import { oeeFromTruth, truthEvents, type GroundTruth, type MachineTruth } from "../../local/groundTruth";
import { MachineModel, thresholdLimits, type ModelSettings } from "../../local/machineModel";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";

const config = loadFactoryConfigFromStack("factory-a");
const placements = listMachines(config);
const press = placements.find((p) => p.type.id === "servo-press")!;
const START = Date.UTC(2026, 0, 5, 6, 0, 0);
const MINUTE = 60_000;
const SETTINGS: ModelSettings = { seed: 42, speed: 1, randomFaults: true, plannedStops: true, minStateMs: 0 };

function modelOf(placement: MachinePlacement, settings: Partial<ModelSettings> = {}, cfg: FactoryConfig = config): MachineModel {
  return new MachineModel({ machine: placement.machine, type: placement.type, lineId: placement.line.id, limits: thresholdLimits(cfg, placement.type) }, { ...SETTINGS, ...settings }, START);
}

/** Advance a model every `stepMs` until `untilMs` after the start (from `fromMs`), calling `each` after every step. */
function run(model: MachineModel, untilMs: number, stepMs: number, each?: (now: number) => void, fromMs = 0): void {
  for (let now = START + fromMs + stepMs; now <= START + untilMs; now += stepMs) {
    model.advance(now);
    each?.(now);
  }
}

function groundTruthOf(models: readonly MachineModel[], speed: number, at: number): GroundTruth {
  const machines: Record<string, MachineTruth> = {};
  for (const model of models) machines[model.machineId] = model.truth();
  const all = Object.values(machines);
  return { factoryId: "factory-a", seed: SETTINGS.seed, speed, startedAt: START, at, stoppedAt: null, machines, faults: all.flatMap((m) => m.faults), outOfRange: [], malformedInjected: 0 };
}

describe("local machine model", () => {
  it("does exactly the same with the same seed, and something else with another", () => {
    const trace = (seed: number): { truth: MachineTruth; samples: number[] } => {
      const model = modelOf(press, { seed });
      const samples: number[] = [];
      run(model, 8 * 60 * MINUTE, 1000, (now) => samples.push(model.sample("motorTemperature", now)));
      return { truth: model.truth(), samples };
    };
    const a = trace(7);
    assert.deepEqual(trace(7), a);
    assert.ok(a.truth.states.length > 10, `8 hours make many state changes, got ${a.truth.states.length}`);
    assert.notDeepEqual(trace(8).truth.states, a.truth.states);
  });

  it("runs most of the time, idles briefly, and writes the type's first code of each state", () => {
    const totals = { running: 0, idle: 0, fault: 0, plannedStop: 0 };
    const counts = { running: 0, idle: 0, fault: 0, plannedStop: 0 };
    for (const placement of placements) {
      const model = modelOf(placement);
      run(model, 8 * 60 * MINUTE, 5000);
      const end = START + 8 * 60 * MINUTE;
      for (const interval of model.truth().states) {
        totals[interval.state] += (interval.to ?? end) - interval.from;
        counts[interval.state]++;
        assert.equal(interval.code, placement.type.stateCodes[interval.state][0]);
      }
    }
    const all = Object.values(totals).reduce((a, b) => a + b, 0);
    assert.ok(totals.running / all > 0.6 && totals.running / all < 0.95, `running share ${totals.running / all}`);
    assert.ok(counts.fault > 0 && counts.plannedStop > 0 && counts.idle > 0, JSON.stringify(counts));
    assert.ok(totals.idle / counts.idle < totals.running / counts.running, "idle spells are shorter than runs");
    const meanFaultMinutes = totals.fault / counts.fault / MINUTE;
    assert.ok(meanFaultMinutes > 1 && meanFaultMinutes < 10, `faults last a few minutes, got ${meanFaultMinutes}`);
  });

  it("compresses time by the speed: the same states, each lasting 1/speed as long, and parts as fast", () => {
    const slow = modelOf(press, { speed: 1 });
    const fast = modelOf(press, { speed: 10 });
    run(slow, 4 * 60 * MINUTE, 1000);
    run(fast, 24 * MINUTE, 100);
    const s = slow.truth().states;
    const f = fast.truth().states;
    assert.ok(f.length > 5, `${f.length} states in 24 minutes at speed 10`);
    assert.deepEqual(f.map((i) => i.state), s.slice(0, f.length).map((i) => i.state));
    for (let i = 1; i < f.length - 1; i++) {
      // Changes happen on the caller's step (1 s and 100 ms): equal within a step.
      assert.ok(Math.abs((f[i]!.from - START) * 10 - (s[i]!.from - START)) <= 2000, `change ${i}: ${f[i]!.from - START} x 10 vs ${s[i]!.from - START}`);
    }
    const made = (t: MachineTruth): number => (t.parts.at(-1)?.good ?? 0) + (t.parts.at(-1)?.bad ?? 0);
    const slowAtSameStage = modelOf(press, { speed: 1 });
    run(slowAtSameStage, 240 * MINUTE, 1000);
    assert.ok(Math.abs(made(fast.truth()) - made(slowAtSameStage.truth())) <= made(slowAtSameStage.truth()) * 0.02 + 2);
  });

  it("makes parts at the ideal rate x performance while running, with a few percent bad", () => {
    const model = modelOf(press, { randomFaults: false, plannedStops: false });
    let runningMs = 0;
    let last = START;
    run(model, 4 * 60 * MINUTE, 1000, (now) => {
      // The state during the step just made is the one before this advance's change, if any.
      const states = model.truth().states;
      const during = states.length > 1 && states.at(-1)!.from === now ? states.at(-2)! : states.at(-1)!;
      if (during.state === "running") runningMs += now - last;
      last = now;
    });
    const truth = model.truth();
    const final = truth.parts.at(-1)!;
    const expected = (runningMs / MINUTE) * press.machine.idealRunRate * truth.performance;
    assert.ok(Math.abs(final.good + final.bad - expected) <= 1, `${final.good + final.bad} parts, expected ${expected}`);
    assert.ok(truth.performance >= 0.85 && truth.performance <= 0.98);
    const badShare = final.bad / (final.good + final.bad);
    assert.ok(badShare >= 0.005 && badShare <= 0.06, `bad share ${badShare}`);
    assert.ok(truth.parts.every((p, i) => i === 0 || (p.good >= truth.parts[i - 1]!.good && p.bad >= truth.parts[i - 1]!.bad)));
  });

  it("wraps the counter registers at the type's counterRollover", () => {
    const small = { ...press, type: { ...press.type, counterRollover: 50 } };
    const model = modelOf(small);
    let wrapped = false;
    let previous = model.registers().good;
    run(model, 2 * 60 * MINUTE, 1000, () => {
      const { good, bad } = model.registers();
      assert.ok(good < 50 && bad < 50 && good >= 0 && bad >= 0);
      if (good < previous) wrapped = true;
      previous = good;
    });
    const truth = model.truth();
    const made = truth.parts.at(-1)!;
    assert.ok(wrapped, "the good counter went past 50 and wrapped to 0");
    assert.deepEqual(model.registers(), { good: (truth.initialRegisters.good + made.good) % 50, bad: (truth.initialRegisters.bad + made.bad) % 50 });
  });

  it("keeps telemetry within each tag's range, lower when not running, inside the alert limits when no fault is coming", () => {
    const model = modelOf(press, { randomFaults: false });
    const byState = new Map<string, number[]>();
    run(model, 4 * 60 * MINUTE, 1000, (now) => {
      for (const spec of press.type.tags) {
        const value = model.sample(spec.name, now);
        assert.ok(value >= spec.min && value <= spec.max, `${spec.name} ${value} outside [${spec.min}, ${spec.max}] ${spec.unit}`);
        if (spec.name === "motorTemperature") assert.ok(value < 95, `motor temperature ${value} degC reaches the press-motor-hot threshold without a fault coming`);
        if (spec.name === "hydraulicPressure") assert.ok(value > 180, `hydraulic pressure ${value} bar under press-pressure-low`);
        const key = `${spec.name}/${model.state()}`;
        const list = byState.get(key) ?? [];
        list.push(value);
        byState.set(key, list);
      }
    });
    const mean = (key: string): number => {
      const values = byState.get(key) ?? [];
      return values.reduce((a, b) => a + b, 0) / values.length;
    };
    assert.ok(mean("ramForce/idle") < mean("ramForce/running") / 5);
    assert.ok(mean("vibration/idle") < mean("vibration/running"));
    assert.ok(mean("motorTemperature/idle") < mean("motorTemperature/running"));
    const strokeRate = mean("strokeRate/running");
    assert.ok(Math.abs(strokeRate - press.machine.idealRunRate * model.performance) < 1, `stroke rate ${strokeRate} per min`);
  });

  it("drifts temperature and vibration up over the minutes before a random fault, past the alert thresholds", () => {
    // Find the first random fault of a press, then replay the same seed watching the tags before it.
    const scout = modelOf(press);
    run(scout, 12 * 60 * MINUTE, 1000);
    const fault = scout.truth().faults.find((f) => !f.injected);
    assert.ok(fault !== undefined, "a random fault within 12 hours");
    assert.ok(fault.driftFrom !== null && fault.from - fault.driftFrom >= 2 * MINUTE, "the drift starts minutes before the fault");
    const model = modelOf(press);
    const before: number[] = [];
    const late: number[] = [];
    const lateVibration: number[] = [];
    run(model, fault.from - START, 1000, (now) => {
      if (now >= fault.from) return;
      const temperature = model.sample("motorTemperature", now);
      const vibration = model.sample("vibration", now);
      if (model.state() !== "running") return;
      if (now < fault.driftFrom! && now > fault.driftFrom! - 2 * MINUTE) before.push(temperature);
      if (now > fault.from - 20_000) {
        late.push(temperature);
        lateVibration.push(vibration);
      }
    });
    const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
    assert.ok(late.length > 0);
    assert.ok(mean(late) > 95, `motor temperature just before the fault ${mean(late)} degC, above press-motor-hot (95)`);
    assert.ok(mean(lateVibration) > 11.2, `vibration just before the fault ${mean(lateVibration)} mm/s, above press-vibration (11.2)`);
    if (before.length > 0) assert.ok(mean(before) < 95);
    assert.equal(model.truth().states.at(-1)!.state, "fault");
  });

  it("has no random faults when they are off and no planned stops when those are", () => {
    for (const placement of placements.slice(0, 6)) {
      const model = modelOf(placement, { randomFaults: false, plannedStops: false });
      run(model, 12 * 60 * MINUTE, 5000);
      const truth = model.truth();
      assert.deepEqual(truth.faults, []);
      assert.deepEqual(new Set(truth.states.map((s) => s.state)), new Set(["running", "idle"]));
    }
  });

  it("puts a machine in fault at once on injection, for the given time, with no warning drift", () => {
    const model = modelOf(press, { randomFaults: false });
    run(model, 10 * MINUTE, 1000);
    const at = START + 10 * MINUTE + 500;
    model.injectFault(at, 30_000);
    assert.equal(model.state(), "fault");
    assert.equal(model.stateCode(), press.type.stateCodes.fault[0]);
    run(model, 12 * MINUTE, 1000, undefined, 10 * MINUTE);
    // It ends at the first advance 30 s after it began.
    const end = START + 10 * MINUTE + 31_000;
    const truth = model.truth();
    assert.deepEqual(truth.faults, [{ machineId: press.machine.id, from: at, to: end, injected: true, driftFrom: null }]);
    assert.ok(truth.states.some((s) => s.state === "fault" && s.from === at && s.to === end));
    assert.notEqual(model.state(), "fault");
  });

  it("gives an OEE between 0 and 1 that matches machineCounters on the events and the machines' traits", () => {
    const speed = 5;
    const models = placements.map((p) => modelOf(p, { speed }));
    for (const model of models) run(model, 60 * MINUTE, 500);
    const truth = groundTruthOf(models, speed, START + 60 * MINUTE);
    const span = { from: START, to: START + 60 * MINUTE };
    const oee = oeeFromTruth(truth, span);
    for (const model of models) {
      const machine = truth.machines[model.machineId]!;
      const { counters, ratios } = oee.machines[model.machineId]!;
      assert.deepEqual(counters, machineCounters(truthEvents(machine), span, machine.idealRunRate * speed));
      assert.ok(ratios.oee !== undefined && ratios.oee > 0 && ratios.oee < 1, `${model.machineId} OEE ${ratios.oee}`);
      assert.ok(Math.abs(counters.plannedSeconds + counters.plannedStopSeconds - 3600) < 1e-6, "every second of the hour is in some state");
      if (counters.runSeconds > 60) assert.ok(Math.abs(ratios.performance! - model.performance) < 0.03, `${model.machineId} performance ${ratios.performance} vs ${model.performance}`);
    }
    assert.ok(oee.factory.ratios.oee! > 0 && oee.factory.ratios.oee! < 1);
    assert.deepEqual(Object.keys(oee.lines).sort(), config.lines.map((l) => l.id).sort());
  });
});
