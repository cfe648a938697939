/**
 * Renders a stack without AWS and without the Pulumi CLI: the program runs under Pulumi's mocks, which answer as
 * AWS would (ids, ARNs, the provider functions the program calls) and record every resource with its inputs,
 * parent and protection. `npm run plan` prints the result; the tests assert on it.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

import { REPO_ROOT, readStackConfig } from "./stackFiles";

export { REPO_ROOT, readStackConfig, stackNames } from "./stackFiles";

/** Config values as the engine passes them: strings as they are, everything else as JSON text. */
export function engineConfig(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

/** The account every mocked stack runs in (all three share it, as they may in production). */
export const MOCK_ACCOUNT = "123456789012";

/** A resource the program declared, with the state the mock gave it. */
export interface MockResource extends pulumi.runtime.MockResourceArgs {
  readonly state: Record<string, unknown>;
}

/**
 * Mocks of the AWS providers: resources get the ids and attributes (ARNs, generated names) AWS would give them;
 * the provider functions the program uses are answered; any other call is a bug and throws.
 */
export class CloudMocks implements pulumi.runtime.Mocks {
  readonly resources: MockResource[] = [];
  readonly calls: pulumi.runtime.MockCallArgs[] = [];
  constructor(readonly region: string) {}

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const inputs = args.inputs as Record<string, unknown>;
    const state = { ...inputs, ...this.attributes(args.type, args.name, inputs) };
    this.resources.push({ ...args, state });
    return { id: typeof state.id === "string" ? state.id : `${args.name}-id`, state };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    this.calls.push(args);
    const inputs = args.inputs as Record<string, unknown>;
    switch (args.token) {
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return { accountId: MOCK_ACCOUNT, arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/platform`, userId: "AIDAMOCK", id: MOCK_ACCOUNT };
      case "aws:index/getPartition:getPartition":
        return { partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws", id: "aws" };
      case "aws:iot/getEndpoint:getEndpoint":
        return {
          endpointType: inputs.endpointType,
          endpointAddress:
            inputs.endpointType === "iot:CredentialProvider" ? `c2mock.credentials.iot.${this.region}.amazonaws.com` : `a1mock-ats.iot.${this.region}.amazonaws.com`,
          id: String(inputs.endpointType),
        };
      default:
        throw new Error(`unexpected provider call ${args.token} under mocks`);
    }
  }

  /** Attributes AWS computes, by resource type. */
  private attributes(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    const named = (key: string): string => (typeof inputs[key] === "string" ? (inputs[key]) : name);
    const arn = (service: string, resource: string, region = this.region): string => `arn:aws:${service}:${region}:${MOCK_ACCOUNT}:${resource}`;
    switch (type) {
      case "aws:kms/key:Key":
        return { keyId: `${name}-key-id`, arn: arn("kms", `key/${name}-key-id`) };
      case "aws:s3/bucket:Bucket":
        return { arn: `arn:aws:s3:::${named("bucket")}`, bucket: named("bucket") };
      case "aws:iam/role:Role":
        return { arn: `arn:aws:iam::${MOCK_ACCOUNT}:role/${named("name")}`, name: named("name") };
      case "aws:iot/certificate:Certificate":
        return { arn: arn("iot", `cert/${name}-cert-id`), certificatePem: "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n" };
      case "aws:iot/roleAlias:RoleAlias":
        return { arn: arn("iot", `rolealias/${named("alias")}`) };
      case "aws:iot/thing:Thing":
        return { arn: arn("iot", `thing/${named("name")}`), defaultClientId: named("name") };
      case "aws:iot/thingGroup:ThingGroup":
        return { arn: arn("iot", `thinggroup/${named("name")}`) };
      case "aws:iot/policy:Policy":
        return { arn: arn("iot", `policy/${named("name")}`) };
      case "aws:iot/topicRule:TopicRule":
        return { arn: arn("iot", `rule/${named("name")}`) };
      case "aws:timestreamwrite/database:Database":
        return { arn: arn("timestream", `database/${named("databaseName")}`) };
      case "aws:timestreamwrite/table:Table":
        return { arn: arn("timestream", `database/${String(inputs.databaseName)}/table/${named("tableName")}`) };
      case "aws:dynamodb/table:Table":
        return { arn: arn("dynamodb", `table/${named("name")}`) };
      case "aws:lambda/function:Function":
        return { arn: arn("lambda", `function:${named("name")}`), invokeArn: `${arn("lambda", `function:${named("name")}`)}/invocations` };
      case "aws:sqs/queue:Queue":
        return { arn: arn("sqs", named("name")), url: `https://sqs.${this.region}.amazonaws.com/${MOCK_ACCOUNT}/${named("name")}` };
      case "aws:cloudwatch/logGroup:LogGroup":
        return { arn: arn("logs", `log-group:${named("name")}`) };
      case "aws-native:iotsitewise:AssetModel":
        return { assetModelId: `${name}-model-id`, assetModelArn: arn("iotsitewise", `asset-model/${name}-model-id`) };
      case "aws-native:iotsitewise:Asset":
        return { assetId: `${name}-asset-id`, assetArn: arn("iotsitewise", `asset/${name}-asset-id`) };
      case "awsx:ec2:Vpc": {
        // a remote component: under mocks it is one resource, and its outputs are what the mock says
        const zones = typeof inputs.numberOfAvailabilityZones === "number" ? inputs.numberOfAvailabilityZones : 3;
        const ids = (prefix: string): string[] => Array.from({ length: zones }, (_, i) => `${prefix}-${name}-${i + 1}`);
        return {
          vpcId: `vpc-${name}`,
          isolatedSubnetIds: ids("subnet-isolated"),
          privateSubnetIds: [],
          publicSubnetIds: [],
          natGateways: [],
          routeTables: ids("rtb").map((id) => ({ id })),
        };
      }
      case "aws:ec2/vpcEndpoint:VpcEndpoint":
        return { arn: arn("ec2", `vpc-endpoint/vpce-${name}`), prefixListId: inputs.vpcEndpointType === "Gateway" ? `pl-${name}` : undefined };
      case "aws:ec2/securityGroup:SecurityGroup":
        return { id: `sg-${name}`, arn: arn("ec2", `security-group/sg-${name}`) };
      case "aws-native:greengrassv2:ComponentVersion": {
        const recipe = JSON.parse(String(inputs.inlineRecipe)) as { ComponentName: string; ComponentVersion: string };
        return { componentName: recipe.ComponentName, componentVersion: recipe.ComponentVersion, arn: arn("greengrass", `components:${recipe.ComponentName}:versions:${recipe.ComponentVersion}`) };
      }
      case "aws-native:greengrassv2:Deployment":
        return { deploymentId: `${name}-deployment-id` };
      case "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream":
        return { arn: arn("firehose", `deliverystream/${named("name")}`) };
      case "aws:glue/catalogDatabase:CatalogDatabase":
        return { arn: arn("glue", `database/${named("name")}`) };
      case "aws:glue/catalogTable:CatalogTable":
        return { arn: arn("glue", `table/${String(inputs.databaseName)}/${named("name")}`) };
      case "aws:athena/workgroup:Workgroup":
        return { arn: arn("athena", `workgroup/${named("name")}`) };
      case "aws-native:iot:TopicRule":
        return { arn: arn("iot", `rule/${named("ruleName")}`) };
      case "aws:timestreamquery/scheduledQuery:ScheduledQuery":
        return { arn: arn("timestream", `scheduled-query/${named("name")}-mock`) };
      case "aws:sagemaker/modelPackageGroup:ModelPackageGroup":
        return { arn: arn("sagemaker", `model-package-group/${named("modelPackageGroupName")}`) };
      case "aws:sagemaker/pipeline:Pipeline":
        return { arn: arn("sagemaker", `pipeline/${named("pipelineName")}`) };
      case "aws:sagemaker/model:Model":
        return { arn: arn("sagemaker", `model/${named("name")}`), name: named("name") };
      case "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
        return { arn: arn("sagemaker", `endpoint-config/${named("name")}`), name: named("name") };
      case "aws:sagemaker/endpoint:Endpoint":
        return { arn: arn("sagemaker", `endpoint/${named("name")}`), name: named("name") };
      case "aws:scheduler/schedule:Schedule":
        return { arn: arn("scheduler", `schedule/default/${named("name")}`) };
      case "aws-native:quicksight:DataSource":
        return { arn: arn("quicksight", `datasource/${named("dataSourceId")}`) };
      case "aws-native:quicksight:DataSet":
        return { arn: arn("quicksight", `dataset/${named("dataSetId")}`) };
      case "aws-native:quicksight:Dashboard":
        return { arn: arn("quicksight", `dashboard/${named("dashboardId")}`) };
      default:
        return typeof inputs.name === "string" ? { arn: arn(type.split(":")[1]?.split("/")[0] ?? "mock", named("name")) } : {};
    }
  }
}

/** A resource as the engine registered it: where it sits in the tree and how it is protected. */
export interface PlannedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly parentUrn: string;
  /** A cloud resource (true) or a component (false). */
  readonly custom: boolean;
  readonly protect: boolean;
  readonly retainOnDelete: boolean;
  readonly inputs: Record<string, unknown>;
  /** Inputs plus what the (mocked) cloud computed. */
  readonly state: Record<string, unknown>;
  readonly provider: string | undefined;
  /** URNs of the resources this one depends on. */
  readonly dependencies: readonly string[];
  /** URNs each input property was computed from (e.g. a bucket policy's `bucket` from its bucket). */
  readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
}

/** A rendered stack: its outputs, resolved, and every resource it declares. */
export interface RenderedStack {
  readonly stack: string;
  readonly exports: Record<string, unknown>;
  readonly resources: PlannedResource[];
  readonly mocks: CloudMocks;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProtect(): boolean;
  getRetainondelete?(): boolean;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(callback: (value: { getUrnsList(): string[] }, key: string) => void): void };
}
interface RegisterResponse {
  getUrn(): string;
}
interface Monitor {
  registerResource(req: RegisterRequest, callback: (err: unknown, response: RegisterResponse | undefined) => void): unknown;
}

/**
 * Run `infra/index.ts` for `stack` under mocks with `config` (section name -> value, as in the stack file) and
 * return its resolved exports and resources. The program's modules are loaded afresh each time.
 */
export async function renderStack(stack: string, config: Record<string, unknown> = readStackConfig(stack)): Promise<RenderedStack> {
  const mocks = new CloudMocks(typeof config["aws:region"] === "string" ? config["aws:region"] : "eu-central-1");
  await pulumi.runtime.setMocks(mocks, "smart-factory", stack, false);
  pulumi.runtime.setAllConfig(engineConfig(config));
  const registered: { request: RegisterRequest; urn?: string }[] = [];
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) => {
    const entry: { request: RegisterRequest; urn?: string } = { request };
    registered.push(entry);
    return register(request, (err, response) => {
      entry.urn = response?.getUrn();
      callback(err, response);
    });
  };
  const infra = path.join(REPO_ROOT, "infra");
  for (const key of Object.keys(require.cache)) if (key.startsWith(infra) && !key.endsWith("offline.ts")) Reflect.deleteProperty(require.cache, key);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh CommonJS load of the program per stack
  const outputs = require(path.join(infra, "index.ts")) as Record<string, unknown>;
  const exports = (await resolved(outputs)) as Record<string, unknown>;
  await pulumi.runtime.disconnect(); // waits until every registration has reached the mocks
  const states = new Map(mocks.resources.map((r) => [`${r.type}::${r.name}`, r]));
  const resources = registered.map(({ request, urn }): PlannedResource => {
    const mocked = states.get(`${request.getType()}::${request.getName()}`);
    const propertyDependencies: Record<string, string[]> = {};
    request.getPropertydependenciesMap().forEach((value, key) => {
      propertyDependencies[key] = value.getUrnsList();
    });
    return {
      urn: urn ?? "",
      type: request.getType(),
      name: request.getName(),
      parentUrn: request.getParent(),
      custom: request.getCustom(),
      protect: request.getProtect(),
      retainOnDelete: request.getRetainondelete?.() ?? false,
      inputs: (mocked?.inputs ?? {}) as Record<string, unknown>,
      state: mocked?.state ?? {},
      provider: mocked?.provider,
      dependencies: request.getDependenciesList(),
      propertyDependencies,
    };
  });
  return { stack, exports, resources, mocks };
}

/** A value with every Output inside it resolved, as `pulumi stack output --json` would show it. */
export function resolved<T>(value: T): Promise<pulumi.Unwrap<T>> {
  return new Promise((resolve) => pulumi.output(value).apply(resolve));
}
