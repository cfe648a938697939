import { strict as assert } from "node:assert";
import { topicRuleName, type FactoryId } from "@smart-factory/sdk";
import { DETECTOR_DEAD_LETTER_PREFIX, SWEEP_INPUT, SWEEP_SCHEDULE } from "../../infra/components/alerts";
import { bundleHandler } from "../../infra/lib/bundle";
import { checkStack } from "../../infra/policy/engine";
import { POLICIES } from "../../infra/policy/policies";
import { InputReader } from "../../lambdas/detector/events";
import { DEAD_LETTER_PREFIX } from "../../lambdas/detector/handler";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";
import { MOCK_ACCOUNT, readStackConfig, renderStack, stackNames, type PlannedResource, type RenderedStack, ofType, type Statement, one, statementsOf } from "../helpers/stacks";

/** Sid -> [actions, resources, condition] of a policy, for exact comparisons. */
const grants = (statements: Statement[]): Record<string, [string[], string[], unknown]> =>
  Object.fromEntries(statements.map((s) => [s.Sid, [[...s.Action].sort(), [s.Resource ?? []].flat().map(String).sort(), s.Condition ?? null]]));
const via = (service: string, region: string): unknown => ({ StringEquals: { "kms:ViaService": `${service}.${region}.amazonaws.com` } });

describe("infra: Alerts (the detector's state table, function and sweep) in the three stacks", function () {
  this.timeout(180_000);
  const rendered = new Map<string, RenderedStack>();
  let scored: RenderedStack;
  const approvedArn = "arn:aws:sagemaker:eu-central-1:123456789012:model-package/factory-a-failure-risk/3";
  before(async () => {
    for (const stack of stackNames()) rendered.set(stack, await renderStack(stack, readStackConfig(stack)));
    const config = readStackConfig("factory-a");
    const features = config["smart-factory:features"] as Record<string, unknown>;
    scored = await renderStack("factory-a", { ...config, "smart-factory:features": { ...features, predictiveMaintenance: { enabled: true, approvedModelPackageArn: approvedArn } } });
  });
  const each = (title: string, fn: (r: RenderedStack) => void | Promise<void>): void => {
    for (const stack of ["factory-a", "factory-b", "factory-c"]) {
      it(`${stack}: ${title}`, async () => {
        const r = rendered.get(stack);
        assert.ok(r, `${stack} rendered`);
        await fn(r);
      });
    }
  };
  const dataKey = (r: RenderedStack): string => String(one(r, "aws:kms/key:Key", "keys-data").state.arn);
  const detector = (r: RenderedStack): PlannedResource => one(r, "aws:lambda/function:Function", "alerts-detector");

  each("the state table: on demand, encrypted with the data key, point-in-time recovery, deletion protection, protected", (r) => {
    const table = one(r, "aws:dynamodb/table:Table", "alerts-state");
    assert.equal(table.inputs.name, `${r.stack}-detector-state`);
    assert.equal(table.inputs.billingMode, "PAY_PER_REQUEST");
    assert.deepEqual([table.inputs.hashKey, table.inputs.rangeKey, table.inputs.attributes], ["pk", "sk", [{ name: "pk", type: "S" }, { name: "sk", type: "S" }]]);
    assert.deepEqual(table.inputs.serverSideEncryption, { enabled: true, kmsKeyArn: dataKey(r) });
    assert.deepEqual(table.inputs.pointInTimeRecovery, { enabled: true });
    assert.equal(table.inputs.deletionProtectionEnabled, true);
    assert.ok(table.protect && table.retainOnDelete, "protected and retained: losing it would page every active condition again");
    // DynamoDB may use the data key for the account's principals (the table's encryption)
    const keyPolicy = statementsOf(one(r, "aws:kms/key:Key", "keys-data").inputs.policy);
    const services = keyPolicy.flatMap((s) => [s.Condition?.StringEquals?.["kms:ViaService"] ?? []].flat());
    assert.ok(services.includes(`dynamodb.${r.mocks.region}.amazonaws.com`));
  });

  each("the detector function: its environment names the table, topic and dead-letter bucket, the inventory travels beside the code", (r) => {
    const fn = detector(r);
    const table = one(r, "aws:dynamodb/table:Table", "alerts-state");
    const topic = ofType(r, "aws:sns/topic:Topic").find((t) => t.inputs.name === `${r.stack}-notifications`);
    const deadLetters = ofType(r, "aws:s3/bucket:Bucket").find((b) => b.name === "ingest-dead-letters");
    assert.ok(topic && deadLetters);
    assert.equal(fn.inputs.name, `${r.stack}-detector`);
    assert.deepEqual((fn.inputs.environment as { variables: Record<string, string> }).variables, {
      STATE_TABLE: table.inputs.name,
      NOTIFICATION_TOPIC_ARN: topic.state.arn,
      DEAD_LETTER_BUCKET: deadLetters.inputs.bucket,
      POWERTOOLS_SERVICE_NAME: "detector",
      POWERTOOLS_METRICS_NAMESPACE: `SmartFactory/${r.stack}`,
    });
    assert.equal(fn.inputs.kmsKeyArn, dataKey(r));
    assert.equal((fn.inputs.deadLetterConfig as { targetArn: string }).targetArn, one(r, "aws:sqs/queue:Queue", "alerts-detector-dlq").state.arn);
    const expected = bundleHandler("lambdas/detector/index.ts", { "factory.json": JSON.stringify(loadFactoryConfigFromStack(r.stack)) });
    assert.equal(fn.inputs.sourceCodeHash, expected.sha256, "the detector's bundle with this factory's inventory");
    const vpc = (readStackConfig(r.stack)["smart-factory:features"] as { vpc: { enabled: boolean } }).vpc.enabled;
    assert.equal(fn.inputs.vpcConfig !== undefined, vpc, "in the VPC exactly when the factory has one");
    assert.equal(DETECTOR_DEAD_LETTER_PREFIX, DEAD_LETTER_PREFIX, "the role's dead-letter prefix is the one the function writes");
  });

  each("the detector's role may do exactly what the detector does", (r) => {
    const region = r.mocks.region;
    const role = one(r, "aws:iam/role:Role", "alerts-detector");
    assert.deepEqual(statementsOf(role.inputs.assumeRolePolicy).map((s) => s.Principal?.Service), ["lambda.amazonaws.com"]);
    const policy = grants(statementsOf(one(r, "aws:iam/rolePolicy:RolePolicy", "alerts-detector").inputs.policy));
    const table = String(one(r, "aws:dynamodb/table:Table", "alerts-state").state.arn);
    const topic = String(ofType(r, "aws:sns/topic:Topic").find((t) => t.inputs.name === `${r.stack}-notifications`)?.state.arn);
    const notificationsKey = String(one(r, "aws:kms/key:Key", "keys-notifications").state.arn);
    const deadLetters = String(ofType(r, "aws:s3/bucket:Bucket").find((b) => b.name === "ingest-dead-letters")?.state.arn);
    const vpc = (readStackConfig(r.stack)["smart-factory:features"] as { vpc: { enabled: boolean } }).vpc.enabled;
    const { NetworkInterfacesInTheVpc: networkInterfaces, ...rest } = policy;
    assert.equal(networkInterfaces !== undefined, vpc);
    assert.deepEqual(rest, {
      DetectorState: [["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"], [table], null],
      StateTableEncryption: [["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], [dataKey(r)], via("dynamodb", region)],
      PublishAlerts: [["sns:Publish"], [topic], null],
      EncryptAlertsWithTheNotificationsKey: [["kms:Decrypt", "kms:GenerateDataKey"], [notificationsKey], via("sns", region)],
      DeadLetterUnusableInput: [["s3:PutObject"], [`${deadLetters}/detector/*`], null],
      EncryptDeadLettersWithTheDataKey: [["kms:GenerateDataKey"], [dataKey(r)], via("s3", region)],
      FailedInvocationsToDlq: [["sqs:SendMessage"], [String(one(r, "aws:sqs/queue:Queue", "alerts-detector-dlq").state.arn)], null],
      UseTheDataKey: [["kms:Decrypt", "kms:GenerateDataKey"], [dataKey(r)], { StringEquals: { "kms:ViaService": [`sqs.${region}.amazonaws.com`, `lambda.${region}.amazonaws.com`] } }],
      WriteOwnLogs: [["logs:CreateLogStream", "logs:PutLogEvents"], [`${String(one(r, "aws:cloudwatch/logGroup:LogGroup", "alerts-detector").state.arn)}:*`], null],
    });
  });

  each("the sweep: every minute on the dot, its own role that may only invoke the detector, retries and a dead-letter queue", (r) => {
    const schedule = one(r, "aws:scheduler/schedule:Schedule", "alerts-sweep");
    const fn = detector(r);
    const role = one(r, "aws:iam/role:Role", "alerts-sweep");
    const dlq = one(r, "aws:sqs/queue:Queue", "alerts-sweep-dlq");
    assert.equal(schedule.inputs.name, `${r.stack}-detector-sweep`);
    assert.equal(schedule.inputs.scheduleExpression, SWEEP_SCHEDULE);
    assert.equal(SWEEP_SCHEDULE, "rate(1 minute)");
    assert.deepEqual(schedule.inputs.flexibleTimeWindow, { mode: "OFF" });
    assert.deepEqual(schedule.inputs.target, {
      arn: fn.state.arn,
      roleArn: role.state.arn,
      input: SWEEP_INPUT,
      retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 300 },
      deadLetterConfig: { arn: dlq.state.arn },
    });
    assert.equal(dlq.inputs.kmsMasterKeyId, dataKey(r));
    // the function reads the input as a sweep
    const read = new InputReader(loadFactoryConfigFromStack(r.stack)).read(JSON.parse(SWEEP_INPUT), Date.now());
    assert.ok(read.ok && read.input.kind === "sweep");
    const trust = statementsOf(role.inputs.assumeRolePolicy);
    assert.deepEqual(trust.map((s) => [s.Principal?.Service, s.Condition]), [["scheduler.amazonaws.com", { StringEquals: { "aws:SourceAccount": MOCK_ACCOUNT } }]]);
    assert.deepEqual(grants(statementsOf(one(r, "aws:iam/rolePolicy:RolePolicy", "alerts-sweep").inputs.policy)), {
      InvokeTheFunction: [["lambda:InvokeFunction"], [String(fn.state.arn)], null],
      UndeliveredToDlq: [["sqs:SendMessage"], [String(dlq.state.arn)], null],
      EncryptTheDlq: [["kms:Decrypt", "kms:GenerateDataKey"], [dataKey(r)], via("sqs", r.mocks.region)],
    });
    assert.ok(schedule.dependencies.includes(one(r, "aws:iam/rolePolicy:RolePolicy", "alerts-sweep").urn), "the role may invoke before the first sweep");
  });

  each("the telemetry, state and health rules invoke the detector, each with its own permission", (r) => {
    const fn = detector(r);
    const rules = ofType(r, "aws-native:iot:TopicRule");
    const permissions = ofType(r, "aws:lambda/permission:Permission").filter((p) => p.inputs.function === fn.inputs.name);
    assert.equal(permissions.length, 3);
    for (const kind of ["telemetry", "state", "health"] as const) {
      const rule = rules.find((x) => x.inputs.ruleName === topicRuleName(r.stack as FactoryId, kind));
      assert.ok(rule, kind);
      const actions = (rule.inputs.topicRulePayload as { actions: { lambda?: { functionArn: string } }[] }).actions;
      assert.equal(actions.filter((a) => a.lambda?.functionArn === fn.state.arn).length, 1, `${kind} invokes the detector`);
      const permission = permissions.find((p) => p.inputs.sourceArn === rule.state.arn);
      assert.ok(permission, `${kind} may invoke the detector`);
      assert.deepEqual([permission.inputs.action, permission.inputs.principal, permission.inputs.sourceAccount], ["lambda:InvokeFunction", "iot.amazonaws.com", MOCK_ACCOUNT]);
    }
    const invokeConfig = ofType(r, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").find((c) => c.inputs.functionName === fn.inputs.name);
    assert.deepEqual([invokeConfig?.inputs.maximumRetryAttempts, invokeConfig?.inputs.maximumEventAgeInSeconds], [2, 3600]);
  });

  each("the operator finds the table, function and sweep in the stack outputs, and the detector has its alarms", (r) => {
    assert.deepEqual(r.exports.alertDetection, {
      stateTable: `${r.stack}-detector-state`,
      detectorFunction: `${r.stack}-detector`,
      detectorDeadLetterQueue: one(r, "aws:sqs/queue:Queue", "alerts-detector-dlq").state.url,
      sweepSchedule: `${r.stack}-detector-sweep`,
      sweepDeadLetterQueue: one(r, "aws:sqs/queue:Queue", "alerts-sweep-dlq").state.url,
      failureScore: "off (no approved predictive-maintenance model)",
    });
    const alarms = ofType(r, "aws:cloudwatch/metricAlarm:MetricAlarm").map((a) => a.inputs.name);
    for (const alarm of ["errors", "throttles", "dead-letters"]) assert.ok(alarms.includes(`${r.stack}-detector-${alarm}`), `${r.stack}-detector-${alarm}`);
  });

  each("the policy pack finds nothing mandatory to object to in Alerts", async (r) => {
    const report = await checkStack(r, POLICIES);
    const violations = report.results.flatMap((x) => x.violations.filter((v) => v.enforcementLevel === "mandatory"));
    assert.deepEqual(violations, []);
    assert.equal(r.resources.filter((x) => x.name.startsWith("alerts")).length, 13, "the table, function, queues, roles and schedule were all checked");
  });

  it("factory-a with an approved model: the detector scores on the endpoint, and may invoke exactly that endpoint", async () => {
    const fn = detector(scored);
    const endpoint = one(scored, "aws:sagemaker/endpoint:Endpoint", "maintenance-endpoint");
    const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    assert.equal(env.SCORE_ENDPOINT, endpoint.inputs.name);
    assert.equal(env.SCORE_THRESHOLD, "0.8");
    const policy = grants(statementsOf(one(scored, "aws:iam/rolePolicy:RolePolicy", "alerts-detector").inputs.policy));
    assert.deepEqual(policy.ScoreMachines, [["sagemaker:InvokeEndpoint"], [String(endpoint.state.arn)], null]);
    assert.equal((scored.exports.alertDetection as { failureScore: string }).failureScore, "on");
    const report = await checkStack(scored, POLICIES);
    assert.deepEqual(report.results.flatMap((x) => x.violations.filter((v) => v.enforcementLevel === "mandatory")), []);
  });
});
