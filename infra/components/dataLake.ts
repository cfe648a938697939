/**
 * DataLake: the factory's analytical store, doing the job of the retired AWS IoT Analytics with the services AWS
 * names as its successors:
 *
 * | IoT Analytics | here |
 * |---|---|
 * | channel | two Firehose streams: `<factory>-lake-readings`, which the enrichment Lambda sends its enriched readings to (`PutRecordBatch`), and `<factory>-lake-states`, which the state topic rule's `firehose` action sends each machine state event to |
 * | pipeline | for readings the Lambda's validation and unit conversion, for states the rule's SQL (`STATE_RULE_SELECT`: line and machine from the topic, the state's name from its code, epoch milliseconds); then Firehose: de-aggregation, partition keys from each row (JQ), conversion to Parquet with the Glue table's schema |
 * | datastore | the lake bucket (`readings/` and `states/`, each `factory=<f>/line=<l>/dt=<yyyy-MM-dd>/`, Parquet, data key, colder storage with age) and a Glue table over each; with predictive maintenance also `features/` (the hourly machine features, gzip'd JSON lines the features export of PredictiveMaintenance writes) and its table `machine_features` |
 * | dataset | the Athena workgroup (enforced settings, encrypted results) and its named queries for ML and BI |
 *
 * The tables find their partitions by partition projection (factory and line from the config, the day from a date
 * range), so no crawler and no `MSCK REPAIR` are needed and a new line is queryable once the stack is updated.
 *
 * Each stream has its own role, log group and error prefix (`errors/readings/`, `errors/states/`): a role may
 * write only its own table's objects and read only its own table's schema.
 *
 * The state's name (`running`, `idle`, `fault`, `plannedStop`) is computed in the state rule's SQL with a CASE over
 * the SDK's `STATE_CODES`, not by Firehose: Firehose's JQ (metadata extraction) yields partition keys only and
 * cannot add a column without a transforming Lambda.
 *
 * The lake bucket is protected and retained (factory data); Glue, Firehose and Athena hold no data of their own.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  checkName,
  LAKE_COLUMNS,
  LAKE_PARTITION_KEYS,
  LAKE_FEATURES_PREFIX,
  LAKE_FEATURES_TABLE,
  lakeFeatureColumns,
  LAKE_READINGS_PREFIX,
  LAKE_STATE_COLUMNS,
  LAKE_STATES_PREFIX,
  LAKE_STATES_TABLE,
  LAKE_TABLE,
  lakeDatabaseName,
  scopedName,
  type FactoryConfig,
  type LakeColumn,
} from "@smart-factory/sdk";
import { LOG_RETENTION_DAYS } from "../lib/factoryFunction";
import { arn, policyDocument, renderPolicy, type AccountContext, type PolicyDocument, type Statement } from "../lib/iam";
import { hourlyReadingsSql, shiftDowntimeInputs, shiftDowntimeSql } from "../lib/lakeQueries";
import { bucketName, objectsUnder, SecureBucket, type StorageTransition } from "../lib/secureBucket";

/** Where Firehose writes what it could not deliver (`!{firehose:error-output-type}`: processing or format conversion failures), one folder per table. */
export const LAKE_ERROR_PREFIX = "errors/";

/** The Hive-style object prefix of a table's data, partition keys taken from each row by the metadata extraction below. */
export function lakeObjectPrefix(dataPrefix: string): string {
  return `${dataPrefix}${LAKE_PARTITION_KEYS.map((k) => `${k.name}=!{partitionKeyFromQuery:${k.name}}`).join("/")}/`;
}
/** Where a table's failed records go (`errors/<table>/`). */
export function lakeErrorPrefix(dataPrefix: string): string {
  return `${LAKE_ERROR_PREFIX}${dataPrefix}`;
}
/** Where a table's failed records go: the error type and the day they failed. */
export function lakeErrorOutputPrefix(dataPrefix: string): string {
  return `${lakeErrorPrefix(dataPrefix)}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`;
}
/** The readings' object prefix. */
export const LAKE_OBJECT_PREFIX = lakeObjectPrefix(LAKE_READINGS_PREFIX);
/** Where failed readings go. */
export const LAKE_ERROR_OUTPUT_PREFIX = lakeErrorOutputPrefix(LAKE_READINGS_PREFIX);
/** The state events' object prefix. */
export const LAKE_STATES_OBJECT_PREFIX = lakeObjectPrefix(LAKE_STATES_PREFIX);
/** Where failed state events go. */
export const LAKE_STATES_ERROR_OUTPUT_PREFIX = lakeErrorOutputPrefix(LAKE_STATES_PREFIX);
/** The JQ query that extracts the partition keys of one row (a reading of the Lambda's records, a state event of the rule's). */
export const PARTITION_KEY_QUERY = `{${LAKE_PARTITION_KEYS.map((k) => `${k.name}:.${k.name}`).join(",")}}`;

/** Firehose buffers per partition until this size (MiB) or {@link LAKE_BUFFER_SECONDS}: dynamic partitioning needs at least 64. */
export const LAKE_BUFFER_MIB = 128;
/** ... or until this many seconds (the most Firehose allows): fewer, larger Parquet files for Athena. */
export const LAKE_BUFFER_SECONDS = 900;
/** How long Firehose retries a failed delivery to S3 before writing the records under the error prefix. */
export const LAKE_RETRY_SECONDS = 3600;
/** The storage classes the lake's objects move to with age: rarely read after a month, archival after half a year. */
export const LAKE_TRANSITIONS: readonly StorageTransition[] = [
  { days: 30, storageClass: "STANDARD_IA" },
  { days: 180, storageClass: "GLACIER_IR" },
];
/** Query results are kept this many days. */
export const RESULTS_EXPIRE_DAYS = 30;
/** Athena cancels a query of the workgroup that would scan more than this (bytes): a runaway query's cost ceiling. */
export const BYTES_SCANNED_CUTOFF = 200 * 1024 ** 3;
/** First day the tables' date projection lists. */
export const LAKE_FIRST_DAY = "2025-01-01";
/** The log stream of Firehose's delivery errors in a stream's log group. */
export const DELIVERY_LOG_STREAM = "DestinationDelivery";
/** Key prefix of the query results in the results bucket. */
export const RESULTS_PREFIX = "results/";

export interface DataLakeArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly dataKeyArn: pulumi.Input<string>;
  readonly logsKeyArn: pulumi.Input<string>;
  /** Whether the lake has the hourly machine features (predictive maintenance is on and exports them). */
  readonly features?: boolean;
}

/** The named queries the workgroup offers. */
export type LakeQueryKey = "hourlyReadings" | "shiftDowntime";

/**
 * A table's parameters: Parquet, and partition projection of factory (this one), line (the config's) and day (from
 * {@link LAKE_FIRST_DAY} to tomorrow, since a reading or event may be ahead by the allowed clock skew), under
 * `dataPrefix` of the lake bucket.
 */
export function lakeTableParameters(
  config: FactoryConfig,
  bucket: pulumi.Input<string>,
  dataPrefix: string = LAKE_READINGS_PREFIX,
  format: "parquet" | "json" = "parquet",
): pulumi.Output<Record<string, string>> {
  const storage: Record<string, string> = format === "parquet" ? { classification: "parquet", "parquet.compression": "SNAPPY" } : { classification: "json", compressionType: "gzip" };
  return pulumi.output(bucket).apply((name): Record<string, string> => ({
    EXTERNAL: "TRUE",
    ...storage,
    "projection.enabled": "true",
    "projection.factory.type": "enum",
    "projection.factory.values": config.factory.id,
    "projection.line.type": "enum",
    "projection.line.values": config.lines.map((l) => l.id).join(","),
    "projection.dt.type": "date",
    "projection.dt.format": "yyyy-MM-dd",
    "projection.dt.range": `${LAKE_FIRST_DAY},NOW+1DAYS`,
    "projection.dt.interval": "1",
    "projection.dt.interval.unit": "DAYS",
    "storage.location.template": `s3://${name}/${dataPrefix}factory=\${factory}/line=\${line}/dt=\${dt}/`,
  }));
}

/** The Firehose roles' trust: the service, for this account only (Firehose passes the account as external id). */
export function firehoseTrustPolicy(account: AccountContext): PolicyDocument {
  return policyDocument({
    Sid: "TrustFirehose",
    Principal: { Service: "firehose.amazonaws.com" },
    Action: ["sts:AssumeRole"],
    Condition: { StringEquals: { "sts:ExternalId": account.accountId } },
  });
}

/** What the role of the stream writing `table` under `dataPrefix` may do, and nothing more. */
export function firehoseStatements(args: {
  readonly account: AccountContext;
  readonly bucketArn: pulumi.Input<string>;
  readonly dataKeyArn: pulumi.Input<string>;
  readonly database: pulumi.Input<string>;
  readonly table: pulumi.Input<string>;
  readonly logGroupArn: pulumi.Input<string>;
  /** The table's data prefix in the bucket (its errors go under `errors/<prefix>`); the readings' when omitted. */
  readonly dataPrefix?: string;
}): Statement[] {
  const { account } = args;
  const dataPrefix = args.dataPrefix ?? LAKE_READINGS_PREFIX;
  const prefixes = [objectsUnder(args.bucketArn, dataPrefix), objectsUnder(args.bucketArn, lakeErrorPrefix(dataPrefix))];
  return [
    { Sid: "WriteLakeObjects", Action: ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], Resource: prefixes },
    { Sid: "FindLakeBucket", Action: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], Resource: [args.bucketArn] },
    {
      // with an S3 bucket key the encryption context is the bucket, without one the object
      Sid: "EncryptLakeObjectsWithTheDataKey",
      Action: ["kms:GenerateDataKey", "kms:Decrypt"],
      Resource: [args.dataKeyArn],
      Condition: {
        StringEquals: { "kms:ViaService": `s3.${account.region}.amazonaws.com` },
        ArnLike: { "kms:EncryptionContext:aws:s3:arn": [args.bucketArn, ...prefixes] },
      },
    },
    {
      Sid: "ReadTheSchemaForParquet",
      Action: ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
      Resource: [
        arn(account, "glue", "catalog"),
        pulumi.interpolate`${arn(account, "glue", "database")}/${args.database}`,
        pulumi.interpolate`${arn(account, "glue", "table")}/${args.database}/${args.table}`,
      ],
    },
    { Sid: "LogDeliveryErrors", Action: ["logs:PutLogEvents"], Resource: [pulumi.interpolate`${args.logGroupArn}:log-stream:${DELIVERY_LOG_STREAM}`] },
  ];
}

/** One of the lake's tables and the Firehose stream that fills it. */
interface LakeTableSpec {
  /** Suffix of the resources' logical names (`""` keeps the readings' original names). */
  readonly suffix: string;
  readonly table: string;
  readonly dataPrefix: string;
  readonly columns: readonly LakeColumn[];
  readonly description: string;
  /** Suffix of the stream's name: `<factory>-<streamName>`. */
  readonly streamName: string;
  /** Suffix of the role's name: `<factory>-<roleName>`. */
  readonly roleName: string;
  readonly roleDescription: string;
}

/** A lake table with its stream, the stream's role and log group. */
export interface LakeTable {
  readonly table: aws.glue.CatalogTable;
  readonly role: aws.iam.Role;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly stream: aws.kinesis.FirehoseDeliveryStream;
}

/** Firehose -> S3 (Parquet) + Glue + Athena. */
export class DataLake extends pulumi.ComponentResource {
  readonly bucket: SecureBucket;
  readonly resultsBucket: SecureBucket;
  readonly database: aws.glue.CatalogDatabase;
  /** The readings: table, stream (`<factory>-lake-readings`), its role and log group. */
  readonly table: aws.glue.CatalogTable;
  readonly role: aws.iam.Role;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly stream: aws.kinesis.FirehoseDeliveryStream;
  /** The machine state events: table `states` and the stream `<factory>-lake-states` the state rule feeds. */
  readonly states: LakeTable;
  /** The hourly machine features (gzip'd JSON lines the features export writes), when {@link DataLakeArgs.features}. */
  readonly features?: aws.glue.CatalogTable;
  readonly workgroup: aws.athena.Workgroup;
  readonly namedQueries: Readonly<Partial<Record<LakeQueryKey, aws.athena.NamedQuery>>>;

  constructor(name: string, args: DataLakeArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:lake:DataLake", name, {}, opts);
    const { config, account } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };

    // ------------------------------------------------------------------------------------------------ storage
    this.bucket = new SecureBucket(`${name}-bucket`, { bucketName: bucketName(factoryId, "lake", account), kmsKeyArn: args.dataKeyArn, transitions: LAKE_TRANSITIONS }, child);
    this.resultsBucket = new SecureBucket(
      `${name}-results`,
      { bucketName: bucketName(factoryId, "athena-results", account), kmsKeyArn: args.dataKeyArn, expireAfterDays: RESULTS_EXPIRE_DAYS },
      child,
    );

    // ------------------------------------------------------------------------------------------------ catalog
    const databaseName = lakeDatabaseName(factoryId);
    this.database = new aws.glue.CatalogDatabase(
      name,
      {
        name: databaseName,
        description: `${config.factory.name}: the data lake's enriched readings and machine state events (Parquet in the lake bucket)`,
        catalogId: account.accountId,
      },
      child,
    );

    // ------------------------------------------------------------------------------------- tables and Firehose
    const lakeTable = (spec: LakeTableSpec): LakeTable => {
      const id = `${name}${spec.suffix}`;
      const table = new aws.glue.CatalogTable(
        id,
        {
          name: checkName("glueTable", spec.table),
          databaseName: this.database.name,
          catalogId: account.accountId,
          description: spec.description,
          tableType: "EXTERNAL_TABLE",
          parameters: lakeTableParameters(config, this.bucket.name, spec.dataPrefix),
          partitionKeys: LAKE_PARTITION_KEYS.map((k) => ({ name: k.name, type: k.type, comment: k.comment })),
          storageDescriptor: {
            location: pulumi.interpolate`s3://${this.bucket.name}/${spec.dataPrefix}`,
            inputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            outputFormat: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            serDeInfo: { name: "parquet", serializationLibrary: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", parameters: { "serialization.format": "1" } },
            columns: spec.columns.map((c) => ({ name: c.name, type: c.type, comment: c.comment })),
            compressed: true,
          },
        },
        child,
      );
      const streamName = scopedName("firehoseStream", factoryId, spec.streamName);
      const logGroup = new aws.cloudwatch.LogGroup(
        `${id}-firehose`,
        { name: checkName("logGroup", `/smart-factory/${factoryId}/firehose/${streamName}`), retentionInDays: LOG_RETENTION_DAYS, kmsKeyId: args.logsKeyArn },
        child,
      );
      const logStream = new aws.cloudwatch.LogStream(`${id}-firehose-delivery`, { name: DELIVERY_LOG_STREAM, logGroupName: logGroup.name }, child);
      const role = new aws.iam.Role(
        `${id}-firehose`,
        { name: scopedName("iamRole", factoryId, spec.roleName), description: spec.roleDescription, assumeRolePolicy: renderPolicy(firehoseTrustPolicy(account)) },
        child,
      );
      const rolePolicy = new aws.iam.RolePolicy(
        `${id}-firehose`,
        {
          role: role.name,
          policy: renderPolicy(
            policyDocument(
              ...firehoseStatements({
                account,
                bucketArn: this.bucket.arn,
                dataKeyArn: args.dataKeyArn,
                database: this.database.name,
                table: table.name,
                logGroupArn: logGroup.arn,
                dataPrefix: spec.dataPrefix,
              }),
            ),
          ),
        },
        child,
      );
      const stream = new aws.kinesis.FirehoseDeliveryStream(
        id,
        {
          name: streamName,
          destination: "extended_s3",
          serverSideEncryption: { enabled: true, keyType: "CUSTOMER_MANAGED_CMK", keyArn: args.dataKeyArn },
          extendedS3Configuration: {
            bucketArn: this.bucket.arn,
            roleArn: role.arn,
            kmsKeyArn: args.dataKeyArn,
            prefix: lakeObjectPrefix(spec.dataPrefix),
            errorOutputPrefix: lakeErrorOutputPrefix(spec.dataPrefix),
            bufferingSize: LAKE_BUFFER_MIB,
            bufferingInterval: LAKE_BUFFER_SECONDS,
            // Parquet compresses itself (SNAPPY); Firehose requires UNCOMPRESSED with format conversion
            compressionFormat: "UNCOMPRESSED",
            cloudwatchLoggingOptions: { enabled: true, logGroupName: logGroup.name, logStreamName: logStream.name },
            dynamicPartitioningConfiguration: { enabled: true, retryDuration: LAKE_RETRY_SECONDS },
            processingConfiguration: {
              enabled: true,
              processors: [
                // a record holds one or more rows, one JSON object per line: split them, then partition each
                { type: "RecordDeAggregation", parameters: [{ parameterName: "SubRecordType", parameterValue: "JSON" }] },
                {
                  type: "MetadataExtraction",
                  parameters: [
                    { parameterName: "MetadataExtractionQuery", parameterValue: PARTITION_KEY_QUERY },
                    { parameterName: "JsonParsingEngine", parameterValue: "JQ-1.6" },
                  ],
                },
              ],
            },
            dataFormatConversionConfiguration: {
              enabled: true,
              // the Hive JSON SerDe reads `time` in epoch milliseconds as a timestamp
              inputFormatConfiguration: { deserializer: { hiveJsonSerDe: { timestampFormats: ["millis"] } } },
              outputFormatConfiguration: { serializer: { parquetSerDe: { compression: "SNAPPY" } } },
              schemaConfiguration: {
                catalogId: account.accountId,
                databaseName: this.database.name,
                tableName: table.name,
                region: account.region,
                roleArn: role.arn,
                versionId: "LATEST",
              },
            },
          },
        },
        { ...child, dependsOn: [rolePolicy] },
      );
      return { table, role, logGroup, stream };
    };

    const readings = lakeTable({
      suffix: "",
      table: LAKE_TABLE,
      dataPrefix: LAKE_READINGS_PREFIX,
      columns: LAKE_COLUMNS,
      description: "One row per enriched reading (canonical SI units), partitioned by factory, line and UTC day",
      streamName: "lake-readings",
      roleName: "lake-firehose",
      roleDescription: "Firehose delivers the enriched readings to the data lake",
    });
    this.table = readings.table;
    this.role = readings.role;
    this.logGroup = readings.logGroup;
    this.stream = readings.stream;
    this.states = lakeTable({
      suffix: "-states",
      table: LAKE_STATES_TABLE,
      dataPrefix: LAKE_STATES_PREFIX,
      columns: LAKE_STATE_COLUMNS,
      description: "One row per machine state event (a state holds until the machine's next event), partitioned by factory, line and UTC day",
      streamName: "lake-states",
      roleName: "lake-states-firehose",
      roleDescription: "Firehose delivers the machine state events to the data lake",
    });

    if (args.features === true) {
      this.features = new aws.glue.CatalogTable(
        `${name}-features`,
        {
          name: checkName("glueTable", LAKE_FEATURES_TABLE),
          databaseName: this.database.name,
          catalogId: account.accountId,
          description: "One row per machine and hour: the predictive-maintenance features, exported hourly from Timestream; partitioned by factory, line and UTC day",
          tableType: "EXTERNAL_TABLE",
          parameters: lakeTableParameters(config, this.bucket.name, LAKE_FEATURES_PREFIX, "json"),
          partitionKeys: LAKE_PARTITION_KEYS.map((k) => ({ name: k.name, type: k.type, comment: k.comment })),
          storageDescriptor: {
            location: pulumi.interpolate`s3://${this.bucket.name}/${LAKE_FEATURES_PREFIX}`,
            inputFormat: "org.apache.hadoop.mapred.TextInputFormat",
            outputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            // timestamps as `yyyy-MM-dd HH:mm:ss.SSS`, the SerDe's default form
            serDeInfo: { name: "json", serializationLibrary: "org.apache.hive.hcatalog.data.JsonSerDe", parameters: { "serialization.format": "1" } },
            columns: lakeFeatureColumns(config).map((c) => ({ name: c.name, type: c.type, comment: c.comment })),
            compressed: true,
          },
        },
        child,
      );
    }

    // ------------------------------------------------------------------------------------------------- Athena
    this.workgroup = new aws.athena.Workgroup(
      name,
      {
        name: scopedName("athenaWorkgroup", factoryId, "lake"),
        description: `${config.factory.name}: queries of the data lake (enforced settings, encrypted results)`,
        state: "ENABLED",
        forceDestroy: false,
        configuration: {
          enforceWorkgroupConfiguration: true,
          publishCloudwatchMetricsEnabled: true,
          bytesScannedCutoffPerQuery: BYTES_SCANNED_CUTOFF,
          engineVersion: { selectedEngineVersion: "Athena engine version 3" },
          resultConfiguration: {
            outputLocation: pulumi.interpolate`s3://${this.resultsBucket.name}/${RESULTS_PREFIX}`,
            encryptionConfiguration: { encryptionOption: "SSE_KMS", kmsKeyArn: args.dataKeyArn },
            expectedBucketOwner: account.accountId,
          },
        },
      },
      child,
    );
    const ref = { factoryId, database: databaseName, table: LAKE_TABLE };
    const statesRef = { ...ref, table: LAKE_STATES_TABLE };
    const queries: [LakeQueryKey, string, string, string | undefined][] = [
      [
        "hourlyReadings",
        "readings per machine and hour",
        "Cleansed readings per machine, tag and hour (good quality, duplicates dropped): count, mean, min, max, standard deviation; ML features and BI",
        hourlyReadingsSql(ref),
      ],
      [
        "shiftDowntime",
        "downtime per shift",
        "Downtime per machine and shift of the factory's calendar from the machine state events: seconds in running, idle, fault and planned stop (a state holds until the machine's next event, clipped to the shift), downtime and availability; BI and ML labels",
        shiftDowntimeSql(shiftDowntimeInputs(config, statesRef)),
      ],
    ];
    const named: Partial<Record<LakeQueryKey, aws.athena.NamedQuery>> = {};
    for (const [key, title, description, sql] of queries) {
      if (sql === undefined) continue;
      named[key] = new aws.athena.NamedQuery(
        `${name}-${key}`,
        { name: `${factoryId} ${title}`, description, database: this.database.name, workgroup: this.workgroup.name, query: sql },
        child,
      );
    }
    this.namedQueries = named;
    this.registerOutputs({
      bucket: this.bucket.name,
      stream: this.stream.name,
      statesStream: this.states.stream.name,
      database: this.database.name,
      table: this.table.name,
      statesTable: this.states.table.name,
      workgroup: this.workgroup.name,
    });
  }
}
