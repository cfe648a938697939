/**
 * A function invoked on a schedule by EventBridge Scheduler: the schedule, the role Scheduler assumes (it may
 * invoke exactly that function and write exactly its dead-letter queue) and the queue of the invocations Scheduler
 * could not deliver after its retries (encrypted with the data key, kept as long as the functions' DLQs).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { scopedName, type FactoryId } from "@smart-factory/sdk";
import { DLQ_RETENTION_SECONDS } from "./factoryFunction";
import { policyDocument, renderPolicy, trustPolicy, type AccountContext } from "./iam";

export interface LambdaScheduleArgs {
  readonly factoryId: FactoryId;
  readonly account: AccountContext;
  /** The schedule's part of the names: schedule `<factory>-<id>`, role `<factory>-<id>-scheduler`, queue `<factory>-<id>-dlq`. */
  readonly id: string;
  readonly description: string;
  readonly roleDescription: string;
  /** `rate(...)`, `cron(...)` or `at(...)`. */
  readonly expression: string;
  /** The time zone of a cron expression (UTC when absent). */
  readonly timeZone?: string;
  readonly functionArn: pulumi.Input<string>;
  /** The event the function receives (JSON; Scheduler fills `<aws.scheduler.scheduled-time>` and the like). */
  readonly input: string;
  readonly retryPolicy: { readonly maximumRetryAttempts: number; readonly maximumEventAgeInSeconds: number };
  readonly dataKeyArn: pulumi.Input<string>;
}

/** The schedule, its role and its dead-letter queue. */
export interface LambdaSchedule {
  readonly schedule: aws.scheduler.Schedule;
  readonly role: aws.iam.Role;
  readonly deadLetterQueue: aws.sqs.Queue;
}

/** Create the schedule of `args.functionArn`; `name` prefixes the logical names. */
export function scheduleLambda(name: string, args: LambdaScheduleArgs, opts: pulumi.CustomResourceOptions): LambdaSchedule {
  const { factoryId, account } = args;
  const deadLetterQueue = new aws.sqs.Queue(
    `${name}-dlq`,
    { name: scopedName("sqsQueue", factoryId, args.id, "dlq"), kmsMasterKeyId: args.dataKeyArn, kmsDataKeyReusePeriodSeconds: 3600, messageRetentionSeconds: DLQ_RETENTION_SECONDS },
    { ...opts, retainOnDelete: true },
  );
  const role = new aws.iam.Role(
    name,
    { name: scopedName("iamRole", factoryId, args.id, "scheduler"), description: args.roleDescription, assumeRolePolicy: renderPolicy(trustPolicy("scheduler.amazonaws.com", { sourceAccount: account.accountId })) },
    opts,
  );
  const policy = new aws.iam.RolePolicy(
    name,
    {
      role: role.name,
      policy: renderPolicy(
        policyDocument(
          { Sid: "InvokeTheFunction", Action: ["lambda:InvokeFunction"], Resource: [args.functionArn] },
          { Sid: "UndeliveredToDlq", Action: ["sqs:SendMessage"], Resource: [deadLetterQueue.arn] },
          {
            Sid: "EncryptTheDlq",
            Action: ["kms:GenerateDataKey", "kms:Decrypt"],
            Resource: [args.dataKeyArn],
            Condition: { StringEquals: { "kms:ViaService": `sqs.${account.region}.amazonaws.com` } },
          },
        ),
      ),
    },
    opts,
  );
  const schedule = new aws.scheduler.Schedule(
    name,
    {
      name: scopedName("schedule", factoryId, args.id),
      description: args.description,
      scheduleExpression: args.expression,
      ...(args.timeZone === undefined ? {} : { scheduleExpressionTimezone: args.timeZone }),
      flexibleTimeWindow: { mode: "OFF" },
      target: { arn: args.functionArn, roleArn: role.arn, input: args.input, retryPolicy: args.retryPolicy, deadLetterConfig: { arn: deadLetterQueue.arn } },
    },
    { ...opts, dependsOn: [policy] },
  );
  return { schedule, role, deadLetterQueue };
}
