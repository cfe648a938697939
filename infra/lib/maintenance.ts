/**
 * Predictive maintenance as plain data, tested without mocks: the Timestream scheduled query that computes the
 * features per machine and hour, the processing step's configuration, the SageMaker images of a region and the
 * SageMaker pipeline definition (processing -> training -> model registration). The feature vector itself (which
 * tags become features, the columns and their order) is the SDK's (`featureTags`, `trainingColumns`), shared with
 * the detector Lambda, which scores each machine's completed hour with it.
 */
import {
  FEATURE_STATISTICS,
  featureColumn,
  featureColumns,
  featureTags,
  listMachines,
  MACHINE_PROPERTIES,
  machinePropertyAlias,
  machineTypeColumn,
  quoteIdentifier,
  quoteResourceName,
  quoteString,
  SAMPLES_COLUMN,
  STATE_CODES,
  TELEMETRY_MEASURE_NAME,
  trainingColumns,
  type FactoryConfig,
  type FeatureTag,
} from "@smart-factory/sdk";

// ---------------------------------------------------------------------------------------------- features

/** The Timestream table (in the factory's database) the scheduled query writes the features into. */
export const FEATURES_TABLE = "machine_features";

/** Multi-measure name of every features record. */
export const FEATURES_MEASURE_NAME = "features";

/** The dimensions of a features record: those of the telemetry record it summarizes. */
export const FEATURE_DIMENSIONS = ["factory", "line", "machine_type", "machine"] as const;

/** The column of the hour a features record stands for (its time). */
export const HOUR_COLUMN = "hour";

/**
 * The scheduled query: per machine, the statistics of each feature tag over the hour before the run's hour
 * (`@scheduled_runtime` truncated to the hour, minus one hour, up to it), and the number of records. Run at a
 * quarter past each hour, it leaves the gateways 15 minutes to deliver the hour's last readings.
 */
export function featuresQuery(database: string, table: string, tags: readonly FeatureTag[]): string {
  const from = `${quoteResourceName("database", database)}.${quoteResourceName("table", table)}`;
  const dimensions = FEATURE_DIMENSIONS.map((d) => quoteIdentifier("dimension", d));
  const hour = "bin(time, 1h)";
  const aggregate = { avg: "AVG", stddev: "STDDEV", min: "MIN", max: "MAX" } as const;
  const statistics = tags.flatMap((t) =>
    FEATURE_STATISTICS.map((s) => `${aggregate[s]}(${quoteIdentifier("tag", t.name)}) AS ${quoteIdentifier("feature", featureColumn(t.name, s))}`),
  );
  return [
    `SELECT ${dimensions.join(", ")}, ${hour} AS ${quoteIdentifier("hour", HOUR_COLUMN)},`,
    `  COUNT(*) AS ${quoteIdentifier("samples", SAMPLES_COLUMN)}${statistics.length > 0 ? "," : ""}`,
    ...statistics.map((s, i) => `  ${s}${i < statistics.length - 1 ? "," : ""}`),
    `FROM ${from}`,
    `WHERE measure_name = ${quoteString("measure_name", TELEMETRY_MEASURE_NAME)}`,
    `  AND time >= bin(@scheduled_runtime, 1h) - 1h AND time < bin(@scheduled_runtime, 1h)`,
    `GROUP BY ${dimensions.join(", ")}, ${hour}`,
  ].join("\n");
}

/** When the scheduled query runs: a quarter past every hour (UTC). */
export const FEATURES_SCHEDULE = "cron(15 * * * ? *)";

// ---------------------------------------------------------------------------------------------- training set

/** What the processing step reads from `training-config.json` next to its code. */
export interface TrainingConfig {
  readonly factory: string;
  /** The model's feature vector (the SDK's `trainingColumns`). */
  readonly columns: readonly string[];
  /** Features written by the scheduled query, by column. */
  readonly featureColumns: readonly string[];
  /** Each machine type's one-hot column. */
  readonly machineTypeColumns: Readonly<Record<string, string>>;
  /** Tags whose `<tag>_quality` measure may count bad readings. */
  readonly tags: readonly string[];
  /** The machines, with the SiteWise alias of their state. */
  readonly machines: readonly { line: string; machine: string; machineType: string; stateAlias: string }[];
  /** The state code of `fault` in SiteWise. */
  readonly faultStateCode: number;
}

/** The processing step's configuration: all of it comes from the stack config. */
export function trainingConfig(config: FactoryConfig): TrainingConfig {
  const tags = featureTags(config);
  return {
    factory: config.factory.id,
    columns: trainingColumns(config),
    featureColumns: featureColumns(tags),
    machineTypeColumns: Object.fromEntries(config.machineTypes.map((t) => [t.id, machineTypeColumn(t.id)])),
    tags: [...new Set(config.machineTypes.flatMap((t) => t.tags.map((s) => s.name)))],
    machines: listMachines(config).map(({ line, machine, type }) => ({
      line: line.id,
      machine: machine.id,
      machineType: type.id,
      stateAlias: machinePropertyAlias(config.factory.id, line.id, machine.id, MACHINE_PROPERTIES.state),
    })),
    faultStateCode: STATE_CODES.fault,
  };
}

// ---------------------------------------------------------------------------------------------- images

/**
 * Account ids of SageMaker's framework image registries (scikit-learn and XGBoost 1.x) by region, from the
 * SageMaker developer guide's "Docker Registry Paths and Example Code". A region missing here is an error, never
 * a guess: add it from that page.
 */
export const SAGEMAKER_FRAMEWORK_REGISTRIES: Readonly<Record<string, string>> = {
  "us-east-1": "683313688378",
  "us-east-2": "257758044811",
  "us-west-1": "746614075791",
  "us-west-2": "246618743249",
  "ca-central-1": "341280168497",
  "sa-east-1": "737474898029",
  "eu-central-1": "492215442770",
  "eu-west-1": "141502667606",
  "eu-west-2": "764974769150",
  "eu-west-3": "659782779980",
  "eu-north-1": "662702820516",
  "ap-northeast-1": "354813040037",
  "ap-northeast-2": "366743142698",
  "ap-south-1": "720646828776",
  "ap-southeast-1": "121021644041",
  "ap-southeast-2": "783357654285",
};

/** The built-in XGBoost version the pipeline trains with and the endpoint serves. */
export const XGBOOST_VERSION = "1.7-1";
/** The scikit-learn processing image version (Python 3, CPU). */
export const SKLEARN_VERSION = "1.2-1-cpu-py3";

function registry(region: string, image: string): string {
  const account = SAGEMAKER_FRAMEWORK_REGISTRIES[region];
  if (account === undefined) {
    throw new Error(
      `no SageMaker image registry is known for region ${region} (needed for ${image}): add the region's account id to SAGEMAKER_FRAMEWORK_REGISTRIES in infra/lib/maintenance.ts (known: ${Object.keys(SAGEMAKER_FRAMEWORK_REGISTRIES).join(", ")})`,
    );
  }
  return `${account}.dkr.ecr.${region}.amazonaws.com/${image}`;
}

/** The region's built-in XGBoost image. @throws Error for a region without a known registry. */
export function xgboostImage(region: string): string {
  return registry(region, `sagemaker-xgboost:${XGBOOST_VERSION}`);
}

/** The region's scikit-learn processing image. @throws Error for a region without a known registry. */
export function sklearnImage(region: string): string {
  return registry(region, `sagemaker-scikit-learn:${SKLEARN_VERSION}`);
}

// ---------------------------------------------------------------------------------------------- pipeline

/** Step names of the pipeline, as the definition and its property references name them. */
export const PIPELINE_STEPS = { prepare: "PrepareTrainingSet", train: "TrainFailureModel", register: "RegisterFailureModel" } as const;

/** Pipeline parameters and their defaults (the weekly schedule passes the same values explicitly). */
export const PIPELINE_PARAMETERS = { TrainingDays: "90", HorizonHours: "24" } as const;

/** Prefixes of the artifacts bucket. */
export const ARTIFACT_PREFIXES = { code: "code/", unload: "unload/", trainingSets: "training-sets/", models: "models/" } as const;

/** Where the processing step finds its code and configuration in the container. */
export const PROCESSING_CODE_DIR = "/opt/ml/processing/input/code";
/** File name of the processing script. */
export const PREPARE_SCRIPT = "prepare_training_set.py";
/** File name of the processing step's configuration. */
export const TRAINING_CONFIG_FILE = "training-config.json";

/** Instance type of the processing and training jobs, and of batch transforms of registered models. */
export const JOB_INSTANCE_TYPE = "ml.m5.large";

/** XGBoost hyperparameters: a binary failure-within-horizon classifier, early-stopped on validation AUC. */
export const XGBOOST_HYPERPARAMETERS: Readonly<Record<string, string>> = {
  objective: "binary:logistic",
  eval_metric: "auc",
  num_round: "300",
  early_stopping_rounds: "20",
  max_depth: "5",
  eta: "0.1",
  subsample: "0.8",
  min_child_weight: "1",
};

/** What the pipeline definition is built from (resolved values). */
export interface PipelineSpec {
  readonly region: string;
  readonly roleArn: string;
  readonly bucket: string;
  readonly dataKeyArn: string;
  /** Key prefix of the processing code, content-addressed (`code/<hash>/`). */
  readonly codePrefix: string;
  readonly modelPackageGroupName: string;
  readonly database: string;
  readonly featuresTable: string;
  readonly telemetryTable: string;
}

type Expression = string | { Get: string } | { "Std:Join": { On: string; Values: Expression[] } };

const execution = { Get: "Execution.PipelineExecutionId" } as const;
const parameter = (name: keyof typeof PIPELINE_PARAMETERS): Expression => ({ Get: `Parameters.${name}` });
const join = (on: string, ...values: Expression[]): Expression => ({ "Std:Join": { On: on, Values: values } });

/**
 * The SageMaker pipeline definition (schema version 2020-12-01): a processing step that prepares the training set
 * from the features (Timestream UNLOAD) and the machines' SiteWise state, an XGBoost training step (network
 * isolated, volumes and output encrypted with the data key), and a RegisterModel step that adds the model to the
 * factory's model package group as `PendingManualApproval`. Every job output is under the execution's id.
 *
 * @throws Error for a region without known SageMaker images.
 */
export function pipelineDefinition(spec: PipelineSpec): Record<string, unknown> {
  const s3 = (prefix: string): string => `s3://${spec.bucket}/${prefix}`;
  const xgboost = xgboostImage(spec.region);
  const output = (name: "train" | "validation"): Record<string, unknown> => ({
    OutputName: name,
    AppManaged: false,
    S3Output: { S3Uri: join("/", s3(ARTIFACT_PREFIXES.trainingSets.slice(0, -1)), execution, name), LocalPath: `/opt/ml/processing/output/${name}`, S3UploadMode: "EndOfJob" },
  });
  const channel = (name: "train" | "validation"): Record<string, unknown> => ({
    ChannelName: name,
    ContentType: "text/csv",
    DataSource: {
      S3DataSource: {
        S3DataType: "S3Prefix",
        S3DataDistributionType: "FullyReplicated",
        S3Uri: { Get: `Steps.${PIPELINE_STEPS.prepare}.ProcessingOutputConfig.Outputs['${name}'].S3Output.S3Uri` },
      },
    },
  });
  return {
    Version: "2020-12-01",
    Metadata: {},
    Parameters: Object.entries(PIPELINE_PARAMETERS).map(([Name, DefaultValue]) => ({ Name, Type: "String", DefaultValue })),
    Steps: [
      {
        Name: PIPELINE_STEPS.prepare,
        Type: "Processing",
        Arguments: {
          ProcessingResources: { ClusterConfig: { InstanceType: JOB_INSTANCE_TYPE, InstanceCount: 1, VolumeSizeInGB: 30, VolumeKmsKeyId: spec.dataKeyArn } },
          AppSpecification: { ImageUri: sklearnImage(spec.region), ContainerEntrypoint: ["python3", `${PROCESSING_CODE_DIR}/${PREPARE_SCRIPT}`] },
          RoleArn: spec.roleArn,
          ProcessingInputs: [
            {
              InputName: "code",
              AppManaged: false,
              S3Input: { S3Uri: s3(spec.codePrefix), LocalPath: PROCESSING_CODE_DIR, S3DataType: "S3Prefix", S3InputMode: "File", S3DataDistributionType: "FullyReplicated" },
            },
          ],
          ProcessingOutputConfig: { Outputs: [output("train"), output("validation")], KmsKeyId: spec.dataKeyArn },
          StoppingCondition: { MaxRuntimeInSeconds: 3 * 3600 },
          Environment: {
            REGION: spec.region,
            DATABASE: spec.database,
            FEATURES_TABLE: spec.featuresTable,
            TELEMETRY_TABLE: spec.telemetryTable,
            UNLOAD_URI: join("", s3(ARTIFACT_PREFIXES.unload), execution, "/"),
            KMS_KEY_ARN: spec.dataKeyArn,
            TRAINING_DAYS: parameter("TrainingDays"),
            HORIZON_HOURS: parameter("HorizonHours"),
          },
        },
      },
      {
        Name: PIPELINE_STEPS.train,
        Type: "Training",
        Arguments: {
          AlgorithmSpecification: { TrainingImage: xgboost, TrainingInputMode: "File" },
          RoleArn: spec.roleArn,
          HyperParameters: XGBOOST_HYPERPARAMETERS,
          InputDataConfig: [channel("train"), channel("validation")],
          OutputDataConfig: { S3OutputPath: join("/", s3(ARTIFACT_PREFIXES.models.slice(0, -1)), execution), KmsKeyId: spec.dataKeyArn },
          ResourceConfig: { InstanceType: JOB_INSTANCE_TYPE, InstanceCount: 1, VolumeSizeInGB: 30, VolumeKmsKeyId: spec.dataKeyArn },
          StoppingCondition: { MaxRuntimeInSeconds: 2 * 3600 },
          EnableNetworkIsolation: true,
        },
      },
      {
        Name: PIPELINE_STEPS.register,
        Type: "RegisterModel",
        Arguments: {
          ModelPackageGroupName: spec.modelPackageGroupName,
          ModelPackageDescription: "Failure within the horizon, per machine and hour (XGBoost, binary:logistic)",
          ModelApprovalStatus: "PendingManualApproval",
          InferenceSpecification: {
            Containers: [{ Image: xgboost, ModelDataUrl: { Get: `Steps.${PIPELINE_STEPS.train}.ModelArtifacts.S3ModelArtifacts` } }],
            SupportedContentTypes: ["text/csv"],
            SupportedResponseMIMETypes: ["text/csv"],
            SupportedRealtimeInferenceInstanceTypes: [JOB_INSTANCE_TYPE],
            SupportedTransformInstanceTypes: [JOB_INSTANCE_TYPE],
          },
        },
      },
    ],
  };
}

/** The weekly retraining: Sunday 02:00 in the factory's time zone. */
export const RETRAINING_SCHEDULE = "cron(0 2 ? * SUN *)";
