/**
 * Observability: the alarms and event rules that page the factory's on-call engineers through the notification
 * topic, and the factory's CloudWatch dashboard.
 *
 * Alarms (each sends ALARM and OK to the topic):
 * - every Lambda function: errors and throttles; every dead-letter queue: a message waiting;
 * - every topic rule: a message its actions failed on (the rule's error action writes it to the dead-letter
 *   bucket under `rule-errors/<kind>/`, counted by an S3 request-metrics filter) or could not parse;
 * - Timestream rejecting records the enrichment Lambda wrote, each of the data lake's Firehose streams failing to
 *   deliver (readings and machine states), readings the enrichment Lambda dead-lettered when Firehose refused them;
 * - no readings written for the factory, and no health message from a gateway, for the alert settings'
 *   `silentMachineSeconds` (missing data counts as breaching: silence is the condition).
 * Event rules: a Greengrass deployment that failed or was rejected on one of the factory's gateways, a SageMaker
 * pipeline execution of the factory that failed.
 *
 * Every Lambda's log group (retention, logs key) is made with the function itself (`FactoryFunction`).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { scopedName, thingName, type FactoryConfig, type MessageKind } from "@smart-factory/sdk";
import { healthNamespace, RULE_ERROR_PREFIX } from "./ingestion";
import type { AccountContext } from "../lib/iam";

/** A function and its dead-letter queue. */
export interface ObservedFunction {
  /** The function's short name (`enrich`): it names the alarms. */
  readonly key: string;
  readonly function: aws.lambda.Function;
  readonly deadLetterQueue: aws.sqs.Queue;
}

/** A Firehose stream of the data lake. */
export interface ObservedDeliveryStream {
  /** A short key that names its alarms: `<key>-delivery-failures` (and `<key>-dead-letters`). */
  readonly key: string;
  readonly name: pulumi.Input<string>;
  /**
   * When the enrichment Lambda feeds the stream: its metric of the records it dead-lettered because the stream did
   * not take them after retries (the state rule's failures are its error action's, alarmed per rule).
   */
  readonly deadLetteredMetric?: string;
}

/** A custom metric emitted with Powertools (namespace, and the `service` and `factory` dimensions it adds). */
export interface ServiceMetric {
  readonly namespace: string;
  readonly service: string;
  readonly metricName: string;
}

export interface ObservabilityArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly topicArn: pulumi.Input<string>;
  /** Every Lambda function of the stack. */
  readonly functions: readonly ObservedFunction[];
  /** The bucket the topic rules' error actions write to. */
  readonly deadLetterBucket: aws.s3.Bucket;
  /** The topic rules by kind (names). */
  readonly rules: Readonly<Partial<Record<MessageKind, pulumi.Input<string>>>>;
  /** The enrichment Lambda's metrics (namespace and service). */
  readonly enrichMetrics: { readonly namespace: string; readonly service: string };
  /** The data lake's delivery streams. */
  readonly deliveryStreams?: readonly ObservedDeliveryStream[];
  /** The detector's "alerts raised" metric, when there is a detector. */
  readonly alertsRaised?: ServiceMetric;
  /** Other dead-letter queues (e.g. a schedule's), by a short key that names the alarm. */
  readonly deadLetterQueues?: readonly { readonly key: string; readonly queue: aws.sqs.Queue; readonly what: string }[];
}

/** Seconds per alarm period. */
const PERIOD = 300;

/** The factory's alarms, event rules and dashboard. */
export class Observability extends pulumi.ComponentResource {
  readonly alarms: aws.cloudwatch.MetricAlarm[] = [];
  readonly eventRules: aws.cloudwatch.EventRule[] = [];
  readonly dashboard: aws.cloudwatch.Dashboard;

  constructor(name: string, args: ObservabilityArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:observability:Observability", name, {}, opts);
    const { config, account } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };
    const actions = { alarmActions: [args.topicArn], okActions: [args.topicArn] };
    const alarm = (id: string, props: Omit<aws.cloudwatch.MetricAlarmArgs, "alarmActions" | "okActions" | "name">): aws.cloudwatch.MetricAlarm => {
      const created = new aws.cloudwatch.MetricAlarm(`${name}-${id}`, { name: `${factoryId}-${id}`, ...actions, ...props }, child);
      this.alarms.push(created);
      return created;
    };
    const powertools = (service: string) => ({ service, factory: factoryId });
    /** An alarm on any occurrence of a metric in a 5-minute period; no data means nothing happened. */
    const anyIn5Minutes = (id: string, metric: Required<Pick<aws.cloudwatch.MetricAlarmArgs, "alarmDescription" | "namespace" | "metricName" | "dimensions" | "statistic">>): aws.cloudwatch.MetricAlarm =>
      alarm(id, { ...metric, period: PERIOD, evaluationPeriods: 1, threshold: 1, comparisonOperator: "GreaterThanOrEqualToThreshold", treatMissingData: "notBreaching" });

    // ------------------------------------------------------------------------------------ functions and queues
    for (const { key, function: fn, deadLetterQueue } of args.functions) {
      anyIn5Minutes(`${key}-errors`, {
        alarmDescription: pulumi.interpolate`Lambda ${fn.name} failed (errors in 5 minutes)`,
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: { FunctionName: fn.name },
        statistic: "Sum",
      });
      anyIn5Minutes(`${key}-throttles`, {
        alarmDescription: pulumi.interpolate`Lambda ${fn.name} was throttled (raise its concurrency or find the flood)`,
        namespace: "AWS/Lambda",
        metricName: "Throttles",
        dimensions: { FunctionName: fn.name },
        statistic: "Sum",
      });
      anyIn5Minutes(`${key}-dead-letters`, {
        alarmDescription: pulumi.interpolate`Dead-letter queue ${deadLetterQueue.name} holds failed invocations of ${fn.name}: inspect and redrive them`,
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: deadLetterQueue.name },
        statistic: "Maximum",
      });
    }

    for (const { key, queue, what } of args.deadLetterQueues ?? []) {
      anyIn5Minutes(`${key}-dead-letters`, {
        alarmDescription: pulumi.interpolate`Dead-letter queue ${queue.name} holds ${what}: inspect them`,
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: queue.name },
        statistic: "Maximum",
      });
    }

    // ------------------------------------------------------------------------------------------- topic rules
    for (const [kind, ruleName] of Object.entries(args.rules) as [MessageKind, pulumi.Input<string>][]) {
      const filterId = `rule-errors-${kind}`;
      new aws.s3.BucketMetric(`${name}-${filterId}`, { bucket: args.deadLetterBucket.id, name: filterId, filter: { prefix: `${RULE_ERROR_PREFIX}${kind}/` } }, child);
      alarm(`${kind}-rule-failures`, {
        alarmDescription: `The ${kind} topic rule could not parse a message or its actions failed on one (the message is in the dead-letter bucket under ${RULE_ERROR_PREFIX}${kind}/)`,
        metricQueries: [
          { id: "errors", metric: { namespace: "AWS/S3", metricName: "PutRequests", dimensions: { BucketName: args.deadLetterBucket.bucket, FilterId: filterId }, period: PERIOD, stat: "Sum" } },
          { id: "parse", metric: { namespace: "AWS/IoT", metricName: "ParseError", dimensions: { RuleName: ruleName }, period: PERIOD, stat: "Sum" } },
          { id: "failures", expression: "FILL(errors, 0) + FILL(parse, 0)", label: "failed messages", returnData: true },
        ],
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
      });
    }

    // ------------------------------------------------------------------------------------ stores and silence
    anyIn5Minutes("timestream-rejected-records", {
      alarmDescription: "Timestream rejected records the enrichment Lambda wrote (see its log and the dead-letter bucket under enrich/)",
      namespace: args.enrichMetrics.namespace,
      metricName: "RecordsRejectedByTimestream",
      dimensions: powertools(args.enrichMetrics.service),
      statistic: "Sum",
    });
    for (const stream of args.deliveryStreams ?? []) {
      if (stream.deadLetteredMetric !== undefined) {
        anyIn5Minutes(`${stream.key}-dead-letters`, {
          alarmDescription: pulumi.interpolate`The enrichment Lambda dead-lettered records Firehose ${stream.name} did not take after retries (they wait under enrich/lake/ in the dead-letter bucket, ready to resend)`,
          namespace: args.enrichMetrics.namespace,
          metricName: stream.deadLetteredMetric,
          dimensions: powertools(args.enrichMetrics.service),
          statistic: "Sum",
        });
      }
      alarm(`${stream.key}-delivery-failures`, {
        alarmDescription: pulumi.interpolate`Firehose ${stream.name} failed to deliver to the data lake (its error output prefix holds the records)`,
        namespace: "AWS/Firehose",
        metricName: "DeliveryToS3.Success",
        dimensions: { DeliveryStreamName: stream.name },
        statistic: "Minimum",
        period: PERIOD,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "LessThanThreshold",
        treatMissingData: "notBreaching",
      });
    }
    // silence: minutes without data, at least 5 (alarm periods are whole minutes)
    const silentPeriods = Math.max(5, Math.ceil(config.alerts.silentMachineSeconds / 60));
    alarm("no-data", {
      alarmDescription: `No readings written for ${config.factory.name} for ${silentPeriods} minutes: every gateway's uplink, the rules or the enrichment Lambda`,
      namespace: args.enrichMetrics.namespace,
      metricName: "ReadingsWritten",
      dimensions: powertools(args.enrichMetrics.service),
      statistic: "Sum",
      period: 60,
      evaluationPeriods: silentPeriods,
      threshold: 1,
      comparisonOperator: "LessThanThreshold",
      treatMissingData: "breaching",
    });
    const gatewayNamespace = healthNamespace(factoryId);
    for (const gateway of config.gateways) {
      const thing = thingName(factoryId, gateway.id);
      alarm(`${gateway.id}-silent`, {
        alarmDescription: `No health message from gateway ${thing} (${gateway.name}) for ${silentPeriods} minutes: its uplink, its Greengrass core or the agent is down`,
        namespace: gatewayNamespace,
        metricName: `${thing}.backlogReadings`,
        statistic: "SampleCount",
        period: 60,
        evaluationPeriods: silentPeriods,
        threshold: 1,
        comparisonOperator: "LessThanThreshold",
        treatMissingData: "breaching",
      });
    }

    // ------------------------------------------------------------------------------------------- event rules
    const eventRule = (id: string, description: string, pattern: Record<string, unknown>, text: { paths: Record<string, string>; template: string }): void => {
      const rule = new aws.cloudwatch.EventRule(`${name}-${id}`, { name: scopedName("eventRule", factoryId, id), description, eventPattern: JSON.stringify(pattern) }, child);
      new aws.cloudwatch.EventTarget(
        `${name}-${id}`,
        { rule: rule.name, arn: args.topicArn, inputTransformer: { inputPaths: text.paths, inputTemplate: text.template } },
        child,
      );
      this.eventRules.push(rule);
    };
    eventRule(
      "deployment-failures",
      `A Greengrass deployment failed or was rejected on a gateway of ${config.factory.name}`,
      {
        source: ["aws.greengrass"],
        "detail-type": ["Greengrass V2 Effective Deployment Status Change"],
        resources: [{ prefix: `arn:aws:greengrass:${account.region}:` }],
        detail: { coreDeviceExecutionStatus: ["FAILED", "REJECTED"] },
      },
      {
        paths: { core: "$.resources[0]", status: "$.detail.coreDeviceExecutionStatus", deployment: "$.detail.deploymentId", errors: "$.detail.statusDetails.errorStack" },
        template: `"Greengrass deployment <deployment> is <status> on <core> (${factoryId}). Error stack: <errors>. Check the core's greengrass.log."`,
      },
    );
    eventRule(
      "pipeline-failures",
      `A SageMaker pipeline execution of ${config.factory.name} failed`,
      {
        source: ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
        detail: { currentPipelineExecutionStatus: ["Failed"], pipelineArn: [{ prefix: `arn:aws:sagemaker:${account.region}:` }] },
      },
      {
        paths: { pipeline: "$.detail.pipelineArn", execution: "$.detail.pipelineExecutionArn" },
        template: `"SageMaker pipeline <pipeline> failed (${factoryId}): execution <execution>. The last model stays in use."`,
      },
    );

    // -------------------------------------------------------------------------------------------- dashboard
    this.dashboard = new aws.cloudwatch.Dashboard(
      name,
      { dashboardName: `${factoryId}-operations`, dashboardBody: dashboardBody(args) },
      child,
    );
    this.registerOutputs({ dashboard: this.dashboard.dashboardName, alarms: this.alarms.length });
  }
}

/** The dashboard's widgets: ingest, rules, Lambdas, Timestream, the edge buffers, alerts. */
function dashboardBody(args: ObservabilityArgs): pulumi.Output<string> {
  const { config, account } = args;
  const factoryId = config.factory.id;
  const region = account.region;
  const service = (s: string) => ["service", s, "factory", factoryId];
  const widget = (title: string, metrics: unknown[], x: number, y: number, extra: Record<string, unknown> = {}) => ({
    type: "metric",
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region, view: "timeSeries", stat: "Sum", period: 60, metrics, ...extra },
  });
  const enrich = args.enrichMetrics;
  const widgets = [
    widget("Readings per minute", [[enrich.namespace, "ReadingsReceived", ...service(enrich.service)], [enrich.namespace, "ReadingsWritten", ...service(enrich.service)], [enrich.namespace, "ReadingsRejected", ...service(enrich.service)]], 0, 0),
    widget(
      "Topic rule failures",
      Object.entries(args.rules).flatMap(([kind, rule]) => [
        ["AWS/S3", "PutRequests", "BucketName", args.deadLetterBucket.bucket, "FilterId", `rule-errors-${kind}`, { label: `${kind} failed` }],
        ["AWS/IoT", "ParseError", "RuleName", rule, { label: `${kind} parse errors` }],
      ]),
      12,
      0,
    ),
    widget("Lambda errors", args.functions.map(({ function: fn }) => ["AWS/Lambda", "Errors", "FunctionName", fn.name]), 0, 6),
    widget("Lambda duration (p99)", args.functions.map(({ function: fn }) => ["AWS/Lambda", "Duration", "FunctionName", fn.name]), 12, 6, { stat: "p99" }),
    widget("Timestream rejected records", [[enrich.namespace, "RecordsRejectedByTimestream", ...service(enrich.service)]], 0, 12),
    widget(
      "Edge buffer depth (readings)",
      config.gateways.map((g) => [healthNamespace(factoryId), `${thingName(factoryId, g.id)}.backlogReadings`]),
      12,
      12,
      { stat: "Maximum" },
    ),
    ...(args.alertsRaised === undefined
      ? []
      : [widget("Alerts raised", [[args.alertsRaised.namespace, args.alertsRaised.metricName, ...service(args.alertsRaised.service)]], 0, 18)]),
  ];
  return pulumi.jsonStringify({ widgets });
}
