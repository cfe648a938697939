import { strict as assert } from "node:assert";
import {
  checkSiteWiseLimits,
  decode,
  factoryModelDefinition,
  FactoryConfig,
  hierarchyLogicalId,
  lineModelDefinition,
  lineModelKey,
  MACHINE_PROPERTIES,
  machineCounters,
  machineModelDefinition,
  machineModelKey,
  OEE_COUNTER_KEYS,
  OEE_RATIO_KEYS,
  oeeOf,
  ROLLED_UP_COUNTERS,
  sumCounters,
  toSiteWiseStateMessage,
  twinModels,
  type MachineState,
  type MachineStateEvent,
  type OeeCounters,
  type OeeRatios,
  type SiteWiseModelDefinition,
  type SiteWisePropertyDefinition,
  type StateMessageOrigin,
} from "@smart-factory/sdk";
import { evaluateTree, type EvalAsset, type EvalWindow } from "../helpers/sitewiseEval";
import { readStackConfig, stackNames } from "../helpers/stacks";

const T0 = Date.UTC(2026, 10, 23, 6, 0, 0); // a Monday, 06:00 UTC, on a window boundary for 5m, 15m and 1h
const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const TOLERANCE = 1e-9;

type Ratios = Record<keyof OeeRatios, number | undefined>;

function ev(at: number, state: MachineState, good = 0, bad = 0): MachineStateEvent {
  return { machineId: "m-01" as MachineStateEvent["machineId"], timestamp: at, clock: "source", state, goodIncrement: good, badIncrement: bad };
}

const ORIGIN = { factoryId: "factory-t", gatewayId: "gw-t", lineId: "line-t", sequence: 0 } as unknown as StateMessageOrigin;

/** A machine asset whose measurements are what the state rule writes: the fixed-shape message of each event. */
function machineAsset(name: string, model: SiteWiseModelDefinition, events: readonly MachineStateEvent[], idealRunRate: number): EvalAsset {
  const messages = events.map((e) => toSiteWiseStateMessage(e, ORIGIN));
  const time = (m: (typeof messages)[number]): number => m.timeInSeconds * 1000 + m.offsetInNanos / 1_000_000;
  return {
    name,
    model,
    measurements: {
      [MACHINE_PROPERTIES.state]: messages.map((m) => ({ time: time(m), value: m.stateCode })),
      [MACHINE_PROPERTIES.goodParts]: messages.map((m) => ({ time: time(m), value: m.goodIncrement })),
      [MACHINE_PROPERTIES.badParts]: messages.map((m) => ({ time: time(m), value: m.badIncrement })),
    },
    attributes: { [MACHINE_PROPERTIES.idealRunRate]: idealRunRate },
  };
}

function near(actual: number | undefined, expected: number | undefined, label: string): void {
  if (expected === undefined) {
    assert.equal(actual, undefined, `${label}: expected no data, got ${String(actual)}`);
    return;
  }
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= TOLERANCE, `${label}: ${String(actual)} is not ${expected}`);
}

function assertRatios(actual: Ratios, expected: Ratios, label: string): void {
  for (const key of OEE_RATIO_KEYS) near(actual[key], expected[key], `${label} ${key}`);
}

/** The ratios of one window of an evaluated asset. */
function evaluatedRatios(values: Record<string, (number | undefined)[]> | undefined, w: number): Ratios {
  assert.ok(values, "asset was not evaluated");
  const at = (key: string): number | undefined => values[key]?.[w];
  return { availability: at("availability"), performance: at("performance"), quality: at("quality"), oee: at("oee") };
}

function assertAPQ(r: Ratios, label: string): void {
  assert.ok(r.availability !== undefined && r.performance !== undefined && r.quality !== undefined && r.oee !== undefined, `${label}: all ratios defined`);
  near(r.availability * r.performance * r.quality, r.oee, `${label} A x P x Q`);
}

const windowsOf = (from: number, count: number, length: number): EvalWindow[] =>
  Array.from({ length: count }, (_, k) => ({ from: from + k * length, to: from + (k + 1) * length }));

const NO_DATA: Ratios = { availability: undefined, performance: undefined, quality: undefined, oee: undefined };

interface WorkedExample {
  readonly title: string;
  readonly window: string;
  readonly windows: EvalWindow[];
  readonly idealRunRate: number;
  readonly events: MachineStateEvent[];
  /** Hand-computed ratios of each window. */
  readonly expected: Ratios[];
}

const EXAMPLES: WorkedExample[] = [
  {
    // 30 parts/min = 2 ideal seconds per part.
    // W1: run 0-40 and 50-60 min (3000 s), fault 40-50 (600 s); parts at 40 min: 1000 good, 50 bad -> ideal 2100 s.
    // W2: run 60-80 and 90-110 (2400 s), planned stop 80-90, idle 110-120 (600 s) -> planned 3000 s;
    //     parts at 80 and 110 min: 1150 good, 25 bad -> ideal 2350 s, good ideal 2300 s.
    title: "a normal shift: runs, a fault, a planned stop, idle at the end",
    window: "1h",
    windows: windowsOf(T0, 2, H),
    idealRunRate: 30,
    events: [
      ev(T0 - 5 * MIN, "running"),
      ev(T0 + 40 * MIN, "fault", 1000, 50),
      ev(T0 + 50 * MIN, "running"),
      ev(T0 + 80 * MIN, "plannedStop", 750, 25),
      ev(T0 + 90 * MIN, "running"),
      ev(T0 + 110 * MIN, "idle", 400, 0),
    ],
    expected: [
      { availability: 3000 / 3600, performance: 2100 / 3000, quality: 2000 / 2100, oee: 2000 / 3600 },
      { availability: 2400 / 3000, performance: 2350 / 2400, quality: 2300 / 2350, oee: 2300 / 3000 },
    ],
  },
  {
    title: "no run time: availability 0, performance and quality no data, OEE 0",
    window: "1h",
    windows: windowsOf(T0, 1, H),
    idealRunRate: 60,
    events: [ev(T0 - MIN, "idle")],
    expected: [{ availability: 0, performance: undefined, quality: undefined, oee: 0 }],
  },
  {
    // No part is reported in the window at all: SiteWise's sum has no data point there, the model counts 0.
    title: "running without parts: performance 0, quality no data",
    window: "1h",
    windows: windowsOf(T0, 1, H),
    idealRunRate: 60,
    events: [ev(T0 - MIN, "running")],
    expected: [{ availability: 1, performance: 0, quality: undefined, oee: 0 }],
  },
  {
    title: "planned stops only: no data at all, not zero",
    window: "1h",
    windows: windowsOf(T0, 1, H),
    idealRunRate: 60,
    events: [ev(T0 - MIN, "plannedStop"), ev(T0 + 20 * MIN, "plannedStop")],
    expected: [NO_DATA],
  },
  {
    title: "all faults: availability 0",
    window: "1h",
    windows: windowsOf(T0, 1, H),
    idealRunRate: 60,
    events: [ev(T0 - MIN, "fault"), ev(T0 + 30 * MIN, "fault")],
    expected: [{ availability: 0, performance: undefined, quality: undefined, oee: 0 }],
  },
  {
    // 60 parts/min = 1 ideal second per part; 15-minute windows.
    // (T0-45, T0-30]: the first state arrives at the window's end: nothing counts, no data.
    // (T0-30, T0-15] and (T0-15, T0]: running holds across the boundaries, no event: 900 s run, no parts.
    // (T0, T0+15]: run 900 s; the parts reported at T0+15 belong to this window (end inclusive): 10 good, 1 bad.
    // (T0+15, T0+30]: run 300 s, idle 600 s; 4 good parts at T0+20.
    title: "a state holds across window boundaries; a part at a window's end belongs to that window",
    window: "15m",
    windows: windowsOf(T0 - 45 * MIN, 5, 15 * MIN),
    idealRunRate: 60,
    events: [ev(T0 - 30 * MIN, "running"), ev(T0 + 15 * MIN, "running", 10, 1), ev(T0 + 20 * MIN, "idle", 4, 0)],
    expected: [
      NO_DATA,
      { availability: 1, performance: 0, quality: undefined, oee: 0 },
      { availability: 1, performance: 0, quality: undefined, oee: 0 },
      { availability: 1, performance: 11 / 900, quality: 10 / 11, oee: 10 / 900 },
      { availability: 300 / 900, performance: 4 / 300, quality: 1, oee: 4 / 900 },
    ],
  },
  {
    // Before the first known state nothing counts: the first window has no data, the second counts from 30 min.
    title: "the first known state arrives in the middle of a window",
    window: "5m",
    windows: windowsOf(T0 + 20 * MIN, 3, 5 * MIN),
    idealRunRate: 60,
    events: [ev(T0 + 27 * MIN, "running"), ev(T0 + 33 * MIN, "running", 30, 0)],
    expected: [
      NO_DATA,
      { availability: 1, performance: 0, quality: undefined, oee: 0 },
      { availability: 1, performance: 30 / 300, quality: 1, oee: 30 / 300 },
    ],
  },
];

describe("OEE in SiteWise: the generated models, evaluated, equal the local computation", () => {
  describe("worked examples of one machine (hand-computed)", () => {
    for (const example of EXAMPLES) {
      it(example.title, () => {
        const model = machineModelDefinition("servo-press", example.window);
        const values = evaluateTree(machineAsset("m-01", model, example.events, example.idealRunRate), example.windows)["m-01"];
        assert.equal(example.expected.length, example.windows.length);
        example.windows.forEach((window, w) => {
          const expected = example.expected[w]!;
          const label = `window ${w + 1}`;
          assertRatios(oeeOf(machineCounters(example.events, window, example.idealRunRate)), expected, `${label} local`);
          assertRatios(evaluatedRatios(values, w), expected, `${label} SiteWise`);
        });
      });
    }

    it("the normal shift's additive metrics per window, and the shift as the sum of its windows", () => {
      const example = EXAMPLES[0]!;
      const model = machineModelDefinition("servo-press", "1h");
      const values = evaluateTree(machineAsset("m-01", model, example.events, example.idealRunRate), example.windows)["m-01"]!;
      const hand: OeeCounters[] = [
        { runSeconds: 3000, idleSeconds: 0, faultSeconds: 600, plannedStopSeconds: 0, plannedSeconds: 3600, goodCount: 1000, badCount: 50, idealSeconds: 2100, goodIdealSeconds: 2000 },
        { runSeconds: 2400, idleSeconds: 600, faultSeconds: 0, plannedStopSeconds: 600, plannedSeconds: 3000, goodCount: 1150, badCount: 25, idealSeconds: 2350, goodIdealSeconds: 2300 },
      ];
      example.windows.forEach((window, w) => {
        const local = machineCounters(example.events, window, example.idealRunRate);
        for (const key of OEE_COUNTER_KEYS) {
          near(local[key], hand[w]![key], `window ${w + 1} local ${key}`);
          near(values[key]?.[w], hand[w]![key], `window ${w + 1} SiteWise ${key}`);
        }
      });
      // A shift is the sum of its windows' additive metrics, then the same ratios: 5400 run, 6600 planned,
      // 4450 ideal, 4300 good ideal seconds.
      const evaluatedWindows = example.windows.map((_, w) => Object.fromEntries(OEE_COUNTER_KEYS.map((k) => [k, values[k]?.[w] ?? 0])) as unknown as OeeCounters);
      const shift: Ratios = { availability: 5400 / 6600, performance: 4450 / 5400, quality: 4300 / 4450, oee: 4300 / 6600 };
      assertRatios(oeeOf(sumCounters(evaluatedWindows)), shift, "shift from SiteWise windows");
      assertRatios(oeeOf(machineCounters(example.events, { from: T0, to: T0 + 2 * H }, example.idealRunRate)), shift, "shift, local");
      assertAPQ(shift, "shift");
    });
  });

  describe("lines and the factory sum additive seconds, then divide", () => {
    const window = "1h";
    const windows = windowsOf(T0, 1, H);
    const press = machineModelDefinition("servo-press", window);
    const mill = machineModelDefinition("cnc-mill", window);
    const mixedKey = lineModelKey(["servo-press", "cnc-mill"]);
    const pressOnlyKey = lineModelKey(["servo-press"]);
    const mixedLine = lineModelDefinition(mixedKey, ["servo-press", "cnc-mill"], window);
    const pressLine = lineModelDefinition(pressOnlyKey, ["servo-press"], window);
    const factory = factoryModelDefinition([mixedKey, pressOnlyKey], window);

    // P1: 30/min (2 s/part): run 0-30 min, idle 30-45, planned stop 45-60; 600 good + 30 bad.
    //     planned 2700, run 1800, ideal 1260, good ideal 1200.
    const p1 = { events: [ev(T0 - MIN, "running"), ev(T0 + 30 * MIN, "idle", 600, 30), ev(T0 + 45 * MIN, "plannedStop")], rate: 30 };
    // P2: 20/min (3 s/part): run 0-50, fault 50-60; 800 good. planned 3600, run 3000, ideal 2400, good ideal 2400.
    const p2 = { events: [ev(T0 - MIN, "running"), ev(T0 + 50 * MIN, "fault", 800, 0)], rate: 20 };
    // M1: 1.5/min (40 s/part): idle 0-10, run 10-55, idle 55-60; 50 good + 10 bad.
    //     planned 3600, run 2700, ideal 2400, good ideal 2000.
    const m1 = { events: [ev(T0 - MIN, "idle"), ev(T0 + 10 * MIN, "running"), ev(T0 + 55 * MIN, "idle", 50, 10)], rate: 1.5 };
    // P3 (the other line): 60/min: runs all hour; 3000 good + 300 bad. planned 3600, run 3600, ideal 3300, good ideal 3000.
    const p3 = { events: [ev(T0 - MIN, "running"), ev(T0 + 30 * MIN, "running", 3000, 300)], rate: 60 };

    const tree: EvalAsset = {
      name: "factory",
      model: factory,
      children: {
        [hierarchyLogicalId(mixedKey)]: [
          {
            name: "line-1",
            model: mixedLine,
            children: {
              [hierarchyLogicalId(machineModelKey("servo-press"))]: [machineAsset("p1", press, p1.events, p1.rate), machineAsset("p2", press, p2.events, p2.rate)],
              [hierarchyLogicalId(machineModelKey("cnc-mill"))]: [machineAsset("m1", mill, m1.events, m1.rate)],
            },
          },
        ],
        [hierarchyLogicalId(pressOnlyKey)]: [{ name: "line-2", model: pressLine, children: { [hierarchyLogicalId(machineModelKey("servo-press"))]: [machineAsset("p3", press, p3.events, p3.rate)] } }],
      },
    };
    const values = evaluateTree(tree, windows);
    const span = windows[0]!;
    const counters = { p1, p2, m1, p3 };
    const local = Object.fromEntries(Object.entries(counters).map(([name, m]) => [name, machineCounters(m.events, span, m.rate)])) as Record<keyof typeof counters, OeeCounters>;

    const hand: Record<string, Ratios> = {
      p1: { availability: 1800 / 2700, performance: 1260 / 1800, quality: 1200 / 1260, oee: 1200 / 2700 },
      p2: { availability: 3000 / 3600, performance: 2400 / 3000, quality: 1, oee: 2400 / 3600 },
      m1: { availability: 2700 / 3600, performance: 2400 / 2700, quality: 2000 / 2400, oee: 2000 / 3600 },
      p3: { availability: 1, performance: 3300 / 3600, quality: 3000 / 3300, oee: 3000 / 3600 },
      // 1800+3000+2700 run, 2700+3600+3600 planned, 1260+2400+2400 ideal, 1200+2400+2000 good ideal
      "line-1": { availability: 7500 / 9900, performance: 6060 / 7500, quality: 5600 / 6060, oee: 5600 / 9900 },
      "line-2": { availability: 1, performance: 3300 / 3600, quality: 3000 / 3300, oee: 3000 / 3600 },
      // 7500+3600 run, 9900+3600 planned, 6060+3300 ideal, 5600+3000 good ideal
      factory: { availability: 11100 / 13500, performance: 9360 / 11100, quality: 8600 / 9360, oee: 8600 / 13500 },
    };

    it("each machine: hand values, local and SiteWise agree", () => {
      for (const name of ["p1", "p2", "m1", "p3"] as const) {
        assertRatios(oeeOf(local[name]), hand[name]!, `${name} local`);
        assertRatios(evaluatedRatios(values[name], 0), hand[name]!, `${name} SiteWise`);
      }
    });

    it("a line of two machine types: weighted by planned, run and ideal time, not a mean of the machines' ratios", () => {
      const lineHand = hand["line-1"]!;
      assertRatios(evaluatedRatios(values["line-1"], 0), lineHand, "line-1 SiteWise");
      assertRatios(oeeOf(sumCounters([local.p1, local.p2, local.m1])), lineHand, "line-1 local");
      const machines = [hand.p1!, hand.p2!, hand.m1!];
      const mean = (key: keyof Ratios): number => machines.reduce((s, r) => s + (r[key] ?? 0), 0) / machines.length;
      // Means: availability 0.75 (line 0.7576), OEE 0.5556 (line 0.5657).
      assert.ok(Math.abs(mean("availability") - (lineHand.availability ?? 0)) > 1e-3, "availability is not the mean of the machines'");
      assert.ok(Math.abs(mean("oee") - (lineHand.oee ?? 0)) > 1e-3, "OEE is not the mean of the machines'");
      assertRatios(evaluatedRatios(values["line-2"], 0), hand["line-2"]!, "line-2 SiteWise");
    });

    it("the factory sums its lines", () => {
      assertRatios(evaluatedRatios(values.factory, 0), hand.factory!, "factory SiteWise");
      assertRatios(oeeOf(sumCounters(Object.values(local))), hand.factory!, "factory local");
    });

    it("OEE = A x P x Q at machine, line and factory level", () => {
      for (const name of ["p1", "p2", "m1", "p3", "line-1", "line-2", "factory"]) {
        assertAPQ(evaluatedRatios(values[name], 0), name);
        assertAPQ(hand[name]!, `${name} (hand)`);
      }
    });

    it("lines and the factory roll up seconds only, never part counts", () => {
      for (const model of [mixedLine, pressLine, factory]) {
        const metrics = model.properties.filter((p) => p.kind === "metric").map((p) => p.logicalId);
        assert.deepEqual(metrics, [...ROLLED_UP_COUNTERS, ...OEE_RATIO_KEYS]);
        assert.ok(!metrics.includes("goodCount") && !metrics.includes("badCount"));
      }
      assert.deepEqual(ROLLED_UP_COUNTERS, ["runSeconds", "idleSeconds", "faultSeconds", "plannedStopSeconds", "plannedSeconds", "idealSeconds", "goodIdealSeconds"]);
      assert.deepEqual(mixedLine.hierarchies.map((h) => h.childModelKey), ["machine-cnc-mill", "machine-servo-press"]);
    });
  });

  describe("SiteWise limits", () => {
    function configOf(stack: string): FactoryConfig {
      const raw = readStackConfig(stack);
      const config: Record<string, unknown> = { region: raw["aws:region"] };
      for (const [key, value] of Object.entries(raw)) if (key.startsWith("smart-factory:")) config[key.slice("smart-factory:".length)] = value;
      return decode(FactoryConfig, config, `stack ${stack}`);
    }

    it("every model of every stack passes, and lines with the same machine types share a model", () => {
      const stacks = stackNames();
      assert.deepEqual(stacks, ["factory-a", "factory-b", "factory-c"]);
      for (const stack of stacks) {
        const config = configOf(stack);
        const twin = twinModels(config);
        assert.equal(twin.all.length, config.machineTypes.length + twin.lineModels.length + 1);
        for (const model of twin.all) checkSiteWiseLimits(model, twin.all);
        for (const line of config.lines) {
          const types = [...new Set(line.machines.map((m) => m.type))].sort();
          assert.deepEqual(twin.lineModelOf(line.id).hierarchies.map((h) => h.childModelKey), types.map(machineModelKey), `${stack} ${line.id}`);
        }
        for (const model of twin.all) {
          for (const p of model.properties) if (p.kind === "metric") assert.equal(p.window, config.oee.window);
        }
      }
      const a = twinModels(configOf("factory-a"));
      assert.equal(a.lineModelOf("press-line-1"), a.lineModelOf("press-line-2"));
      assert.notEqual(a.lineModelOf("press-line-1"), a.lineModelOf("cnc-cell-1"));
      assert.throws(() => a.lineModelOf("no-such-line"), /no line "no-such-line"/);
    });

    it("machine measurements are the properties the state rule writes", () => {
      const model = machineModelDefinition("servo-press", "15m");
      const byKind = (kind: SiteWisePropertyDefinition["kind"]): string[] => model.properties.filter((p) => p.kind === kind).map((p) => p.logicalId);
      assert.deepEqual(byKind("measurement"), [MACHINE_PROPERTIES.state, MACHINE_PROPERTIES.goodParts, MACHINE_PROPERTIES.badParts]);
      assert.deepEqual(byKind("attribute"), [MACHINE_PROPERTIES.idealRunRate]);
      for (const p of model.properties) if (p.kind === "measurement") assert.equal(p.dataType, "INTEGER");
      assert.deepEqual(byKind("metric"), [...OEE_COUNTER_KEYS, ...OEE_RATIO_KEYS]);
    });

    const measurement = (logicalId: string): SiteWisePropertyDefinition => ({ kind: "measurement", logicalId, name: logicalId, dataType: "DOUBLE" });
    const metric = (logicalId: string, expression: string, variables: { name: string; propertyLogicalId: string; hierarchyLogicalId?: string }[]): SiteWisePropertyDefinition => ({
      kind: "metric",
      logicalId,
      name: logicalId,
      dataType: "DOUBLE",
      expression,
      variables,
      window: "15m",
    });

    it("rejects an expression with 11 variables, naming model and property", () => {
      const ids = Array.from({ length: 11 }, (_, i) => `m${i + 1}`);
      const model: SiteWiseModelDefinition = {
        key: "wide",
        properties: [...ids.map(measurement), metric("total", `sum(${ids.join(", ")})`, ids.map((id) => ({ name: id, propertyLogicalId: id })))],
        hierarchies: [],
      };
      assert.throws(() => { checkSiteWiseLimits(model); }, /SiteWise model "wide", metric "total": expression uses 11 variables; SiteWise allows at most 10/);
      const ten: SiteWiseModelDefinition = { ...model, properties: [...ids.slice(0, 10).map(measurement), metric("total", `sum(${ids.slice(0, 10).join(", ")})`, ids.slice(0, 10).map((id) => ({ name: id, propertyLogicalId: id })))] };
      checkSiteWiseLimits(ten);
    });

    it("rejects an expression with 11 functions", () => {
      const model: SiteWiseModelDefinition = {
        key: "busy",
        properties: [measurement("x"), metric("m", "abs(abs(abs(abs(abs(abs(abs(abs(abs(abs(sum(x)))))))))))", [{ name: "x", propertyLogicalId: "x" }])],
        hierarchies: [],
      };
      assert.throws(() => { checkSiteWiseLimits(model); }, /SiteWise model "busy", metric "m": expression uses 11 functions; SiteWise allows at most 10/);
    });

    it("rejects a property tree 11 deep, and accepts 10", () => {
      const chain = (metrics: number): SiteWiseModelDefinition => ({
        key: "deep",
        properties: [
          measurement("x"),
          metric("d1", "sum(x)", [{ name: "x", propertyLogicalId: "x" }]),
          ...Array.from({ length: metrics - 1 }, (_, i) => metric(`d${i + 2}`, `d${i + 1} + 1`, [{ name: `d${i + 1}`, propertyLogicalId: `d${i + 1}` }])),
        ],
        hierarchies: [],
      });
      checkSiteWiseLimits(chain(9));
      assert.throws(() => { checkSiteWiseLimits(chain(10)); }, /SiteWise model "deep", metric "d10": its property tree is 11 deep .*at most 10/);
    });

    it("rejects statetime on a child asset's property and on a metric", () => {
      const child = machineModelDefinition("servo-press", "15m");
      const hierarchy = { logicalId: "presses", name: "presses", childModelKey: child.key };
      const parent: SiteWiseModelDefinition = {
        key: "cell",
        properties: [metric("runTime", "statetime(child_run)", [{ name: "child_run", propertyLogicalId: "runSeconds", hierarchyLogicalId: "presses" }])],
        hierarchies: [hierarchy],
      };
      assert.throws(() => { checkSiteWiseLimits(parent, [child]); }, /SiteWise model "cell", metric "runTime": statetime\(child_run\) reads child assets through hierarchy "presses"; temporal functions take only the model's own properties/);
      const onMetric: SiteWiseModelDefinition = {
        key: "self",
        properties: [measurement("x"), metric("s", "sum(x)", [{ name: "x", propertyLogicalId: "x" }]), metric("t", "statetime(s)", [{ name: "s", propertyLogicalId: "s" }])],
        hierarchies: [],
      };
      assert.throws(() => { checkSiteWiseLimits(onMetric); }, /SiteWise model "self", metric "t": statetime does not take a metric/);
      const unaggregated: SiteWiseModelDefinition = { ...parent, properties: [metric("runTime", "child_run * 2", [{ name: "child_run", propertyLogicalId: "runSeconds", hierarchyLogicalId: "presses" }])] };
      assert.throws(() => { checkSiteWiseLimits(unaggregated, [child]); }, /metric "runTime": variable child_run reads child assets; it may only be an argument of an aggregation function/);
    });

    it("rejects duplicate names and bad logical ids", () => {
      const model = machineModelDefinition("servo-press", "15m");
      const duplicate: SiteWiseModelDefinition = { ...model, properties: [...model.properties, { ...measurement("stateAgain"), name: "state" }] };
      assert.throws(() => { checkSiteWiseLimits(duplicate); }, /SiteWise model "machine-servo-press", property "stateAgain": name "state" is used by another property/);
      const badId: SiteWiseModelDefinition = { ...model, properties: [...model.properties, measurement("run seconds")] };
      assert.throws(() => { checkSiteWiseLimits(badId); }, /SiteWise model "machine-servo-press", property "run seconds": logical id does not match/);
    });

    it("rejects a line with 11 machine types (hierarchies) and a metric read across windows", () => {
      const types = Array.from({ length: 11 }, (_, i) => `type-${i + 1}`);
      const line = lineModelDefinition(lineModelKey(types), types, "15m");
      const children = types.map((type) => machineModelDefinition(type, "15m"));
      assert.throws(() => { checkSiteWiseLimits(line, children); }, /SiteWise model "line-type-1_type-10_type-11_.*": 11 hierarchies; SiteWise allows at most 10 per model/);
      const hourly = machineModelDefinition("servo-press", "1h");
      const line15 = lineModelDefinition(lineModelKey(["servo-press"]), ["servo-press"], "15m");
      assert.throws(() => { checkSiteWiseLimits(line15, [hourly]); }, /variable run_seconds_1 reads child metric "runSeconds" with window 1h, not 15m/);
    });
  });

  describe("the test evaluator", () => {
    const broken = (expression: string): EvalAsset => ({
      name: "x",
      model: { key: "k", properties: [{ kind: "measurement", logicalId: "v", name: "v", dataType: "DOUBLE" }, { kind: "metric", logicalId: "m", name: "m", dataType: "DOUBLE", expression, variables: [{ name: "v", propertyLogicalId: "v" }], window: "5m" }], hierarchies: [] },
      measurements: { v: [{ time: T0 + MIN, value: 2 }] },
    });
    const w = windowsOf(T0, 1, 5 * MIN);

    it("throws on unknown functions and variables", () => {
      assert.throws(() => evaluateTree(broken("median(v)"), w), /unknown function median/);
      assert.throws(() => evaluateTree(broken("sum(v) + w"), w), /unknown variable w/);
      assert.deepEqual(evaluateTree(broken("sum(v) * 2 - 1"), w)["x"], { m: [3] });
    });
  });
});
