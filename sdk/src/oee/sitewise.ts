/**
 * The SiteWise asset models of a factory's digital twin, as plain data: one model per machine type, one per
 * distinct set of machine types on a line, one for the factory. Each model computes the OEE of
 * `./definition` with SiteWise's own semantics, so the cloud's numbers equal the SDK's local computation.
 *
 * The data is provider-neutral (the SDK does not depend on Pulumi) and maps 1:1 onto the asset-model arguments
 * of `@pulumi/aws-native` (`iotsitewise.AssetModel`): a property's `logicalId`, `name`, `dataType`, `unit` and
 * `type` (measurement, attribute with `defaultValue`, transform or metric with `expression`, `variables` and a
 * tumbling `window`); a variable's `propertyLogicalId` and `hierarchyLogicalId`; a hierarchy's `logicalId`,
 * `name` and child model.
 *
 * How the models respect SiteWise's rules (see {@link checkSiteWiseLimits}):
 * - `statetime` takes only properties of its own model, so every machine model computes its own state times
 *   from transforms of its `state` measurement (`eq(state, <code>)`).
 * - Metrics consume only numbers: the state is an INTEGER code ({@link STATE_CODES}), parts are INTEGER
 *   increments, the ideal run rate is a DOUBLE attribute.
 * - `sum` outputs nothing for a window without data points, so a part count is guarded with `count` (which
 *   outputs every window): a window in which no part was reported counts 0 parts, as the local computation does.
 * - Every ratio is `if(gt(denominator, 0), numerator / denominator, none)`: no data point when the denominator
 *   is 0, never 0 or an error.
 * - Lines and the factory take only additive seconds from their children, one `sum` over all hierarchies
 *   (a hierarchy per child model, at most 10), and compute the same ratios from the sums.
 */
import { windowMinutes, type FactoryConfig } from "../codecs/config";
import { STATE_CODES, type MachineState } from "../codecs/state";
import { SmartFactoryError } from "../errors";
import { MACHINE_PROPERTIES } from "../names";
import {
  OEE_COUNTER_KEYS,
  OEE_COUNTERS,
  OEE_RATIO_KEYS,
  OEE_RATIOS,
  ROLLED_UP_COUNTERS,
  SECONDS_PER_RATE_UNIT,
  type OeeCounterKey,
  type OeeCounterSource,
  type OeeRatioKey,
} from "./definition";

// ---------------------------------------------------------------------------------------------- the data

/**
 * SiteWise property data types. Metrics and transforms produce DOUBLE and consume only INTEGER or DOUBLE; the
 * other types are here so that {@link checkSiteWiseLimits} can reject a model that feeds them to a formula.
 */
export type SiteWiseDataType = "INTEGER" | "DOUBLE" | "BOOLEAN" | "STRING";

/**
 * A variable of a transform or metric expression: the property it reads, in this model or, through a hierarchy,
 * in the child assets (metrics only). Maps to `AssetModelExpressionVariableArgs` / `AssetModelVariableValueArgs`.
 */
export interface SiteWiseVariable {
  /** The name used in the expression: lower-case letters, digits and underscores. */
  readonly name: string;
  readonly propertyLogicalId: string;
  readonly hierarchyLogicalId?: string;
}

/** A property of an asset model, one variant per SiteWise property type (`AssetModelPropertyArgs`). */
export type SiteWisePropertyDefinition =
  | {
      readonly kind: "measurement";
      readonly logicalId: string;
      readonly name: string;
      readonly dataType: SiteWiseDataType;
      readonly unit?: string;
    }
  | {
      readonly kind: "attribute";
      readonly logicalId: string;
      readonly name: string;
      readonly dataType: SiteWiseDataType;
      readonly defaultValue?: string;
      readonly unit?: string;
    }
  | {
      readonly kind: "transform";
      readonly logicalId: string;
      readonly name: string;
      readonly dataType: "DOUBLE";
      readonly expression: string;
      readonly variables: readonly SiteWiseVariable[];
      readonly unit?: string;
    }
  | {
      readonly kind: "metric";
      readonly logicalId: string;
      readonly name: string;
      readonly dataType: "DOUBLE";
      readonly expression: string;
      readonly variables: readonly SiteWiseVariable[];
      /** Tumbling window interval, e.g. `15m` (`window.tumbling.interval`). */
      readonly window: string;
      readonly unit?: string;
    };

/** A hierarchy of an asset model: the child assets of one child model (`AssetModelHierarchyArgs`). */
export interface SiteWiseHierarchyDefinition {
  readonly logicalId: string;
  readonly name: string;
  /** The {@link SiteWiseModelDefinition.key} of the child model (the program maps it to the model's id). */
  readonly childModelKey: string;
}

/** An asset model. `key` is unique within a factory and stable; the program prefixes it with the factory id. */
export interface SiteWiseModelDefinition {
  readonly key: string;
  readonly properties: readonly SiteWisePropertyDefinition[];
  readonly hierarchies: readonly SiteWiseHierarchyDefinition[];
}

// ---------------------------------------------------------------------------------------------- naming

/**
 * The key of the asset model of a machine type: `machine-<type id>`. Keys are derived from ids, never from
 * positions in the config, so reordering the config never renames (and so replaces) a model.
 */
export function machineModelKey(machineTypeId: string): string {
  return `machine-${machineTypeId}`;
}

/**
 * The key of the line model for a set of machine types: `line-<type ids sorted, joined by _>`. Lines with the
 * same set of machine types share a model; ids have no underscores, so the key names the set unambiguously.
 */
export function lineModelKey(machineTypeIds: readonly string[]): string {
  const types = [...new Set(machineTypeIds)].sort();
  if (types.length === 0) throw new SiteWiseLimitError("a line model needs at least one machine type");
  return `line-${types.join("_")}`;
}

/** The key of the factory's asset model (one per stack, so a constant). */
export const FACTORY_MODEL_KEY = "factory";

/**
 * The logical id (and name) of the hierarchy through which a parent model holds the assets of a child model:
 * `has-<child model key>`. The program needs it to associate a child asset with its parent.
 */
export function hierarchyLogicalId(childModelKey: string): string {
  return `has-${childModelKey}`;
}

/**
 * The transform that is 1 while the machine is in `state` and 0 otherwise (`isRunning`, `isPlannedStop`...):
 * `statetime` measures how long its input is positive, so each state needs its own 0/1 series.
 */
export function stateTransformLogicalId(state: MachineState): string {
  return `is${state.charAt(0).toUpperCase()}${state.slice(1)}`;
}

/** The expression variable name for a logical id: `plannedStopSeconds` -> `planned_stop_seconds`. */
function variableName(logicalId: string): string {
  return logicalId.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/-/g, "_");
}

function local(logicalId: string): SiteWiseVariable {
  return { name: variableName(logicalId), propertyLogicalId: logicalId };
}

// ---------------------------------------------------------------------------------------------- the models

const UNITS = { s: "s", parts: "parts", rate: "parts/min" } as const;

/** The guarded ratio metrics, the same at every level. */
function ratioMetrics(window: string): SiteWisePropertyDefinition[] {
  return OEE_RATIO_KEYS.map((key: OeeRatioKey): SiteWisePropertyDefinition => {
    const { numerator, denominator } = OEE_RATIOS[key];
    const n = local(numerator);
    const d = local(denominator);
    return {
      kind: "metric",
      logicalId: key,
      name: key,
      dataType: "DOUBLE",
      expression: `if(gt(${d.name}, 0), ${n.name} / ${d.name}, none)`,
      variables: n.name === d.name ? [n] : [n, d],
      window,
    };
  });
}

function machineCounterMetric(key: OeeCounterKey, window: string): SiteWisePropertyDefinition {
  const source: OeeCounterSource = OEE_COUNTERS[key].source;
  const unit = UNITS[OEE_COUNTERS[key].unit];
  const metric = (expression: string, variables: SiteWiseVariable[]): SiteWisePropertyDefinition => ({
    kind: "metric",
    logicalId: key,
    name: key,
    dataType: "DOUBLE",
    expression,
    variables,
    window,
    unit,
  });
  switch (source.kind) {
    case "stateTime": {
      const state = local(stateTransformLogicalId(source.state));
      return metric(`statetime(${state.name})`, [state]);
    }
    case "sumOf": {
      const terms = source.terms.map(local);
      return metric(terms.map((v) => v.name).join(" + "), terms);
    }
    case "partCount": {
      // `sum` has no data point in a window without reports; `count` has one in every window.
      const parts = local(MACHINE_PROPERTIES[source.measurement]);
      return metric(`if(gt(count(${parts.name}), 0), sum(${parts.name}), 0)`, [parts]);
    }
    case "idealTime": {
      const counts = source.counts.map(local);
      const rate = local(MACHINE_PROPERTIES.idealRunRate);
      const all = counts.length === 1 ? counts.map((v) => v.name).join("") : `(${counts.map((v) => v.name).join(" + ")})`;
      return metric(`${all} * ${SECONDS_PER_RATE_UNIT} / ${rate.name}`, [...counts, rate]);
    }
  }
}

/**
 * The asset model of a machine type: the `state`, `goodParts` and `badParts` measurements the state rule writes
 * (logical ids and names are {@link MACHINE_PROPERTIES}, which the property aliases use), the `idealRunRate`
 * attribute (parts per minute, set per machine), one 0/1 transform per state, every counter of the definition as
 * a metric over `window`, and the four ratios.
 */
export function machineModelDefinition(machineTypeId: string, window: string): SiteWiseModelDefinition {
  const states = Object.keys(STATE_CODES) as MachineState[];
  const state = local(MACHINE_PROPERTIES.state);
  return {
    key: machineModelKey(machineTypeId),
    properties: [
      { kind: "measurement", logicalId: MACHINE_PROPERTIES.state, name: MACHINE_PROPERTIES.state, dataType: "INTEGER" },
      { kind: "measurement", logicalId: MACHINE_PROPERTIES.goodParts, name: MACHINE_PROPERTIES.goodParts, dataType: "INTEGER", unit: UNITS.parts },
      { kind: "measurement", logicalId: MACHINE_PROPERTIES.badParts, name: MACHINE_PROPERTIES.badParts, dataType: "INTEGER", unit: UNITS.parts },
      { kind: "attribute", logicalId: MACHINE_PROPERTIES.idealRunRate, name: MACHINE_PROPERTIES.idealRunRate, dataType: "DOUBLE", unit: UNITS.rate },
      ...states.map(
        (s): SiteWisePropertyDefinition => ({
          kind: "transform",
          logicalId: stateTransformLogicalId(s),
          name: stateTransformLogicalId(s),
          dataType: "DOUBLE",
          expression: `eq(${state.name}, ${STATE_CODES[s]})`,
          variables: [state],
        }),
      ),
      ...OEE_COUNTER_KEYS.map((key) => machineCounterMetric(key, window)),
      ...ratioMetrics(window),
    ],
    hierarchies: [],
  };
}

/** A parent model (line or factory): one hierarchy per child model, the rolled-up counters summed, the ratios. */
function parentModel(key: string, childModelKeys: readonly string[], window: string): SiteWiseModelDefinition {
  const children = [...new Set(childModelKeys)].sort();
  if (children.length === 0) throw new SiteWiseLimitError(`SiteWise model "${key}" needs at least one child model`);
  const hierarchies = children.map((child) => ({ logicalId: hierarchyLogicalId(child), name: hierarchyLogicalId(child), childModelKey: child }));
  const sums = ROLLED_UP_COUNTERS.map((counter): SiteWisePropertyDefinition => {
    const variables = hierarchies.map((h, i) => ({
      name: `${variableName(counter)}_${i + 1}`,
      propertyLogicalId: counter,
      hierarchyLogicalId: h.logicalId,
    }));
    return {
      kind: "metric",
      logicalId: counter,
      name: counter,
      dataType: "DOUBLE",
      expression: `sum(${variables.map((v) => v.name).join(", ")})`,
      variables,
      window,
      unit: UNITS[OEE_COUNTERS[counter].unit],
    };
  });
  return { key, properties: [...sums, ...ratioMetrics(window)], hierarchies };
}

/**
 * The asset model of the lines with a given set of machine types (`key` from {@link lineModelKey}, which the
 * program uses to share the model between such lines): a hierarchy per machine type (a model allows
 * 10), the additive seconds summed over all machines of all its hierarchies, and the ratios of the sums. Part
 * counts are not summed: they mean nothing across machine types.
 */
export function lineModelDefinition(key: string, childMachineTypeIds: readonly string[], window: string): SiteWiseModelDefinition {
  return parentModel(key, childMachineTypeIds.map(machineModelKey), window);
}

/** The factory's asset model: a hierarchy per line model, the lines' additive seconds summed, the ratios. */
export function factoryModelDefinition(childLineModelKeys: readonly string[], window: string): SiteWiseModelDefinition {
  return parentModel(FACTORY_MODEL_KEY, childLineModelKeys, window);
}

/** All asset models of a factory, each checked with {@link checkSiteWiseLimits}. */
export interface TwinModels {
  /** The metric window of every model (`config.oee.window`). */
  readonly window: string;
  /** One per machine type of the config, in config order. */
  readonly machineModels: readonly SiteWiseModelDefinition[];
  /** One per distinct set of machine types on a line, in order of first use. */
  readonly lineModels: readonly SiteWiseModelDefinition[];
  readonly factoryModel: SiteWiseModelDefinition;
  /** Every model, children before parents: the order in which they can be created. */
  readonly all: readonly SiteWiseModelDefinition[];
  /** The model of a line; throws for an unknown line id. */
  lineModelOf(lineId: string): SiteWiseModelDefinition;
}

/**
 * The asset models of a factory's twin. Lines with the same set of machine types share a model, so that the
 * number of models (a per-account quota shared by the factories of an account) grows with the kinds of line,
 * not with the lines. Throws a {@link SiteWiseLimitError} if any model breaks a SiteWise limit.
 */
export function twinModels(config: FactoryConfig): TwinModels {
  const window = config.oee.window;
  const machineModels = config.machineTypes.map((type) => machineModelDefinition(type.id, window));
  const lineModels = new Map<string, SiteWiseModelDefinition>();
  const modelOfLine = new Map<string, SiteWiseModelDefinition>();
  for (const line of config.lines) {
    const types = line.machines.map((m) => m.type);
    const key = lineModelKey(types);
    const model = lineModels.get(key) ?? lineModelDefinition(key, types, window);
    lineModels.set(key, model);
    modelOfLine.set(line.id, model);
  }
  const factoryModel = factoryModelDefinition([...lineModels.keys()], window);
  const all = [...machineModels, ...lineModels.values(), factoryModel];
  for (const model of all) checkSiteWiseLimits(model, all);
  return {
    window,
    machineModels,
    lineModels: [...lineModels.values()],
    factoryModel,
    all,
    lineModelOf(lineId: string): SiteWiseModelDefinition {
      const model = modelOfLine.get(lineId);
      if (model === undefined) throw new SiteWiseLimitError(`no line "${lineId}" in factory ${config.factory.id}`);
      return model;
    },
  };
}

// ---------------------------------------------------------------------------------------------- limits

/** Thrown when an asset model would break a SiteWise rule or quota; the message names model, property and rule. */
export class SiteWiseLimitError extends SmartFactoryError {}

/**
 * SiteWise's quotas and rules for asset models and formula expressions, as this module enforces them: exported
 * so that tools and tests can quote the same numbers the check uses.
 */
export const SITEWISE_LIMITS = {
  propertiesPerModel: 200,
  hierarchiesPerModel: 10,
  variablesPerExpression: 10,
  functionsPerExpression: 10,
  /** Longest chain of properties, a measurement or attribute counting 1, metrics of child models included. */
  propertyTreeDepth: 10,
  /** Properties of a model that may use one property directly / directly or indirectly. */
  directDependents: 20,
  allDependents: 30,
  expressionLength: 1024,
  logicalId: { pattern: /^[a-zA-Z0-9_-]+$/, maxLength: 256 },
  // eslint-disable-next-line no-control-regex -- names may hold any character but control characters
  name: { pattern: /^[^\u0000-\u001f\u007f]+$/, maxLength: 256 },
  variableName: { pattern: /^[a-z][a-z0-9_]*$/, maxLength: 64 },
  windowMinutes: { min: 1, max: 7 * 24 * 60 },
} as const;

const AGGREGATION_FUNCTIONS = new Set(["avg", "sum", "min", "max", "count", "stdev"]);
const TEMPORAL_FUNCTIONS = new Set(["first", "last", "earliest", "latest", "statetime", "timeweightedavg", "timeweightedstdev"]);
const OTHER_FUNCTIONS = new Set([
  ...["if", "gt", "gte", "lt", "lte", "eq", "neq", "isnan"],
  ...["abs", "acos", "asin", "atan", "cbrt", "ceil", "cos", "cosh", "cot", "exp", "expm1", "floor", "log", "log10", "log1p", "log2"],
  ...["pow", "signum", "sin", "sinh", "sqrt", "tan", "tanh"],
]);
const CONSTANTS = new Set(["none", "true", "false", "pi", "e"]);

type Expr =
  | { readonly kind: "number"; readonly value: number }
  | { readonly kind: "name"; readonly name: string }
  | { readonly kind: "call"; readonly fn: string; readonly args: readonly Expr[] }
  | { readonly kind: "unary"; readonly arg: Expr }
  | { readonly kind: "binary"; readonly op: string; readonly left: Expr; readonly right: Expr };

/** Parse the subset of SiteWise's formula syntax that limits can be checked on; throws a message for others. */
function parseExpression(text: string): Expr {
  const tokens = text.match(/\s+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*|[-+*/%^(),]|./g) ?? [];
  const list = tokens.filter((t) => !/^\s+$/.test(t));
  let at = 0;
  const peek = (): string | undefined => list[at];
  const take = (expected?: string): string => {
    const token = list[at];
    if (token === undefined || (expected !== undefined && token !== expected)) {
      throw new Error(`expected ${expected ?? "more"} at token ${at + 1}, found ${token === undefined ? "the end" : JSON.stringify(token)}`);
    }
    at++;
    return token;
  };
  const binary = (next: () => Expr, ops: readonly string[]) => (): Expr => {
    let left = next();
    for (let op = peek(); op !== undefined && ops.includes(op); op = peek()) {
      take();
      left = { kind: "binary", op, left, right: next() };
    }
    return left;
  };
  const primary = (): Expr => {
    const token = take();
    if (token === "(") {
      const inner = sum();
      take(")");
      return inner;
    }
    if (token === "-" || token === "+") return { kind: "unary", arg: power() };
    if (/^\d/.test(token)) return { kind: "number", value: Number(token) };
    if (/^[A-Za-z_]/.test(token)) {
      if (peek() !== "(") return { kind: "name", name: token };
      take("(");
      const args: Expr[] = [];
      if (peek() !== ")") {
        args.push(sum());
        while (peek() === ",") {
          take(",");
          args.push(sum());
        }
      }
      take(")");
      return { kind: "call", fn: token, args };
    }
    throw new Error(`unsupported syntax ${JSON.stringify(token)}`);
  };
  const power = (): Expr => {
    const base = primary();
    if (peek() !== "^") return base;
    take("^");
    return { kind: "binary", op: "^", left: base, right: power() };
  };
  const product = binary(power, ["*", "/", "%"]);
  const sum = binary(product, ["+", "-"]);
  const tree = sum();
  if (at < list.length) throw new Error(`unexpected ${JSON.stringify(list[at])} at token ${at + 1}`);
  return tree;
}

function walk(expr: Expr, visit: (e: Expr, ancestors: readonly Expr[]) => void, ancestors: readonly Expr[] = []): void {
  visit(expr, ancestors);
  const inner = [...ancestors, expr];
  if (expr.kind === "call") for (const arg of expr.args) walk(arg, visit, inner);
  else if (expr.kind === "unary") walk(expr.arg, visit, inner);
  else if (expr.kind === "binary") {
    walk(expr.left, visit, inner);
    walk(expr.right, visit, inner);
  }
}

function namesIn(expr: Expr): string[] {
  const names: string[] = [];
  walk(expr, (e) => {
    if (e.kind === "name") names.push(e.name);
  });
  return names;
}

type Formula = Extract<SiteWisePropertyDefinition, { kind: "transform" | "metric" }>;

/**
 * Check a model against SiteWise's rules and quotas before any API call would reject it (or, worse, accept a
 * model that computes nothing): at most 200 properties and 10 hierarchies; logical ids of `[a-zA-Z0-9_-]`, at
 * most 256 characters, unique; names unique; per expression at most 10 variables, 10 functions and 1024
 * characters, only known functions, every variable declared, used and resolvable; aggregation and temporal
 * functions only in metrics; temporal functions (such as `statetime`) only on the model's own properties, and
 * `statetime` not on a metric; child-asset variables only in metrics, inside an aggregation, on a child metric of
 * the same window; inputs only INTEGER or DOUBLE; a property tree at most 10 deep (through child models too); at
 * most 20 direct and 30 direct-or-indirect dependents of any property; a window from 1 minute to 1 week.
 *
 * @param models the models that hierarchies may point to (the model itself may be among them); a child model a
 *   variable needs but that is missing here is an error.
 * @throws SiteWiseLimitError naming the model, the property (or hierarchy) and the rule broken.
 */
export function checkSiteWiseLimits(model: SiteWiseModelDefinition, models: readonly SiteWiseModelDefinition[] = []): void {
  const L = SITEWISE_LIMITS;
  const fail = (what: string, why: string): never => {
    throw new SiteWiseLimitError(`SiteWise model "${model.key}"${what === "" ? "" : `, ${what}`}: ${why}`);
  };
  const byKey = new Map(models.map((m) => [m.key, m]));
  byKey.set(model.key, model);

  if (model.properties.length > L.propertiesPerModel) fail("", `${model.properties.length} properties; SiteWise allows at most ${L.propertiesPerModel} per model`);
  if (model.hierarchies.length > L.hierarchiesPerModel) fail("", `${model.hierarchies.length} hierarchies; SiteWise allows at most ${L.hierarchiesPerModel} per model`);

  const ids = new Map<string, string>();
  const names = { property: new Set<string>(), hierarchy: new Set<string>() };
  const identify = (kind: "property" | "hierarchy", logicalId: string, name: string): void => {
    const what = `${kind} "${logicalId}"`;
    if (logicalId.length > L.logicalId.maxLength) fail(what, `logical id is ${logicalId.length} characters long; at most ${L.logicalId.maxLength} are allowed`);
    if (!L.logicalId.pattern.test(logicalId)) fail(what, `logical id does not match ${String(L.logicalId.pattern)}`);
    const other = ids.get(logicalId);
    if (other !== undefined) fail(what, `logical id is already used by a ${other}; logical ids must be unique within a model`);
    ids.set(logicalId, kind);
    if (name.length > L.name.maxLength || !L.name.pattern.test(name)) fail(what, `name ${JSON.stringify(name)} must be 1 to ${L.name.maxLength} characters without control characters`);
    if (names[kind].has(name)) fail(what, `name ${JSON.stringify(name)} is used by another ${kind}; names must be unique within a model`);
    names[kind].add(name);
  };
  for (const p of model.properties) identify("property", p.logicalId, p.name);
  for (const h of model.hierarchies) identify("hierarchy", h.logicalId, h.name);

  const properties = new Map(model.properties.map((p) => [p.logicalId, p]));
  const hierarchies = new Map(model.hierarchies.map((h) => [h.logicalId, h]));
  for (const p of model.properties) {
    if (p.kind === "transform" || p.kind === "metric") checkFormula(p);
  }

  function checkFormula(p: Formula): void {
    const what = `${p.kind} "${p.logicalId}"`;
    if (p.kind === "metric") {
      const minutes = windowMinutes(p.window);
      if (minutes === undefined || minutes < L.windowMinutes.min || minutes > L.windowMinutes.max) {
        fail(what, `window ${JSON.stringify(p.window)} is not a tumbling interval from 1m to 1w`);
      }
    }
    if (p.expression.length > L.expressionLength) fail(what, `expression is ${p.expression.length} characters long; at most ${L.expressionLength} are allowed`);
    if (p.variables.length > L.variablesPerExpression) {
      fail(what, `expression uses ${p.variables.length} variables; SiteWise allows at most ${L.variablesPerExpression} per expression`);
    }
    let tree: Expr;
    try {
      tree = parseExpression(p.expression);
    } catch (error) {
      return fail(what, `cannot parse ${JSON.stringify(p.expression)}: ${(error as Error).message}`);
    }
    const variables = new Map<string, SiteWiseVariable>();
    for (const v of p.variables) {
      if (v.name.length > L.variableName.maxLength || !L.variableName.pattern.test(v.name)) {
        fail(what, `variable name ${JSON.stringify(v.name)} must match ${String(L.variableName.pattern)} and have at most ${L.variableName.maxLength} characters`);
      }
      if (CONSTANTS.has(v.name.toLowerCase())) fail(what, `variable name ${JSON.stringify(v.name)} would hide the constant of that name`);
      if (variables.has(v.name)) fail(what, `variable ${JSON.stringify(v.name)} is declared twice`);
      variables.set(v.name, v);
      checkVariable(p, v);
    }
    const used = new Set(namesIn(tree));
    for (const name of used) {
      if (!variables.has(name) && !CONSTANTS.has(name.toLowerCase())) fail(what, `expression uses ${JSON.stringify(name)}, which is no declared variable`);
    }
    for (const name of variables.keys()) if (!used.has(name)) fail(what, `variable ${JSON.stringify(name)} is declared but not used`);

    let functions = 0;
    walk(tree, (e, ancestors) => {
      if (e.kind === "call") {
        functions++;
        const fn = e.fn.toLowerCase();
        const temporal = TEMPORAL_FUNCTIONS.has(fn);
        const aggregation = AGGREGATION_FUNCTIONS.has(fn);
        if (!temporal && !aggregation && !OTHER_FUNCTIONS.has(fn)) fail(what, `function ${e.fn} is not one this check knows SiteWise to have`);
        if ((temporal || aggregation) && p.kind !== "metric") fail(what, `${e.fn} is an ${temporal ? "temporal" : "aggregation"} function, allowed in metrics only`);
        if (temporal) {
          for (const arg of e.args) {
            const argNames = namesIn(arg).filter((n) => variables.has(n));
            if (argNames.length !== 1) fail(what, `each argument of ${e.fn} must use exactly one variable`);
            const v = variables.get(argNames[0] ?? "");
            if (v?.hierarchyLogicalId !== undefined) {
              fail(what, `${e.fn}(${v.name}) reads child assets through hierarchy "${v.hierarchyLogicalId}"; temporal functions take only the model's own properties`);
            }
            if (fn === "statetime" && properties.get(v?.propertyLogicalId ?? "")?.kind === "metric") {
              fail(what, `statetime does not take a metric (${v?.name ?? ""})`);
            }
          }
        }
      }
      if (e.kind === "name") {
        const v = variables.get(e.name);
        if (v?.hierarchyLogicalId !== undefined) {
          const parent = ancestors[ancestors.length - 1];
          if (parent?.kind !== "call" || !AGGREGATION_FUNCTIONS.has(parent.fn.toLowerCase())) {
            fail(what, `variable ${v.name} reads child assets; it may only be an argument of an aggregation function`);
          }
        }
      }
    });
    if (functions > L.functionsPerExpression) {
      fail(what, `expression uses ${functions} functions; SiteWise allows at most ${L.functionsPerExpression} per expression`);
    }
  }

  function checkVariable(p: Formula, v: SiteWiseVariable): void {
    const what = `${p.kind} "${p.logicalId}"`;
    if (v.hierarchyLogicalId === undefined) {
      const target = properties.get(v.propertyLogicalId);
      if (target === undefined) return fail(what, `variable ${v.name} reads property "${v.propertyLogicalId}", which the model does not have`);
      if (target.logicalId === p.logicalId) fail(what, `variable ${v.name} reads the property itself`);
      if (p.kind === "transform" && target.kind === "metric") fail(what, `variable ${v.name} reads metric "${target.logicalId}"; transforms cannot read metrics`);
      if (target.dataType !== "INTEGER" && target.dataType !== "DOUBLE") {
        fail(what, `variable ${v.name} reads ${target.dataType} property "${target.logicalId}"; transforms and metrics consume only INTEGER or DOUBLE`);
      }
      if (p.kind === "metric" && target.kind === "metric" && windowMinutes(target.window) !== windowMinutes(p.window)) {
        fail(what, `variable ${v.name} reads metric "${target.logicalId}" with window ${target.window}, not ${p.window}`);
      }
      return;
    }
    if (p.kind !== "metric") fail(what, `variable ${v.name} reads child assets; only metrics can`);
    const hierarchy = hierarchies.get(v.hierarchyLogicalId);
    if (hierarchy === undefined) return fail(what, `variable ${v.name} names hierarchy "${v.hierarchyLogicalId}", which the model does not have`);
    const child = byKey.get(hierarchy.childModelKey);
    if (child === undefined) return fail(what, `variable ${v.name} reads child model "${hierarchy.childModelKey}", which was not given to the check`);
    const target = child.properties.find((q) => q.logicalId === v.propertyLogicalId);
    if (target?.kind !== "metric") {
      return fail(what, `variable ${v.name} must read a metric of child model "${child.key}"; "${v.propertyLogicalId}" is ${target === undefined ? "not a property of it" : `a ${target.kind}`}`);
    }
    if (p.kind === "metric" && windowMinutes(target.window) !== windowMinutes(p.window)) {
      fail(what, `variable ${v.name} reads child metric "${target.logicalId}" with window ${target.window}, not ${p.window}`);
    }
  }

  // Depth of the property tree, through child models; a cycle is an error too.
  const depths = new Map<string, number>();
  const depthOf = (m: SiteWiseModelDefinition, logicalId: string, path: readonly string[]): number => {
    const id = `${m.key}/${logicalId}`;
    const known = depths.get(id);
    if (known !== undefined) return known;
    if (path.includes(id)) return fail(`property "${logicalId}"`, `depends on itself (${[...path, id].join(" <- ")})`);
    const p = m.properties.find((q) => q.logicalId === logicalId);
    let depth = 1;
    if (p !== undefined && (p.kind === "transform" || p.kind === "metric")) {
      for (const v of p.variables) {
        const childKey = v.hierarchyLogicalId === undefined ? m.key : m.hierarchies.find((h) => h.logicalId === v.hierarchyLogicalId)?.childModelKey;
        const source = childKey === undefined ? undefined : byKey.get(childKey);
        if (source !== undefined) depth = Math.max(depth, 1 + depthOf(source, v.propertyLogicalId, [...path, id]));
      }
    }
    depths.set(id, depth);
    return depth;
  };
  for (const p of model.properties) {
    const depth = depthOf(model, p.logicalId, []);
    if (depth > L.propertyTreeDepth) {
      fail(`${p.kind} "${p.logicalId}"`, `its property tree is ${depth} deep (measurements and attributes count 1); SiteWise allows at most ${L.propertyTreeDepth}`);
    }
  }

  // Dependents within the model.
  const direct = new Map<string, Set<string>>();
  for (const p of model.properties) {
    if (p.kind !== "transform" && p.kind !== "metric") continue;
    for (const v of p.variables) {
      if (v.hierarchyLogicalId !== undefined) continue;
      const set = direct.get(v.propertyLogicalId) ?? new Set<string>();
      set.add(p.logicalId);
      direct.set(v.propertyLogicalId, set);
    }
  }
  for (const p of model.properties) {
    const first = direct.get(p.logicalId) ?? new Set<string>();
    if (first.size > L.directDependents) fail(`${p.kind} "${p.logicalId}"`, `${first.size} properties use it directly; SiteWise allows at most ${L.directDependents}`);
    const all = new Set<string>();
    const queue = [...first];
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      if (all.has(next)) continue;
      all.add(next);
      queue.push(...(direct.get(next) ?? []));
    }
    if (all.size > L.allDependents) fail(`${p.kind} "${p.logicalId}"`, `${all.size} properties depend on it; SiteWise allows at most ${L.allDependents}`);
  }
}
