/**
 * Every S3 bucket is private and TLS-only and encrypted with a customer-managed key: a public access block with
 * all four switches on, a bucket policy that denies requests without TLS, and default encryption with `aws:kms`
 * and a customer-managed key. The settings are separate resources in the AWS provider, so this is a stack rule
 * that finds them by the bucket they were made for.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { asList, dependsThrough, objectProperty, statementsOf } from "../lib";
import { usesCustomerKey } from "./cmkEncryption";

const BUCKET = "aws:s3/bucket:Bucket";

/** The resources of `type` made for `bucket` (through their `bucket` property). */
function settingsOf(resources: readonly PolicyResource[], bucket: PolicyResource, type: string): PolicyResource[] {
  return resources.filter((r) => r.type === type && dependsThrough(r, "bucket").some((d) => d.urn === bucket.urn));
}

export const s3BucketHardening: StackValidationPolicy = {
  name: "s3-private-tls-only-cmk",
  description: "S3 buckets block public access, deny requests without TLS, and encrypt by default with a customer-managed KMS key.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const bucket of args.resources.filter((r) => r.type === BUCKET)) {
      const name = String(bucket.props.bucket ?? bucket.name);
      const block = settingsOf(args.resources, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0];
      const switches = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
      const off = block === undefined ? switches : switches.filter((k) => block.props[k] !== true);
      if (off.length > 0) reportViolation(`bucket ${name}: public access is not blocked (${off.join(", ")} not true)`, bucket.urn);

      const policies = settingsOf(args.resources, bucket, "aws:s3/bucketPolicy:BucketPolicy");
      const tlsOnly = policies.some((p) =>
        (statementsOf(p.props.policy) ?? []).some((s) => s.Effect === "Deny" && String(s.Condition?.Bool?.["aws:SecureTransport"]) === "false" && asList(s.Action).includes("s3:*")),
      );
      if (!tlsOnly) reportViolation(`bucket ${name}: no bucket policy denies requests without TLS (Deny s3:* when aws:SecureTransport is false)`, bucket.urn);

      const sse = settingsOf(args.resources, bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0];
      const rule = asList(sse?.props.rules as Record<string, unknown>[] | undefined)[0];
      const byDefault = objectProperty(rule?.applyServerSideEncryptionByDefault);
      if (sse === undefined || byDefault?.sseAlgorithm !== "aws:kms" || !usesCustomerKey(sse, "rules", byDefault.kmsMasterKeyId)) {
        reportViolation(`bucket ${name}: default encryption is not aws:kms with a customer-managed key`, bucket.urn);
      }
    }
  },
};
