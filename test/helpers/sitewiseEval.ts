/**
 * An evaluator of SiteWise asset models for tests: it parses the expression strings the SDK generates and
 * computes them over data points with SiteWise's semantics, so tests check the generated text itself, not a
 * parallel reimplementation of OEE.
 *
 * Semantics implemented (AWS IoT SiteWise user guide: transforms, metrics, formula expressions):
 * - A transform is computed at each data point of its measurement/transform inputs, with each input's latest
 *   value at that time (attributes: their value); no output until every input has a value, and none for a
 *   result that is `none`, undefined (x / 0) or infinite.
 * - A metric is computed per tumbling UTC window (start exclusive, end inclusive):
 *   - `statetime(x)`: seconds of the window in which x is positive, x holding each value until its next data
 *     point; before x's first data point nothing counts; no output for a window that ends before that point.
 *   - `sum`, `avg`, `min`, `max` over the data points of the window (a measurement's or transform's points in the
 *     window, an attribute's value, a same-model metric's value for the window, or through a hierarchy the
 *     children's metric values for the window); no output without any data point. `count` outputs every window.
 *   - a measurement or transform used outside an aggregation: its last value in the window; a metric: its value
 *     for the window; an attribute: its value.
 * - `if(c, a, b)` returns a when c is non-zero, else b; `none` is no value; comparisons (`eq` with a relative
 *   tolerance of 1e-9) return 1 or 0; any operation on no value is no value.
 * Unknown functions, unknown variables and syntax outside this subset throw.
 */
import { windowMinutes, type SiteWiseModelDefinition, type SiteWisePropertyDefinition, type SiteWiseVariable } from "@smart-factory/sdk";

/** A timestamped value of a measurement (epoch ms). */
export interface DataPoint {
  readonly time: number;
  readonly value: number;
}

/** An asset: its model, its measurements' data points and attribute values by logical id, its children by hierarchy. */
export interface EvalAsset {
  readonly name: string;
  readonly model: SiteWiseModelDefinition;
  readonly measurements?: Readonly<Record<string, readonly DataPoint[]>>;
  readonly attributes?: Readonly<Record<string, number>>;
  readonly children?: Readonly<Record<string, readonly EvalAsset[]>>;
}

/** A tumbling window (from, to] in epoch ms. */
export interface EvalWindow {
  readonly from: number;
  readonly to: number;
}

/** Per asset name, per metric logical id: the value of each window (in the order given), `undefined` for no data. */
export type TreeValues = Record<string, Record<string, (number | undefined)[]>>;

// ---------------------------------------------------------------------------------------------- syntax

type Node =
  | { readonly t: "num"; readonly v: number }
  | { readonly t: "id"; readonly name: string }
  | { readonly t: "call"; readonly fn: string; readonly args: readonly Node[] }
  | { readonly t: "neg"; readonly arg: Node }
  | { readonly t: "op"; readonly op: "+" | "-" | "*" | "/" | "%" | "^"; readonly a: Node; readonly b: Node };

const BINDING_POWER: Record<string, [number, number]> = { "+": [1, 2], "-": [1, 2], "*": [3, 4], "/": [3, 4], "%": [3, 4], "^": [8, 7] };

/** Parse a formula expression (numbers, variables, calls, + - * / % ^, unary minus, parentheses). */
export function parseFormula(text: string): Node {
  let i = 0;
  const skip = (): void => {
    while (i < text.length && /\s/.test(text.charAt(i))) i++;
  };
  const peek = (): string => {
    skip();
    return text.charAt(i);
  };
  const expect = (c: string): void => {
    if (peek() !== c) throw new SyntaxError(`expected "${c}" at ${i} in ${JSON.stringify(text)}`);
    i++;
  };
  const atom = (): Node => {
    const c = peek();
    if (c === "(") {
      i++;
      const inner = expr(0);
      expect(")");
      return inner;
    }
    if (c === "-") {
      i++;
      return { t: "neg", arg: expr(6) };
    }
    const number = /^\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (number) {
      i += number[0].length;
      return { t: "num", v: Number(number[0]) };
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (!word) throw new SyntaxError(`unexpected ${JSON.stringify(c)} at ${i} in ${JSON.stringify(text)}`);
    i += word[0].length;
    if (peek() !== "(") return { t: "id", name: word[0] };
    i++;
    const args: Node[] = [];
    if (peek() !== ")") {
      for (;;) {
        args.push(expr(0));
        if (peek() !== ",") break;
        i++;
      }
    }
    expect(")");
    return { t: "call", fn: word[0], args };
  };
  const expr = (minPower: number): Node => {
    let left = atom();
    for (;;) {
      const op = peek();
      const power = BINDING_POWER[op];
      if (power === undefined || power[0] < minPower) return left;
      i++;
      left = { t: "op", op: op as "+" | "-" | "*" | "/" | "%" | "^", a: left, b: expr(power[1]) };
    }
  };
  const tree = expr(0);
  if (peek() !== "") throw new SyntaxError(`unexpected ${JSON.stringify(peek())} at ${i} in ${JSON.stringify(text)}`);
  return tree;
}

// ---------------------------------------------------------------------------------------------- evaluation

type Value = number | undefined;

/** What a variable stands for where an expression is evaluated. */
type Binding =
  | { readonly kind: "scalar"; readonly value: Value } // attribute; or an input's latest value inside a transform
  | { readonly kind: "series"; readonly points: readonly DataPoint[] } // measurement or transform, in a metric
  | { readonly kind: "metric"; readonly value: Value } // same-model metric, this window
  | { readonly kind: "children"; readonly values: readonly number[] }; // child metric values, this window

interface Scope {
  readonly bindings: ReadonlyMap<string, Binding>;
  /** The window of a metric; absent in a transform. */
  readonly window?: EvalWindow;
}

const CONSTANTS: Record<string, Value> = { none: undefined, true: 1, false: 0, pi: Math.PI, e: Math.E };

const finite = (v: Value): Value => (v === undefined || !Number.isFinite(v) ? undefined : v);

function evaluate(node: Node, scope: Scope): Value {
  switch (node.t) {
    case "num":
      return node.v;
    case "neg": {
      const v = evaluate(node.arg, scope);
      return v === undefined ? undefined : -v;
    }
    case "op": {
      const a = evaluate(node.a, scope);
      const b = evaluate(node.b, scope);
      if (a === undefined || b === undefined) return undefined;
      switch (node.op) {
        case "+":
          return finite(a + b);
        case "-":
          return finite(a - b);
        case "*":
          return finite(a * b);
        case "/":
          return b === 0 ? undefined : finite(a / b);
        case "%":
          return b === 0 ? undefined : finite(a % b);
        case "^":
          return finite(a ** b);
      }
      break;
    }
    case "id":
      return valueOf(node.name, scope);
    case "call":
      return call(node.fn.toLowerCase(), node.args, scope);
  }
}

function bindingOf(name: string, scope: Scope): Binding | undefined {
  const binding = scope.bindings.get(name);
  if (binding === undefined && !(name.toLowerCase() in CONSTANTS)) throw new ReferenceError(`unknown variable ${name}`);
  return binding;
}

function valueOf(name: string, scope: Scope): Value {
  const binding = bindingOf(name, scope);
  if (binding === undefined) return CONSTANTS[name.toLowerCase()];
  switch (binding.kind) {
    case "scalar":
    case "metric":
      return binding.value;
    case "series": {
      const window = scope.window;
      if (window === undefined) throw new Error(`series variable ${name} outside a metric`);
      const inWindow = binding.points.filter((p) => p.time > window.from && p.time <= window.to);
      return inWindow[inWindow.length - 1]?.value;
    }
    case "children":
      throw new Error(`child-asset variable ${name} used outside an aggregation function`);
  }
}

/** The data points an aggregation function sees for one argument. */
function pointsOf(arg: Node, scope: Scope): number[] {
  const window = scope.window;
  if (window === undefined) throw new Error("aggregation functions are for metrics only");
  if (arg.t === "num") return [arg.v];
  if (arg.t !== "id") throw new Error("this evaluator aggregates variables and numbers only");
  const binding = bindingOf(arg.name, scope);
  if (binding === undefined) throw new Error(`cannot aggregate constant ${arg.name}`);
  switch (binding.kind) {
    case "scalar":
    case "metric":
      return binding.value === undefined ? [] : [binding.value];
    case "series":
      return binding.points.filter((p) => p.time > window.from && p.time <= window.to).map((p) => p.value);
    case "children":
      return [...binding.values];
  }
}

function stateTime(arg: Node | undefined, scope: Scope): Value {
  const window = scope.window;
  if (window === undefined) throw new Error("statetime is for metrics only");
  if (arg?.t !== "id") throw new Error("statetime takes one variable");
  const binding = bindingOf(arg.name, scope);
  if (binding?.kind !== "series") throw new Error(`statetime(${arg.name}): only a measurement or transform of the same asset`);
  const points = binding.points.filter((p) => p.time <= window.to);
  if (points.length === 0) return undefined; // no history yet: no data point
  let ms = 0;
  points.forEach((p, k) => {
    const start = Math.max(window.from, p.time);
    const end = Math.min(window.to, points[k + 1]?.time ?? window.to);
    if (end > start && p.value > 0) ms += end - start;
  });
  return ms / 1000;
}

function call(fn: string, args: readonly Node[], scope: Scope): Value {
  const arity = (n: number): void => {
    if (args.length !== n) throw new Error(`${fn} takes ${n} arguments, got ${args.length}`);
  };
  const compare = (test: (a: number, b: number) => boolean): Value => {
    arity(2);
    const a = evaluate(args[0]!, scope);
    const b = evaluate(args[1]!, scope);
    return a === undefined || b === undefined ? undefined : test(a, b) ? 1 : 0;
  };
  const close = (a: number, b: number): boolean => a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  const collect = (): number[] => args.flatMap((arg) => pointsOf(arg, scope));
  switch (fn) {
    case "if": {
      arity(3);
      const condition = evaluate(args[0]!, scope);
      if (condition === undefined) return undefined;
      return evaluate(condition !== 0 ? args[1]! : args[2]!, scope);
    }
    case "gt":
      return compare((a, b) => a > b);
    case "gte":
      return compare((a, b) => a > b || close(a, b));
    case "lt":
      return compare((a, b) => a < b);
    case "lte":
      return compare((a, b) => a < b || close(a, b));
    case "eq":
      return compare(close);
    case "neq":
      return compare((a, b) => a !== b);
    case "count":
      return collect().length;
    case "sum": {
      const points = collect();
      return points.length === 0 ? undefined : finite(points.reduce((s, v) => s + v, 0));
    }
    case "avg": {
      const points = collect();
      return points.length === 0 ? undefined : points.reduce((s, v) => s + v, 0) / points.length;
    }
    case "min":
    case "max": {
      const points = collect();
      return points.length === 0 ? undefined : fn === "min" ? Math.min(...points) : Math.max(...points);
    }
    case "statetime":
      arity(1);
      return stateTime(args[0], scope);
    default:
      throw new Error(`unknown function ${fn}`);
  }
}

// ---------------------------------------------------------------------------------------------- assets

function windowMs(metric: Extract<SiteWisePropertyDefinition, { kind: "metric" }>): number {
  const minutes = windowMinutes(metric.window);
  if (minutes === undefined) throw new Error(`metric ${metric.logicalId}: bad window ${metric.window}`);
  return minutes * 60_000;
}

/**
 * Evaluate every metric of every asset of a tree (children first) for each window. Windows must be whole
 * tumbling windows of the metrics' interval, aligned to the epoch (UTC).
 */
export function evaluateTree(root: EvalAsset, windows: readonly EvalWindow[]): TreeValues {
  const results: TreeValues = {};
  evaluateAsset(root, windows, results);
  return results;
}

function evaluateAsset(asset: EvalAsset, windows: readonly EvalWindow[], results: TreeValues): Record<string, Value[]> {
  if (asset.name in results) throw new Error(`two assets are named ${asset.name}`);
  const model = asset.model;
  const properties = new Map(model.properties.map((p) => [p.logicalId, p]));

  const childResults = new Map<string, Record<string, Value[]>[]>();
  for (const hierarchy of model.hierarchies) {
    const children = asset.children?.[hierarchy.logicalId] ?? [];
    for (const child of children) {
      if (child.model.key !== hierarchy.childModelKey) throw new Error(`${child.name} is no ${hierarchy.childModelKey} (hierarchy ${hierarchy.logicalId} of ${asset.name})`);
    }
    childResults.set(hierarchy.logicalId, children.map((child) => evaluateAsset(child, windows, results)));
  }
  for (const key of Object.keys(asset.children ?? {})) {
    if (!childResults.has(key)) throw new Error(`${asset.name}: model ${model.key} has no hierarchy ${key}`);
  }

  const property = (logicalId: string): SiteWisePropertyDefinition => {
    const p = properties.get(logicalId);
    if (p === undefined) throw new ReferenceError(`${model.key} has no property ${logicalId}`);
    return p;
  };

  const seriesMemo = new Map<string, DataPoint[]>();
  const seriesOf = (logicalId: string, path: readonly string[]): DataPoint[] => {
    const known = seriesMemo.get(logicalId);
    if (known !== undefined) return known;
    if (path.includes(logicalId)) throw new Error(`cycle through ${logicalId}`);
    const p = property(logicalId);
    let series: DataPoint[];
    if (p.kind === "measurement") {
      series = [...(asset.measurements?.[logicalId] ?? [])].sort((a, b) => a.time - b.time);
    } else if (p.kind === "transform") {
      series = transformSeries(p, [...path, logicalId]);
    } else {
      throw new Error(`${logicalId} is a ${p.kind}, not a time series`);
    }
    seriesMemo.set(logicalId, series);
    return series;
  };

  const attributeOf = (logicalId: string): Value => {
    const p = property(logicalId);
    const value = asset.attributes?.[logicalId] ?? (p.kind === "attribute" && p.defaultValue !== undefined ? Number(p.defaultValue) : undefined);
    return value;
  };

  function transformSeries(p: Extract<SiteWisePropertyDefinition, { kind: "transform" }>, path: readonly string[]): DataPoint[] {
    const tree = parseFormula(p.expression);
    const inputs = p.variables.map((v) => {
      if (v.hierarchyLogicalId !== undefined) throw new Error(`transform ${p.logicalId} reads child assets`);
      const kind = property(v.propertyLogicalId).kind;
      if (kind === "attribute") return { v, scalar: attributeOf(v.propertyLogicalId) };
      if (kind === "metric") throw new Error(`transform ${p.logicalId} reads metric ${v.propertyLogicalId}`);
      return { v, series: seriesOf(v.propertyLogicalId, path) };
    });
    const times = [...new Set(inputs.flatMap((input) => input.series?.map((pt) => pt.time) ?? []))].sort((a, b) => a - b);
    const out: DataPoint[] = [];
    for (const time of times) {
      const bindings = new Map<string, Binding>();
      let complete = true;
      for (const input of inputs) {
        const value = input.series === undefined ? input.scalar : input.series.filter((pt) => pt.time <= time).pop()?.value;
        if (value === undefined) complete = false;
        bindings.set(input.v.name, { kind: "scalar", value });
      }
      if (!complete) continue;
      const value = finite(evaluate(tree, { bindings }));
      if (value !== undefined) out.push({ time, value });
    }
    return out;
  }

  const metricMemo = new Map<string, Value[]>();
  const metricValues = (logicalId: string, path: readonly string[]): Value[] => {
    const known = metricMemo.get(logicalId);
    if (known !== undefined) return known;
    if (path.includes(logicalId)) throw new Error(`cycle through ${logicalId}`);
    const p = property(logicalId);
    if (p.kind !== "metric") throw new Error(`${logicalId} is not a metric`);
    const length = windowMs(p);
    const tree = parseFormula(p.expression);
    const values = windows.map((window, w) => {
      if (window.to - window.from !== length || window.to % length !== 0) {
        throw new Error(`window (${window.from}, ${window.to}] is not a ${p.window} tumbling window of metric ${logicalId}`);
      }
      const bindings = new Map<string, Binding>(p.variables.map((v) => [v.name, bind(v, w, [...path, logicalId])]));
      return finite(evaluate(tree, { bindings, window }));
    });
    metricMemo.set(logicalId, values);
    return values;
  };

  function bind(v: SiteWiseVariable, w: number, path: readonly string[]): Binding {
    if (v.hierarchyLogicalId !== undefined) {
      const children = childResults.get(v.hierarchyLogicalId);
      if (children === undefined) throw new ReferenceError(`${model.key} has no hierarchy ${v.hierarchyLogicalId}`);
      const values = children.map((child) => {
        const series = child[v.propertyLogicalId];
        if (series === undefined) throw new ReferenceError(`child model of ${v.hierarchyLogicalId} has no metric ${v.propertyLogicalId}`);
        return series[w];
      });
      return { kind: "children", values: values.filter((x): x is number => x !== undefined) };
    }
    const p = property(v.propertyLogicalId);
    switch (p.kind) {
      case "attribute":
        return { kind: "scalar", value: attributeOf(p.logicalId) };
      case "measurement":
      case "transform":
        return { kind: "series", points: seriesOf(p.logicalId, path) };
      case "metric":
        return { kind: "metric", value: metricValues(p.logicalId, path)[w] };
    }
  }

  const own: Record<string, Value[]> = {};
  for (const p of model.properties) if (p.kind === "metric") own[p.logicalId] = metricValues(p.logicalId, []);
  results[asset.name] = own;
  return own;
}
