/** Stores that hold factory data are protected, so a mistaken destroy or replacement cannot delete them. */
import type { ResourceValidationPolicy } from "@pulumi/policy";

/** The resource types that hold data or the keys to it. */
export const STATEFUL_TYPES: ReadonlySet<string> = new Set([
  "aws:timestreamwrite/database:Database",
  "aws:timestreamwrite/table:Table",
  "aws:s3/bucket:Bucket",
  "aws:dynamodb/table:Table",
  "aws:kms/key:Key",
]);

export const statefulProtected: ResourceValidationPolicy = {
  name: "stateful-stores-protected",
  description: "Timestream databases and tables, S3 buckets, DynamoDB tables and KMS keys are protected from deletion.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (STATEFUL_TYPES.has(args.type) && !args.opts.protect) {
      reportViolation(`${args.type.split(":").pop() ?? args.type} ${args.name} holds factory data but is not protected (set protect, and retainOnDelete)`);
    }
  },
};
