/**
 * PredictiveMaintenance (`smart-factory:features.predictiveMaintenance.enabled`): hourly machine features in
 * Timestream, a SageMaker pipeline retrained weekly that registers failure-risk models for approval, and a
 * serverless endpoint of the approved model that the detector Lambda calls (env `SCORE_ENDPOINT`).
 *
 * - **Features.** A Timestream scheduled query runs at a quarter past every hour and writes, per machine, the
 *   average, standard deviation, minimum and maximum of each vibration- and temperature-like tag over the past hour
 *   (see `featureTags` in the SDK) and its number of records into the table `machine_features` of the
 *   factory's database (retention from config, magnetic-store writes with a rejected-data location). Failed runs
 *   leave error reports in an encrypted bucket; Timestream notifies the factory's SNS topic. Telemetry carries no
 *   machine state (that is in IoT SiteWise), and a `<tag>_quality` column exists only once a non-good reading was
 *   written, while a scheduled query naming a missing column fails on every run: so fault seconds, fault entries
 *   and bad-reading counts are not computed here but by the pipeline's processing step, which reads the state
 *   history from SiteWise and the quality columns that exist (`DESCRIBE`). For the same reason Timestream checks
 *   the query against the telemetry table when the scheduled query is created: enable predictive maintenance once
 *   every gateway has sent telemetry.
 * - **Export.** A scheduled query cannot write S3. For the training set, the processing step reads the features
 *   with Timestream's `UNLOAD` into the pipeline's artifacts bucket (SSE-KMS with the data key), so the pipeline
 *   depends only on Timestream and SiteWise. For everyone else, a function scheduled at 40 past every hour copies
 *   the past hour's features into the data lake (`features/`, the lake's table `machine_features`), where Athena
 *   joins them with the readings and the state events.
 * - **Training.** A SageMaker pipeline: processing (the region's scikit-learn image, `ml/prepare_training_set.py`)
 *   -> training (the region's built-in XGBoost, network isolated) -> RegisterModel into the factory's model package
 *   group as `PendingManualApproval`. An EventBridge Scheduler schedule starts it weekly; an EventBridge rule tells
 *   the topic when a model awaits approval (Observability's rule reports failed executions).
 * - **Serving.** Only when `approvedModelPackageArn` names an approved package of the group (a first `pulumi up`
 *   has no model): a model, a serverless endpoint configuration (encrypted with the data key) and the endpoint
 *   `<factory>-failure-risk`. A scoring request is one CSV line of the SDK's `trainingColumns` (the detector sends
 *   each machine's completed hour once); the answer is the probability of a fault within the horizon (24 h by
 *   default).
 *
 * Every role has exactly the permissions its service needs, on the factory's resources.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { checkName, featureColumns, featureTags, LAKE_FEATURES_PREFIX, SAMPLES_COLUMN, scopedName, trainingColumns, type FactoryConfig } from "@smart-factory/sdk";
import { arn, policyDocument, renderPolicy, trustPolicy, type AccountContext, type Statement } from "../lib/iam";
import {
  ARTIFACT_PREFIXES,
  FEATURE_DIMENSIONS,
  FEATURES_MEASURE_NAME,
  FEATURES_SCHEDULE,
  FEATURES_TABLE,
  featuresQuery,
  HOUR_COLUMN,
  PIPELINE_PARAMETERS,
  pipelineDefinition,
  PREPARE_SCRIPT,
  RETRAINING_SCHEDULE,
  TRAINING_CONFIG_FILE,
  trainingConfig,
} from "../lib/maintenance";
import { bucketName, objectsUnder, SecureBucket } from "../lib/secureBucket";
import { tableStorage } from "./telemetryStore";
import { FactoryFunction, type FunctionPlacement } from "../lib/factoryFunction";
import { scheduleLambda, type LambdaSchedule } from "../lib/lambdaSchedule";

/** Where the processing script lives in the repository. */
export const PREPARE_SCRIPT_PATH = path.join(__dirname, "..", "ml", PREPARE_SCRIPT);

/** Prefix of the features table's rejected records in the telemetry store's rejected-records bucket. */
export const FEATURES_REJECTED_PREFIX = "features-rejected/";

/** Prefix of the scheduled query's error reports in their bucket. */
export const QUERY_ERRORS_PREFIX = "scheduled-query-errors/";

/** The serverless endpoint's capacity: the detector scores a few machines at a time. */
export const SERVERLESS_CAPACITY = { memorySizeInMb: 2048, maxConcurrency: 10 } as const;

export interface PredictiveMaintenanceArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly dataKeyArn: pulumi.Input<string>;
  readonly notificationsKeyArn: pulumi.Input<string>;
  /** The factory's notification topic (scheduled query status, failed retraining, models awaiting approval). */
  readonly notificationTopicArn: pulumi.Input<string>;
  /** The factory's telemetry store: the features table joins its database and rejected-records bucket. */
  readonly telemetry: {
    readonly databaseName: pulumi.Input<string>;
    readonly tableName: pulumi.Input<string>;
    readonly tableArn: pulumi.Input<string>;
    readonly rejectedBucketName: pulumi.Input<string>;
  };
  /** ARNs of the machine assets whose state history the processing step reads. */
  readonly machineAssetArns: readonly pulumi.Input<string>[];
  /** The data lake the hourly features are exported to (its table `machine_features`), and what the export function needs. */
  readonly lake?: {
    readonly bucketName: pulumi.Input<string>;
    readonly bucketArn: pulumi.Input<string>;
    readonly logsKeyArn: pulumi.Input<string>;
    readonly placement?: FunctionPlacement;
  };
}

/** When the features export runs: at 40 past every hour, well after the scheduled query (15 past) has written the hour. */
export const FEATURES_EXPORT_SCHEDULE = "cron(40 * * * ? *)";
/** The export's input; Scheduler fills in the scheduled time, and the function exports the hour before its hour. */
export const FEATURES_EXPORT_INPUT = JSON.stringify({ action: "export", scheduledTime: "<aws.scheduler.scheduled-time>" });

/** The parts of an approved model package ARN. */
export interface ModelPackageRef {
  readonly region: string;
  readonly account: string;
  readonly group: string;
  readonly version: number;
}

/**
 * The region, group and version of an approved model package ARN.
 *
 * @throws Error when the package is not in the stack's region or not in the factory's model package group: the
 * endpoint serves only a model this pipeline trained (its execution role reads only this factory's artifacts).
 */
export function approvedPackage(packageArn: string, region: string, group: string): ModelPackageRef {
  const m = /^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):model-package\/([A-Za-z0-9-]+)\/(\d+)$/.exec(packageArn);
  if (m === null) throw new Error(`approvedModelPackageArn ${packageArn} is not a model package ARN`);
  const [, pkgRegion = "", account = "", pkgGroup = "", version = "0"] = m;
  if (pkgRegion !== region) {
    throw new Error(`smart-factory:features.predictiveMaintenance.approvedModelPackageArn is in ${pkgRegion}, the stack in ${region}: approve a model of this factory's pipeline`);
  }
  if (pkgGroup !== group) {
    throw new Error(`smart-factory:features.predictiveMaintenance.approvedModelPackageArn belongs to model package group ${pkgGroup}, not to the factory's group ${group}`);
  }
  return { region: pkgRegion, account, group: pkgGroup, version: Number(version) };
}

/** The factory's predictive maintenance: features, training pipeline, and (once a model is approved) the endpoint. */
export class PredictiveMaintenance extends pulumi.ComponentResource {
  readonly featuresTable: aws.timestreamwrite.Table;
  readonly scheduledQuery: aws.timestreamquery.ScheduledQuery;
  readonly queryErrors: SecureBucket;
  readonly queryRole: aws.iam.Role;
  readonly artifacts: SecureBucket;
  readonly modelPackageGroup: aws.sagemaker.ModelPackageGroup;
  readonly pipeline: aws.sagemaker.Pipeline;
  readonly pipelineRole: aws.iam.Role;
  readonly retraining: aws.scheduler.Schedule;
  readonly schedulerRole: aws.iam.Role;
  /** Tells the notification topic when a trained model awaits approval. */
  readonly approvalRule: aws.cloudwatch.EventRule;
  /** The model's input, in order: one CSV line of these values per scoring request. */
  readonly featureColumns: readonly string[];
  /** The hourly export of the features to the lake, with its schedule (when the factory has a lake). */
  readonly featuresExport?: FactoryFunction;
  readonly featuresExportSchedule?: LambdaSchedule;
  /** The serverless endpoint of the approved model (absent until `approvedModelPackageArn` is set). */
  readonly endpoint?: aws.sagemaker.Endpoint;
  /** Its name, for the detector Lambda's `SCORE_ENDPOINT`. */
  readonly scoreEndpointName?: pulumi.Output<string>;
  /** Its ARN, for the detector's `sagemaker:InvokeEndpoint` permission. */
  readonly scoreEndpointArn?: pulumi.Output<string>;

  constructor(name: string, args: PredictiveMaintenanceArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:maintenance:PredictiveMaintenance", name, {}, opts);
    const { config, account } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };
    const tags = featureTags(config);
    const columns = featureColumns(tags);
    this.featureColumns = trainingColumns(config);

    // ------------------------------------------------------------------------------------------------ features
    this.featuresTable = new aws.timestreamwrite.Table(
      `${name}-features`,
      {
        databaseName: args.telemetry.databaseName,
        tableName: checkName("timestreamTable", FEATURES_TABLE),
        ...tableStorage(config, { bucketName: args.telemetry.rejectedBucketName, kmsKeyId: args.dataKeyArn, prefix: FEATURES_REJECTED_PREFIX }),
        schema: { compositePartitionKey: { type: "DIMENSION", name: "machine", enforcementInRecord: "REQUIRED" } },
      },
      { ...child, protect: true, retainOnDelete: true },
    );
    this.queryErrors = new SecureBucket(`${name}-query-errors`, { bucketName: bucketName(factoryId, "sq-errors", account), kmsKeyArn: args.dataKeyArn }, child);

    const queryName = scopedName("timestreamScheduledQuery", factoryId, "machine-features");
    this.queryRole = new aws.iam.Role(
      `${name}-query`,
      {
        name: scopedName("iamRole", factoryId, "features-query"),
        description: "The hourly machine-features scheduled query of Timestream",
        assumeRolePolicy: renderPolicy(trustPolicy("timestream.amazonaws.com", { sourceAccount: account.accountId })),
      },
      child,
    );
    const queryPolicy = new aws.iam.RolePolicy(
      `${name}-query`,
      {
        role: this.queryRole.name,
        policy: renderPolicy(
          policyDocument(
            { Sid: "ReadTelemetry", Action: ["timestream:Select"], Resource: [args.telemetry.tableArn] },
            { Sid: "WriteFeatures", Action: ["timestream:WriteRecords"], Resource: [this.featuresTable.arn] },
            { Sid: "DiscoverTimestreamEndpoints", Action: ["timestream:DescribeEndpoints"], Resource: "*" },
            { Sid: "WriteErrorReports", Action: ["s3:PutObject"], Resource: [objectsUnder(this.queryErrors.arn, QUERY_ERRORS_PREFIX)] },
            { Sid: "CheckErrorBucket", Action: ["s3:GetBucketAcl"], Resource: [this.queryErrors.arn] },
            { Sid: "NotifyStatus", Action: ["sns:Publish"], Resource: [args.notificationTopicArn] },
            { Sid: "UseDataKey", Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: [args.dataKeyArn] },
            {
              Sid: "PublishToEncryptedTopic",
              Action: ["kms:Decrypt", "kms:GenerateDataKey"],
              Resource: [args.notificationsKeyArn],
              Condition: { StringEquals: { "kms:ViaService": `sns.${account.region}.amazonaws.com` } },
            },
          ),
        ),
      },
      child,
    );
    this.scheduledQuery = new aws.timestreamquery.ScheduledQuery(
      `${name}-features`,
      {
        name: queryName,
        queryString: pulumi.all([args.telemetry.databaseName, args.telemetry.tableName]).apply(([db, table]) => featuresQuery(db, table, tags)),
        scheduleConfiguration: { scheduleExpression: FEATURES_SCHEDULE },
        executionRoleArn: this.queryRole.arn,
        kmsKeyId: args.dataKeyArn,
        errorReportConfiguration: { s3Configuration: { bucketName: this.queryErrors.name, encryptionOption: "SSE_KMS", objectKeyPrefix: QUERY_ERRORS_PREFIX } },
        notificationConfiguration: { snsConfiguration: { topicArn: args.notificationTopicArn } },
        targetConfiguration: {
          timestreamConfiguration: {
            databaseName: args.telemetry.databaseName,
            tableName: this.featuresTable.tableName,
            timeColumn: HOUR_COLUMN,
            dimensionMappings: FEATURE_DIMENSIONS.map((d) => ({ name: d, dimensionValueType: "VARCHAR" })),
            multiMeasureMappings: {
              targetMultiMeasureName: FEATURES_MEASURE_NAME,
              multiMeasureAttributeMappings: columns.map((c) => ({ sourceColumn: c, measureValueType: c === SAMPLES_COLUMN ? "BIGINT" : "DOUBLE" })),
            },
          },
        },
      },
      // Timestream assumes the role when the query is created: its permissions must be in place first
      { ...child, dependsOn: [queryPolicy] },
    );

    // ------------------------------------------------------------------------------------------------ training
    this.artifacts = new SecureBucket(`${name}-artifacts`, { bucketName: bucketName(factoryId, "ml-artifacts", account), kmsKeyArn: args.dataKeyArn }, child);
    const script = fs.readFileSync(PREPARE_SCRIPT_PATH, "utf8");
    const settings = `${JSON.stringify(trainingConfig(config), null, 2)}\n`;
    const codePrefix = `${ARTIFACT_PREFIXES.code}${crypto.createHash("sha256").update(script).update("\0").update(settings).digest("hex").slice(0, 16)}/`;
    const code = [
      new aws.s3.BucketObjectv2(`${name}-prepare-script`, { bucket: this.artifacts.name, key: `${codePrefix}${PREPARE_SCRIPT}`, content: script, contentType: "text/x-python" }, child),
      new aws.s3.BucketObjectv2(`${name}-training-config`, { bucket: this.artifacts.name, key: `${codePrefix}${TRAINING_CONFIG_FILE}`, content: settings, contentType: "application/json" }, child),
    ];

    const groupName = scopedName("sagemakerResource", factoryId, "failure-risk");
    this.modelPackageGroup = new aws.sagemaker.ModelPackageGroup(
      `${name}-models`,
      { modelPackageGroupName: groupName, modelPackageGroupDescription: `${config.factory.name}: failure-risk models per machine and hour, trained weekly` },
      child,
    );

    const pipelineName = scopedName("sagemakerPipeline", factoryId, "failure-risk-training");
    const pipelineRoleName = scopedName("iamRole", factoryId, "ml-pipeline");
    this.pipelineRole = new aws.iam.Role(
      `${name}-pipeline`,
      { name: pipelineRoleName, description: "The failure-risk training pipeline and its processing and training jobs", assumeRolePolicy: renderPolicy(trustPolicy("sagemaker.amazonaws.com")) },
      child,
    );
    const sagemaker = (resource: string): pulumi.Output<string> => arn(account, "sagemaker", resource);
    const jobLogs = ["ProcessingJobs", "TrainingJobs"].flatMap((kind) => [arn(account, "logs", `log-group:/aws/sagemaker/${kind}`), arn(account, "logs", `log-group:/aws/sagemaker/${kind}:log-stream:*`)]);
    const pipelinePolicy = new aws.iam.RolePolicy(
      `${name}-pipeline`,
      {
        role: this.pipelineRole.name,
        policy: renderPolicy(
          policyDocument(
            {
              // jobs a pipeline starts are named pipelines-<execution>-<step>-<hash>
              Sid: "RunPipelineJobs",
              Action: [
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:AddTags",
              ],
              Resource: [sagemaker("processing-job/pipelines-*"), sagemaker("training-job/pipelines-*")],
            },
            {
              Sid: "RegisterModels",
              Action: ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
              Resource: [sagemaker(`model-package-group/${groupName}`), sagemaker(`model-package/${groupName}/*`)],
            },
            {
              Sid: "PassRoleToOwnJobs",
              Action: ["iam:PassRole"],
              Resource: [arn(account, "iam", `role/${pipelineRoleName}`, "")],
              Condition: { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } },
            },
            { Sid: "ReadCode", Action: ["s3:GetObject"], Resource: [objectsUnder(this.artifacts.arn, ARTIFACT_PREFIXES.code)] },
            {
              Sid: "ReadWriteJobData",
              Action: ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
              Resource: [ARTIFACT_PREFIXES.unload, ARTIFACT_PREFIXES.trainingSets, ARTIFACT_PREFIXES.models].map((p) => objectsUnder(this.artifacts.arn, p)),
            },
            { Sid: "ListArtifacts", Action: ["s3:ListBucket", "s3:GetBucketAcl", "s3:GetBucketLocation"], Resource: [this.artifacts.arn] },
            { Sid: "UnloadFeaturesAndQuality", Action: ["timestream:Select", "timestream:Unload"], Resource: [this.featuresTable.arn, args.telemetry.tableArn] },
            { Sid: "DiscoverTimestreamEndpoints", Action: ["timestream:DescribeEndpoints"], Resource: "*" },
            { Sid: "ReadMachineState", Action: ["iotsitewise:GetAssetPropertyValueHistory"], Resource: args.machineAssetArns },
            { Sid: "WriteJobLogs", Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], Resource: jobLogs },
            { Sid: "UseDataKey", Action: ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], Resource: [args.dataKeyArn] },
            {
              // SageMaker encrypts the jobs' volumes with the data key through a grant it creates with this role
              Sid: "GrantDataKeyToJobVolumes",
              Action: ["kms:CreateGrant"],
              Resource: [args.dataKeyArn],
              Condition: { Bool: { "kms:GrantIsForAWSResource": true } },
            },
          ),
        ),
      },
      child,
    );
    const definition = pulumi
      .all([this.pipelineRole.arn, this.artifacts.name, args.dataKeyArn, args.telemetry.databaseName, this.featuresTable.tableName, args.telemetry.tableName])
      .apply(([roleArn, bucket, dataKeyArn, database, featuresTable, telemetryTable]) =>
        JSON.stringify(
          pipelineDefinition({ region: config.region, roleArn, bucket, dataKeyArn, codePrefix, modelPackageGroupName: groupName, database, featuresTable, telemetryTable }),
        ),
      );
    this.pipeline = new aws.sagemaker.Pipeline(
      `${name}-training`,
      {
        pipelineName,
        pipelineDisplayName: pipelineName,
        pipelineDescription: `${config.factory.name}: prepare the training set, train XGBoost, register the model for approval`,
        roleArn: this.pipelineRole.arn,
        pipelineDefinition: definition,
      },
      { ...child, dependsOn: [pipelinePolicy, this.modelPackageGroup, ...code] },
    );

    const scheduleName = scopedName("schedule", factoryId, "failure-risk-retraining");
    this.schedulerRole = new aws.iam.Role(
      `${name}-retraining`,
      {
        name: scopedName("iamRole", factoryId, "ml-retraining"),
        description: "EventBridge Scheduler starts the weekly failure-risk retraining",
        assumeRolePolicy: renderPolicy(trustPolicy("scheduler.amazonaws.com", { sourceAccount: account.accountId })),
      },
      child,
    );
    const schedulerPolicy = new aws.iam.RolePolicy(
      `${name}-retraining`,
      { role: this.schedulerRole.name, policy: renderPolicy(policyDocument({ Sid: "StartRetraining", Action: ["sagemaker:StartPipelineExecution"], Resource: [this.pipeline.arn] })) },
      child,
    );
    this.retraining = new aws.scheduler.Schedule(
      `${name}-retraining`,
      {
        name: scheduleName,
        description: "Weekly retraining of the failure-risk model on the latest features",
        scheduleExpression: RETRAINING_SCHEDULE,
        scheduleExpressionTimezone: config.factory.timeZone,
        flexibleTimeWindow: { mode: "OFF" },
        target: {
          arn: this.pipeline.arn,
          roleArn: this.schedulerRole.arn,
          sagemakerPipelineParameters: { pipelineParameters: Object.entries(PIPELINE_PARAMETERS).map(([n, value]) => ({ name: n, value })) },
          retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
        },
      },
      { ...child, dependsOn: [schedulerPolicy] },
    );

    // ------------------------------------------------------------------------------------------ features export
    if (args.lake !== undefined) {
      const lake = args.lake;
      this.featuresExport = new FactoryFunction(
        `${name}-features-export`,
        {
          factoryId,
          shortName: "features-export",
          description: `Exports ${config.factory.name}'s hourly machine features from Timestream to the data lake`,
          entry: "lambdas/features-export/index.ts",
          files: { "factory.json": JSON.stringify(config) },
          region: account.region,
          statements: featuresExportStatements(account, { featuresTableArn: this.featuresTable.arn, lakeBucketArn: lake.bucketArn, dataKeyArn: args.dataKeyArn }),
          logsKeyArn: lake.logsKeyArn,
          memorySize: 256,
          timeout: 120,
          environment: {
            FEATURES_DATABASE: args.telemetry.databaseName,
            FEATURES_TABLE: this.featuresTable.tableName,
            LAKE_BUCKET: lake.bucketName,
            POWERTOOLS_SERVICE_NAME: "features-export",
            POWERTOOLS_METRICS_NAMESPACE: `SmartFactory/${factoryId}`,
          },
          dataKeyArn: args.dataKeyArn,
          ...(lake.placement === undefined ? {} : { placement: lake.placement }),
        },
        child,
      );
      this.featuresExportSchedule = scheduleLambda(
        `${name}-features-export-schedule`,
        {
          factoryId,
          account,
          id: "features-export-hourly",
          description: "Hourly: export the past hour's machine features to the data lake",
          roleDescription: "EventBridge Scheduler invokes the hourly features export",
          expression: FEATURES_EXPORT_SCHEDULE,
          functionArn: this.featuresExport.function.arn,
          input: FEATURES_EXPORT_INPUT,
          // the input names the hour, so a late delivery still exports the right one
          retryPolicy: { maximumRetryAttempts: 5, maximumEventAgeInSeconds: 6 * 3600 },
          dataKeyArn: args.dataKeyArn,
        },
        child,
      );
    }

    // Someone must approve each new model (a failed run is reported by Observability's pipeline-failure rule).
    this.approvalRule = new aws.cloudwatch.EventRule(
      `${name}-awaiting-approval`,
      {
        name: scopedName("eventRule", factoryId, "ml-model-awaiting-approval"),
        description: "A new failure-risk model awaits approval in the model registry",
        eventPattern: pulumi.jsonStringify({
          source: ["aws.sagemaker"],
          "detail-type": ["SageMaker Model Package State Change"],
          detail: { ModelPackageGroupName: [groupName], ModelApprovalStatus: ["PendingManualApproval"] },
        }),
      },
      child,
    );
    new aws.cloudwatch.EventTarget(`${name}-awaiting-approval`, { rule: this.approvalRule.name, arn: args.notificationTopicArn }, child);

    // ------------------------------------------------------------------------------------------------ serving
    const approved = config.features.predictiveMaintenance.approvedModelPackageArn;
    if (approved !== undefined) {
      const pkg = approvedPackage(approved, config.region, groupName);
      const endpointName = scopedName("sagemakerResource", factoryId, "failure-risk");
      const versionName = scopedName("sagemakerResource", factoryId, "failure-risk", `v${pkg.version}`);
      const modelRole = new aws.iam.Role(
        `${name}-model`,
        { name: scopedName("iamRole", factoryId, "ml-model"), description: "The failure-risk model behind the serverless endpoint", assumeRolePolicy: renderPolicy(trustPolicy("sagemaker.amazonaws.com")) },
        child,
      );
      const endpointLogs = arn(account, "logs", `log-group:/aws/sagemaker/Endpoints/${endpointName}`);
      const modelStatements: Statement[] = [
        { Sid: "ReadModelArtifacts", Action: ["s3:GetObject"], Resource: [objectsUnder(this.artifacts.arn, ARTIFACT_PREFIXES.models)] },
        { Sid: "DecryptModelArtifacts", Action: ["kms:Decrypt"], Resource: [args.dataKeyArn], Condition: { StringEquals: { "kms:ViaService": `s3.${account.region}.amazonaws.com` } } },
        {
          Sid: "WriteEndpointLogs",
          Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
          Resource: [endpointLogs, pulumi.interpolate`${endpointLogs}:log-stream:*`],
        },
      ];
      const modelPolicy = new aws.iam.RolePolicy(`${name}-model`, { role: modelRole.name, policy: renderPolicy(policyDocument(...modelStatements)) }, child);
      // A new approved version makes a new model and configuration (their names carry the version); the endpoint
      // keeps its name and switches to them.
      const model = new aws.sagemaker.Model(
        `${name}-model`,
        { name: versionName, executionRoleArn: modelRole.arn, primaryContainer: { modelPackageName: approved }, enableNetworkIsolation: true },
        { ...child, dependsOn: [modelPolicy] },
      );
      const endpointConfig = new aws.sagemaker.EndpointConfiguration(
        `${name}-endpoint`,
        {
          name: versionName,
          kmsKeyArn: args.dataKeyArn,
          productionVariants: [{ variantName: "AllTraffic", modelName: model.name, serverlessConfig: { ...SERVERLESS_CAPACITY } }],
        },
        child,
      );
      this.endpoint = new aws.sagemaker.Endpoint(`${name}-endpoint`, { name: endpointName, endpointConfigName: endpointConfig.name }, child);
      this.scoreEndpointName = this.endpoint.name;
      this.scoreEndpointArn = this.endpoint.arn;
    }

    this.registerOutputs({
      featuresTable: this.featuresTable.tableName,
      scheduledQuery: this.scheduledQuery.arn,
      pipeline: this.pipeline.pipelineName,
      modelPackageGroup: this.modelPackageGroup.modelPackageGroupName,
      scoreEndpointName: this.scoreEndpointName,
    });
  }
}

/** What the features export may do besides writing its logs and its DLQ: read the features table, write the lake's features. */
export function featuresExportStatements(
  account: AccountContext,
  resources: { readonly featuresTableArn: pulumi.Input<string>; readonly lakeBucketArn: pulumi.Input<string>; readonly dataKeyArn: pulumi.Input<string> },
): Statement[] {
  return [
    { Sid: "ReadTheFeatures", Action: ["timestream:Select"], Resource: [resources.featuresTableArn] },
    // Timestream's endpoint discovery names no resource
    { Sid: "DiscoverTimestreamEndpoints", Action: ["timestream:DescribeEndpoints"], Resource: ["*"] },
    { Sid: "WriteLakeFeatures", Action: ["s3:PutObject"], Resource: [objectsUnder(resources.lakeBucketArn, LAKE_FEATURES_PREFIX)] },
    {
      Sid: "EncryptLakeObjectsWithTheDataKey",
      Action: ["kms:GenerateDataKey"],
      Resource: [resources.dataKeyArn],
      Condition: { StringEquals: { "kms:ViaService": `s3.${account.region}.amazonaws.com` } },
    },
  ];
}
