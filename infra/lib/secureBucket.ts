/**
 * An S3 bucket as every bucket of the pipeline needs it: encrypted by default with a customer-managed key (with
 * an S3 bucket key to keep KMS requests down), versioned, private (public access blocked, ACLs disabled), TLS
 * only, and protected from deletion because it holds factory data.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { policyDocument, renderPolicy, type AccountContext, type Statement } from "./iam";

/** What a {@link SecureBucket} is built from. */
export interface SecureBucketArgs {
  /** The bucket's globally unique name (see {@link bucketName}). */
  readonly bucketName: pulumi.Input<string>;
  /** ARN of the customer-managed key that encrypts every object. */
  readonly kmsKeyArn: pulumi.Input<string>;
  /** Days after which objects move to S3 Glacier Instant Retrieval (rarely read archives). */
  readonly archiveAfterDays?: number;
  /** Moves of current objects to colder storage classes, by age (e.g. STANDARD_IA after 30 days, GLACIER_IR after 180). */
  readonly transitions?: readonly StorageTransition[];
  /** Days after which current objects expire (e.g. query results); unset: never. */
  readonly expireAfterDays?: number;
  /** Statements added to the bucket policy, e.g. for a service principal that writes into it. */
  readonly extraStatements?: (bucketArn: pulumi.Output<string>) => Statement[];
}

/** A lifecycle move of objects to a colder storage class once they are `days` old. */
export interface StorageTransition {
  readonly days: number;
  readonly storageClass: "STANDARD_IA" | "INTELLIGENT_TIERING" | "ONEZONE_IA" | "GLACIER_IR" | "GLACIER" | "DEEP_ARCHIVE";
}

/**
 * A globally unique bucket name for a factory's bucket: `<factory>-<purpose>-<account>-<region>`. Bucket names
 * are global across all accounts, so the account and region make the name unique without random suffixes.
 */
export function bucketName(factoryId: string, purpose: string, account: AccountContext): pulumi.Output<string> {
  return pulumi.interpolate`${factoryId}-${purpose}-${account.accountId}-${account.region}`.apply((name) => {
    if (name.length > 63 || !/^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(name)) throw new Error(`bucket name ${JSON.stringify(name)} is not a valid S3 bucket name (a-z, 0-9, -; at most 63 characters)`);
    return name;
  });
}

/** A private, encrypted, versioned, TLS-only bucket. */
export class SecureBucket extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly arn: pulumi.Output<string>;
  readonly name: pulumi.Output<string>;

  constructor(name: string, args: SecureBucketArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:storage:SecureBucket", name, {}, opts);
    const child = { parent: this };
    this.bucket = new aws.s3.Bucket(name, { bucket: args.bucketName, forceDestroy: false }, { ...child, protect: true, retainOnDelete: true });
    this.arn = this.bucket.arn;
    this.name = this.bucket.bucket;
    new aws.s3.BucketOwnershipControls(name, { bucket: this.bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
    new aws.s3.BucketPublicAccessBlock(
      name,
      { bucket: this.bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      child,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      name,
      { bucket: this.bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }, bucketKeyEnabled: true }] },
      child,
    );
    new aws.s3.BucketVersioning(name, { bucket: this.bucket.id, versioningConfiguration: { status: "Enabled" } }, child);
    new aws.s3.BucketLifecycleConfiguration(
      name,
      {
        bucket: this.bucket.id,
        rules: [
          { id: "abort-incomplete-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
          { id: "expire-old-versions", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: 90 } },
          ...(args.archiveAfterDays === undefined
            ? []
            : [{ id: "archive", status: "Enabled", filter: {}, transitions: [{ days: args.archiveAfterDays, storageClass: "GLACIER_IR" }] }]),
          ...(args.transitions === undefined || args.transitions.length === 0
            ? []
            : [{ id: "colder-storage", status: "Enabled", filter: {}, transitions: args.transitions.map((t) => ({ days: t.days, storageClass: t.storageClass })) }]),
          ...(args.expireAfterDays === undefined ? [] : [{ id: "expire", status: "Enabled", filter: {}, expiration: { days: args.expireAfterDays } }]),
        ],
      },
      child,
    );
    const objects = pulumi.interpolate`${this.bucket.arn}/*`;
    new aws.s3.BucketPolicy(
      name,
      {
        bucket: this.bucket.id,
        policy: renderPolicy(
          policyDocument(
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: { AWS: "*" },
              // A deny of every S3 action is the point here: no request without TLS, whatever it is.
              Action: ["s3:*"],
              Resource: [this.bucket.arn, objects],
              Condition: { Bool: { "aws:SecureTransport": false } },
            },
            ...(args.extraStatements?.(this.bucket.arn) ?? []),
          ),
        ),
      },
      child,
    );
    this.registerOutputs({ arn: this.arn, name: this.name });
  }
}

/** The ARN pattern of objects under `prefix` in a bucket. */
export function objectsUnder(bucketArn: pulumi.Input<string>, prefix: string): pulumi.Output<string> {
  return pulumi.interpolate`${bucketArn}/${prefix}*`;
}

