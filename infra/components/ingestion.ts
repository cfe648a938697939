/**
 * Ingestion: the factory's IoT topic rules and the enrichment Lambda.
 *
 * Gateways publish on Basic Ingest topics (`$aws/rules/<rule>/sf/v1/...`): the message goes straight to its rule,
 * with no broker fan-out and no messaging charge. Basic Ingest hands a message to exactly one rule, so each rule
 * archives what it received itself (an S3 action beside its main action) instead of a separate "raw" rule that
 * would never see the message.
 *
 * - telemetry: the binary batch reaches the Lambda base64-encoded (`encode(*, 'base64')`, the only way IoT Core
 *   passes binary to a Lambda) with `topic()`, `clientid()` and `timestamp()`; the archive keeps that envelope,
 *   whose payload is the message byte for byte.
 * - state: fixed-shape JSON, one message per machine event, written to SiteWise by the rule's IoT SiteWise action
 *   with aliases built from the topic, and (with a lake) to the lake's states stream by a `firehose` action: the
 *   rule then selects the message plus the lake's fields (`STATE_RULE_SELECT`: factory, line and machine from the
 *   topic, the state's name, epoch milliseconds, the UTC day), which the SiteWise action ignores and the detector
 *   checks against the message. Chosen over the Lambda with `BatchPutAssetPropertyValue` because a state message
 *   maps 1:1 to one put of three entries: no Lambda invocation per event, no code between the gateway and the
 *   twin, and the gateway's publish budget (100 publishes/s per connection; state events are a few per second per
 *   factory) is far from the limit. The Lambda stays for telemetry, which needs decoding and unit conversion.
 * - health: gateway health JSON -> CloudWatch metrics per gateway.
 *
 * Every rule has an error action that writes the failed message (IoT Core includes the original payload) to the
 * dead-letter bucket; the Lambda's own rejections go there too, and its failed asynchronous invocations to an
 * SQS dead-letter queue. Nothing is dropped silently.
 */
import * as aws from "@pulumi/aws";
import * as awsnative from "@pulumi/aws-native";
import * as pulumi from "@pulumi/pulumi";
import {
  HEALTH_METRICS,
  MACHINE_PROPERTIES,
  scopedName,
  statePropertyAliasTemplate,
  STATE_RULE_SELECT,
  TELEMETRY_RULE_SELECT,
  TOPIC_LEVELS,
  TOPIC_PREFIX,
  topicRuleName,
  type FactoryConfig,
  type MessageKind,
} from "@smart-factory/sdk";
import { FactoryFunction, type FunctionPlacement } from "../lib/factoryFunction";
import { arn, policyDocument, renderPolicy, trustPolicy, type AccountContext, type Statement } from "../lib/iam";
import { bucketName, objectsUnder, SecureBucket } from "../lib/secureBucket";

export interface IngestionArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly dataKeyArn: pulumi.Input<string>;
  readonly logsKeyArn: pulumi.Input<string>;
  readonly timestream: { readonly databaseName: pulumi.Input<string>; readonly tableName: pulumi.Input<string>; readonly tableArn: pulumi.Input<string> };
  /** ARNs of the factory's SiteWise assets, the only ones the state rule may write. */
  readonly assetArns: pulumi.Input<pulumi.Input<string>[]>;
  /** The VPC placement of the Lambda, when the factory has a VPC. */
  readonly placement?: FunctionPlacement;
  /** The data lake's Firehose stream: the enrichment Lambda also sends its enriched records there. */
  readonly lake?: { readonly deliveryStreamName: pulumi.Input<string>; readonly deliveryStreamArn: pulumi.Input<string> };
  /** The data lake's states stream: the state rule also sends every machine state event there (`firehose` action). */
  readonly stateLake?: { readonly deliveryStreamName: pulumi.Input<string>; readonly deliveryStreamArn: pulumi.Input<string> };
  /** The detector Lambda: the telemetry, state and health rules also invoke it (alerts on event time). */
  readonly detector?: { readonly functionArn: pulumi.Input<string>; readonly functionName: pulumi.Input<string> };
}

/** Prefix of everything the enrichment Lambda dead-letters, in the dead-letter bucket. */
export const ENRICH_DEAD_LETTER_PREFIX = "enrich/";
/** Prefix of the messages a rule's action failed on, in the dead-letter bucket. */
export const RULE_ERROR_PREFIX = "rule-errors/";
/** Prefix of the archived messages, in the archive bucket. */
export const RAW_ARCHIVE_PREFIX = "raw/";
/** The rule kinds this component creates. */
export const INGEST_RULES: readonly MessageKind[] = ["telemetry", "state", "health"];

/**
 * The state rule's SQL: the message as it is, and with a lake also the lake's fields ({@link STATE_RULE_SELECT});
 * version 1 messages only.
 */
export function stateRuleSql(factoryId: string, withLake: boolean): string {
  return `${withLake ? STATE_RULE_SELECT : "SELECT *"} FROM '${ruleTopicFilter(factoryId, "state")}' WHERE schemaVersion = 1`;
}

/** The plain topic filter a rule selects from: `sf/v1/<factory>/+/<kind>[/+/+]`. */
export function ruleTopicFilter(factoryId: string, kind: MessageKind): string {
  return [TOPIC_PREFIX, factoryId, "+", kind, ...(kind === "state" ? ["+", "+"] : [])].join("/");
}

/** An S3 key for one message, unique per message and sorted by day and gateway. */
function messageKey(prefix: string, kind: MessageKind): string {
  return `${prefix}${kind}/\${topic(${TOPIC_LEVELS.thing})}/\${parse_time("yyyy/MM/dd", timestamp())}/\${timestamp()}-\${newuuid()}`;
}

/** The CloudWatch namespace of the gateways' health metrics. */
export function healthNamespace(factoryId: string): string {
  return `SmartFactory/${factoryId}/Gateways`;
}

/** Topic rules, the enrichment Lambda, archive and dead letters. */
export class Ingestion extends pulumi.ComponentResource {
  readonly archive: SecureBucket;
  readonly deadLetters: SecureBucket;
  readonly enrichFunction: aws.lambda.Function;
  readonly enrichDlq: aws.sqs.Queue;
  readonly rules: Readonly<Record<MessageKind, awsnative.iot.TopicRule>>;

  constructor(name: string, args: IngestionArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:ingestion:Ingestion", name, {}, opts);
    const { config, account } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };

    this.archive = new SecureBucket(`${name}-archive`, { bucketName: bucketName(factoryId, "raw-archive", account), kmsKeyArn: args.dataKeyArn, archiveAfterDays: 30 }, child);
    this.deadLetters = new SecureBucket(`${name}-dead-letters`, { bucketName: bucketName(factoryId, "dead-letters", account), kmsKeyArn: args.dataKeyArn }, child);

    // ------------------------------------------------------------------------------------------ enrichment Lambda
    const enrich = new FactoryFunction(
      `${name}-enrich`,
      {
        factoryId,
        shortName: "enrich",
        description: `Validates, converts and enriches ${config.factory.name}'s telemetry batches into Timestream`,
        entry: "lambdas/enrich/index.ts",
        // the inventory travels beside the code: environment variables hold 4 KB
        files: { "factory.json": JSON.stringify(config) },
        region: account.region,
        statements: enrichStatements(args, this.deadLetters.arn),
        logsKeyArn: args.logsKeyArn,
        memorySize: 512,
        timeout: 60,
        environment: {
          TIMESTREAM_DATABASE: args.timestream.databaseName,
          TIMESTREAM_TABLE: args.timestream.tableName,
          DEAD_LETTER_BUCKET: this.deadLetters.name,
          ...(args.lake === undefined ? {} : { LAKE_DELIVERY_STREAM: args.lake.deliveryStreamName }),
          POWERTOOLS_SERVICE_NAME: "enrich",
          POWERTOOLS_METRICS_NAMESPACE: `SmartFactory/${factoryId}`,
        },
        dataKeyArn: args.dataKeyArn,
        ...(args.placement === undefined ? {} : { placement: args.placement }),
      },
      child,
    );
    this.enrichFunction = enrich.function;
    this.enrichDlq = enrich.deadLetterQueue;
    new aws.lambda.FunctionEventInvokeConfig(
      `${name}-enrich`,
      { functionName: this.enrichFunction.name, maximumRetryAttempts: 2, maximumEventAgeInSeconds: 6 * 3600 },
      child,
    );

    // ------------------------------------------------------------------------------------------------ topic rules
    const ruleRole = (kind: MessageKind, extra: Statement[]): aws.iam.Role => {
      const r = new aws.iam.Role(
        `${name}-${kind}-rule`,
        {
          name: scopedName("iamRole", factoryId, `${kind}-rule`),
          description: `The ${kind} topic rule's actions`,
          assumeRolePolicy: renderPolicy(trustPolicy("iot.amazonaws.com", { sourceAccount: account.accountId, sourceArn: arn(account, "iot", `rule/${topicRuleName(factoryId, kind)}`) })),
        },
        child,
      );
      new aws.iam.RolePolicy(
        `${name}-${kind}-rule`,
        {
          role: r.name,
          policy: renderPolicy(
            policyDocument(
              { Sid: "ArchiveMessages", Action: ["s3:PutObject"], Resource: [objectsUnder(this.archive.arn, `${RAW_ARCHIVE_PREFIX}${kind}/`)] },
              { Sid: "DeadLetterFailures", Action: ["s3:PutObject"], Resource: [objectsUnder(this.deadLetters.arn, `${RULE_ERROR_PREFIX}${kind}/`)] },
              {
                Sid: "EncryptObjects",
                Action: ["kms:GenerateDataKey"],
                Resource: [args.dataKeyArn],
                Condition: { StringEquals: { "kms:ViaService": `s3.${account.region}.amazonaws.com` } },
              },
              ...extra,
            ),
          ),
        },
        child,
      );
      return r;
    };
    const archiveAction = (kind: MessageKind, roleArn: pulumi.Input<string>): awsnative.types.input.iot.TopicRuleActionArgs => ({
      s3: { bucketName: this.archive.name, key: messageKey(RAW_ARCHIVE_PREFIX, kind), roleArn },
    });
    const errorAction = (kind: MessageKind, roleArn: pulumi.Input<string>): awsnative.types.input.iot.TopicRuleActionArgs => ({
      s3: { bucketName: this.deadLetters.name, key: messageKey(RULE_ERROR_PREFIX, kind), roleArn },
    });
    const detectorActions: awsnative.types.input.iot.TopicRuleActionArgs[] = args.detector === undefined ? [] : [{ lambda: { functionArn: args.detector.functionArn } }];
    const rule = (kind: MessageKind, sql: string, actions: awsnative.types.input.iot.TopicRuleActionArgs[], roleArn: pulumi.Input<string>, description: string): awsnative.iot.TopicRule => {
      const created = new awsnative.iot.TopicRule(
        `${name}-${kind}`,
        {
          ruleName: topicRuleName(factoryId, kind),
          topicRulePayload: {
            sql,
            awsIotSqlVersion: "2016-03-23",
            ruleDisabled: false,
            description,
            actions: [...actions, ...detectorActions, archiveAction(kind, roleArn)],
            errorAction: errorAction(kind, roleArn),
          },
        },
        child,
      );
      if (args.detector !== undefined) {
        new aws.lambda.Permission(
          `${name}-${kind}-rule-detector`,
          { function: args.detector.functionName, action: "lambda:InvokeFunction", principal: "iot.amazonaws.com", sourceArn: created.arn, sourceAccount: account.accountId },
          child,
        );
      }
      return created;
    };

    const telemetryRole = ruleRole("telemetry", []);
    const telemetry = rule(
      "telemetry",
      `${TELEMETRY_RULE_SELECT} FROM '${ruleTopicFilter(factoryId, "telemetry")}'`,
      [{ lambda: { functionArn: this.enrichFunction.arn } }],
      telemetryRole.arn,
      "Telemetry batches -> enrichment Lambda -> Timestream",
    );
    new aws.lambda.Permission(
      `${name}-telemetry-rule`,
      { function: this.enrichFunction.name, action: "lambda:InvokeFunction", principal: "iot.amazonaws.com", sourceArn: telemetry.arn, sourceAccount: account.accountId },
      child,
    );

    const stateLake = args.stateLake;
    const stateRole = ruleRole("state", [
      { Sid: "WriteMachineStateToTheFactoryAssets", Action: ["iotsitewise:BatchPutAssetPropertyValue"], Resource: args.assetArns as pulumi.Input<string>[] },
      // batchMode false: one PutRecord per message, so PutRecordBatch is not needed
      ...(stateLake === undefined ? [] : [{ Sid: "SendStateEventsToTheLake", Action: ["firehose:PutRecord"], Resource: [stateLake.deliveryStreamArn] }]),
    ]);
    const value = (field: string, kind: "integerValue" | "doubleValue"): awsnative.types.input.iot.TopicRuleAssetPropertyValueArgs => ({
      timestamp: { timeInSeconds: "${timeInSeconds}", offsetInNanos: "${offsetInNanos}" },
      value: { [kind]: `\${${field}}` },
    });
    const state = rule(
      "state",
      stateRuleSql(factoryId, stateLake !== undefined),
      [
        {
          iotSiteWise: {
            roleArn: stateRole.arn,
            putAssetPropertyValueEntries: [
              { propertyAlias: statePropertyAliasTemplate(factoryId, MACHINE_PROPERTIES.state), propertyValues: [value("stateCode", "integerValue")] },
              { propertyAlias: statePropertyAliasTemplate(factoryId, MACHINE_PROPERTIES.goodParts), propertyValues: [value("goodIncrement", "integerValue")] },
              { propertyAlias: statePropertyAliasTemplate(factoryId, MACHINE_PROPERTIES.badParts), propertyValues: [value("badIncrement", "integerValue")] },
            ],
          },
        },
        // one JSON object per record, newline-terminated as the lake's JSON de-aggregation expects
        ...(stateLake === undefined ? [] : [{ firehose: { deliveryStreamName: stateLake.deliveryStreamName, roleArn: stateRole.arn, separator: "\n", batchMode: false } }]),
      ],
      stateRole.arn,
      stateLake === undefined ? "Machine state events -> SiteWise (aliases from the topic)" : "Machine state events -> SiteWise (aliases from the topic) and the data lake's states stream",
    );

    const namespace = healthNamespace(factoryId);
    const healthRole = ruleRole("health", [
      {
        // PutMetricData has no resource type: AWS requires "*"; the namespace condition keeps it to ours.
        Sid: "PublishGatewayHealthMetrics",
        Action: ["cloudwatch:PutMetricData"],
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": namespace } },
      },
    ]);
    const health = rule(
      "health",
      `SELECT * FROM '${ruleTopicFilter(factoryId, "health")}' WHERE schemaVersion = 1`,
      Object.entries(HEALTH_METRICS).map(([field, unit]) => ({
        cloudwatchMetric: {
          roleArn: healthRole.arn,
          metricNamespace: namespace,
          metricName: `\${topic(${TOPIC_LEVELS.thing})}.${field}`,
          metricUnit: unit,
          metricValue: `\${${field}}`,
          metricTimestamp: "${floor(sentAt / 1000)}",
        },
      })),
      healthRole.arn,
      "Gateway health -> CloudWatch metrics",
    );
    this.rules = { telemetry, state, health };
    this.registerOutputs({ archive: this.archive.name, deadLetters: this.deadLetters.name, enrichFunction: this.enrichFunction.name });
  }
}

/** What the enrichment Lambda may do besides writing its logs, and nothing more. */
function enrichStatements(args: IngestionArgs, deadLetterBucketArn: pulumi.Input<string>): Statement[] {
  const region = args.account.region;
  return [
    { Sid: "WriteTelemetry", Action: ["timestream:WriteRecords"], Resource: [args.timestream.tableArn] },
    // Timestream's endpoint discovery has no resource type: AWS requires "*" here.
    { Sid: "DiscoverTimestreamEndpoints", Action: ["timestream:DescribeEndpoints"], Resource: "*" },
    { Sid: "DeadLetterRejections", Action: ["s3:PutObject"], Resource: [objectsUnder(deadLetterBucketArn, ENRICH_DEAD_LETTER_PREFIX)] },
    {
      Sid: "EncryptDeadLettersWithTheDataKey",
      Action: ["kms:GenerateDataKey"],
      Resource: [args.dataKeyArn],
      Condition: { StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` } },
    },
    ...(args.lake === undefined ? [] : [{ Sid: "SendEnrichedRecordsToTheLake", Action: ["firehose:PutRecordBatch"], Resource: [args.lake.deliveryStreamArn] }]),
  ];
}
