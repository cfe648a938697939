/**
 * Asset-model queries: the factory's digital twin as the Pulumi program created it (`infra/components/
 * digitalTwin.ts`), read back from IoT SiteWise. Models are named `<factory>-<key>` (keys `machine-<type>`,
 * `line-<types>`, `factory`), assets `<factory>`, `<factory>/<line>` and `<factory>/<line>/<machine>`, and each
 * parent holds its children through a hierarchy `has-<child model key>`.
 *
 * The account may hold the twins of several factories, so everything here is restricted to the factory of the
 * query context. Every list call follows `nextToken` to the last page. Lookups are cached per client, as
 * promises: concurrent callers share one in-flight call, and a failed lookup is not cached, so a later call
 * retries it. The twin changes only with a deployment; {@link AssetQueries.clearCache} forgets everything.
 */
import {
  DescribeAssetCommand,
  DescribeAssetModelCommand,
  DescribeTimeSeriesCommand,
  ListAssetModelsCommand,
  ListAssetsCommand,
  ListAssociatedAssetsCommand,
  type AssetHierarchy,
  type AssetModelProperty,
  type AssociatedAssetsSummary,
} from "@aws-sdk/client-iotsitewise";
import type { QueryContext } from "../client/context";
import type { FactoryId } from "../codecs/primitives";
import { NotFoundError, QueryValidationError, SmartFactoryError } from "../errors";
import { FACTORY_MODEL_KEY } from "../oee/sitewise";
import { awsCall, collectPages, LookupCache, mapLimit, type CallOptions } from "./calls";
import { latestValues, numericValue, timestampMs } from "./values";
import { stateOfCode, type MachineState } from "../codecs/state";
import { MACHINE_PROPERTIES } from "../names";

// ---------------------------------------------------------------------------------------------- types

/** Where an asset or model stands in the twin's hierarchy factory > line > machine. */
export type AssetLevel = "factory" | "line" | "machine";

/** One of the factory's asset models, as listed. */
export interface AssetModelRef {
  readonly modelId: string;
  /** The account-wide name, `<factory>-<key>`. */
  readonly name: string;
  /** The key the SDK's model definitions use (`factory`, `line-<types>`, `machine-<type>`). */
  readonly key: string;
  readonly level: AssetLevel;
}

/** A property of an asset model: its id (which the model's assets share) and what kind of property it is. */
export interface ModelProperty {
  readonly id: string;
  readonly name: string;
  readonly kind: "measurement" | "attribute" | "transform" | "metric" | "unknown";
  readonly dataType?: string;
  readonly unit?: string;
  /** For a metric: its tumbling window interval, e.g. `1h`. */
  readonly window?: string;
}

/** An asset model with its properties and hierarchies (`DescribeAssetModel`). */
export interface AssetModelDetails extends AssetModelRef {
  /** Properties by name. */
  readonly properties: Readonly<Record<string, ModelProperty>>;
  readonly hierarchies: readonly { readonly id: string; readonly name: string; readonly childModelId: string }[];
  /**
   * The window of the model's metrics (every metric of the twin has the stack's `oee.window`); `undefined` for
   * a model without metrics. If the metrics disagree, the first one's.
   */
  readonly window: string | undefined;
}

/** A property of an asset (`DescribeAsset`). */
export interface AssetPropertyInfo {
  readonly id: string;
  readonly name: string;
  readonly alias?: string;
  readonly dataType?: string;
}

/** An asset as `DescribeAsset` gives it. */
export interface AssetDetails {
  readonly assetId: string;
  readonly name: string;
  readonly modelId: string;
  /** Properties by name. */
  readonly properties: Readonly<Record<string, AssetPropertyInfo>>;
  readonly hierarchies: readonly { readonly id: string; readonly name: string }[];
}

/** What every reference to one of the factory's assets carries: enough to query its values without a lookup. */
interface AssetRefBase {
  readonly assetId: string;
  /** The asset's name: `<factory>`, `<factory>/<line>` or `<factory>/<line>/<machine>`. */
  readonly name: string;
  readonly modelId: string;
  readonly modelKey: string;
  /** Property ids by property name (`runSeconds`, `oee`, `state`...). */
  readonly properties: Readonly<Record<string, string>>;
}

/** The factory's asset: its metrics are the sums of all lines', so it answers "the factory's OEE" in one entry. */
export interface FactoryRef extends AssetRefBase {
  readonly level: "factory";
}

/** A line's asset, with the line id parsed from its name so that results can be matched to the stack config. */
export interface LineRef extends AssetRefBase {
  readonly level: "line";
  readonly lineId: string;
}

/**
 * A machine's asset, with line and machine ids parsed from its name (`<factory>/<line>/<machine>`) so that
 * results can be matched to the stack config and to telemetry, which use the same ids.
 */
export interface MachineRef extends AssetRefBase {
  readonly level: "machine";
  readonly lineId: string;
  readonly machineId: string;
}

/**
 * An asset of the factory at any level. Callers that know ids already (a benchmark, a Lambda with a bundled
 * inventory) may build these themselves; the OEE queries then need no lookup at all.
 */
export type AssetRef = FactoryRef | LineRef | MachineRef;

/** A line and its machines. */
export interface LineNode {
  readonly line: LineRef;
  readonly machines: readonly MachineRef[];
}

/** The factory's twin: the factory asset, its lines, their machines (in the order SiteWise lists them). */
export interface FactoryTree {
  readonly factory: FactoryRef;
  readonly lines: readonly LineNode[];
}

/** A property resolved to the ids SiteWise's value APIs take. */
export interface PropertyRef {
  readonly assetId: string;
  readonly propertyId: string;
  readonly alias?: string;
  readonly name?: string;
}

/** The asset-model queries of one factory. */
export interface AssetQueries {
  readonly factoryId: FactoryId;
  /** The factory's asset models (names `<factory>-<key>`), every page of `ListAssetModels`. Cached. */
  models(): Promise<readonly AssetModelRef[]>;
  /** One asset model with its properties and hierarchies. Cached per model. */
  describeModel(modelId: string): Promise<AssetModelDetails>;
  /** One asset with its properties (ids, names, aliases). Cached per asset. */
  describeAsset(assetId: string): Promise<AssetDetails>;
  /**
   * A reference to one of the factory's assets by id, with its level, model key and property ids (from
   * `DescribeAsset`). Rejects with `NotFoundError` for an asset of another factory. Cached per asset.
   */
  assetRef(assetId: string): Promise<AssetRef>;
  /**
   * The whole twin: the factory asset (`ListAssets` of the factory model), its lines and their machines
   * (`ListAssociatedAssets`, children), each with the property ids of its model. Cached.
   */
  tree(): Promise<FactoryTree>;
  /** The factory's asset. */
  factory(): Promise<FactoryRef>;
  /** One line with its machines; `NotFoundError` if the twin has no such line. */
  line(lineId: string): Promise<LineNode>;
  /** One machine; `NotFoundError` if the twin has no such machine on that line. */
  machine(lineId: string, machineId: string): Promise<MachineRef>;
  /** The property a SiteWise alias (e.g. `/sf/<factory>/<line>/<machine>/state`) points to (`DescribeTimeSeries`). Cached. */
  propertyByAlias(alias: string): Promise<PropertyRef>;
  /** A property of an asset by name (`DescribeAsset`). */
  property(assetId: string, name: string): Promise<PropertyRef>;
  /** A property of a machine by name, from the tree (no alias needed: metrics have none). */
  machineProperty(lineId: string, machineId: string, name: string): Promise<PropertyRef>;
  /**
   * The state each machine is in now ("which machines are faulted?"): the latest value of its `state`
   * measurement, in `ceil(machines / 128)` calls. A machine SiteWise has no state for, or that the batch call
   * failed for, comes back with `state: undefined` and the reason in `issue`; the others still answer.
   */
  states(machines: readonly MachineRef[], options?: CallOptions): Promise<MachineStateNow[]>;
  /** Forgets every cached lookup. */
  clearCache(): void;
}

/** A machine's current state, as {@link AssetQueries.states} reports it. */
export interface MachineStateNow {
  readonly machine: MachineRef;
  /** The state, or `undefined` when there is none (see `issue`). */
  readonly state: MachineState | undefined;
  /** When the machine entered it (the time of the latest state value). */
  readonly since: Date | undefined;
  /** Why there is no state: no `state` property, no value yet, an unknown code, or the batch entry's error. */
  readonly issue?: string;
}

// ---------------------------------------------------------------------------------------------- naming

/** The level of a model key of the twin, or `undefined` for a key the twin does not make. */
export function levelOfModelKey(key: string): AssetLevel | undefined {
  if (key === FACTORY_MODEL_KEY) return "factory";
  if (/^line-[a-z0-9]+(?:-[a-z0-9]+)*(?:_[a-z0-9]+(?:-[a-z0-9]+)*)*$/.test(key)) return "line";
  if (/^machine-[a-z0-9]+(?:-[a-z0-9]+)*$/.test(key)) return "machine";
  return undefined;
}

/** Line and machine ids of an asset name of the factory (`<factory>[/<line>[/<machine>]]`), or `undefined`. */
export function parseAssetName(factoryId: string, name: string): { level: AssetLevel; lineId?: string; machineId?: string } | undefined {
  if (name === factoryId) return { level: "factory" };
  if (!name.startsWith(`${factoryId}/`)) return undefined;
  const parts = name.slice(factoryId.length + 1).split("/");
  const id = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
  if (parts.length === 1 && id.test(parts[0] ?? "")) return { level: "line", lineId: parts[0] as string };
  if (parts.length === 2 && id.test(parts[0] ?? "") && id.test(parts[1] ?? "")) return { level: "machine", lineId: parts[0] as string, machineId: parts[1] as string };
  return undefined;
}

function propertyKind(p: AssetModelProperty): ModelProperty["kind"] {
  const type = p.type;
  if (type?.metric !== undefined) return "metric";
  if (type?.transform !== undefined) return "transform";
  if (type?.attribute !== undefined) return "attribute";
  if (type?.measurement !== undefined) return "measurement";
  return "unknown";
}

/** A `NotFoundError` of the AWS SDK's `ResourceNotFoundException`, restated as what was asked for. */
function notFoundAs(kind: string, key: string): (error: unknown) => never {
  return (error) => {
    throw error instanceof NotFoundError ? new NotFoundError(kind, key, { cause: error }) : error;
  };
}

const LIST_PAGE_SIZE = 250;
const CONCURRENCY = 4;

// ---------------------------------------------------------------------------------------------- queries

/**
 * The asset-model queries of the context's factory. The returned object holds its own caches: create it once
 * per client and share it (the OEE queries take it as their source of asset references).
 */
export function createAssetQueries(ctx: QueryContext): AssetQueries {
  const { factoryId, sitewise } = ctx;
  const prefix = `${factoryId}-`;
  const modelsCache = new LookupCache<readonly AssetModelRef[]>();
  const modelCache = new LookupCache<AssetModelDetails>();
  const assetCache = new LookupCache<AssetDetails>();
  const refCache = new LookupCache<AssetRef>();
  const treeCache = new LookupCache<FactoryTree>();
  const aliasCache = new LookupCache<PropertyRef>();

  const modelRefOf = (modelId: string, name: string): AssetModelRef | undefined => {
    if (!name.startsWith(prefix)) return undefined;
    const key = name.slice(prefix.length);
    const level = levelOfModelKey(key);
    return level === undefined ? undefined : { modelId, name, key, level };
  };

  const models = (): Promise<readonly AssetModelRef[]> =>
    modelsCache.get("models", async () => {
      const summaries = await collectPages(
        "ListAssetModels",
        (nextToken) => sitewise.send(new ListAssetModelsCommand({ maxResults: LIST_PAGE_SIZE, ...(nextToken === undefined ? {} : { nextToken }) })),
        (page) => page.assetModelSummaries,
      );
      return summaries.flatMap((s) => {
        const ref = s.id === undefined || s.name === undefined ? undefined : modelRefOf(s.id, s.name);
        return ref === undefined ? [] : [ref];
      });
    });

  const describeModel = (modelId: string): Promise<AssetModelDetails> =>
    modelCache.get(modelId, async () => {
      const out = await awsCall("DescribeAssetModel", () => sitewise.send(new DescribeAssetModelCommand({ assetModelId: modelId }))).catch(notFoundAs("asset model", modelId));
      const name = out.assetModelName ?? "";
      const ref = modelRefOf(out.assetModelId ?? modelId, name);
      if (ref === undefined) throw new NotFoundError(`asset model of factory ${factoryId}`, `${modelId} (${name})`);
      const properties: Record<string, ModelProperty> = {};
      let window: string | undefined;
      for (const p of out.assetModelProperties ?? []) {
        if (p.id === undefined || p.name === undefined) continue;
        const interval = p.type?.metric?.window?.tumbling?.interval;
        window ??= interval;
        properties[p.name] = {
          id: p.id,
          name: p.name,
          kind: propertyKind(p),
          ...(p.dataType === undefined ? {} : { dataType: p.dataType }),
          ...(p.unit === undefined ? {} : { unit: p.unit }),
          ...(interval === undefined ? {} : { window: interval }),
        };
      }
      const hierarchies = (out.assetModelHierarchies ?? []).flatMap((h) =>
        h.id === undefined || h.name === undefined || h.childAssetModelId === undefined ? [] : [{ id: h.id, name: h.name, childModelId: h.childAssetModelId }],
      );
      return { ...ref, properties, hierarchies, window };
    });

  const describeAsset = (assetId: string): Promise<AssetDetails> =>
    assetCache.get(assetId, async () => {
      const out = await awsCall("DescribeAsset", () => sitewise.send(new DescribeAssetCommand({ assetId }))).catch(notFoundAs("asset", assetId));
      const properties: Record<string, AssetPropertyInfo> = {};
      for (const p of out.assetProperties ?? []) {
        if (p.id === undefined || p.name === undefined) continue;
        properties[p.name] = {
          id: p.id,
          name: p.name,
          ...(p.alias === undefined ? {} : { alias: p.alias }),
          ...(p.dataType === undefined ? {} : { dataType: p.dataType }),
        };
      }
      const hierarchies = (out.assetHierarchies ?? []).flatMap((h) => (h.id === undefined || h.name === undefined ? [] : [{ id: h.id, name: h.name }]));
      return { assetId: out.assetId ?? assetId, name: out.assetName ?? "", modelId: out.assetModelId ?? "", properties, hierarchies };
    });

  /** A reference from an asset's name, model and property ids; `undefined` if the name is not of this factory. */
  const refOf = (assetId: string, name: string, model: AssetModelRef, properties: Readonly<Record<string, string>>): AssetRef | undefined => {
    const parsed = parseAssetName(factoryId, name);
    if (parsed?.level !== model.level) return undefined;
    const base = { assetId, name, modelId: model.modelId, modelKey: model.key, properties };
    if (parsed.level === "factory") return { level: "factory", ...base };
    if (parsed.level === "line" && parsed.lineId !== undefined) return { level: "line", lineId: parsed.lineId, ...base };
    if (parsed.lineId !== undefined && parsed.machineId !== undefined) return { level: "machine", lineId: parsed.lineId, machineId: parsed.machineId, ...base };
    return undefined;
  };

  const assetRef = (assetId: string): Promise<AssetRef> =>
    refCache.get(assetId, async () => {
      if (assetId === "") throw new QueryValidationError("assetId", assetId, "an asset id");
      const asset = await describeAsset(assetId);
      const model = await describeModel(asset.modelId);
      const properties = Object.fromEntries(Object.values(asset.properties).map((p) => [p.name, p.id]));
      const ref = refOf(asset.assetId, asset.name, model, properties);
      if (ref === undefined) throw new NotFoundError(`asset of factory ${factoryId}`, `${assetId} (${asset.name})`);
      return ref;
    });

  /**
   * The children of an asset through each of its hierarchies (the summary lists them), every page of each.
   * One listing per hierarchy: `hierarchyId` is optional for `CHILD` in today's API but was required before,
   * and the twin's assets have one hierarchy per child model (at most 10).
   */
  const children = async (parent: { readonly id?: string | undefined; readonly hierarchies?: readonly AssetHierarchy[] | undefined }): Promise<AssociatedAssetsSummary[]> => {
    const assetId = parent.id ?? "";
    const perHierarchy = await mapLimit(parent.hierarchies ?? [], CONCURRENCY, (hierarchy) =>
      collectPages(
        "ListAssociatedAssets",
        (nextToken) =>
          sitewise.send(
            new ListAssociatedAssetsCommand({
              assetId,
              ...(hierarchy.id === undefined ? {} : { hierarchyId: hierarchy.id }),
              traversalDirection: "CHILD",
              maxResults: LIST_PAGE_SIZE,
              ...(nextToken === undefined ? {} : { nextToken }),
            }),
          ),
        (page) => page.assetSummaries,
      ),
    );
    return perHierarchy.flat();
  };

  const tree = (): Promise<FactoryTree> =>
    treeCache.get("tree", async () => {
      const all = await models();
      const byId = new Map(all.map((m) => [m.modelId, m]));
      const factoryModel = all.find((m) => m.level === "factory");
      if (factoryModel === undefined) throw new NotFoundError("asset model", `${prefix}${FACTORY_MODEL_KEY}`);
      const factoryAssets = (
        await collectPages(
          "ListAssets",
          (nextToken) =>
            sitewise.send(
              new ListAssetsCommand({ assetModelId: factoryModel.modelId, filter: "ALL", maxResults: LIST_PAGE_SIZE, ...(nextToken === undefined ? {} : { nextToken }) }),
            ),
          (page) => page.assetSummaries,
        )
      ).filter((a) => a.name === factoryId && a.id !== undefined);
      const factorySummary = factoryAssets[0];
      if (factorySummary?.id === undefined) throw new NotFoundError("asset", factoryId);
      if (factoryAssets.length > 1) throw new SmartFactoryError(`factory ${factoryId} has ${factoryAssets.length} assets named ${JSON.stringify(factoryId)}; expected one`);
      const factoryAssetId = factorySummary.id;

      const lineSummaries = await children(factorySummary);
      const machineSummaries = await mapLimit(lineSummaries, CONCURRENCY, children);
      const usedModels = new Set<string>([factoryModel.modelId, ...lineSummaries.map((l) => l.assetModelId ?? ""), ...machineSummaries.flat().map((m) => m.assetModelId ?? "")]);
      const details = new Map((await mapLimit([...usedModels], CONCURRENCY, describeModel)).map((d) => [d.modelId, d]));
      const propertyIds = (modelId: string): Record<string, string> =>
        Object.fromEntries(Object.values(details.get(modelId)?.properties ?? {}).map((p) => [p.name, p.id]));

      const build = (summary: AssociatedAssetsSummary | { id?: string; name?: string; assetModelId?: string }, level: AssetLevel, parent: string): AssetRef => {
        const model = byId.get(summary.assetModelId ?? "");
        const ref =
          model === undefined || summary.id === undefined || summary.name === undefined
            ? undefined
            : refOf(summary.id, summary.name, model, propertyIds(model.modelId));
        if (ref?.level !== level) {
          throw new SmartFactoryError(
            `asset ${JSON.stringify(summary.name)} (${summary.id ?? "no id"}) under ${parent} is not a ${level} of factory ${factoryId}: ` +
              `expected a name like ${level === "line" ? `${factoryId}/<line>` : `${factoryId}/<line>/<machine>`} and one of the factory's ${level} models`,
          );
        }
        return ref;
      };
      const factory = build({ id: factoryAssetId, name: factorySummary.name ?? "", assetModelId: factoryModel.modelId }, "factory", "the account") as FactoryRef;
      const lines = lineSummaries.map((summary, i): LineNode => {
        const line = build(summary, "line", factoryId) as LineRef;
        const machines = (machineSummaries[i] ?? []).map((m) => build(m, "machine", line.name) as MachineRef);
        for (const m of machines) {
          if (m.lineId !== line.lineId) throw new SmartFactoryError(`machine asset ${m.name} is associated with line ${line.name}, but its name places it on line ${m.lineId}`);
        }
        return { line, machines };
      });
      return { factory, lines };
    });

  const line = async (lineId: string): Promise<LineNode> => {
    const node = (await tree()).lines.find((l) => l.line.lineId === lineId);
    if (node === undefined) throw new NotFoundError("line", `${factoryId}/${lineId}`);
    return node;
  };

  const machine = async (lineId: string, machineId: string): Promise<MachineRef> => {
    const found = (await line(lineId)).machines.find((m) => m.machineId === machineId);
    if (found === undefined) throw new NotFoundError("machine", `${factoryId}/${lineId}/${machineId}`);
    return found;
  };

  const propertyByAlias = (alias: string): Promise<PropertyRef> =>
    aliasCache.get(alias, async () => {
      if (alias.trim() === "") throw new QueryValidationError("alias", alias, "a property alias such as /sf/<factory>/<line>/<machine>/<property>");
      const out = await awsCall("DescribeTimeSeries", () => sitewise.send(new DescribeTimeSeriesCommand({ alias }))).catch(notFoundAs("alias", alias));
      // A data stream with an alias but no asset property yet (disassociated) has no ids to query by.
      if (out.assetId === undefined || out.propertyId === undefined) throw new NotFoundError("property with alias", alias);
      return { assetId: out.assetId, propertyId: out.propertyId, alias };
    });

  const property = async (assetId: string, name: string): Promise<PropertyRef> => {
    const asset = await describeAsset(assetId);
    const p = asset.properties[name];
    if (p === undefined) throw new NotFoundError("property", `${name} of asset ${asset.name || assetId}`);
    return { assetId: asset.assetId, propertyId: p.id, name: p.name, ...(p.alias === undefined ? {} : { alias: p.alias }) };
  };

  const machineProperty = async (lineId: string, machineId: string, name: string): Promise<PropertyRef> => {
    const m = await machine(lineId, machineId);
    const propertyId = m.properties[name];
    if (propertyId === undefined) throw new NotFoundError("property", `${name} of machine ${m.name}`);
    return { assetId: m.assetId, propertyId, name };
  };

  const states = async (machines: readonly MachineRef[], options: CallOptions = {}): Promise<MachineStateNow[]> => {
    const keyed = machines.map((m) => ({ m, propertyId: m.properties[MACHINE_PROPERTIES.state] }));
    const asked = keyed.filter((k): k is { m: MachineRef; propertyId: string } => k.propertyId !== undefined);
    const values = await latestValues(ctx.sitewise, asked.map((k) => ({ assetId: k.m.assetId, propertyId: k.propertyId })), options);
    const byAsset = new Map(asked.map((k, i) => [k.m.assetId, values[i]]));
    return keyed.map(({ m, propertyId }): MachineStateNow => {
      if (propertyId === undefined) return { machine: m, state: undefined, since: undefined, issue: `machine ${m.name} has no ${MACHINE_PROPERTIES.state} property` };
      const outcome = byAsset.get(m.assetId);
      if (outcome === undefined || !outcome.ok) return { machine: m, state: undefined, since: undefined, issue: outcome?.issue.message ?? "not asked" };
      if (outcome.value === undefined) return { machine: m, state: undefined, since: undefined, issue: "no state reported yet" };
      const code = numericValue(outcome.value);
      const at = timestampMs(outcome.value);
      const state = code === undefined ? undefined : stateOfCode(code);
      const since = at === undefined ? undefined : new Date(at);
      return state === undefined ? { machine: m, state, since, issue: `unknown state code ${String(code)}` } : { machine: m, state, since };
    });
  };

  return {
    factoryId,
    states,
    models,
    describeModel,
    describeAsset,
    assetRef,
    tree,
    factory: async () => (await tree()).factory,
    line,
    machine,
    propertyByAlias,
    property,
    machineProperty,
    clearCache: () => {
      modelsCache.clear();
      modelCache.clear();
      assetCache.clear();
      refCache.clear();
      treeCache.clear();
      aliasCache.clear();
    },
  };
}
