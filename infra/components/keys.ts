/**
 * Keys: the factory's customer-managed KMS keys, one per group of services that use it, each with rotation on
 * and a key policy that admits exactly those services.
 *
 * - `data`: Timestream, S3 (archive, dead letters, rejected records, the data lake), SQS (the Lambda's DLQ), Lambda
 *   (environment variables), Firehose (the lake's stream), SageMaker (training volumes and outputs, the endpoint) and DynamoDB (the detector's state). Account principals may use it only through those services (`kms:ViaService`).
 * - `logs`: CloudWatch Logs, for the factory's log groups only (encryption context names the log group).
 * - `notifications`: SNS topics that CloudWatch alarms and EventBridge rules publish to; both services need to
 *   use the key themselves, since they publish as service principals.
 *
 * Keys are protected and retained on delete: losing a key loses every object it encrypted.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { checkName, type FactoryConfig } from "@smart-factory/sdk";
import { arn, policyDocument, renderPolicy, type AccountContext, type PolicyDocument, type Statement } from "../lib/iam";

/** What a key is for; each purpose has its own key. */
export type KeyPurpose = "data" | "logs" | "notifications";

/** Administration of a key by the account (IAM decides who): every action but use and deletion of key material. */
export const KEY_ADMIN_ACTIONS = [
  "kms:DescribeKey",
  "kms:GetKeyPolicy",
  "kms:PutKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:EnableKeyRotation",
  "kms:ListKeyRotations",
  "kms:RotateKeyOnDemand",
  "kms:ListResourceTags",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:UpdateKeyDescription",
  "kms:EnableKey",
  "kms:DisableKey",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
  "kms:CreateAlias",
  "kms:DeleteAlias",
  "kms:UpdateAlias",
  "kms:ListGrants",
  "kms:RevokeGrant",
] as const;

/** Using a key to encrypt and decrypt data keys. */
export const KEY_USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"] as const;

/** The services whose requests may use the `data` key on behalf of the account's principals. */
export const DATA_KEY_SERVICES = ["timestream", "s3", "sqs", "lambda", "firehose", "sagemaker", "dynamodb"] as const;

/** The key policy of one purpose. Key policies name the key itself as `*`: that is how KMS scopes them. */
export function keyPolicy(purpose: KeyPurpose, factoryId: string, account: AccountContext): PolicyDocument {
  const root = { AWS: pulumi.interpolate`arn:${account.partition}:iam::${account.accountId}:root` };
  const admin: Statement = { Sid: "AccountAdministersKey", Principal: root, Action: [...KEY_ADMIN_ACTIONS], Resource: "*" };
  const inAccount = { "kms:CallerAccount": account.accountId };
  switch (purpose) {
    case "data": {
      const via = DATA_KEY_SERVICES.map((s) => `${s}.${account.region}.amazonaws.com`);
      return policyDocument(
        admin,
        { Sid: "UseThroughDataServices", Principal: root, Action: [...KEY_USE_ACTIONS], Resource: "*", Condition: { StringEquals: { ...inAccount, "kms:ViaService": via } } },
        {
          // Timestream and Lambda hold grants on the key for the resources they encrypt.
          Sid: "GrantsForDataServices",
          Principal: root,
          Action: ["kms:CreateGrant"],
          Resource: "*",
          Condition: { StringEquals: { ...inAccount, "kms:ViaService": via }, Bool: { "kms:GrantIsForAWSResource": true } },
        },
      );
    }
    case "logs":
      return policyDocument(admin, {
        Sid: "CloudWatchLogsEncryptsFactoryLogGroups",
        Principal: { Service: `logs.${account.region}.amazonaws.com` },
        Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:DescribeKey"],
        Resource: "*",
        Condition: {
          ArnLike: {
            "kms:EncryptionContext:aws:logs:arn": [
              arn(account, "logs", `log-group:/aws/lambda/${factoryId}-*`),
              arn(account, "logs", `log-group:/smart-factory/${factoryId}/*`),
              arn(account, "logs", `log-group:/aws/greengrass/*`),
            ],
          },
        },
      });
    case "notifications":
      return policyDocument(
        admin,
        { Sid: "UseThroughSns", Principal: root, Action: [...KEY_USE_ACTIONS], Resource: "*", Condition: { StringEquals: { ...inAccount, "kms:ViaService": `sns.${account.region}.amazonaws.com` } } },
        {
          Sid: "AlarmsAndEventsPublishToEncryptedTopics",
          Principal: { Service: ["cloudwatch.amazonaws.com", "events.amazonaws.com"] },
          Action: ["kms:Decrypt", "kms:GenerateDataKey"],
          Resource: "*",
          Condition: { StringEquals: { "aws:SourceAccount": account.accountId } },
        },
      );
  }
}

/** The factory's customer-managed keys. */
export class Keys extends pulumi.ComponentResource {
  readonly data: aws.kms.Key;
  readonly logs: aws.kms.Key;
  readonly notifications: aws.kms.Key;

  constructor(name: string, args: { config: FactoryConfig; account: AccountContext }, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:keys:Keys", name, {}, opts);
    const factoryId = args.config.factory.id;
    const key = (purpose: KeyPurpose, description: string): aws.kms.Key => {
      const k = new aws.kms.Key(
        `${name}-${purpose}`,
        {
          description: `${factoryId}: ${description}`,
          enableKeyRotation: true,
          rotationPeriodInDays: 365,
          deletionWindowInDays: 30,
          policy: renderPolicy(keyPolicy(purpose, factoryId, args.account)),
        },
        { parent: this, protect: true, retainOnDelete: true },
      );
      new aws.kms.Alias(`${name}-${purpose}`, { name: checkName("kmsAlias", `alias/${factoryId}/${purpose}`), targetKeyId: k.keyId }, { parent: this });
      return k;
    };
    this.data = key("data", "telemetry, archives, dead letters and queues");
    this.logs = key("logs", "CloudWatch Logs of the factory's functions and gateways");
    this.notifications = key("notifications", "SNS topics of alarms and alerts");
    this.registerOutputs({ data: this.data.arn, logs: this.logs.arn, notifications: this.notifications.arn });
  }
}
