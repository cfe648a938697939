import { strict as assert } from "node:assert";
import type { PlannedResource, RenderedStack } from "../../infra/offline";
import { checkStack, type Violation } from "../../infra/policy/engine";
import type { Rule } from "../../infra/policy/lib";
import { POLICIES } from "../../infra/policy/policies";
import { alarmsForFunctionsAndDeadLetters } from "../../infra/policy/rules/alarmsForFunctionsAndDeadLetters";
import { cmkEncryption } from "../../infra/policy/rules/cmkEncryption";
import { costTags } from "../../infra/policy/rules/costTags";
import { iamNoWildcardActions } from "../../infra/policy/rules/iamNoWildcardActions";
import { iamWildcardResources } from "../../infra/policy/rules/iamWildcardResources";
import { iotPolicyScoped } from "../../infra/policy/rules/iotPolicyScoped";
import { kmsKeyRotation } from "../../infra/policy/rules/kmsKeyRotation";
import { lambdaInVpc, vpcDisabledNotice } from "../../infra/policy/rules/lambdaInVpc";
import { lambdaRuntimeAndDlq } from "../../infra/policy/rules/lambdaRuntimeAndDlq";
import { logRetention } from "../../infra/policy/rules/logRetention";
import { noRetiredServices } from "../../infra/policy/rules/noRetiredServices";
import { s3BucketHardening } from "../../infra/policy/rules/s3BucketHardening";
import { statefulProtected } from "../../infra/policy/rules/statefulProtected";
import { timestreamMagneticWrites } from "../../infra/policy/rules/timestreamMagneticWrites";
import { topicRuleErrorAction } from "../../infra/policy/rules/topicRuleErrorAction";

const STACK = "urn:pulumi:test::smart-factory::";

/** A resource as the renderer records it. */
function res(type: string, name: string, inputs: Record<string, unknown>, extra: Partial<PlannedResource> = {}): PlannedResource {
  return { urn: `${STACK}${type}::${name}`, type, name, parentUrn: "", custom: true, protect: false, retainOnDelete: false, inputs, state: inputs, provider: undefined, dependencies: [], propertyDependencies: {}, ...extra };
}

async function violations(rule: Rule, ...resources: PlannedResource[]): Promise<Violation[]> {
  const stack = { stack: "test", exports: {}, resources, mocks: undefined } as unknown as RenderedStack;
  const report = await checkStack(stack, [rule]);
  return [...(report.results[0]?.violations ?? [])];
}

async function passes(rule: Rule, ...resources: PlannedResource[]): Promise<void> {
  const found = await violations(rule, ...resources);
  assert.deepEqual(found.map((v) => v.message), []);
}

async function fails(rule: Rule, pattern: RegExp, ...resources: PlannedResource[]): Promise<Violation[]> {
  const found = await violations(rule, ...resources);
  assert.ok(found.length > 0, `${rule.name} reports a violation`);
  assert.ok(found.some((v) => pattern.test(v.message)), `${rule.name}: ${found.map((v) => v.message).join(" | ")} matches ${String(pattern)}`);
  return found;
}

const doc = (...statements: Record<string, unknown>[]): string => JSON.stringify({ Version: "2012-10-17", Statement: statements });
const KEY = res("aws:kms/key:Key", "data", { enableKeyRotation: true });
const THING = "${iot:Connection.Thing.ThingName}";

describe("policy pack: every rule with a compliant and a violating resource", () => {
  it("lists each rule once, named, described and with an enforcement level", () => {
    const names = POLICIES.map((p) => p.name);
    assert.equal(new Set(names).size, names.length);
    for (const p of POLICIES) {
      assert.ok(p.description.length > 10, p.name);
      assert.ok(["mandatory", "advisory"].includes(p.enforcementLevel ?? ""), p.name);
    }
  });

  it("iam-no-wildcard-actions", async () => {
    await passes(iamNoWildcardActions, res("aws:iam/rolePolicy:RolePolicy", "ok", { policy: doc({ Effect: "Allow", Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::b/*"] }) }));
    await passes(iamNoWildcardActions, res("aws:s3/bucketPolicy:BucketPolicy", "deny-is-fine", { policy: doc({ Effect: "Deny", Principal: "*", Action: "s3:*", Resource: "*" }) }));
    await fails(iamNoWildcardActions, /statement Bad allows wildcard action\(s\) s3:\*/, res("aws:iam/rolePolicy:RolePolicy", "bad", { policy: doc({ Sid: "Bad", Effect: "Allow", Action: ["s3:*"], Resource: ["*"] }) }));
    await fails(iamNoWildcardActions, /wildcard action\(s\) kms:Get\*/, res("aws:kms/key:Key", "k", { policy: doc({ Effect: "Allow", Principal: { AWS: "x" }, Action: "kms:Get*", Resource: "*" }) }));
    await fails(iamNoWildcardActions, /allows NotAction \["iam:PassRole"\]/, res("aws:iam/policy:Policy", "n", { policy: doc({ Effect: "Allow", NotAction: ["iam:PassRole"], Resource: "*" }) }));
  });

  it("iam-wildcard-resources-allow-list", async () => {
    await passes(iamWildcardResources, res("aws:iam/rolePolicy:RolePolicy", "ok", { policy: doc({ Effect: "Allow", Action: ["timestream:DescribeEndpoints"], Resource: "*" }) }));
    await fails(iamWildcardResources, /grants s3:PutObject on Resource "\*"/, res("aws:iam/rolePolicy:RolePolicy", "bad", { policy: doc({ Effect: "Allow", Action: ["s3:PutObject", "timestream:DescribeEndpoints"], Resource: ["*"] }) }));
  });

  it("iot-policy-scoped-to-the-gateway", async () => {
    const iot = (statements: Record<string, unknown>[]): PlannedResource => res("aws:iot/policy:Policy", "gw", { policy: doc(...statements) });
    await passes(iotPolicyScoped, iot([
      { Effect: "Allow", Action: ["iot:Connect"], Resource: [`arn:aws:iot:eu-central-1:1:client/${THING}`] },
      { Effect: "Allow", Action: ["iot:Publish"], Resource: [`arn:aws:iot:eu-central-1:1:topic/$aws/rules/sf_a_telemetry/sf/v1/a/${THING}/telemetry`] },
      { Effect: "Allow", Action: ["iot:AssumeRoleWithCertificate"], Resource: ["arn:aws:iot:eu-central-1:1:rolealias/a-token-exchange"] },
    ]));
    await fails(iotPolicyScoped, /wildcard action iot:\*/, iot([{ Effect: "Allow", Action: ["iot:*"], Resource: [`arn:aws:iot:r:1:client/${THING}`] }]));
    await fails(iotPolicyScoped, /allows every topic/, iot([{ Effect: "Allow", Action: ["iot:Publish"], Resource: ["arn:aws:iot:r:1:topic/*"] }]));
    await fails(iotPolicyScoped, /topic\/sf\/v1\/a\/gw-2\/telemetry is not scoped to the connected thing/, iot([{ Effect: "Allow", Action: ["iot:Publish"], Resource: ["arn:aws:iot:r:1:topic/sf/v1/a/gw-2/telemetry"] }]));
    await fails(iotPolicyScoped, /on every resource/, iot([{ Effect: "Allow", Action: ["iot:Connect"], Resource: "*" }]));
  });

  it("topic-rule-error-action", async () => {
    await passes(topicRuleErrorAction, res("aws-native:iot:TopicRule", "ok", { ruleName: "r", topicRulePayload: { sql: "SELECT *", actions: [], errorAction: { s3: { bucketName: "dl" } } } }));
    await fails(topicRuleErrorAction, /topic rule sf_a_state has no error action/, res("aws-native:iot:TopicRule", "bad", { ruleName: "sf_a_state", topicRulePayload: { sql: "SELECT *", actions: [] } }));
    await fails(topicRuleErrorAction, /topic rule legacy has no error action/, res("aws:iot/topicRule:TopicRule", "legacy", { name: "legacy", sql: "SELECT *", enabled: true }));
  });

  it("encryption-with-customer-managed-key, for every store type", async () => {
    const viaKey = { propertyDependencies: { kmsKeyId: [KEY.urn] } };
    await passes(cmkEncryption, KEY, res("aws:cloudwatch/logGroup:LogGroup", "ok", {}, viaKey));
    await passes(cmkEncryption, res("aws:sqs/queue:Queue", "ok", { kmsMasterKeyId: "arn:aws:kms:r:1:key/abc" }));
    await passes(cmkEncryption, res("aws:dynamodb/table:Table", "ok", { serverSideEncryption: { enabled: true, kmsKeyArn: "arn:aws:kms:r:1:key/abc" } }));
    await fails(cmkEncryption, /Queue q is not encrypted with a customer-managed KMS key \(kmsMasterKeyId: "alias\/aws\/sqs"\)/, res("aws:sqs/queue:Queue", "q", { kmsMasterKeyId: "alias/aws/sqs" }));
    await fails(cmkEncryption, /Database db is not encrypted/, res("aws:timestreamwrite/database:Database", "db", { databaseName: "x" }));
    await fails(cmkEncryption, /Topic t is not encrypted/, res("aws:sns/topic:Topic", "t", {}));
    await fails(cmkEncryption, /Table tbl is not encrypted/, res("aws:dynamodb/table:Table", "tbl", { serverSideEncryption: { enabled: false } }));
    await fails(cmkEncryption, /FirehoseDeliveryStream fh is not encrypted/, res("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "fh", { serverSideEncryption: { enabled: true, keyType: "AWS_OWNED_CMK" } }));
    await fails(cmkEncryption, /EndpointConfiguration ep is not encrypted/, res("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "ep", {}));
    await passes(cmkEncryption, res("aws:timestreamquery/scheduledQuery:ScheduledQuery", "ok", { kmsKeyId: "arn:aws:kms:r:1:key/abc" }));
    await fails(cmkEncryption, /ScheduledQuery sq is not encrypted/, res("aws:timestreamquery/scheduledQuery:ScheduledQuery", "sq", { name: "sq" }));
    await fails(cmkEncryption, /LogGroup lg is not encrypted/, res("aws:cloudwatch/logGroup:LogGroup", "lg", { retentionInDays: 7 }));
    const results = (encryptionOption: string, enforce?: boolean): Record<string, unknown> => ({
      configuration: { ...(enforce === undefined ? {} : { enforceWorkgroupConfiguration: enforce }), resultConfiguration: { encryptionConfiguration: { encryptionOption, kmsKeyArn: "arn:aws:kms:r:1:key/abc" } } },
    });
    await passes(cmkEncryption, res("aws:athena/workgroup:Workgroup", "wg", results("SSE_KMS", true)));
    await passes(cmkEncryption, res("aws:athena/workgroup:Workgroup", "wg", results("SSE_KMS")));
    await fails(cmkEncryption, /Workgroup wg is not encrypted with a customer-managed KMS key/, res("aws:athena/workgroup:Workgroup", "wg", results("SSE_S3", true)));
    await fails(cmkEncryption, /Workgroup wg is not encrypted/, res("aws:athena/workgroup:Workgroup", "wg", results("SSE_KMS", false)));
    await fails(cmkEncryption, /Workgroup wg is not encrypted/, res("aws:athena/workgroup:Workgroup", "wg", {}));
  });

  it("s3-private-tls-only-cmk", async () => {
    const bucket = res("aws:s3/bucket:Bucket", "archive", { bucket: "factory-a-archive" });
    const on = { bucket: "id", blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true };
    const forBucket = (props: string[]): Partial<PlannedResource> => ({ propertyDependencies: Object.fromEntries(props.map((p) => [p, [bucket.urn]])) });
    const block = res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "archive", on, forBucket(["bucket"]));
    const tls = res("aws:s3/bucketPolicy:BucketPolicy", "archive", { bucket: "id", policy: doc({ Effect: "Deny", Principal: { AWS: "*" }, Action: ["s3:*"], Resource: ["arn"], Condition: { Bool: { "aws:SecureTransport": false } } }) }, forBucket(["bucket"]));
    const sse = res(
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "archive",
      { bucket: "id", rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "arn:aws:kms:r:1:key/k" } }] },
      forBucket(["bucket"]),
    );
    await passes(s3BucketHardening, bucket, block, tls, sse);
    await fails(s3BucketHardening, /bucket factory-a-archive: public access is not blocked \(restrictPublicBuckets not true\)/, bucket, { ...block, inputs: { ...on, restrictPublicBuckets: false } }, tls, sse);
    await fails(s3BucketHardening, /no bucket policy denies requests without TLS/, bucket, block, sse);
    await fails(s3BucketHardening, /default encryption is not aws:kms with a customer-managed key/, bucket, block, tls, { ...sse, inputs: { bucket: "id", rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] } });
  });

  it("kms-key-rotation", async () => {
    await passes(kmsKeyRotation, KEY);
    await fails(kmsKeyRotation, /KMS key k does not rotate \(enableKeyRotation is false\)/, res("aws:kms/key:Key", "k", { enableKeyRotation: false }));
  });

  it("log-group-retention", async () => {
    await passes(logRetention, res("aws:cloudwatch/logGroup:LogGroup", "ok", { name: "/aws/lambda/x", retentionInDays: 90 }));
    await fails(logRetention, /log group \/aws\/lambda\/x keeps logs forever \(retentionInDays is not set\)/, res("aws:cloudwatch/logGroup:LogGroup", "lg", { name: "/aws/lambda/x" }));
  });

  it("lambda-runtime-and-dead-letters", async () => {
    await passes(lambdaRuntimeAndDlq, res("aws:lambda/function:Function", "ok", { name: "f", runtime: "nodejs24.x", deadLetterConfig: { targetArn: "arn:aws:sqs:r:1:q" } }));
    await fails(lambdaRuntimeAndDlq, /function f runs nodejs20\.x: use nodejs22\.x or newer/, res("aws:lambda/function:Function", "f", { name: "f", runtime: "nodejs20.x", deadLetterConfig: { targetArn: "q" } }));
    await fails(lambdaRuntimeAndDlq, /function f has no dead-letter target/, res("aws:lambda/function:Function", "f", { name: "f", runtime: "nodejs22.x" }));
    await fails(lambdaRuntimeAndDlq, /runs python3\.12/, res("aws:lambda/function:Function", "f", { name: "f", runtime: "python3.12", deadLetterConfig: { targetArn: "q" } }));
  });

  it("lambda-in-vpc, and the advisory notice when the VPC is off", async () => {
    const vpc = res("awsx:ec2:Vpc", "network", { cidrBlock: "10.0.0.0/16" }, { custom: false });
    const placed = res("aws:lambda/function:Function", "in", { name: "in", vpcConfig: { subnetIds: ["s-1", "s-2"], securityGroupIds: ["sg-1"] } });
    const outside = res("aws:lambda/function:Function", "out", { name: "out" });
    await passes(lambdaInVpc, vpc, placed);
    await passes(lambdaInVpc, outside); // no VPC in the stack: the notice speaks instead
    await fails(lambdaInVpc, /function out is not in the factory's VPC/, vpc, placed, outside);
    await passes(vpcDisabledNotice, vpc, placed);
    await fails(vpcDisabledNotice, /the VPC is disabled by config \(smart-factory:features\.vpc\.enabled = false\): 1 Lambda function\(s\) reach AWS over public endpoints/, outside);
    assert.equal(vpcDisabledNotice.enforcementLevel, "advisory");
  });

  it("timestream-magnetic-store-writes", async () => {
    await passes(timestreamMagneticWrites, res("aws:timestreamwrite/table:Table", "t", { tableName: "telemetry", magneticStoreWriteProperties: { enableMagneticStoreWrites: true, magneticStoreRejectedDataLocation: { s3Configuration: { bucketName: "b" } } } }));
    await fails(timestreamMagneticWrites, /table telemetry rejects records older than its memory store/, res("aws:timestreamwrite/table:Table", "t", { tableName: "telemetry" }));
    await fails(timestreamMagneticWrites, /has no rejected-data location/, res("aws:timestreamwrite/table:Table", "t", { tableName: "telemetry", magneticStoreWriteProperties: { enableMagneticStoreWrites: true } }));
  });

  it("stateful-stores-protected", async () => {
    await passes(statefulProtected, res("aws:s3/bucket:Bucket", "b", {}, { protect: true }), res("aws:sqs/queue:Queue", "q", {}));
    await fails(statefulProtected, /Database db holds factory data but is not protected/, res("aws:timestreamwrite/database:Database", "db", {}));
  });

  it("required-cost-tags, through the provider's default tags or the resource's own", async () => {
    const tags = { CostCenter: "c", Owner: "o", Environment: "e", Factory: "f" };
    const provider = res("pulumi:providers:aws", "aws", { defaultTags: JSON.stringify({ tags }) });
    const bare = res("pulumi:providers:aws", "bare", { region: "eu-central-1" });
    const via = (p: PlannedResource): Partial<PlannedResource> => ({ provider: `${p.urn}::id` });
    await passes(costTags, provider, res("aws:sqs/queue:Queue", "q", {}, via(provider)));
    await passes(costTags, res("aws-native:iot:TopicRule", "r", { tags: Object.entries(tags).map(([key, value]) => ({ key, value })) }));
    await fails(costTags, /provider bare does not set the default tag\(s\) CostCenter, Owner, Environment, Factory/, bare);
    await fails(costTags, /q would not carry the tag\(s\) Owner, Factory/, bare, res("aws:sqs/queue:Queue", "q", { tags: { CostCenter: "c", Environment: "e" } }, via(bare)));
  });

  it("no-retired-services", async () => {
    await passes(noRetiredServices, res("aws-native:iotsitewise:AssetModel", "m", {}));
    await fails(noRetiredServices, /AWS IoT Analytics, which new AWS accounts can no longer use: use Firehose/, res("aws:iotanalytics/channel:Channel", "c", {}));
    await fails(noRetiredServices, /AWS IoT Events/, res("aws-native:iotevents:DetectorModel", "d", {}));
    await fails(noRetiredServices, /SiteWise Monitor/, res("aws-native:iotsitewise:Portal", "p", {}));
  });

  it("alarms-for-functions-and-dead-letters (mandatory: an alarm that pages someone)", async () => {
    const queue = res("aws:sqs/queue:Queue", "dlq", { name: "f-dlq" });
    const fn = res("aws:lambda/function:Function", "f", { name: "f", deadLetterConfig: { targetArn: "arn" } }, { propertyDependencies: { deadLetterConfig: [queue.urn] } });
    const page = { alarmActions: ["arn:aws:sns:eu-central-1:123456789012:factory-a-notifications"] };
    const fnAlarm = res("aws:cloudwatch/metricAlarm:MetricAlarm", "f-errors", { dimensions: { FunctionName: "f" }, ...page });
    const dlqAlarm = res("aws:cloudwatch/metricAlarm:MetricAlarm", "dlq-depth", { dimensions: { QueueName: "f-dlq" }, ...page });
    const silentAlarm = res("aws:cloudwatch/metricAlarm:MetricAlarm", "dlq-silent", { dimensions: { QueueName: "f-dlq" } });
    const mathAlarm = res("aws:cloudwatch/metricAlarm:MetricAlarm", "f-math", { metricQueries: [{ id: "m", metric: { dimensions: { FunctionName: "f" } } }], ...page });
    await passes(alarmsForFunctionsAndDeadLetters, queue, fn, fnAlarm, dlqAlarm);
    await passes(alarmsForFunctionsAndDeadLetters, queue, fn, mathAlarm, dlqAlarm);
    await fails(alarmsForFunctionsAndDeadLetters, /dead-letter queue f-dlq has no CloudWatch alarm that notifies anyone/, queue, fn, fnAlarm);
    await fails(alarmsForFunctionsAndDeadLetters, /dead-letter queue f-dlq has no CloudWatch alarm that notifies anyone/, queue, fn, fnAlarm, silentAlarm);
    await fails(alarmsForFunctionsAndDeadLetters, /function f has no CloudWatch alarm/, queue, fn, dlqAlarm);
    assert.equal(alarmsForFunctionsAndDeadLetters.enforcementLevel, "mandatory");
  });
});
