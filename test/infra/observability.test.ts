import { strict as assert } from "node:assert";
import { thingName } from "@smart-factory/sdk";
import { checkStack } from "../../infra/policy/engine";
import { POLICIES } from "../../infra/policy/policies";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";
import { readStackConfig, renderStack, type RenderedStack, ofType } from "../helpers/stacks";


describe("infra: Observability (alarms, event rules, the operations dashboard) and Notifications", function () {
  this.timeout(60_000);
  const rendered = new Map<string, RenderedStack>();
  const stack = async (name: string): Promise<RenderedStack> => {
    const cached = rendered.get(name);
    if (cached !== undefined) return cached;
    const r = await renderStack(name, readStackConfig(name));
    rendered.set(name, r);
    return r;
  };

  for (const name of ["factory-a", "factory-c"]) {
    it(`${name}: every function, dead-letter queue, rule and gateway has an alarm that notifies the factory's topic`, async () => {
      const r = await stack(name);
      const config = loadFactoryConfigFromStack(name);
      const topic = ofType(r, "aws:sns/topic:Topic").find((t) => t.inputs.name === `${name}-notifications`);
      assert.ok(topic, "the notification topic");
      assert.equal(topic.inputs.kmsMasterKeyId, ofType(r, "aws:kms/key:Key").find((k) => k.name === "keys-notifications")?.state.arn);
      assert.deepEqual(
        ofType(r, "aws:sns/topicSubscription:TopicSubscription").map((s) => [s.inputs.protocol, s.inputs.endpoint]),
        config.alerts.notify.emails.map((e) => ["email", e]),
      );
      const alarms = ofType(r, "aws:cloudwatch/metricAlarm:MetricAlarm");
      for (const alarm of alarms) {
        assert.deepEqual(alarm.inputs.alarmActions, [topic.state.arn], String(alarm.inputs.name));
        assert.deepEqual(alarm.inputs.okActions, [topic.state.arn], String(alarm.inputs.name));
      }
      const byName = new Map(alarms.map((a) => [String(a.inputs.name), a]));
      for (const fn of ofType(r, "aws:lambda/function:Function")) {
        const short = String(fn.inputs.name).slice(name.length + 1);
        assert.deepEqual(byName.get(`${name}-${short}-errors`)?.inputs.dimensions, { FunctionName: fn.inputs.name });
        assert.equal(byName.get(`${name}-${short}-errors`)?.inputs.metricName, "Errors");
        assert.equal(byName.get(`${name}-${short}-throttles`)?.inputs.metricName, "Throttles");
        assert.deepEqual(byName.get(`${name}-${short}-dead-letters`)?.inputs.dimensions, { QueueName: `${String(fn.inputs.name)}-dlq` });
      }
      for (const kind of ["telemetry", "state", "health"]) {
        const alarm = byName.get(`${name}-${kind}-rule-failures`);
        const queries = alarm?.inputs.metricQueries as { id: string; expression?: string; metric?: { metricName: string; dimensions: Record<string, unknown> } }[];
        assert.deepEqual(queries.map((q) => q.metric?.metricName ?? q.expression), ["PutRequests", "ParseError", "FILL(errors, 0) + FILL(parse, 0)"]);
        assert.equal(queries[0]?.metric?.dimensions.FilterId, `rule-errors-${kind}`);
        const filter = ofType(r, "aws:s3/bucketMetric:BucketMetric").find((m) => m.inputs.name === `rule-errors-${kind}`);
        assert.deepEqual(filter?.inputs.filter, { prefix: `rule-errors/${kind}/` });
      }
      const silent = Math.max(5, Math.ceil(config.alerts.silentMachineSeconds / 60));
      const noData = byName.get(`${name}-no-data`);
      assert.deepEqual([noData?.inputs.metricName, noData?.inputs.treatMissingData, noData?.inputs.evaluationPeriods, noData?.inputs.comparisonOperator], ["ReadingsWritten", "breaching", silent, "LessThanThreshold"]);
      assert.deepEqual(noData?.inputs.dimensions, { service: "enrich", factory: name });
      for (const gateway of config.gateways) {
        const alarm = byName.get(`${name}-${gateway.id}-silent`);
        assert.equal(alarm?.inputs.metricName, `${thingName(config.factory.id, gateway.id)}.backlogReadings`);
        assert.equal(alarm.inputs.namespace, `SmartFactory/${name}/Gateways`);
        assert.equal(alarm.inputs.treatMissingData, "breaching");
      }
      assert.equal(byName.get(`${name}-timestream-rejected-records`)?.inputs.metricName, "RecordsRejectedByTimestream");
      assert.deepEqual(byName.get(`${name}-detector-sweep-dead-letters`)?.inputs.dimensions, { QueueName: `${name}-detector-sweep-dlq` });
      assert.equal(byName.get(`${name}-lake-dead-letters`)?.inputs.metricName, "LakeReadingsDeadLettered");
      assert.deepEqual(byName.get(`${name}-lake-delivery-failures`)?.inputs.dimensions, { DeliveryStreamName: `${name}-lake-readings` });
      assert.deepEqual(byName.get(`${name}-lake-states-delivery-failures`)?.inputs.dimensions, { DeliveryStreamName: `${name}-lake-states` });
      assert.equal(byName.get(`${name}-lake-states-delivery-failures`)?.inputs.metricName, "DeliveryToS3.Success");
      // the state rule's failures (Firehose among its actions) are its error action's, alarmed per rule: no enrich dead-letter alarm for the states stream
      assert.equal(byName.get(`${name}-lake-states-dead-letters`), undefined);
    });
  }

  it("sends failed Greengrass deployments and SageMaker pipeline runs to the topic, readably", async () => {
    const r = await stack("factory-a");
    const rules = ofType(r, "aws:cloudwatch/eventRule:EventRule");
    const targets = ofType(r, "aws:cloudwatch/eventTarget:EventTarget");
    const topicArn = ofType(r, "aws:sns/topic:Topic").find((t) => t.inputs.name === "factory-a-notifications")?.state.arn;
    const deployments = rules.find((x) => x.inputs.name === "factory-a-deployment-failures");
    const pattern = JSON.parse(String(deployments?.inputs.eventPattern)) as { source: string[]; "detail-type": string[]; detail: { coreDeviceExecutionStatus: string[] } };
    assert.deepEqual([pattern.source, pattern["detail-type"], pattern.detail.coreDeviceExecutionStatus], [["aws.greengrass"], ["Greengrass V2 Effective Deployment Status Change"], ["FAILED", "REJECTED"]]);
    const pipelines = rules.find((x) => x.inputs.name === "factory-a-pipeline-failures");
    assert.match(String(pipelines?.inputs.eventPattern), /"currentPipelineExecutionStatus":\["Failed"\]/);
    for (const rule of [deployments, pipelines]) {
      const target = targets.find((t) => t.inputs.rule === rule?.inputs.name);
      assert.equal(target?.inputs.arn, topicArn);
      assert.match((target?.inputs.inputTransformer as { inputTemplate: string }).inputTemplate, /factory-a/);
    }
    // the topic admits exactly these publishers, from this account, and only over TLS
    const policy = JSON.parse(String(ofType(r, "aws:sns/topicPolicy:TopicPolicy")[0]?.inputs.policy)) as { Statement: { Sid: string; Principal: unknown; Condition: unknown }[] };
    assert.deepEqual(policy.Statement.map((s) => s.Sid), ["AlarmsAndEventRulesOfThisAccount", "DenyWithoutTls"]);
    assert.deepEqual(policy.Statement[0]?.Principal, { Service: ["cloudwatch.amazonaws.com", "events.amazonaws.com"] });
  });

  it("the dashboard shows ingest, rule failures, Lambdas, Timestream rejections and every gateway's buffer", async () => {
    const r = await stack("factory-a");
    const dashboard = ofType(r, "aws:cloudwatch/dashboard:Dashboard")[0];
    assert.equal(dashboard?.inputs.dashboardName, "factory-a-operations");
    const body = JSON.parse(String(dashboard.inputs.dashboardBody)) as { widgets: { properties: { title: string; metrics: unknown[][] } }[] };
    const titles = body.widgets.map((w) => w.properties.title);
    for (const title of ["Readings per minute", "Topic rule failures", "Lambda errors", "Lambda duration (p99)", "Timestream rejected records", "Edge buffer depth (readings)"]) assert.ok(titles.includes(title), title);
    const buffers = body.widgets.find((w) => w.properties.title === "Edge buffer depth (readings)")?.properties.metrics.map((m) => m[1]);
    assert.deepEqual(buffers, loadFactoryConfigFromStack("factory-a").gateways.map((g) => `factory-a-${g.id}.backlogReadings`));
  });

  it("passes the policy pack, whose alarm rule is now mandatory", async () => {
    for (const name of ["factory-a", "factory-c"]) {
      const report = await checkStack(await stack(name), POLICIES);
      assert.equal(report.failed, false, JSON.stringify(report.results.flatMap((x) => x.violations.filter((v) => v.enforcementLevel === "mandatory"))));
      const alarmRule = report.results.find((x) => x.policy === "alarms-for-functions-and-dead-letters");
      assert.ok(alarmRule);
      assert.deepEqual(alarmRule.violations, []);
    }
  });
});
