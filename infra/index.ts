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
import { Observability } from "./components/observability";

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
const ingestion = new Ingestion(
  "ingest",
  {
    config,
    account,
    dataKeyArn: keys.data.arn,
    logsKeyArn: keys.logs.arn,
    timestream: { databaseName: telemetryStore.database.databaseName, tableName: telemetryStore.table.tableName, tableArn: telemetryStore.table.arn },
    assetArns: twin.assetArns,
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
    ],
    deadLetterBucket: ingestion.deadLetters.bucket,
    rules: Object.fromEntries(Object.entries(ingestion.rules).map(([kind, rule]) => [kind, rule.ruleName as pulumi.Output<string>])),
    enrichMetrics: { namespace: `SmartFactory/${config.factory.id}`, service: "enrich" },
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
