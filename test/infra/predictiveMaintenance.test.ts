import { strict as assert } from "node:assert";
import { featureTags, lakeFeatureColumns, lakeFeaturesKey, trainingColumns, type FactoryConfig } from "@smart-factory/sdk";
import { hourOf } from "../../lambdas/features-export/handler";
import { VPC_ACCESS_ACTIONS } from "../../infra/lib/factoryFunction";
import { approvedPackage } from "../../infra/components/predictiveMaintenance";
import { featuresQuery, PIPELINE_PARAMETERS, xgboostImage } from "../../infra/lib/maintenance";
import { checkStack } from "../../infra/policy/engine";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";
import { POLICIES } from "../../infra/policy/policies";
import { readStackConfig, renderStack, type RenderedStack, ofType, type Statement, one, statementsOf } from "../helpers/stacks";

interface Step {
  Name: string;
  Type: string;
  Arguments: Record<string, any>;
}

const policyOfRole = (r: RenderedStack, roleName: string): Statement[] => {
  const policy = ofType(r, "aws:iam/rolePolicy:RolePolicy").find((p) => p.inputs.role === roleName);
  assert.ok(policy, `a policy for role ${roleName}`);
  return statementsOf(policy.inputs.policy);
};
const trustOf = (r: RenderedStack, roleName: string): Statement[] => statementsOf(ofType(r, "aws:iam/role:Role").find((x) => x.inputs.name === roleName)?.inputs.assumeRolePolicy);
/** Sid -> [actions, resources] of a policy, for exact comparisons. */
const grants = (statements: Statement[]): Record<string, [string[], string[]]> =>
  Object.fromEntries(statements.map((s) => [s.Sid, [[...s.Action].sort(), [s.Resource ?? []].flat().map(String).sort()]]));
const dataKeyArn = (r: RenderedStack): string => String(one(r, "aws:kms/key:Key", "keys-data").state.arn);
const withMaintenance = (stack: string, settings: Record<string, unknown>): Record<string, unknown> => {
  const config = readStackConfig(stack);
  const features = config["smart-factory:features"] as Record<string, unknown>;
  return { ...config, "smart-factory:features": { ...features, predictiveMaintenance: settings } };
};
const mandatoryViolationsOf = async (r: RenderedStack, component: string): Promise<unknown[]> => {
  assert.ok(r.resources.filter((x) => x.urn.includes(component)).length > 10, `${component} has resources to check`);
  const report = await checkStack(r, POLICIES);
  return report.results.flatMap((x) => x.violations.filter((v) => v.enforcementLevel === "mandatory" && (v.urn ?? "").includes(component)));
};

describe("infra: PredictiveMaintenance, features, the training pipeline and the scoring endpoint", function () {
  this.timeout(120_000);
  let a: RenderedStack;
  let approved: RenderedStack;
  const approvedArn = "arn:aws:sagemaker:eu-central-1:123456789012:model-package/factory-a-failure-risk/3";
  before(async () => {
    a = await renderStack("factory-a", readStackConfig("factory-a"));
    approved = await renderStack("factory-a", withMaintenance("factory-a", { enabled: true, approvedModelPackageArn: approvedArn }));
  });

  describe("features", () => {
    it("are the vibration- and temperature-like tags of the machine types, by quantity", () => {
      assert.deepEqual(
        featureTags(loadFactoryConfigFromStack("factory-a")).map((t) => [t.name, t.unit, t.machineTypes]),
        [
          ["motorTemperature", "degC", ["servo-press"]],
          ["vibration", "m/s", ["servo-press", "cnc-mill"]],
          ["spindleTemperature", "degC", ["cnc-mill"]],
          ["coolantTemperature", "degC", ["cnc-mill"]],
        ],
      );
      // factory-b's belt speed is a velocity in m/min, no vibration; factory-c's °F tags are temperatures
      assert.deepEqual(featureTags(loadFactoryConfigFromStack("factory-b")).map((t) => t.name), ["barrelTemperature", "moldTemperature"]);
      assert.deepEqual(featureTags(loadFactoryConfigFromStack("factory-c")).map((t) => t.name), ["tipTemperature", "motorTemperature", "chamberTemperature"]);
      const config = loadFactoryConfigFromStack("factory-b");
      const withAcceleration = {
        ...config,
        machineTypes: config.machineTypes.map((t, i) => (i === 1 ? { ...t, tags: [...t.tags, { ...t.tags[0]!, name: "bearingAcceleration", unit: "gn" as const }] } : t)),
      } as FactoryConfig;
      assert.deepEqual(featureTags(withAcceleration).map((t) => t.name), ["barrelTemperature", "moldTemperature", "bearingAcceleration"]);
    });

    it("are written hourly by a scheduled query into the features table of the factory's database", () => {
      const query = one(a, "aws:timestreamquery/scheduledQuery:ScheduledQuery");
      const sql = String(query.inputs.queryString);
      assert.equal(sql, featuresQuery("factory-a-telemetry", "telemetry", featureTags(loadFactoryConfigFromStack("factory-a"))));
      assert.match(sql, /FROM "factory-a-telemetry"\."telemetry"/);
      for (const tag of ["motorTemperature", "vibration", "spindleTemperature", "coolantTemperature"]) {
        for (const [fn, stat] of [["AVG", "avg"], ["STDDEV", "stddev"], ["MIN", "min"], ["MAX", "max"]]) assert.ok(sql.includes(`${fn}("${tag}") AS "${tag}_${stat}"`), `${fn} of ${tag}`);
      }
      assert.ok(!sql.includes('"ramForce"') && !sql.includes('"strokeRate"'), "force and stroke rate are no features");
      assert.match(sql, /time >= bin\(@scheduled_runtime, 1h\) - 1h AND time < bin\(@scheduled_runtime, 1h\)/);
      assert.match(sql, /GROUP BY "factory", "line", "machine_type", "machine", bin\(time, 1h\)/);
      assert.equal(query.inputs.name, "factory-a-machine-features");
      assert.deepEqual(query.inputs.scheduleConfiguration, { scheduleExpression: "cron(15 * * * ? *)" });

      const table = one(a, "aws:timestreamwrite/table:Table", "maintenance-features");
      const target = (query.inputs.targetConfiguration as { timestreamConfiguration: Record<string, any> }).timestreamConfiguration;
      assert.equal(target.databaseName, "factory-a-telemetry");
      assert.equal(target.tableName, "machine_features");
      assert.equal(table.inputs.tableName, "machine_features");
      assert.equal(table.inputs.databaseName, "factory-a-telemetry");
      assert.equal(target.timeColumn, "hour");
      assert.deepEqual(target.dimensionMappings, ["factory", "line", "machine_type", "machine"].map((name) => ({ name, dimensionValueType: "VARCHAR" })));
      const mappings = target.multiMeasureMappings as { targetMultiMeasureName: string; multiMeasureAttributeMappings: { sourceColumn: string; measureValueType: string }[] };
      assert.equal(mappings.targetMultiMeasureName, "features");
      const exported = (a.exports.predictiveMaintenance as { featureColumns: string[] }).featureColumns;
      assert.deepEqual(mappings.multiMeasureAttributeMappings.map((m) => m.sourceColumn), exported.slice(0, exported.indexOf("samples") + 1));
      assert.deepEqual(mappings.multiMeasureAttributeMappings.find((m) => m.sourceColumn === "samples"), { sourceColumn: "samples", measureValueType: "BIGINT" });
      assert.ok(mappings.multiMeasureAttributeMappings.filter((m) => m.sourceColumn !== "samples").every((m) => m.measureValueType === "DOUBLE"));

      // the table: retention from config, magnetic writes with a rejected-data location, protected
      const telemetry = readStackConfig("factory-a")["smart-factory:telemetry"] as { memoryStoreRetentionHours: number; magneticStoreRetentionDays: number };
      assert.deepEqual(table.inputs.retentionProperties, {
        memoryStoreRetentionPeriodInHours: telemetry.memoryStoreRetentionHours,
        magneticStoreRetentionPeriodInDays: telemetry.magneticStoreRetentionDays,
      });
      const magnetic = table.inputs.magneticStoreWriteProperties as { enableMagneticStoreWrites: boolean; magneticStoreRejectedDataLocation: { s3Configuration: Record<string, string> } };
      assert.equal(magnetic.enableMagneticStoreWrites, true);
      assert.equal(magnetic.magneticStoreRejectedDataLocation.s3Configuration.bucketName, (a.exports.telemetry as { rejectedRecordsBucket: string }).rejectedRecordsBucket);
      assert.equal(magnetic.magneticStoreRejectedDataLocation.s3Configuration.kmsKeyId, dataKeyArn(a));
      assert.ok(table.protect && table.retainOnDelete);

      // encrypted with the data key, errors to an encrypted bucket, status to the factory's topic
      assert.equal(query.inputs.kmsKeyId, dataKeyArn(a));
      const errors = (query.inputs.errorReportConfiguration as { s3Configuration: Record<string, string> }).s3Configuration;
      assert.equal(errors.encryptionOption, "SSE_KMS");
      assert.equal(errors.bucketName, `factory-a-sq-errors-123456789012-eu-central-1`);
      assert.ok(ofType(a, "aws:s3/bucket:Bucket").some((b) => b.inputs.bucket === errors.bucketName && b.protect));
      assert.deepEqual(query.inputs.notificationConfiguration, { snsConfiguration: { topicArn: (a.exports.alerting as { topic: string }).topic } });
      assert.equal(query.inputs.executionRoleArn, "arn:aws:iam::123456789012:role/factory-a-features-query");
    });

    it("the scheduled query's role may read the telemetry, write the features, report and notify: nothing else", () => {
      const telemetryArn = String(one(a, "aws:timestreamwrite/table:Table", "telemetry").state.arn);
      const featuresArn = String(one(a, "aws:timestreamwrite/table:Table", "maintenance-features").state.arn);
      const topic = (a.exports.alerting as { topic: string }).topic;
      const notificationsKey = String(one(a, "aws:kms/key:Key", "keys-notifications").state.arn);
      const errors = "arn:aws:s3:::factory-a-sq-errors-123456789012-eu-central-1";
      assert.deepEqual(grants(policyOfRole(a, "factory-a-features-query")), {
        ReadTelemetry: [["timestream:Select"], [telemetryArn]],
        WriteFeatures: [["timestream:WriteRecords"], [featuresArn]],
        DiscoverTimestreamEndpoints: [["timestream:DescribeEndpoints"], ["*"]],
        WriteErrorReports: [["s3:PutObject"], [`${errors}/scheduled-query-errors/*`]],
        CheckErrorBucket: [["s3:GetBucketAcl"], [errors]],
        NotifyStatus: [["sns:Publish"], [topic]],
        UseDataKey: [["kms:Decrypt", "kms:GenerateDataKey"], [dataKeyArn(a)]],
        PublishToEncryptedTopic: [["kms:Decrypt", "kms:GenerateDataKey"], [notificationsKey]],
      });
      const [trust] = trustOf(a, "factory-a-features-query");
      assert.deepEqual(trust?.Principal, { Service: "timestream.amazonaws.com" });
      assert.deepEqual(trust.Condition, { StringEquals: { "aws:SourceAccount": "123456789012" } });
    });
  });

  describe("the features export to the lake", () => {
    const lakeBucket = "factory-a-lake-123456789012-eu-central-1";

    it("at 40 past every hour a function copies the past hour's features into the lake, where the Glue table machine_features reads them", () => {
      const fn = one(a, "aws:lambda/function:Function", "maintenance-features-export");
      assert.equal(fn.inputs.name, "factory-a-features-export");
      assert.deepEqual((fn.inputs.environment as { variables: Record<string, string> }).variables, {
        FEATURES_DATABASE: "factory-a-telemetry",
        FEATURES_TABLE: "machine_features",
        LAKE_BUCKET: lakeBucket,
        POWERTOOLS_SERVICE_NAME: "features-export",
        POWERTOOLS_METRICS_NAMESPACE: "SmartFactory/factory-a",
      });
      const schedule = one(a, "aws:scheduler/schedule:Schedule", "maintenance-features-export-schedule");
      assert.equal(schedule.inputs.name, "factory-a-features-export-hourly");
      assert.equal(schedule.inputs.scheduleExpression, "cron(40 * * * ? *)");
      const target = schedule.inputs.target as { arn: string; input: string; deadLetterConfig: { arn: string }; retryPolicy: Record<string, number> };
      assert.equal(target.arn, fn.state.arn);
      // the function exports the hour before the scheduled time's hour: the one the scheduled query wrote at :15
      const delivered = JSON.parse(target.input.replace("<aws.scheduler.scheduled-time>", "2026-11-25T09:40:00Z")) as unknown; // as Scheduler fills it in
      assert.equal(hourOf(delivered, Date.UTC(2026, 10, 25, 9, 40)), Date.UTC(2026, 10, 25, 8));
      assert.equal(target.deadLetterConfig.arn, one(a, "aws:sqs/queue:Queue", "maintenance-features-export-schedule-dlq").state.arn);
      assert.equal(target.retryPolicy.maximumEventAgeInSeconds, 6 * 3600);

      const table = one(a, "aws:glue/catalogTable:CatalogTable", "lake-features");
      assert.equal(table.inputs.name, "machine_features");
      assert.equal(table.inputs.databaseName, "factory_a_lake");
      const storage = table.inputs.storageDescriptor as { location: string; columns: { name: string; type: string }[]; serDeInfo: { serializationLibrary: string } };
      assert.equal(storage.location, `s3://${lakeBucket}/features/`);
      assert.equal(storage.serDeInfo.serializationLibrary, "org.apache.hive.hcatalog.data.JsonSerDe");
      const config = loadFactoryConfigFromStack("factory-a");
      assert.deepEqual(storage.columns.map((c) => [c.name, c.type]), lakeFeatureColumns(config).map((c) => [c.name, c.type]));
      assert.deepEqual(storage.columns.slice(0, 5).map((c) => c.name), ["machine_type", "machine", "hour", "samples", "motorTemperature_avg"]);
      const parameters = table.inputs.parameters as Record<string, string>;
      assert.equal(parameters.classification, "json");
      assert.equal(parameters["storage.location.template"], `s3://${lakeBucket}/features/factory=\${factory}/line=\${line}/dt=\${dt}/`);
      // what the function writes is where the table looks
      assert.ok(lakeFeaturesKey("factory-a", "press-line-1", Date.UTC(2026, 10, 25, 8)).startsWith("features/factory=factory-a/line=press-line-1/dt=2026-11-25/"));
      assert.deepEqual((a.exports.lake as { featuresGlueTable: string }).featuresGlueTable, "machine_features");
    });

    it("its role reads the features table and writes the lake's features prefix: nothing else", () => {
      const featuresArn = String(one(a, "aws:timestreamwrite/table:Table", "maintenance-features").state.arn);
      assert.deepEqual(grants(policyOfRole(a, "factory-a-features-export")), {
        ReadTheFeatures: [["timestream:Select"], [featuresArn]],
        DiscoverTimestreamEndpoints: [["timestream:DescribeEndpoints"], ["*"]],
        WriteLakeFeatures: [["s3:PutObject"], [`arn:aws:s3:::${lakeBucket}/features/*`]],
        EncryptLakeObjectsWithTheDataKey: [["kms:GenerateDataKey"], [dataKeyArn(a)]],
        FailedInvocationsToDlq: [["sqs:SendMessage"], [String(one(a, "aws:sqs/queue:Queue", "maintenance-features-export-dlq").state.arn)]],
        UseTheDataKey: [["kms:Decrypt", "kms:GenerateDataKey"], [dataKeyArn(a)]],
        WriteOwnLogs: [["logs:CreateLogStream", "logs:PutLogEvents"], [`${String(one(a, "aws:cloudwatch/logGroup:LogGroup", "maintenance-features-export").state.arn)}:*`]],
        // factory-a has a VPC: the function runs in it
        NetworkInterfacesInTheVpc: [[...VPC_ACCESS_ACTIONS].sort(), ["*"]],
      });
    });

    it("alarms when it fails, is throttled, or an invocation or a scheduled export lands in a dead-letter queue", () => {
      const alarms = ofType(a, "aws:cloudwatch/metricAlarm:MetricAlarm").map((x) => String(x.inputs.name));
      for (const name of ["features-export-errors", "features-export-throttles", "features-export-dead-letters", "features-export-schedule-dead-letters"]) {
        assert.ok(alarms.includes(`factory-a-${name}`), name);
      }
    });
  });

  describe("training", () => {
    const definitionOf = (r: RenderedStack): { Parameters: { Name: string; DefaultValue: string }[]; Steps: Step[] } =>
      JSON.parse(String(one(r, "aws:sagemaker/pipeline:Pipeline").inputs.pipelineDefinition));

    it("the pipeline prepares the training set, trains the region's XGBoost and registers the model for approval", () => {
      const pipeline = one(a, "aws:sagemaker/pipeline:Pipeline");
      assert.equal(pipeline.inputs.pipelineName, "factory-a-failure-risk-training");
      assert.equal(pipeline.inputs.roleArn, "arn:aws:iam::123456789012:role/factory-a-ml-pipeline");
      const { Steps: steps, Parameters: parameters } = definitionOf(a);
      assert.deepEqual(steps.map((s) => [s.Name, s.Type]), [["PrepareTrainingSet", "Processing"], ["TrainFailureModel", "Training"], ["RegisterFailureModel", "RegisterModel"]]);
      assert.deepEqual(Object.fromEntries(parameters.map((p) => [p.Name, p.DefaultValue])), PIPELINE_PARAMETERS);
      const [prepare, train, register] = steps as [Step, Step, Step];
      const xgboost = "492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-xgboost:1.7-1";
      assert.equal(prepare.Arguments.AppSpecification.ImageUri, "492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3");
      assert.equal(train.Arguments.AlgorithmSpecification.TrainingImage, xgboost);
      assert.equal(register.Arguments.InferenceSpecification.Containers[0].Image, xgboost);
      // the processing step reads the features table and writes the two channels the training step reads
      assert.equal(prepare.Arguments.Environment.DATABASE, "factory-a-telemetry");
      assert.equal(prepare.Arguments.Environment.FEATURES_TABLE, "machine_features");
      assert.equal(prepare.Arguments.Environment.TELEMETRY_TABLE, "telemetry");
      assert.deepEqual(prepare.Arguments.Environment.TRAINING_DAYS, { Get: "Parameters.TrainingDays" });
      assert.deepEqual(
        train.Arguments.InputDataConfig.map((c: any) => [c.ChannelName, c.DataSource.S3DataSource.S3Uri.Get]),
        ["train", "validation"].map((n) => [n, `Steps.PrepareTrainingSet.ProcessingOutputConfig.Outputs['${n}'].S3Output.S3Uri`]),
      );
      assert.deepEqual(prepare.Arguments.ProcessingOutputConfig.Outputs.map((o: any) => o.OutputName), ["train", "validation"]);
      assert.deepEqual(register.Arguments.InferenceSpecification.Containers[0].ModelDataUrl, { Get: "Steps.TrainFailureModel.ModelArtifacts.S3ModelArtifacts" });
      assert.equal(register.Arguments.ModelApprovalStatus, "PendingManualApproval");
      assert.equal(register.Arguments.ModelPackageGroupName, "factory-a-failure-risk");
      assert.equal(one(a, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs.modelPackageGroupName, "factory-a-failure-risk");
      // encrypted with the data key, the training job cut off from the network, every job runs as the pipeline role
      const key = dataKeyArn(a);
      assert.equal(prepare.Arguments.ProcessingResources.ClusterConfig.VolumeKmsKeyId, key);
      assert.equal(prepare.Arguments.ProcessingOutputConfig.KmsKeyId, key);
      assert.equal(train.Arguments.ResourceConfig.VolumeKmsKeyId, key);
      assert.equal(train.Arguments.OutputDataConfig.KmsKeyId, key);
      assert.equal(train.Arguments.EnableNetworkIsolation, true);
      for (const step of [prepare, train]) assert.equal(step.Arguments.RoleArn, pipeline.inputs.roleArn);
    });

    it("the processing step's code and configuration are in the artifacts bucket where the step reads them", () => {
      const [prepare] = definitionOf(a).Steps as [Step];
      const uri = String(prepare.Arguments.ProcessingInputs[0].S3Input.S3Uri);
      assert.match(uri, /^s3:\/\/factory-a-ml-artifacts-123456789012-eu-central-1\/code\/[0-9a-f]{16}\/$/);
      const objects = ofType(a, "aws:s3/bucketObjectv2:BucketObjectv2").filter((o) => `s3://${String(o.inputs.bucket)}/${String(o.inputs.key)}`.startsWith(uri));
      assert.deepEqual(objects.map((o) => String(o.inputs.key).split("/").pop()).sort(), ["prepare_training_set.py", "training-config.json"]);
      assert.deepEqual(prepare.Arguments.AppSpecification.ContainerEntrypoint, ["python3", "/opt/ml/processing/input/code/prepare_training_set.py"]);
      const settings = JSON.parse(String(objects.find((o) => String(o.inputs.key).endsWith(".json"))?.inputs.content)) as { columns: string[]; machines: { stateAlias: string }[]; faultStateCode: number };
      assert.deepEqual(settings.columns, (a.exports.predictiveMaintenance as { featureColumns: string[] }).featureColumns);
      assert.deepEqual(settings.columns, trainingColumns(loadFactoryConfigFromStack("factory-a")));
      assert.equal(settings.machines.length, 24);
      assert.match(settings.machines[0]!.stateAlias, /^\/sf\/factory-a\/[a-z0-9-]+\/[a-z0-9-]+\/state$/);
      assert.equal(settings.faultStateCode, 2);
    });

    it("each stack's region has its own images, and an unknown region is a clear error", async () => {
      const b = await renderStack("factory-b", readStackConfig("factory-b"));
      const trainB = definitionOf(b).Steps[1]!;
      assert.equal(trainB.Arguments.AlgorithmSpecification.TrainingImage, "257758044811.dkr.ecr.us-east-2.amazonaws.com/sagemaker-xgboost:1.7-1");
      const c = await renderStack("factory-c", withMaintenance("factory-c", { enabled: true }));
      assert.equal(definitionOf(c).Steps[1]!.Arguments.AlgorithmSpecification.TrainingImage, "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1");
      assert.throws(() => xgboostImage("ap-east-1"), /no SageMaker image registry is known for region ap-east-1 .*SAGEMAKER_FRAMEWORK_REGISTRIES/);
    });

    it("the pipeline role may run the pipeline's jobs on the factory's data and register models in its group: nothing else", () => {
      const arn = (resource: string): string => `arn:aws:sagemaker:eu-central-1:123456789012:${resource}`;
      const bucket = "arn:aws:s3:::factory-a-ml-artifacts-123456789012-eu-central-1";
      const tables = ["telemetry", "maintenance-features"].map((n) => String(one(a, "aws:timestreamwrite/table:Table", n).state.arn)).sort();
      const machines = ofType(a, "aws-native:iotsitewise:Asset").filter((x) => x.name.startsWith("twin-machine-")).map((x) => String(x.state.assetArn)).sort();
      const statements = policyOfRole(a, "factory-a-ml-pipeline");
      const g = grants(statements);
      assert.deepEqual(Object.keys(g).sort(), [
        "DiscoverTimestreamEndpoints",
        "GrantDataKeyToJobVolumes",
        "ListArtifacts",
        "PassRoleToOwnJobs",
        "ReadCode",
        "ReadMachineState",
        "ReadWriteJobData",
        "RegisterModels",
        "RunPipelineJobs",
        "UnloadFeaturesAndQuality",
        "UseDataKey",
        "WriteJobLogs",
      ]);
      assert.deepEqual(g.RunPipelineJobs?.[1], [arn("processing-job/pipelines-*"), arn("training-job/pipelines-*")]);
      assert.deepEqual(g.RegisterModels, [
        ["sagemaker:AddTags", "sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage"],
        [arn("model-package-group/factory-a-failure-risk"), arn("model-package/factory-a-failure-risk/*")],
      ]);
      const pass = statements.find((s) => s.Sid === "PassRoleToOwnJobs");
      assert.deepEqual(pass?.Resource, ["arn:aws:iam::123456789012:role/factory-a-ml-pipeline"]);
      assert.deepEqual(pass.Condition, { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } });
      assert.deepEqual(g.ReadCode, [["s3:GetObject"], [`${bucket}/code/*`]]);
      assert.deepEqual(g.ReadWriteJobData?.[1], [`${bucket}/models/*`, `${bucket}/training-sets/*`, `${bucket}/unload/*`]);
      assert.deepEqual(g.UnloadFeaturesAndQuality, [["timestream:Select", "timestream:Unload"], tables]);
      assert.equal(machines.length, 24);
      assert.deepEqual(g.ReadMachineState, [["iotsitewise:GetAssetPropertyValueHistory"], machines], "the factory's machine assets, no line or factory asset");
      assert.deepEqual(g.UseDataKey?.[1], [dataKeyArn(a)]);
      assert.deepEqual(statements.find((s) => s.Sid === "GrantDataKeyToJobVolumes")?.Condition, { Bool: { "kms:GrantIsForAWSResource": true } });
      for (const s of statements) if ([s.Resource].flat().includes("*")) assert.deepEqual(s.Action, ["timestream:DescribeEndpoints"], `${s.Sid} on *`);
      assert.deepEqual(trustOf(a, "factory-a-ml-pipeline")[0]?.Principal, { Service: "sagemaker.amazonaws.com" });
    });

    it("a weekly schedule starts the pipeline with its parameters, and new models are announced on the topic", () => {
      const schedule = one(a, "aws:scheduler/schedule:Schedule", "maintenance-retraining");
      const pipelineArn = String(one(a, "aws:sagemaker/pipeline:Pipeline").state.arn);
      assert.equal(schedule.inputs.scheduleExpression, "cron(0 2 ? * SUN *)");
      assert.equal(schedule.inputs.scheduleExpressionTimezone, "Europe/Berlin");
      const target = schedule.inputs.target as { arn: string; roleArn: string; sagemakerPipelineParameters: { pipelineParameters: { name: string; value: string }[] } };
      assert.equal(target.arn, pipelineArn);
      assert.equal(target.roleArn, "arn:aws:iam::123456789012:role/factory-a-ml-retraining");
      assert.deepEqual(target.sagemakerPipelineParameters.pipelineParameters, Object.entries(PIPELINE_PARAMETERS).map(([name, value]) => ({ name, value })));
      assert.deepEqual(grants(policyOfRole(a, "factory-a-ml-retraining")), { StartRetraining: [["sagemaker:StartPipelineExecution"], [pipelineArn]] });
      const [trust] = trustOf(a, "factory-a-ml-retraining");
      assert.deepEqual(trust?.Principal, { Service: "scheduler.amazonaws.com" });
      assert.deepEqual(trust.Condition, { StringEquals: { "aws:SourceAccount": "123456789012" } });

      const rule = one(a, "aws:cloudwatch/eventRule:EventRule", "maintenance-awaiting-approval");
      assert.deepEqual(JSON.parse(String(rule.inputs.eventPattern)), {
        source: ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        detail: { ModelPackageGroupName: ["factory-a-failure-risk"], ModelApprovalStatus: ["PendingManualApproval"] },
      });
      const target2 = one(a, "aws:cloudwatch/eventTarget:EventTarget", "maintenance-awaiting-approval");
      assert.equal(target2.inputs.arn, (a.exports.alerting as { topic: string }).topic);
      assert.equal(target2.inputs.rule, rule.inputs.name);
    });
  });

  describe("serving", () => {
    it("without an approved model package there is no endpoint", () => {
      for (const type of ["aws:sagemaker/model:Model", "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "aws:sagemaker/endpoint:Endpoint"]) assert.equal(ofType(a, type).length, 0, type);
      const exported = a.exports.predictiveMaintenance as { scoreEndpoint: string; scoreEndpointArn: unknown };
      assert.match(exported.scoreEndpoint, /^not deployed: .*approvedModelPackageArn/);
      assert.equal(exported.scoreEndpointArn, null);
    });

    it("an approved model package is served by a serverless endpoint, encrypted with the data key", () => {
      const model = one(approved, "aws:sagemaker/model:Model");
      assert.equal(model.inputs.name, "factory-a-failure-risk-v3");
      assert.deepEqual(model.inputs.primaryContainer, { modelPackageName: approvedArn });
      assert.equal(model.inputs.enableNetworkIsolation, true);
      assert.equal(model.inputs.executionRoleArn, "arn:aws:iam::123456789012:role/factory-a-ml-model");
      const config = one(approved, "aws:sagemaker/endpointConfiguration:EndpointConfiguration");
      assert.equal(config.inputs.kmsKeyArn, dataKeyArn(approved));
      assert.deepEqual(config.inputs.productionVariants, [{ variantName: "AllTraffic", modelName: "factory-a-failure-risk-v3", serverlessConfig: { memorySizeInMb: 2048, maxConcurrency: 10 } }]);
      const endpoint = one(approved, "aws:sagemaker/endpoint:Endpoint");
      assert.equal(endpoint.inputs.name, "factory-a-failure-risk");
      assert.equal(endpoint.inputs.endpointConfigName, "factory-a-failure-risk-v3");
      const exported = approved.exports.predictiveMaintenance as { scoreEndpoint: string; scoreEndpointArn: string };
      assert.equal(exported.scoreEndpoint, "factory-a-failure-risk");
      assert.equal(exported.scoreEndpointArn, "arn:aws:sagemaker:eu-central-1:123456789012:endpoint/factory-a-failure-risk");
      const bucket = "arn:aws:s3:::factory-a-ml-artifacts-123456789012-eu-central-1";
      const logs = "arn:aws:logs:eu-central-1:123456789012:log-group:/aws/sagemaker/Endpoints/factory-a-failure-risk";
      assert.deepEqual(grants(policyOfRole(approved, "factory-a-ml-model")), {
        ReadModelArtifacts: [["s3:GetObject"], [`${bucket}/models/*`]],
        DecryptModelArtifacts: [["kms:Decrypt"], [dataKeyArn(approved)]],
        WriteEndpointLogs: [["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"], [logs, `${logs}:log-stream:*`]],
      });
    });

    it("a package of another region or group is refused with the reason", () => {
      assert.deepEqual(approvedPackage(approvedArn, "eu-central-1", "factory-a-failure-risk"), { region: "eu-central-1", account: "123456789012", group: "factory-a-failure-risk", version: 3 });
      assert.throws(() => approvedPackage(approvedArn, "us-east-2", "factory-a-failure-risk"), /approvedModelPackageArn is in eu-central-1, the stack in us-east-2/);
      assert.throws(() => approvedPackage(approvedArn.replace("factory-a-", "factory-b-"), "eu-central-1", "factory-a-failure-risk"), /belongs to model package group factory-b-failure-risk, not to the factory's group factory-a-failure-risk/);
    });
  });

  it("the policy pack finds nothing to object to in the component, with and without the endpoint", async () => {
    assert.deepEqual(await mandatoryViolationsOf(a, "PredictiveMaintenance"), []);
    assert.deepEqual(await mandatoryViolationsOf(approved, "PredictiveMaintenance"), []);
  });

  it("a stack with predictive maintenance off declares none of it", async () => {
    const c = await renderStack("factory-c", readStackConfig("factory-c"));
    assert.equal(c.resources.filter((x) => /^aws:(sagemaker|timestreamquery)\//.test(x.type) || x.type === "aws:scheduler/schedule:Schedule" && x.name.startsWith("maintenance")).length, 0);
    assert.ok(!c.resources.some((x) => x.type === "smart-factory:maintenance:PredictiveMaintenance"));
    assert.deepEqual(c.exports.predictiveMaintenance, { status: "disabled by config (smart-factory:features.predictiveMaintenance.enabled = false)" });
    assert.ok(!c.resources.some((x) => x.type === "aws:glue/catalogTable:CatalogTable" && x.inputs.name === "machine_features"), "no features table in the lake");
    assert.ok(!c.resources.some((x) => x.type === "aws:lambda/function:Function" && x.inputs.name === "factory-c-features-export"), "no features export");
    assert.equal((c.exports.lake as { featuresGlueTable: unknown }).featuresGlueTable, null);
  });
});
