import { strict as assert } from "node:assert";
import { BatchPutAssetPropertyValueCommand, IoTSiteWiseClient } from "@aws-sdk/client-iotsitewise";
import { mockClient, type AwsClientStub } from "aws-sdk-client-mock";
import { createAttributesHandler } from "../../lambdas/twin-attributes/handler";

describe("lambdas/twin-attributes: per-machine attribute values set at deploy time", () => {
  let sitewise: AwsClientStub<IoTSiteWiseClient>;
  beforeEach(() => {
    sitewise = mockClient(IoTSiteWiseClient);
  });
  afterEach(() => {
    sitewise.restore();
  });
  const values = Array.from({ length: 24 }, (_, i) => ({ alias: `/sf/factory-a/press-line-1/press-${String(i).padStart(2, "0")}/idealRunRate`, value: 18 + i / 10 }));

  it("writes 24 values in 3 calls of at most 10 entries, each a DOUBLE at the invocation's time", async () => {
    sitewise.on(BatchPutAssetPropertyValueCommand).resolves({ errorEntries: [] });
    const handler = createAttributesHandler(new IoTSiteWiseClient({ region: "eu-central-1" }), () => 1_764_000_000_500);
    const result = await handler({ values });
    assert.deepEqual(result, { written: 24, calls: 3 });
    const calls = sitewise.commandCalls(BatchPutAssetPropertyValueCommand);
    assert.deepEqual(calls.map((c) => c.args[0].input.entries?.length), [10, 10, 4]);
    const first = calls[0]?.args[0].input.entries?.[0];
    assert.equal(first?.propertyAlias, values[0]?.alias);
    assert.deepEqual(first?.propertyValues?.[0], { value: { doubleValue: 18 }, timestamp: { timeInSeconds: 1_764_000_000, offsetInNanos: 0 }, quality: "GOOD" });
    const all = calls.flatMap((c) => c.args[0].input.entries ?? []).map((e) => [e.propertyAlias, e.propertyValues?.[0]?.value?.doubleValue]);
    assert.deepEqual(all, values.map((v) => [v.alias, v.value]));
  });

  it("fails the deployment, naming each alias SiteWise rejected", async () => {
    sitewise.on(BatchPutAssetPropertyValueCommand).resolves({
      errorEntries: [{ entryId: "3", errors: [{ errorCode: "ResourceNotFoundException", errorMessage: "no property with this alias", timestamps: [] }] }],
    });
    const handler = createAttributesHandler(new IoTSiteWiseClient({ region: "eu-central-1" }));
    await assert.rejects(handler({ values: values.slice(0, 5) }), /rejected 1 attribute value\(s\): \/sf\/factory-a\/press-line-1\/press-03\/idealRunRate: ResourceNotFoundException/);
  });

  it("rejects a malformed event before calling SiteWise, naming index, field and value", async () => {
    const handler = createAttributesHandler(new IoTSiteWiseClient({ region: "eu-central-1" }));
    await assert.rejects(handler({ values: [{ alias: "x", value: 1 }, { alias: "/a", value: Number.NaN }, { alias: "/a", value: 2 }] }), (e: Error) => {
      assert.match(e.message, /values\[0\]\.alias: expected a property alias starting with \/, got "x"/);
      assert.match(e.message, /values\[1\]\.value: expected a finite number, got null/);
      assert.match(e.message, /values\[2\]\.alias: \/a is given twice/);
      return true;
    });
    await assert.rejects(handler({}), /event\.values: expected a list/);
    assert.equal(sitewise.commandCalls(BatchPutAssetPropertyValueCommand).length, 0);
  });
});
