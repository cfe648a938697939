/**
 * Alerts: the job of the retired AWS IoT Events detector models, done by the detector Lambda (`lambdas/detector`).
 *
 * - **State**: a DynamoDB table, one item per machine and per gateway of the factory holding each detector's state,
 *   written only with conditional writes on a version attribute (two invocations never both send an alert). On
 *   demand (PAY_PER_REQUEST), encrypted with the factory's data key, point-in-time recovery on, deletion protection
 *   on, and `protect`ed: losing it would re-page every active condition.
 * - **The function**: invoked by the telemetry, state and health topic rules (Ingestion adds the actions and the
 *   invoke permissions when given `detector`) and by the sweep. It evaluates thresholds, rates of change, faults,
 *   silent machines and gateways, and the failure-window score on event time, and publishes to the factory's SNS
 *   topic. The inventory and alert settings travel beside the code as `factory.json`. Its role may do exactly:
 *   Get/Put/Update/Query on the table, Publish to the topic, PutObject under `detector/` in the dead-letter bucket,
 *   use the data key through DynamoDB and S3 and the notifications key through SNS, and, when a score endpoint is
 *   configured, InvokeEndpoint on that endpoint.
 * - **The sweep**: an EventBridge Scheduler schedule, every minute, no flexible window, with its own role (invoke
 *   this function, nothing else), a retry policy and an encrypted dead-letter queue. The sweep finds what no
 *   message announces: silent machines, gateways whose uplink is down, conditions held past their time.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { scopedName, type FactoryConfig } from "@smart-factory/sdk";
import { FactoryFunction, type FunctionPlacement } from "../lib/factoryFunction";
import { type AccountContext, type Statement } from "../lib/iam";
import { scheduleLambda } from "../lib/lambdaSchedule";
import { bucketName, objectsUnder } from "../lib/secureBucket";

export interface AlertsArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly dataKeyArn: pulumi.Input<string>;
  readonly logsKeyArn: pulumi.Input<string>;
  /** The key of the notification topic: publishing to an encrypted topic uses it through SNS. */
  readonly notificationsKeyArn: pulumi.Input<string>;
  /** The factory's notification topic (Notifications). */
  readonly topicArn: pulumi.Input<string>;
  /** The VPC placement of the function, when the factory has a VPC. */
  readonly placement?: FunctionPlacement;
  /** The predictive-maintenance endpoint: the detector scores machines on it (absent until a model is approved). */
  readonly scoreEndpoint?: { readonly name: pulumi.Input<string>; readonly arn: pulumi.Input<string>; readonly threshold?: number };
}

/** Prefix of the detector's dead letters in the dead-letter bucket (the Lambda's `DEAD_LETTER_PREFIX`). */
export const DETECTOR_DEAD_LETTER_PREFIX = "detector/";
/** How often the sweep runs. */
export const SWEEP_SCHEDULE = "rate(1 minute)";
/**
 * The sweep's input, as the function reads it (`SWEEP_ACTION`); Scheduler fills in the scheduled time. A sweep
 * reads the wall clock itself: a late or retried sweep does the same as a punctual one.
 */
export const SWEEP_INPUT = JSON.stringify({ action: "sweep", scheduledTime: "<aws.scheduler.scheduled-time>" });
/** The failure-window score at or above which a machine is alerted, unless the stack says otherwise. */
export const DEFAULT_SCORE_THRESHOLD = 0.8;

/** The detector's state table, function and sweep. */
export class Alerts extends pulumi.ComponentResource {
  readonly table: aws.dynamodb.Table;
  readonly detector: FactoryFunction;
  readonly detectorFunction: aws.lambda.Function;
  readonly schedule: aws.scheduler.Schedule;
  readonly scheduleRole: aws.iam.Role;
  readonly scheduleDlq: aws.sqs.Queue;
  /** Whether the detector scores machines on the predictive-maintenance endpoint. */
  readonly scoring: boolean;

  constructor(name: string, args: AlertsArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:alerts:Alerts", name, {}, opts);
    const { config, account } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };
    this.scoring = args.scoreEndpoint !== undefined;

    this.table = new aws.dynamodb.Table(
      `${name}-state`,
      {
        name: scopedName("dynamodbTable", factoryId, "detector-state"),
        billingMode: "PAY_PER_REQUEST",
        hashKey: "pk",
        rangeKey: "sk",
        attributes: [
          { name: "pk", type: "S" },
          { name: "sk", type: "S" },
        ],
        serverSideEncryption: { enabled: true, kmsKeyArn: args.dataKeyArn },
        pointInTimeRecovery: { enabled: true },
        deletionProtectionEnabled: true,
      },
      { ...child, protect: true, retainOnDelete: true },
    );

    // The dead-letter bucket is Ingestion's (created after this component, which Ingestion needs): its name is
    // derived, not random, so it is known here.
    const deadLetterBucket = bucketName(factoryId, "dead-letters", account);
    const deadLetterBucketArn = pulumi.interpolate`arn:${account.partition}:s3:::${deadLetterBucket}`;

    const environment: Record<string, pulumi.Input<string>> = {
      STATE_TABLE: this.table.name,
      NOTIFICATION_TOPIC_ARN: args.topicArn,
      DEAD_LETTER_BUCKET: deadLetterBucket,
      POWERTOOLS_SERVICE_NAME: "detector",
      POWERTOOLS_METRICS_NAMESPACE: `SmartFactory/${factoryId}`,
      ...(args.scoreEndpoint === undefined
        ? {}
        : { SCORE_ENDPOINT: args.scoreEndpoint.name, SCORE_THRESHOLD: String(args.scoreEndpoint.threshold ?? DEFAULT_SCORE_THRESHOLD) }),
    };
    this.detector = new FactoryFunction(
      `${name}-detector`,
      {
        factoryId,
        shortName: "detector",
        description: `Detects ${config.factory.name}'s alert conditions on event time and notifies the factory's topic`,
        entry: "lambdas/detector/index.ts",
        // the inventory and alert settings travel beside the code: environment variables hold 4 KB
        files: { "factory.json": JSON.stringify(config) },
        region: account.region,
        statements: detectorStatements(args, this.table.arn, deadLetterBucketArn),
        logsKeyArn: args.logsKeyArn,
        memorySize: 512,
        timeout: 60,
        environment,
        dataKeyArn: args.dataKeyArn,
        ...(args.placement === undefined ? {} : { placement: args.placement }),
      },
      child,
    );
    this.detectorFunction = this.detector.function;
    new aws.lambda.FunctionEventInvokeConfig(
      `${name}-detector`,
      // a rule event retried within the hour is still evaluated correctly (event time); older ones go to the DLQ
      { functionName: this.detectorFunction.name, maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
      child,
    );

    // ------------------------------------------------------------------------------------------------ the sweep
    const sweep = scheduleLambda(
      `${name}-sweep`,
      {
        factoryId,
        account,
        id: "detector-sweep",
        description: "Every minute: silent machines, gateways whose uplink is down, conditions held past their time",
        roleDescription: "EventBridge Scheduler invokes the detector's sweep every minute",
        expression: SWEEP_SCHEDULE,
        functionArn: this.detectorFunction.arn,
        input: SWEEP_INPUT,
        // a sweep older than a few minutes is superseded by the next ones
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 300 },
        dataKeyArn: args.dataKeyArn,
      },
      child,
    );
    this.schedule = sweep.schedule;
    this.scheduleRole = sweep.role;
    this.scheduleDlq = sweep.deadLetterQueue;
    this.registerOutputs({ table: this.table.name, detectorFunction: this.detectorFunction.name, schedule: this.schedule.name });
  }
}

/** What the detector may do besides writing its logs and its DLQ, and nothing more. */
export function detectorStatements(args: AlertsArgs, tableArn: pulumi.Input<string>, deadLetterBucketArn: pulumi.Input<string>): Statement[] {
  const region = args.account.region;
  return [
    { Sid: "DetectorState", Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"], Resource: [tableArn] },
    {
      // the table is encrypted with the data key: DynamoDB uses it on the function's behalf
      Sid: "StateTableEncryption",
      Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
      Resource: [args.dataKeyArn],
      Condition: { StringEquals: { "kms:ViaService": `dynamodb.${region}.amazonaws.com` } },
    },
    { Sid: "PublishAlerts", Action: ["sns:Publish"], Resource: [args.topicArn] },
    {
      Sid: "EncryptAlertsWithTheNotificationsKey",
      Action: ["kms:GenerateDataKey", "kms:Decrypt"],
      Resource: [args.notificationsKeyArn],
      Condition: { StringEquals: { "kms:ViaService": `sns.${region}.amazonaws.com` } },
    },
    { Sid: "DeadLetterUnusableInput", Action: ["s3:PutObject"], Resource: [objectsUnder(deadLetterBucketArn, DETECTOR_DEAD_LETTER_PREFIX)] },
    {
      Sid: "EncryptDeadLettersWithTheDataKey",
      Action: ["kms:GenerateDataKey"],
      Resource: [args.dataKeyArn],
      Condition: { StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` } },
    },
    ...(args.scoreEndpoint === undefined ? [] : [{ Sid: "ScoreMachines", Action: ["sagemaker:InvokeEndpoint"], Resource: [args.scoreEndpoint.arn] }]),
  ];
}
