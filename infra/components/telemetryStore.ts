/**
 * TelemetryStore: the factory's Timestream database and telemetry table (data model in `@smart-factory/sdk`'s
 * `telemetry/model`), encrypted with the `data` key, retention from config, and magnetic-store writes on, so a
 * gateway's backlog after a long outage (older than the memory store) is still accepted. Records the magnetic
 * store rejects land in an encrypted bucket instead of vanishing.
 *
 * The database, the table and the bucket are protected: `pulumi destroy` or a replacement never deletes data.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { scopedName, TELEMETRY_TABLE, checkName, type FactoryConfig } from "@smart-factory/sdk";
import type { AccountContext } from "../lib/iam";
import { bucketName, SecureBucket } from "../lib/secureBucket";

/** Prefix of records the magnetic store rejected, in the store's bucket. */
export const REJECTED_RECORDS_PREFIX = "timestream-rejected/";

/** The partition key of the telemetry table: queries almost always name a machine. */
export const TELEMETRY_PARTITION_DIMENSION = "machine";

/**
 * Retention from config and magnetic-store writes (late data and backlogs are older than the memory store keeps),
 * with the records the magnetic store rejects written, encrypted, under `prefix` of the rejected-data bucket.
 */
export function tableStorage(
  config: FactoryConfig,
  rejected: { bucketName: pulumi.Input<string>; kmsKeyId: pulumi.Input<string>; prefix: string },
): Pick<aws.timestreamwrite.TableArgs, "retentionProperties" | "magneticStoreWriteProperties"> {
  return {
    retentionProperties: {
      memoryStoreRetentionPeriodInHours: config.telemetry.memoryStoreRetentionHours,
      magneticStoreRetentionPeriodInDays: config.telemetry.magneticStoreRetentionDays,
    },
    magneticStoreWriteProperties: {
      enableMagneticStoreWrites: true,
      magneticStoreRejectedDataLocation: {
        s3Configuration: { bucketName: rejected.bucketName, encryptionOption: "SSE_KMS", kmsKeyId: rejected.kmsKeyId, objectKeyPrefix: rejected.prefix },
      },
    },
  };
}

export interface TelemetryStoreArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly dataKeyArn: pulumi.Input<string>;
}

/** Timestream database + table, and the bucket of rejected records. */
export class TelemetryStore extends pulumi.ComponentResource {
  readonly database: aws.timestreamwrite.Database;
  readonly table: aws.timestreamwrite.Table;
  readonly rejectedBucket: SecureBucket;

  constructor(name: string, args: TelemetryStoreArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:telemetry:TelemetryStore", name, {}, opts);
    const { config } = args;
    const factoryId = config.factory.id;
    const stateful = { parent: this, protect: true, retainOnDelete: true };
    this.rejectedBucket = new SecureBucket(`${name}-rejected`, { bucketName: bucketName(factoryId, "ts-rejected", args.account), kmsKeyArn: args.dataKeyArn }, { parent: this });
    this.database = new aws.timestreamwrite.Database(name, { databaseName: scopedName("timestreamDatabase", factoryId, "telemetry"), kmsKeyId: args.dataKeyArn }, stateful);
    this.table = new aws.timestreamwrite.Table(
      name,
      {
        databaseName: this.database.databaseName,
        tableName: checkName("timestreamTable", TELEMETRY_TABLE),
        ...tableStorage(config, { bucketName: this.rejectedBucket.name, kmsKeyId: args.dataKeyArn, prefix: REJECTED_RECORDS_PREFIX }),
        schema: { compositePartitionKey: { type: "DIMENSION", name: TELEMETRY_PARTITION_DIMENSION, enforcementInRecord: "REQUIRED" } },
      },
      stateful,
    );
    this.registerOutputs({ database: this.database.databaseName, table: this.table.tableName });
  }
}
