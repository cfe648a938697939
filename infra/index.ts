/**
 * The smart-factory Pulumi program: one stack per factory. It reads and validates the stack config, creates the
 * explicit providers, composes one component per domain and exports what a gateway's bootstrap and the
 * platform team need.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { loadFactoryConfig } from "./config";
import { createProviders } from "./providers";
import { summarizeFactory } from "./lib/summary";
import { Keys } from "./components/keys";
import { TelemetryStore } from "./components/telemetryStore";
import { DeviceFleet } from "./components/deviceFleet";
import { DigitalTwin } from "./components/digitalTwin";
import { Ingestion } from "./components/ingestion";
import { Network } from "./components/network";
import { EdgeRuntime, findArtifacts } from "./components/edgeRuntime";
import { Notifications } from "./components/notifications";
import { Alerts } from "./components/alerts";
import { PredictiveMaintenance } from "./components/predictiveMaintenance";
import { QuickSightDashboards } from "./components/dashboards";
import { Observability } from "./components/observability";
import { DataLake } from "./components/dataLake";

const config = loadFactoryConfig();
const providers = createProviders(config);
const withProviders: pulumi.ComponentResourceOptions = { providers: [providers.aws, providers.native] };
const { account } = providers;

const keys = new Keys("keys", { config, account }, withProviders);
const notifications = new Notifications("notifications", { config, account, notificationsKeyArn: keys.notifications.arn }, withProviders);
const vpc = config.features.vpc;
const network =
  vpc.enabled && vpc.cidr !== undefined && vpc.timestreamCells !== undefined
    ? new Network("network", { config, account, cidr: vpc.cidr, availabilityZones: vpc.availabilityZones ?? 2, timestreamCells: vpc.timestreamCells }, withProviders)
    : undefined;
// the config codec requires cidr and cells whenever the VPC is on: a Lambda never silently lands outside it
const placement = network === undefined ? {} : { placement: network.lambdaPlacement };
const telemetryStore = new TelemetryStore("telemetry", { config, account, dataKeyArn: keys.data.arn }, withProviders);
const fleet = new DeviceFleet("fleet", { config, account }, withProviders);
const twin = new DigitalTwin("twin", { config, region: config.region, logsKeyArn: keys.logs.arn, dataKeyArn: keys.data.arn, ...placement }, withProviders);
const dataLake = new DataLake("lake", { config, account, dataKeyArn: keys.data.arn, logsKeyArn: keys.logs.arn, features: config.features.predictiveMaintenance.enabled }, withProviders);
const maintenance = config.features.predictiveMaintenance.enabled
  ? new PredictiveMaintenance(
      "maintenance",
      {
        config,
        account,
        dataKeyArn: keys.data.arn,
        notificationsKeyArn: keys.notifications.arn,
        notificationTopicArn: notifications.topic.arn,
        telemetry: {
          databaseName: telemetryStore.database.databaseName,
          tableName: telemetryStore.table.tableName,
          tableArn: telemetryStore.table.arn,
          rejectedBucketName: telemetryStore.rejectedBucket.name,
        },
        machineAssetArns: [...twin.machineAssets.values()].map((asset) => asset.assetArn),
        lake: { bucketName: dataLake.bucket.name, bucketArn: dataLake.bucket.arn, logsKeyArn: keys.logs.arn, ...placement },
      },
      withProviders,
    )
  : undefined;
const quickSight = config.features.quickSight;
// the config codec requires principalArn whenever QuickSight is on
const dashboards =
  quickSight.enabled && quickSight.principalArn !== undefined
    ? new QuickSightDashboards(
        "dashboards",
        { config, account, principalArn: quickSight.principalArn, telemetry: { databaseName: telemetryStore.database.databaseName, tableName: telemetryStore.table.tableName } },
        withProviders,
      )
    : undefined;
// before Ingestion: the telemetry, state and health rules invoke the detector
const alerts = new Alerts(
  "alerts",
  {
    config,
    account,
    dataKeyArn: keys.data.arn,
    logsKeyArn: keys.logs.arn,
    notificationsKeyArn: keys.notifications.arn,
    topicArn: notifications.topic.arn,
    ...placement,
    ...(maintenance?.scoreEndpointName === undefined || maintenance.scoreEndpointArn === undefined
      ? {}
      : { scoreEndpoint: { name: maintenance.scoreEndpointName, arn: maintenance.scoreEndpointArn } }),
  },
  withProviders,
);
const ingestion = new Ingestion(
  "ingest",
  {
    config,
    account,
    dataKeyArn: keys.data.arn,
    logsKeyArn: keys.logs.arn,
    timestream: { databaseName: telemetryStore.database.databaseName, tableName: telemetryStore.table.tableName, tableArn: telemetryStore.table.arn },
    assetArns: twin.assetArns,
    detector: { functionArn: alerts.detectorFunction.arn, functionName: alerts.detectorFunction.name },
    lake: { deliveryStreamName: dataLake.stream.name, deliveryStreamArn: dataLake.stream.arn },
    stateLake: { deliveryStreamName: dataLake.states.stream.name, deliveryStreamArn: dataLake.states.stream.arn },
    ...placement,
  },
  withProviders,
);

// alarms for every function of the stack: add a component's functions here when it makes some
const observability = new Observability(
  "observability",
  {
    config,
    account,
    topicArn: notifications.topic.arn,
    functions: [
      { key: "enrich", function: ingestion.enrichFunction, deadLetterQueue: ingestion.enrichDlq },
      { key: "twin-attributes", function: twin.attributesFunction.function, deadLetterQueue: twin.attributesFunction.deadLetterQueue },
      { key: "detector", function: alerts.detectorFunction, deadLetterQueue: alerts.detector.deadLetterQueue },
      ...(maintenance?.featuresExport === undefined
        ? []
        : [{ key: "features-export", function: maintenance.featuresExport.function, deadLetterQueue: maintenance.featuresExport.deadLetterQueue }]),
    ],
    deadLetterBucket: ingestion.deadLetters.bucket,
    rules: Object.fromEntries(Object.entries(ingestion.rules).map(([kind, rule]) => [kind, rule.ruleName as pulumi.Output<string>])),
    enrichMetrics: { namespace: `SmartFactory/${config.factory.id}`, service: "enrich" },
    deliveryStreams: [
      { key: "lake", name: dataLake.stream.name, deadLetteredMetric: "LakeReadingsDeadLettered" },
      { key: "lake-states", name: dataLake.states.stream.name },
    ],
    alertsRaised: { namespace: `SmartFactory/${config.factory.id}`, service: "detector", metricName: "AlertsRaised" },
    deadLetterQueues: [
      { key: "detector-sweep", queue: alerts.scheduleDlq, what: "sweeps the scheduler could not deliver to the detector" },
      ...(maintenance?.featuresExportSchedule === undefined
        ? []
        : [{ key: "features-export-schedule", queue: maintenance.featuresExportSchedule.deadLetterQueue, what: "hourly features exports the scheduler could not deliver (redrive them: each names its hour)" }]),
    ],
  },
  withProviders,
);

const iotDataEndpoint = aws.iot.getEndpointOutput({ endpointType: "iot:Data-ATS" }, { provider: providers.aws }).endpointAddress;
const artifacts = findArtifacts();
if (artifacts.length === 0) {
  void pulumi.log.warn("no packaged edge agent in edge/dist: run `npm run edge:package` on a machine of each gateway architecture before `pulumi up` to deploy it");
}
const edge =
  artifacts.length === 0
    ? undefined
    : new EdgeRuntime(
        "edge",
        { config, account, dataKeyArn: keys.data.arn, thingGroupArn: fleet.thingGroup.arn, tokenExchangeRoleName: fleet.tokenExchangeRole.name, iotEndpoint: iotDataEndpoint, artifacts },
        withProviders,
      );

/** Ids and counts of the factory this stack provisions. */
export const factory = summarizeFactory(config);

/** What a gateway's Greengrass installer needs (no secret: the private keys never leave the gateways). */
export const bootstrap = {
  region: config.region,
  iotDataEndpoint,
  iotCredentialEndpoint: aws.iot.getEndpointOutput({ endpointType: "iot:CredentialProvider" }, { provider: providers.aws }).endpointAddress,
  roleAlias: fleet.roleAlias.alias,
  thingGroup: fleet.thingGroup.name,
  gateways: Object.fromEntries(
    Object.entries(fleet.gateways).map(([id, g]) => [id, { thingName: g.thingName, agentClientId: g.agentClientId, certificateArn: g.certificateArn ?? null, certificatePem: g.certificatePem ?? null }]),
  ),
  awaitingCsr: fleet.awaitingCsr,
};

/** Where the factory's telemetry is stored. */
export const telemetry = {
  database: telemetryStore.database.databaseName,
  table: telemetryStore.table.tableName,
  rejectedRecordsBucket: telemetryStore.rejectedBucket.name,
};

/** Where messages go: rules, the enrichment function, archive and dead letters. */
export const ingest = {
  rules: Object.fromEntries(Object.entries(ingestion.rules).map(([kind, rule]) => [kind, rule.ruleName])),
  enrichFunction: ingestion.enrichFunction.name,
  rawArchiveBucket: ingestion.archive.name,
  deadLetterBucket: ingestion.deadLetters.name,
  enrichDeadLetterQueue: ingestion.enrichDlq.url,
};

/** The factory's digital twin: the root asset, from which the SDK walks lines and machines. */
export const digitalTwin = {
  factoryAssetId: twin.factoryAsset.assetId,
  assetModels: Object.fromEntries([...twin.models].map(([key, model]) => [key, model.assetModelId])),
};

/** The factory's private network (absent when `smart-factory:features.vpc.enabled` is false). */
export const networking =
  network === undefined
    ? { vpc: "disabled by config (smart-factory:features.vpc.enabled = false): the Lambdas reach AWS over public endpoints" }
    : { vpcId: network.vpc.vpcId, isolatedSubnetIds: network.vpc.isolatedSubnetIds, endpoints: Object.fromEntries(network.specs.map((s) => [s.key, s.serviceName])) };

/** Where alerts, alarms and event rules are sent (each e-mail address confirms its subscription once). */
export const alerting = {
  topic: notifications.topic.arn,
  emailSubscriptions: config.alerts.notify.emails.length,
};

/** The factory's operations dashboard and how many alarms watch it. */
export const monitoring = {
  dashboard: observability.dashboard.dashboardName,
  alarms: observability.alarms.length,
  eventRules: observability.eventRules.map((r) => r.name),
};

/** The edge agent's Greengrass component and its deployment to the factory's gateways. */
export const edgeAgent =
  edge === undefined
    ? { status: "not deployed: no packaged agent in edge/dist (npm run edge:package)" }
    : { component: edge.componentName, version: edge.componentVersion, artifactBucket: edge.bucket.name, platforms: artifacts.map((a) => `${a.platform}-${a.arch}`) };

/**
 * Predictive maintenance: the hourly features, the weekly training pipeline and its model package group (approve a
 * model there, then set `approvedModelPackageArn`), and the scoring endpoint once a model is approved.
 */
export const predictiveMaintenance =
  maintenance === undefined
    ? { status: "disabled by config (smart-factory:features.predictiveMaintenance.enabled = false)" }
    : {
        featuresTable: maintenance.featuresTable.tableName,
        featuresQuery: maintenance.scheduledQuery.arn,
        queryErrorBucket: maintenance.queryErrors.name,
        pipeline: maintenance.pipeline.pipelineName,
        artifactsBucket: maintenance.artifacts.name,
        modelPackageGroup: maintenance.modelPackageGroup.modelPackageGroupName,
        retrainingSchedule: maintenance.retraining.name,
        featureColumns: maintenance.featureColumns,
        featuresExport: maintenance.featuresExport?.function.name ?? null,
        scoreEndpoint: maintenance.scoreEndpointName ?? "not deployed: approve a model package of the group and set smart-factory:features.predictiveMaintenance.approvedModelPackageArn",
        scoreEndpointArn: maintenance.scoreEndpointArn ?? null,
      };

/** The factory's QuickSight dashboard (needs a QuickSight subscription; off unless `features.quickSight.enabled`). */
export const quickSightDashboards =
  dashboards === undefined
    ? { status: "disabled by config (smart-factory:features.quickSight.enabled = false)" }
    : {
        dashboardId: dashboards.dashboard.dashboardId,
        dashboardUrl: dashboards.dashboardUrl,
        dataSet: dashboards.telemetryDataSet.arn,
        dataSource: dashboards.dataSource.arn,
        sharedWith: quickSight.principalArn,
      };

/** The data lake (IoT Analytics' successor): bucket, Firehose streams (readings, machine states), Glue catalog and tables (readings, states and, with predictive maintenance, the hourly features), and the Athena workgroup with its named queries. */
export const lake = {
  bucket: dataLake.bucket.name,
  deliveryStream: dataLake.stream.name,
  statesDeliveryStream: dataLake.states.stream.name,
  glueDatabase: dataLake.database.name,
  glueTable: dataLake.table.name,
  statesGlueTable: dataLake.states.table.name,
  featuresGlueTable: dataLake.features?.name ?? null,
  athenaWorkgroup: dataLake.workgroup.name,
  athenaResultsBucket: dataLake.resultsBucket.name,
  namedQueries: Object.fromEntries(Object.entries(dataLake.namedQueries).map(([key, query]) => [key, query.id])),
};

/** The detector (IoT Events' successor): its state table, function and the every-minute sweep. */
export const alertDetection = {
  stateTable: alerts.table.name,
  detectorFunction: alerts.detectorFunction.name,
  detectorDeadLetterQueue: alerts.detector.deadLetterQueue.url,
  sweepSchedule: alerts.schedule.name,
  sweepDeadLetterQueue: alerts.scheduleDlq.url,
  failureScore: alerts.scoring ? "on" : "off (no approved predictive-maintenance model)",
};
