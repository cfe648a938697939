import { strict as assert } from "node:assert";
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ListTopicsCommand, PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import {
  DescribeEndpointsCommand,
  RejectedRecordsException,
  TimestreamWriteClient,
  WriteRecordsCommand,
  type _Record,
} from "@aws-sdk/client-timestream-write";
import { emptyMachineDoc, type Notice } from "../../lambdas/detector/detector";
import { StateStore, VersionConflict } from "../../lambdas/detector/store";
import { LocalDynamoDb, UnsupportedExpressionError } from "../../local/cloud/localDynamoDb";
import { createLocalAws, LocalSns } from "../../local/cloud/localAws";
import { LocalTimestream } from "../../local/cloud/localTimestream";

const T = Date.UTC(2026, 10, 25, 8, 0, 0);
const TABLE = "factory-a-detector-state";

function aws() {
  return createLocalAws({
    region: "eu-central-1",
    clock: () => T,
    timestreamTables: { "factory-a-telemetry": ["telemetry"] },
    buckets: ["dead-letters"],
    deliveryStreams: ["lake"],
    dynamoDbTables: [{ name: TABLE, partitionKey: "pk", sortKey: "sk" }],
    topicArns: ["arn:aws:sns:eu-central-1:000000000000:factory-a-notifications"],
  });
}

/** A multi-measure telemetry record of press-01 at `time`, as the enrichment handler builds it. */
function record(time: number, temperature: string, version: number): _Record {
  return {
    Dimensions: [
      { Name: "factory", Value: "factory-a", DimensionValueType: "VARCHAR" },
      { Name: "machine", Value: "press-01", DimensionValueType: "VARCHAR" },
    ],
    Time: String(time),
    Version: version,
    MeasureValues: [{ Name: "motorTemperature", Value: temperature, Type: "DOUBLE" }],
  };
}

const COMMON = { MeasureName: "telemetry", MeasureValueType: "MULTI", TimeUnit: "MILLISECONDS" } as const;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("the call succeeded; it was expected to fail");
}

describe("local/cloud: AWS stand-ins behind real SDK clients", () => {
  describe("Timestream WriteRecords", () => {
    it("stores multi-measure records by dimensions, time and measure name, with the common attributes", async () => {
      const a = aws();
      await a.clients.timestream.send(new WriteRecordsCommand({ DatabaseName: "factory-a-telemetry", TableName: "telemetry", CommonAttributes: COMMON, Records: [record(T, "60", 5), record(T + 1000, "61", 7)] }));
      const stored = a.timestream.all();
      assert.equal(stored.length, 2);
      assert.deepEqual(stored[0], {
        database: "factory-a-telemetry",
        table: "telemetry",
        dimensions: { factory: "factory-a", machine: "press-01" },
        measureName: "telemetry",
        time: T,
        version: 5,
        measures: { motorTemperature: { type: "DOUBLE", value: "60" } },
      });
    });

    it("accepts a redelivered record, rejects a conflicting one whose version is not higher (ExistingVersion, RecordIndex) and still writes the rest, and lets a higher version replace", async () => {
      const a = aws();
      const write = (records: _Record[]) => a.clients.timestream.send(new WriteRecordsCommand({ DatabaseName: "factory-a-telemetry", TableName: "telemetry", CommonAttributes: COMMON, Records: records }));
      await write([record(T, "60", 5)]);
      await write([record(T, "60", 5)]); // the same record again: accepted, nothing changes
      const error = await rejection(write([record(T + 1000, "70", 1), record(T, "65", 5), record(T, "65", 4)]));
      assert.ok(error instanceof RejectedRecordsException, String(error));
      assert.deepEqual(
        (error.RejectedRecords ?? []).map((r) => [r.RecordIndex, r.ExistingVersion]),
        [
          [1, 5],
          [2, 5],
        ],
      );
      assert.ok((error.RejectedRecords?.[0]?.Reason ?? "").includes("version 5"), error.RejectedRecords?.[0]?.Reason);
      assert.deepEqual(
        a.timestream.all().map((r) => [r.time, r.measures.motorTemperature?.value, r.version]),
        [
          [T, "60", 5],
          [T + 1000, "70", 1],
        ],
        "the stored record is unchanged and the unrejected record of the same call was written",
      );
      await write([record(T, "65", 6)]);
      assert.equal(a.timestream.all().find((r) => r.time === T)?.measures.motorTemperature?.value, "65", "a higher version replaces the stored record");
    });

    it("refuses an unknown table and more than 100 records a call, as Timestream does", async () => {
      const a = aws();
      const unknown = await rejection(a.clients.timestream.send(new WriteRecordsCommand({ DatabaseName: "factory-a-telemetry", TableName: "nope", Records: [record(T, "1", 1)] })));
      assert.equal((unknown as Error).name, "ResourceNotFoundException");
      const many = Array.from({ length: 101 }, (_, i) => record(T + i, "1", 1));
      const tooMany = await rejection(a.clients.timestream.send(new WriteRecordsCommand({ DatabaseName: "factory-a-telemetry", TableName: "telemetry", CommonAttributes: COMMON, Records: many })));
      assert.equal((tooMany as Error).name, "ValidationException");
      assert.equal(a.timestream.all().length, 0);
    });
  });

  describe("DynamoDB with the detector store's expressions", () => {
    const notice: Notice = { id: "machine#press-01/fault/1/raise", event: "raise", severity: "critical", subject: "s", message: "m", attributes: {} };

    it("a conditional put succeeds only on a new item or on the version read, and fails with ConditionalCheckFailedException otherwise", async () => {
      const a = aws();
      const ddb = a.clients.dynamodb;
      const item = (version: number) => ({ pk: { S: "factory-a" }, sk: { S: "machine#press-01" }, version: { N: String(version) }, doc: { S: "{}" } });
      await ddb.send(new PutItemCommand({ TableName: TABLE, Item: item(1), ConditionExpression: "attribute_not_exists(#pk)", ExpressionAttributeNames: { "#pk": "pk" } }));
      const again = await rejection(ddb.send(new PutItemCommand({ TableName: TABLE, Item: item(1), ConditionExpression: "attribute_not_exists(#pk)", ExpressionAttributeNames: { "#pk": "pk" } })));
      assert.ok(again instanceof ConditionalCheckFailedException, String(again));
      const onVersion = (expected: number) =>
        ddb.send(new PutItemCommand({ TableName: TABLE, Item: item(expected + 1), ConditionExpression: "#version = :expected", ExpressionAttributeNames: { "#version": "version" }, ExpressionAttributeValues: { ":expected": { N: String(expected) } } }));
      await onVersion(1);
      const stale = await rejection(onVersion(1));
      assert.ok(stale instanceof ConditionalCheckFailedException, String(stale));
      const read = await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: "factory-a" }, sk: { S: "machine#press-01" } }, ConsistentRead: true }));
      assert.equal(read.Item?.version?.N, "2");
    });

    it("the real StateStore works against it: versions, conflicts, outbox claims and removals, the factory's query", async () => {
      const a = aws();
      const store = new StateStore(a.clients.dynamodb, TABLE, "factory-a");
      assert.equal(await store.put("machine#press-01", null, emptyMachineDoc(), { [notice.id]: { notice, claimedAt: T } }, T), 1);
      await assert.rejects(store.put("machine#press-01", null, emptyMachineDoc(), {}, T), VersionConflict);
      assert.equal(await store.put("machine#press-01", 1, emptyMachineDoc(), { [notice.id]: { notice, claimedAt: T } }, T), 2);
      await assert.rejects(store.put("machine#press-01", 1, emptyMachineDoc(), {}, T), VersionConflict);
      const item = await store.get("machine#press-01");
      const seen = item.outboxRaw[notice.id] ?? "";
      assert.equal(await store.claim("machine#press-01", notice.id, seen, T + 1), true, "the entry is as read: the claim succeeds");
      assert.equal(await store.claim("machine#press-01", notice.id, seen, T + 2), false, "the entry changed since: the claim fails");
      const claimed = await store.get("machine#press-01");
      assert.equal(claimed.version, 3, "the claim bumped the version");
      assert.equal(claimed.outbox[notice.id]?.claimedAt, T + 1);
      await store.remove("machine#press-01", notice.id);
      await store.remove("machine#press-01", notice.id); // already gone: its condition fails, which the store takes as done
      const removed = await store.get("machine#press-01");
      assert.deepEqual(removed.outbox, {});
      assert.equal(removed.version, 4);
      await store.put("gateway#gw-press", null, { kind: "gateway", heardAt: T, healthSentAt: null, healthReceivedAt: null, watermark: null, backlogReadings: null, backlogAgeSeconds: null, conditions: {} }, {}, T);
      assert.deepEqual((await store.all()).map((i) => i.sk), ["gateway#gw-press", "machine#press-01"]);
    });

    it("refuses any other expression or parameter with an error quoting it, never ignoring a condition", async () => {
      const a = aws();
      const ddb = a.clients.dynamodb;
      const key = { pk: { S: "factory-a" }, sk: { S: "machine#press-01" } };
      await ddb.send(new PutItemCommand({ TableName: TABLE, Item: { ...key, version: { N: "1" } } }));
      const cases: [string, Promise<unknown>][] = [
        [
          "#version = :one AND attribute_exists(#pk)",
          ddb.send(new PutItemCommand({ TableName: TABLE, Item: key, ConditionExpression: "#version = :one AND attribute_exists(#pk)", ExpressionAttributeNames: { "#version": "version", "#pk": "pk" }, ExpressionAttributeValues: { ":one": { N: "1" } } })),
        ],
        [
          "#version < :one",
          ddb.send(new PutItemCommand({ TableName: TABLE, Item: key, ConditionExpression: "#version < :one", ExpressionAttributeNames: { "#version": "version" }, ExpressionAttributeValues: { ":one": { N: "1" } } })),
        ],
        [
          "SET #version = #version + :one",
          ddb.send(new UpdateItemCommand({ TableName: TABLE, Key: key, UpdateExpression: "SET #version = #version + :one", ExpressionAttributeNames: { "#version": "version" }, ExpressionAttributeValues: { ":one": { N: "1" } } })),
        ],
        [
          "begins_with(#pk, :p)",
          ddb.send(new UpdateItemCommand({ TableName: TABLE, Key: key, UpdateExpression: "ADD #v :one", ConditionExpression: "begins_with(#pk, :p)", ExpressionAttributeNames: { "#pk": "pk", "#v": "v" }, ExpressionAttributeValues: { ":one": { N: "1" }, ":p": { S: "f" } } })),
        ],
      ];
      for (const [expression, call] of cases) {
        const error = await rejection(call);
        assert.ok(error instanceof UnsupportedExpressionError, `${expression}: ${String(error)}`);
        assert.ok(error.message.includes(JSON.stringify(expression)), error.message);
      }
      const filter = await rejection(
        ddb.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: "#pk = :pk", FilterExpression: "#v = :v", ExpressionAttributeNames: { "#pk": "pk", "#v": "version" }, ExpressionAttributeValues: { ":pk": { S: "factory-a" }, ":v": { N: "1" } } })),
      );
      assert.ok(filter instanceof Error && filter.message.includes("FilterExpression"), String(filter));
      assert.equal(a.dynamodb.items(TABLE)[0]?.version?.N, "1", "nothing was written by a refused call");
    });

    it("refuses placeholders it was given but never used, as DynamoDB does", async () => {
      const error = await rejection(
        new LocalDynamoDb([{ name: TABLE, partitionKey: "pk", sortKey: "sk" }]).client("eu-central-1").send(
          new PutItemCommand({ TableName: TABLE, Item: { pk: { S: "f" }, sk: { S: "s" } }, ConditionExpression: "attribute_not_exists(#pk)", ExpressionAttributeNames: { "#pk": "pk", "#other": "other" } }),
        ),
      );
      assert.equal((error as Error).name, "ValidationException");
      assert.ok((error as Error).message.includes("#other"));
    });
  });

  describe("commands and the network", () => {
    it("refuses a command it does not implement, naming the service and the command", async () => {
      const a = aws();
      const cases: [Promise<unknown>, RegExp][] = [
        [a.clients.dynamodb.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: { S: "f" }, sk: { S: "s" } } })), /local DynamoDB does not implement DeleteItem/],
        [a.clients.timestream.send(new DescribeEndpointsCommand({})), /local Timestream does not implement DescribeEndpoints/],
        [a.clients.sns.send(new ListTopicsCommand({})), /local SNS does not implement ListTopics/],
      ];
      for (const [call, expected] of cases) {
        const error = await rejection(call);
        assert.ok(error instanceof Error && expected.test(error.message), String(error));
      }
    });

    it("answers in the client's first middleware: no endpoint is resolved or discovered, no credentials are read, no request is sent", async () => {
      const touched: string[] = [];
      const spies = {
        region: "eu-central-1",
        endpoint: () => {
          touched.push("endpoint");
          return Promise.resolve({ url: new URL("https://127.0.0.1:1") });
        },
        credentials: () => {
          touched.push("credentials");
          return Promise.resolve({ accessKeyId: "x", secretAccessKey: "y" });
        },
        requestHandler: {
          handle: () => {
            touched.push("request");
            return Promise.reject(new Error("the network was reached"));
          },
        },
      };
      const timestream = new LocalTimestream({ tables: { db: ["t"] } }).attach(new TimestreamWriteClient({ ...spies, endpointDiscoveryEnabled: true }));
      const dynamodb = new LocalDynamoDb([{ name: TABLE, partitionKey: "pk", sortKey: "sk" }]).attach(new DynamoDBClient(spies));
      const sns = new LocalSns(["arn:topic"], () => T).attach(new SNSClient(spies));
      const s3 = createLocalAws({ region: "eu-central-1", clock: () => T, timestreamTables: {}, buckets: ["b"], deliveryStreams: [], dynamoDbTables: [], topicArns: [] }).s3.attach(new S3Client(spies));
      // anything past the local answer would show here
      for (const client of [timestream, dynamodb, sns, s3] as { middlewareStack: { add: (mw: unknown, options: unknown) => void } }[]) {
        for (const step of ["serialize", "build", "finalizeRequest", "deserialize"]) {
          client.middlewareStack.add(() => () => {
            touched.push(step);
            return Promise.reject(new Error(`${step} was reached`));
          }, { step, name: `spy-${step}` });
        }
      }
      await timestream.send(new WriteRecordsCommand({ DatabaseName: "db", TableName: "t", CommonAttributes: COMMON, Records: [record(T, "1", 1)] }));
      await dynamodb.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: "f" }, sk: { S: "s" } } }));
      await sns.send(new PublishCommand({ TopicArn: "arn:topic", Message: "hello" }));
      await s3.send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "{}" }));
      assert.deepEqual(touched, []);
    });
  });
});
