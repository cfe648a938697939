/**
 * The asset queries against a mocked IoT SiteWise: a twin shaped as the Pulumi program creates it (models
 * `<factory>-<key>` generated from the SDK's definitions, assets `<factory>[/<line>[/<machine>]]`, hierarchies
 * `has-<child model key>`), with every list spread over several pages. Responses follow the API reference.
 */
import { strict as assert } from "node:assert";
import {
  DescribeAssetCommand,
  DescribeAssetModelCommand,
  DescribeTimeSeriesCommand,
  IoTSiteWiseClient,
  ListAssetModelsCommand,
  ListAssetsCommand,
  ListAssociatedAssetsCommand,
  type AssetModelProperty,
  type AssetModelSummary,
  type AssociatedAssetsSummary,
  type DescribeAssetModelResponse,
  type DescribeAssetResponse,
} from "@aws-sdk/client-iotsitewise";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";
import {
  factoryModelDefinition,
  lineModelDefinition,
  lineModelKey,
  machineModelDefinition,
  NotFoundError,
  ThrottledError,
  type FactoryId,
  type SiteWiseModelDefinition,
} from "@smart-factory/sdk";
import type { QueryContext } from "../../sdk/src/client/context";
import { createAssetQueries, levelOfModelKey, parseAssetName } from "../../sdk/src/assets/queries";
import { testQueryContext } from "../helpers/queryContext";

/** Created per test: a mock made at load time would be replaced by another test file's mock of the same class. */
let sitewise: AwsClientStub<IoTSiteWiseClient>;
const FACTORY = "factory-a" as FactoryId;
const WINDOW = "1h";

/** A UUID-shaped id, as SiteWise returns them. */
const u = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const DATE = new Date("2026-01-01T00:00:00Z");

function context(): QueryContext {
  return testQueryContext(Date.parse("2026-01-12T12:00:00Z"));
}

// ---------------------------------------------------------------------------------------------- the twin

const LINE_KEY = lineModelKey(["cnc", "press"]);
const DEFINITIONS: SiteWiseModelDefinition[] = [
  machineModelDefinition("cnc", WINDOW),
  machineModelDefinition("press", WINDOW),
  lineModelDefinition(LINE_KEY, ["cnc", "press"], WINDOW),
  factoryModelDefinition([LINE_KEY], WINDOW),
];
const MODEL_ID: Record<string, string> = { "machine-cnc": u(1), "machine-press": u(2), [LINE_KEY]: u(3), factory: u(4) };
const HIERARCHY_ID: Record<string, string> = { "has-machine-cnc": u(11), "has-machine-press": u(12), [`has-${LINE_KEY}`]: u(13) };
/** Property ids per model key and property name (the assets of a model share them). */
const PROPERTY_ID = new Map<string, string>();
DEFINITIONS.forEach((m, i) => {
  m.properties.forEach((p, j) => {
    PROPERTY_ID.set(`${m.key}/${p.name}`, u(1000 * (i + 1) + j));
  });
});

function describeModelResponse(m: SiteWiseModelDefinition): DescribeAssetModelResponse {
  const properties: AssetModelProperty[] = m.properties.map((p) => ({
    id: PROPERTY_ID.get(`${m.key}/${p.name}`),
    name: p.name,
    dataType: p.dataType,
    type:
      p.kind === "measurement"
        ? { measurement: {} }
        : p.kind === "attribute"
          ? { attribute: {} }
          : p.kind === "transform"
            ? { transform: { expression: p.expression, variables: [] } }
            : { metric: { expression: p.expression, variables: [], window: { tumbling: { interval: p.window } } } },
  }));
  return {
    assetModelId: MODEL_ID[m.key],
    assetModelArn: `arn:aws:iotsitewise:eu-central-1:123456789012:asset-model/${MODEL_ID[m.key]}`,
    assetModelName: `${FACTORY}-${m.key}`,
    assetModelDescription: m.key,
    assetModelProperties: properties,
    assetModelHierarchies: m.hierarchies.map((h) => ({ id: HIERARCHY_ID[h.logicalId], name: h.name, childAssetModelId: MODEL_ID[h.childModelKey] })),
    assetModelCreationDate: DATE,
    assetModelLastUpdateDate: DATE,
    assetModelStatus: { state: "ACTIVE" },
  };
}

interface Asset {
  id: string;
  name: string;
  modelKey: string;
  parent?: string;
}
const FACTORY_ASSET: Asset = { id: u(100), name: "factory-a", modelKey: "factory" };
const LINES: Asset[] = [
  { id: u(101), name: "factory-a/line-1", modelKey: LINE_KEY, parent: u(100) },
  { id: u(102), name: "factory-a/line-2", modelKey: LINE_KEY, parent: u(100) },
];
const MACHINES: Asset[] = [
  { id: u(201), name: "factory-a/line-1/cnc-01", modelKey: "machine-cnc", parent: u(101) },
  { id: u(202), name: "factory-a/line-1/cnc-02", modelKey: "machine-cnc", parent: u(101) },
  { id: u(203), name: "factory-a/line-1/cnc-03", modelKey: "machine-cnc", parent: u(101) },
  { id: u(204), name: "factory-a/line-1/press-01", modelKey: "machine-press", parent: u(101) },
  { id: u(205), name: "factory-a/line-2/press-02", modelKey: "machine-press", parent: u(102) },
];
const ALL_ASSETS = [FACTORY_ASSET, ...LINES, ...MACHINES];

function hierarchiesOf(modelKey: string): { id: string; name: string }[] {
  const def = DEFINITIONS.find((m) => m.key === modelKey)!;
  return def.hierarchies.map((h) => ({ id: HIERARCHY_ID[h.logicalId]!, name: h.name }));
}

function summary(a: Asset): AssociatedAssetsSummary {
  return {
    id: a.id,
    arn: `arn:aws:iotsitewise:eu-central-1:123456789012:asset/${a.id}`,
    name: a.name,
    assetModelId: MODEL_ID[a.modelKey],
    creationDate: DATE,
    lastUpdateDate: DATE,
    status: { state: "ACTIVE" },
    hierarchies: hierarchiesOf(a.modelKey),
  };
}

/** Tokens that look like SiteWise's (`[A-Za-z0-9+/=]+`), encoding where the next page starts. */
const tokenFor = (listing: string, offset: number): string => Buffer.from(`${listing}:${offset}`).toString("base64");
function page<T>(listing: string, items: readonly T[], nextToken: string | undefined, size: number): { items: T[]; nextToken?: string } {
  let offset = 0;
  if (nextToken !== undefined) {
    const [name, at] = Buffer.from(nextToken, "base64").toString().split(":");
    assert.equal(name, listing, `a nextToken of ${name} was passed to ${listing}`);
    offset = Number(at);
  }
  const end = offset + size;
  return { items: items.slice(offset, end), ...(end < items.length ? { nextToken: tokenFor(listing, end) } : {}) };
}

const MODEL_SUMMARIES: AssetModelSummary[] = [
  // another factory's models and models of nobody's twin are in the same account
  ...["factory-b-factory", "factory-b-machine-cnc", "factory-a-b-machine-cnc", "factory-a-playground", "unrelated"].map((name, i) => ({ id: u(900 + i), name })),
  ...DEFINITIONS.map((m) => ({ id: MODEL_ID[m.key], name: `${FACTORY}-${m.key}` })),
].map((s) => ({
  ...s,
  arn: `arn:aws:iotsitewise:eu-central-1:123456789012:asset-model/${s.id}`,
  description: s.name,
  creationDate: DATE,
  lastUpdateDate: DATE,
  status: { state: "ACTIVE" as const },
  assetModelType: "ASSET_MODEL" as const,
}));

/** Installs the twin, every list 2 items a page. */
function installTwin(): void {
  sitewise.on(ListAssetModelsCommand).callsFake((input: { nextToken?: string }) => {
    const p = page("models", MODEL_SUMMARIES, input.nextToken, 3);
    return { assetModelSummaries: p.items, ...(p.nextToken === undefined ? {} : { nextToken: p.nextToken }) };
  });
  sitewise.on(ListAssetsCommand).callsFake((input: { assetModelId?: string; nextToken?: string }) => {
    const all = ALL_ASSETS.filter((a) => MODEL_ID[a.modelKey] === input.assetModelId).map(summary);
    // a second page, even for one factory asset: SiteWise may return an empty first page
    const p = page(`assets-${input.assetModelId}`, [undefined, ...all], input.nextToken, 1);
    return { assetSummaries: p.items.filter((s) => s !== undefined), ...(p.nextToken === undefined ? {} : { nextToken: p.nextToken }) };
  });
  sitewise.on(ListAssociatedAssetsCommand).callsFake((input: { assetId: string; hierarchyId?: string; traversalDirection?: string; nextToken?: string }) => {
    assert.equal(input.traversalDirection, "CHILD");
    const children = ALL_ASSETS.filter((a) => a.parent === input.assetId)
      .filter((a) => input.hierarchyId === undefined || HIERARCHY_ID[`has-${a.modelKey}`] === input.hierarchyId)
      .map(summary);
    const p = page(`children-${input.assetId}-${input.hierarchyId}`, children, input.nextToken, 2);
    return { assetSummaries: p.items, ...(p.nextToken === undefined ? {} : { nextToken: p.nextToken }) };
  });
  sitewise.on(DescribeAssetModelCommand).callsFake((input: { assetModelId: string }) => {
    const def = DEFINITIONS.find((m) => MODEL_ID[m.key] === input.assetModelId);
    if (def === undefined) throw Object.assign(new Error(`model ${input.assetModelId} not found`), { name: "ResourceNotFoundException", $metadata: { httpStatusCode: 404 } });
    return describeModelResponse(def);
  });
  sitewise.on(DescribeAssetCommand).callsFake((input: { assetId: string }): DescribeAssetResponse => {
    const a = ALL_ASSETS.find((x) => x.id === input.assetId) ?? (input.assetId === u(999) ? { id: u(999), name: "factory-b/line-1", modelKey: LINE_KEY } : undefined);
    if (a === undefined) throw Object.assign(new Error(`asset ${input.assetId} not found`), { name: "ResourceNotFoundException", $metadata: { httpStatusCode: 404 } });
    const def = DEFINITIONS.find((m) => m.key === a.modelKey)!;
    return {
      assetId: a.id,
      assetArn: `arn:aws:iotsitewise:eu-central-1:123456789012:asset/${a.id}`,
      assetName: a.name,
      assetModelId: MODEL_ID[a.modelKey],
      assetProperties: def.properties.map((p) => ({
        id: PROPERTY_ID.get(`${def.key}/${p.name}`),
        name: p.name,
        dataType: p.dataType,
        ...(a.modelKey.startsWith("machine-") && p.kind === "measurement" ? { alias: `/sf/${a.name}/${p.name}` } : {}),
      })),
      assetHierarchies: hierarchiesOf(a.modelKey),
      assetCreationDate: DATE,
      assetLastUpdateDate: DATE,
      assetStatus: { state: "ACTIVE" },
    };
  });
}

function throttling(attempts: number): Error {
  return Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $fault: "client", $metadata: { httpStatusCode: 429, attempts } });
}

/** The nextToken each call of a command passed, in call order. */
function tokensPassed(command: typeof ListAssetModelsCommand | typeof ListAssetsCommand | typeof ListAssociatedAssetsCommand): (string | undefined)[] {
  return sitewise.commandCalls(command as typeof ListAssetModelsCommand).map((c) => c.args[0].input.nextToken);
}

describe("asset queries (mocked SiteWise)", () => {
  beforeEach(() => {
    sitewise = mockClient(IoTSiteWiseClient);
    installTwin();
  });
  afterEach(() => {
    sitewise.restore();
  });

  describe("naming", () => {
    it("knows the twin's model keys and asset names, and nothing else", () => {
      assert.equal(levelOfModelKey("factory"), "factory");
      assert.equal(levelOfModelKey(LINE_KEY), "line");
      assert.equal(levelOfModelKey("machine-cnc"), "machine");
      assert.equal(levelOfModelKey("b-machine-cnc"), undefined);
      assert.equal(levelOfModelKey("playground"), undefined);
      assert.deepEqual(parseAssetName("factory-a", "factory-a"), { level: "factory" });
      assert.deepEqual(parseAssetName("factory-a", "factory-a/line-1/cnc-01"), { level: "machine", lineId: "line-1", machineId: "cnc-01" });
      assert.equal(parseAssetName("factory-a", "factory-ab/line-1"), undefined);
      assert.equal(parseAssetName("factory-a", "factory-a/line-1/cnc-01/x"), undefined);
    });
  });

  describe("models", () => {
    it("lists the factory's models over every page, passing each nextToken back, and only this factory's", async () => {
      const assets = createAssetQueries(context());
      const models = await assets.models();
      assert.deepEqual(
        models.map((m) => [m.key, m.level, m.modelId]).sort(),
        [
          ["factory", "factory", u(4)],
          [LINE_KEY, "line", u(3)],
          ["machine-cnc", "machine", u(1)],
          ["machine-press", "machine", u(2)],
        ].sort(),
      );
      // 9 summaries, 3 a page: three calls, the second and third with the token the previous page returned
      assert.deepEqual(tokensPassed(ListAssetModelsCommand), [undefined, tokenFor("models", 3), tokenFor("models", 6)]);
    });

    it("describes a model: property ids by name, kinds, the metric window, hierarchies", async () => {
      const assets = createAssetQueries(context());
      const line = await assets.describeModel(u(3));
      assert.equal(line.key, LINE_KEY);
      assert.equal(line.window, "1h");
      assert.equal(line.properties.oee?.kind, "metric");
      assert.equal(line.properties.oee.id, PROPERTY_ID.get(`${LINE_KEY}/oee`));
      assert.deepEqual(
        line.hierarchies.map((h) => [h.name, h.childModelId]),
        [
          ["has-machine-cnc", u(1)],
          ["has-machine-press", u(2)],
        ],
      );
      const cnc = await assets.describeModel(u(1));
      assert.equal(cnc.properties.state?.kind, "measurement");
      assert.equal(cnc.properties.idealRunRate?.kind, "attribute");
    });

    it("an unknown model is a NotFoundError naming it", async () => {
      const assets = createAssetQueries(context());
      await assert.rejects(assets.describeModel(u(777)), (e: unknown) => e instanceof NotFoundError && e.kind === "asset model" && e.key === u(777));
    });
  });

  describe("the tree", () => {
    it("walks factory > lines > machines, every list call paginated, with the model's property ids", async () => {
      const assets = createAssetQueries(context());
      const tree = await assets.tree();
      assert.equal(tree.factory.assetId, u(100));
      assert.equal(tree.factory.level, "factory");
      assert.equal(tree.factory.properties.oee, PROPERTY_ID.get("factory/oee"));
      assert.deepEqual(
        tree.lines.map((l) => [l.line.lineId, l.machines.map((m) => m.machineId)]),
        [
          ["line-1", ["cnc-01", "cnc-02", "cnc-03", "press-01"]],
          ["line-2", ["press-02"]],
        ],
      );
      const press = tree.lines[0]!.machines[3]!;
      assert.deepEqual(
        { assetId: press.assetId, lineId: press.lineId, machineId: press.machineId, modelKey: press.modelKey, level: press.level },
        { assetId: u(204), lineId: "line-1", machineId: "press-01", modelKey: "machine-press", level: "machine" },
      );
      assert.equal(press.properties.runSeconds, PROPERTY_ID.get("machine-press/runSeconds"));
      assert.equal(press.properties.state, PROPERTY_ID.get("machine-press/state"));

      // ListAssets of the factory model: an empty first page, then the factory asset
      assert.deepEqual(
        sitewise.commandCalls(ListAssetsCommand).map((c) => [c.args[0].input.assetModelId, c.args[0].input.filter, c.args[0].input.nextToken]),
        [
          [u(4), "ALL", undefined],
          [u(4), "ALL", tokenFor(`assets-${u(4)}`, 1)],
        ],
      );
      // children per hierarchy, 2 a page: the three cnc machines of line 1 take two pages
      const listings = sitewise.commandCalls(ListAssociatedAssetsCommand).map((c) => c.args[0].input);
      const cncOfLine1 = listings.filter((i) => i.assetId === u(101) && i.hierarchyId === u(11));
      assert.deepEqual(
        cncOfLine1.map((i) => i.nextToken),
        [undefined, tokenFor(`children-${u(101)}-${u(11)}`, 2)],
      );
      // every nextToken passed back is one a previous page returned; every token returned was passed back
      const returned = await Promise.all(
        sitewise.commandCalls(ListAssociatedAssetsCommand).map(async (c) => ((await c.returnValue) as { nextToken?: string }).nextToken),
      );
      const passed = listings.map((i) => i.nextToken).filter((t) => t !== undefined);
      assert.deepEqual(passed.sort(), returned.filter((t) => t !== undefined).sort());
      assert.equal(sitewise.commandCalls(DescribeAssetModelCommand).length, 4, "one DescribeAssetModel per model, not per asset");
      assert.equal(sitewise.commandCalls(DescribeAssetCommand).length, 0, "the walk needs no DescribeAsset per machine");
    });

    it("finds a line and a machine, and names what it cannot find", async () => {
      const assets = createAssetQueries(context());
      assert.equal((await assets.machine("line-2", "press-02")).assetId, u(205));
      assert.equal((await assets.line("line-1")).machines.length, 4);
      assert.equal((await assets.factory()).name, "factory-a");
      await assert.rejects(assets.machine("line-2", "cnc-01"), (e: unknown) => e instanceof NotFoundError && e.key === "factory-a/line-2/cnc-01");
      await assert.rejects(assets.line("line-9"), (e: unknown) => e instanceof NotFoundError && e.kind === "line");
      const runSeconds = await assets.machineProperty("line-1", "cnc-02", "runSeconds");
      assert.deepEqual(runSeconds, { assetId: u(202), propertyId: PROPERTY_ID.get("machine-cnc/runSeconds"), name: "runSeconds" });
      await assert.rejects(assets.machineProperty("line-1", "cnc-02", "temperature"), NotFoundError);
    });

    it("a factory without its factory model or asset is a NotFoundError", async () => {
      const ctx = { ...context(), factoryId: "factory-z" as FactoryId };
      await assert.rejects(createAssetQueries(ctx).tree(), (e: unknown) => e instanceof NotFoundError && e.key === "factory-z-factory");
    });
  });

  describe("caching", () => {
    it("two concurrent lookups share one call sequence", async () => {
      const assets = createAssetQueries(context());
      const [a, b] = await Promise.all([assets.tree(), assets.tree()]);
      assert.equal(a, b);
      assert.equal(sitewise.commandCalls(ListAssetModelsCommand).length, 3, "one listing of three pages, not two");
      assert.equal(sitewise.commandCalls(ListAssetsCommand).length, 2);
      const [x, y] = await Promise.all([assets.describeAsset(u(201)), assets.describeAsset(u(201))]);
      assert.equal(x, y);
      assert.equal(sitewise.commandCalls(DescribeAssetCommand).length, 1);
      await assets.tree();
      await assets.models();
      assert.equal(sitewise.commandCalls(ListAssetModelsCommand).length, 3, "cached afterwards");
    });

    it("a failed lookup is not cached: the next call tries again, and its success is cached", async () => {
      sitewise.on(DescribeAssetCommand).rejectsOnce(throttling(3)).callsFake((input: { assetId: string }) => ({
        assetId: input.assetId,
        assetArn: "arn",
        assetName: "factory-a/line-1/cnc-01",
        assetModelId: u(1),
        assetProperties: [{ id: u(5000), name: "state", alias: "/sf/factory-a/line-1/cnc-01/state", dataType: "INTEGER" }],
        assetHierarchies: [],
        assetCreationDate: DATE,
        assetLastUpdateDate: DATE,
        assetStatus: { state: "ACTIVE" },
      }));
      const assets = createAssetQueries(context());
      const [first, second] = await Promise.allSettled([assets.property(u(201), "state"), assets.property(u(201), "state")]);
      assert.equal(first.status, "rejected");
      assert.equal(second.status, "rejected", "concurrent callers share the failed call");
      assert.ok(first.reason instanceof ThrottledError);
      assert.equal(sitewise.commandCalls(DescribeAssetCommand).length, 1);
      const state = await assets.property(u(201), "state");
      assert.deepEqual(state, { assetId: u(201), propertyId: u(5000), name: "state", alias: "/sf/factory-a/line-1/cnc-01/state" });
      await assets.property(u(201), "state");
      assert.equal(sitewise.commandCalls(DescribeAssetCommand).length, 2, "retried once, then cached");
    });

    it("clearCache forgets everything", async () => {
      const assets = createAssetQueries(context());
      await assets.models();
      assets.clearCache();
      await assets.models();
      assert.equal(sitewise.commandCalls(ListAssetModelsCommand).length, 6);
    });
  });

  describe("properties and references", () => {
    it("resolves an alias with DescribeTimeSeries, once", async () => {
      const alias = "/sf/factory-a/line-1/cnc-01/state";
      sitewise.on(DescribeTimeSeriesCommand, { alias }).resolves({
        assetId: u(201),
        propertyId: PROPERTY_ID.get("machine-cnc/state"),
        alias,
        timeSeriesId: "ts-1",
        dataType: "INTEGER",
        timeSeriesCreationDate: DATE,
        timeSeriesLastUpdateDate: DATE,
        timeSeriesArn: "arn:aws:iotsitewise:eu-central-1:123456789012:time-series/ts-1",
      });
      const assets = createAssetQueries(context());
      const [a, b] = await Promise.all([assets.propertyByAlias(alias), assets.propertyByAlias(alias)]);
      assert.deepEqual(a, { assetId: u(201), propertyId: PROPERTY_ID.get("machine-cnc/state"), alias });
      assert.equal(a, b);
      assert.equal(sitewise.commandCalls(DescribeTimeSeriesCommand).length, 1);
    });

    it("an unknown alias, or one of a disassociated stream, is a NotFoundError for the alias", async () => {
      sitewise
        .on(DescribeTimeSeriesCommand, { alias: "/sf/factory-a/nope/x/state" })
        .rejects(Object.assign(new Error("Time series not found"), { name: "ResourceNotFoundException", $metadata: { httpStatusCode: 404 } }));
      sitewise.on(DescribeTimeSeriesCommand, { alias: "/sf/factory-a/loose" }).resolves({ alias: "/sf/factory-a/loose", timeSeriesId: "ts-2", dataType: "DOUBLE" });
      const assets = createAssetQueries(context());
      await assert.rejects(assets.propertyByAlias("/sf/factory-a/nope/x/state"), (e: unknown) => e instanceof NotFoundError && e.kind === "alias" && e.cause instanceof NotFoundError);
      await assert.rejects(assets.propertyByAlias("/sf/factory-a/loose"), (e: unknown) => e instanceof NotFoundError && e.kind === "property with alias");
    });

    it("builds a reference from an asset id (DescribeAsset), and refuses another factory's asset", async () => {
      const assets = createAssetQueries(context());
      const ref = await assets.assetRef(u(204));
      assert.ok(ref.level === "machine", "a machine");
      assert.deepEqual([ref.lineId, ref.machineId], ["line-1", "press-01"]);
      assert.equal(ref.modelKey, "machine-press");
      assert.equal(ref.properties.oee, PROPERTY_ID.get("machine-press/oee"));
      await assert.rejects(assets.assetRef(u(999)), (e: unknown) => e instanceof NotFoundError && e.kind === "asset of factory factory-a");
      await assert.rejects(assets.assetRef(u(998)), (e: unknown) => e instanceof NotFoundError && e.kind === "asset" && e.key === u(998));
    });

    it("throttling after the AWS SDK's retries surfaces as ThrottledError with the AWS error as cause", async () => {
      const error = throttling(4);
      sitewise.on(ListAssetModelsCommand).rejects(error);
      const assets = createAssetQueries(context());
      await assert.rejects(assets.models(), (e: unknown) => e instanceof ThrottledError && e.operation === "ListAssetModels" && e.attempts === 4 && e.cause === error);
    });
  });
});
