/**
 * Stores are encrypted with a customer-managed KMS key: Timestream, SNS, SQS, DynamoDB, CloudWatch Logs, Firehose,
 * SageMaker endpoint configurations, Timestream scheduled queries and Athena workgroups' query results (the
 * workgroup must also enforce its settings, or a client could write results unencrypted; S3 buckets: see
 * `s3BucketHardening`). A key counts when the property names a key that is not AWS-managed (`alias/aws/...`), or
 * is computed from a KMS key of the stack (during a preview the ARN of a key yet to be created is not known, but
 * where it comes from is).
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { dependsThrough, objectProperty, show } from "../lib";

interface KeyProperty {
  /** Top-level property (the one dependencies are recorded for). */
  readonly property: string;
  /** The key id or ARN inside it, and whether encryption is on at all. */
  readonly key: (props: Record<string, unknown>) => { enabled: boolean; key: unknown };
}

const direct = (property: string): KeyProperty => ({ property, key: (p) => ({ enabled: true, key: p[property] }) });

/** Where each store type names its key. */
export const KEY_PROPERTIES: Readonly<Record<string, KeyProperty>> = {
  "aws:timestreamwrite/database:Database": direct("kmsKeyId"),
  "aws:sns/topic:Topic": direct("kmsMasterKeyId"),
  "aws:sqs/queue:Queue": direct("kmsMasterKeyId"),
  "aws:cloudwatch/logGroup:LogGroup": direct("kmsKeyId"),
  "aws:sagemaker/endpointConfiguration:EndpointConfiguration": direct("kmsKeyArn"),
  "aws:timestreamquery/scheduledQuery:ScheduledQuery": direct("kmsKeyId"),
  "aws:dynamodb/table:Table": {
    property: "serverSideEncryption",
    key: (p) => {
      const sse = objectProperty(p.serverSideEncryption);
      return { enabled: sse?.enabled === true, key: sse?.kmsKeyArn };
    },
  },
  "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": {
    property: "serverSideEncryption",
    key: (p) => {
      const sse = objectProperty(p.serverSideEncryption);
      return { enabled: sse?.enabled === true && sse.keyType === "CUSTOMER_MANAGED_CMK", key: sse?.keyArn };
    },
  },
  "aws:athena/workgroup:Workgroup": {
    property: "configuration",
    key: (p) => {
      const configuration = objectProperty(p.configuration);
      const encryption = objectProperty(objectProperty(configuration?.resultConfiguration)?.encryptionConfiguration);
      const kms = encryption?.encryptionOption === "SSE_KMS" || encryption?.encryptionOption === "CSE_KMS";
      // enforceWorkgroupConfiguration defaults to true
      return { enabled: kms && configuration?.enforceWorkgroupConfiguration !== false, key: encryption?.kmsKeyArn };
    },
  },
};

/** Whether `r`'s `property` holds, or is computed from, a customer-managed key. */
export function usesCustomerKey(r: PolicyResource, property: string, key: unknown): boolean {
  if (typeof key === "string" && key !== "") return !key.startsWith("alias/aws/");
  return dependsThrough(r, property).some((d) => d.type === "aws:kms/key:Key" || d.type === "aws:kms/alias:Alias");
}

export const cmkEncryption: StackValidationPolicy = {
  name: "encryption-with-customer-managed-key",
  description: "Timestream (databases and scheduled queries), SNS, SQS, DynamoDB, CloudWatch Logs, Firehose, SageMaker stores and Athena query results (enforced) are encrypted with a customer-managed KMS key.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const r of args.resources) {
      const spec = KEY_PROPERTIES[r.type];
      if (spec === undefined) continue;
      const { enabled, key } = spec.key(r.props);
      if (!enabled || !usesCustomerKey(r, spec.property, key)) {
        reportViolation(`${r.type.split(":").pop() ?? r.type} ${r.name} is not encrypted with a customer-managed KMS key (${spec.property}: ${show(r.props[spec.property])})`, r.urn);
      }
    }
  },
};
