import { strict as assert } from "node:assert";
import { BatchGetAssetPropertyValueCommand, IoTSiteWiseClient, ListAssetModelsCommand } from "@aws-sdk/client-iotsitewise";
import { QueryCommand, TimestreamQueryClient } from "@aws-sdk/client-timestream-query";
import { createFactoryClient, DEFAULT_MAX_ATTEMPTS, QueryValidationError, ThrottledError, type MachineRef } from "@smart-factory/sdk";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";

describe("createFactoryClient: one client per factory, three query families", () => {
  let sitewise: AwsClientStub<IoTSiteWiseClient>;
  let timestream: AwsClientStub<TimestreamQueryClient>;
  beforeEach(() => {
    sitewise = mockClient(IoTSiteWiseClient);
    timestream = mockClient(TimestreamQueryClient);
  });
  afterEach(() => {
    sitewise.restore();
    timestream.restore();
  });

  it("rejects a factory id that is not one, naming the field", () => {
    assert.throws(() => createFactoryClient({ factoryId: "Factory A'; --" }), (e: unknown) => e instanceof QueryValidationError && e.field === "factoryId" && /got "Factory A'; --"/.test(e.message));
    assert.throws(() => createFactoryClient({ factoryId: "factory-a", maxAttempts: 0 }), /maxAttempts: expected a whole number of attempts from 1, got 0/);
  });

  it("makes its own clients with adaptive retries in the given region, and releases only those", async () => {
    const client = createFactoryClient({ factoryId: "factory-b", region: "us-east-2" });
    assert.equal(await client.sitewise.config.region(), "us-east-2");
    assert.equal(await client.timestream.config.region(), "us-east-2");
    assert.equal(await client.sitewise.config.maxAttempts(), DEFAULT_MAX_ATTEMPTS);
    assert.equal(client.timestream.config.retryMode, "adaptive");
    client.destroy();
    const mine = new IoTSiteWiseClient({ region: "eu-central-1" });
    const borrowed = createFactoryClient({ factoryId: "factory-a", sitewise: mine });
    assert.equal(borrowed.sitewise, mine, "the caller's client is used as it is");
  });

  it("uses the caller's clients for every family", async () => {
    sitewise.on(ListAssetModelsCommand).resolves({
      assetModelSummaries: [
        { id: "m-1", arn: "arn:aws:iotsitewise:eu-central-1:123456789012:asset-model/m-1", name: "factory-a-machine-servo-press", description: "", creationDate: new Date(0), lastUpdateDate: new Date(0), status: { state: "ACTIVE" } },
        { id: "m-2", arn: "arn:aws:iotsitewise:eu-central-1:123456789012:asset-model/m-2", name: "factory-b-factory", description: "", creationDate: new Date(0), lastUpdateDate: new Date(0), status: { state: "ACTIVE" } },
      ],
    });
    const end = Date.UTC(2026, 10, 23, 7, 0, 0) / 1000;
    sitewise.on(BatchGetAssetPropertyValueCommand).callsFake((input: { entries: { entryId: string; propertyId: string }[] }) => ({
      successEntries: input.entries.map((e) => ({ entryId: e.entryId, assetPropertyValue: { value: { doubleValue: { "p-availability": 0.8, "p-performance": 0.9, "p-quality": 1, "p-oee": 0.72 }[e.propertyId] }, timestamp: { timeInSeconds: end, offsetInNanos: 0 }, quality: "GOOD" } })),
      errorEntries: [],
      skippedEntries: [],
    }));
    timestream.on(QueryCommand).rejects(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: { attempts: 5 } }));

    const client = createFactoryClient({ factoryId: "factory-a", sitewise: new IoTSiteWiseClient({ region: "eu-central-1" }), timestream: new TimestreamQueryClient({ region: "eu-central-1" }) });
    const models = await client.assets.models();
    assert.deepEqual(models.map((m) => m.name), ["factory-a-machine-servo-press"], "only this factory's models");

    const press: MachineRef = {
      level: "machine",
      assetId: "a-press-01",
      name: "factory-a/press-line-1/press-01",
      modelId: "m-1",
      modelKey: "machine-servo-press",
      lineId: "press-line-1",
      machineId: "press-01",
      properties: { availability: "p-availability", performance: "p-performance", quality: "p-quality", oee: "p-oee" },
    };
    const [current] = await client.oee.current([press]);
    assert.ok(current);
    assert.deepEqual(current.ratios, { availability: 0.8, performance: 0.9, quality: 1, oee: 0.72 });
    assert.equal(current.windowEnd, end * 1000);

    await assert.rejects(client.telemetry.latest({ machineIds: ["press-01"], tags: ["spindleTemperature"] }), (e: unknown) => e instanceof ThrottledError && e.attempts === 5 && (e.cause as Error).name === "ThrottlingException");
    client.destroy(); // the caller's clients stay usable
    sitewise.on(ListAssetModelsCommand).resolves({ assetModelSummaries: [] });
    assert.deepEqual(await createFactoryClient({ factoryId: "factory-a", sitewise: new IoTSiteWiseClient({ region: "eu-central-1" }) }).assets.models(), []);
  });

  it("answers \"which machines are faulted now\" from each machine's state, per machine", async () => {
    const at = Date.UTC(2026, 10, 23, 6, 41, 7) / 1000;
    sitewise.on(BatchGetAssetPropertyValueCommand).callsFake((input: { entries: { entryId: string; assetId: string }[] }) => ({
      successEntries: input.entries
        .filter((e) => e.assetId !== "a-3")
        .map((e) => ({ entryId: e.entryId, assetPropertyValue: { value: { integerValue: e.assetId === "a-1" ? 1 : 2 }, timestamp: { timeInSeconds: at, offsetInNanos: 0 }, quality: "GOOD" } })),
      errorEntries: input.entries.filter((e) => e.assetId === "a-3").map((e) => ({ entryId: e.entryId, errorCode: "ResourceNotFoundException", errorMessage: "asset a-3 was deleted" })),
      skippedEntries: [],
    }));
    const machine = (i: number, properties: Record<string, string>): MachineRef => ({ level: "machine", assetId: `a-${i}`, name: `factory-a/press-line-1/press-0${i}`, modelId: "m", modelKey: "machine-servo-press", lineId: "press-line-1", machineId: `press-0${i}`, properties });
    const client = createFactoryClient({ factoryId: "factory-a", sitewise: new IoTSiteWiseClient({ region: "eu-central-1" }) });
    const states = await client.assets.states([machine(1, { state: "s-1" }), machine(2, { state: "s-2" }), machine(3, { state: "s-3" }), machine(4, {})]);
    assert.deepEqual(
      states.map((s) => [s.machine.machineId, s.state, s.since?.toISOString(), s.issue]),
      [
        ["press-01", "running", "2026-11-23T06:41:07.000Z", undefined],
        ["press-02", "fault", "2026-11-23T06:41:07.000Z", undefined],
        ["press-03", undefined, undefined, states[2]?.issue],
        ["press-04", undefined, undefined, "machine factory-a/press-line-1/press-04 has no state property"],
      ],
    );
    assert.match(states[2]?.issue ?? "", /ResourceNotFoundException|deleted/);
    assert.equal(sitewise.commandCalls(BatchGetAssetPropertyValueCommand).length, 1, "one call for all machines");
    assert.deepEqual(states.filter((s) => s.state === "fault").map((s) => s.machine.machineId), ["press-02"]);
  });
});
