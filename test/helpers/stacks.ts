/** Stack files as the Pulumi engine hands them to the program, and the program run under Pulumi's mocks. */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

/** The stacks of the project, from the `Pulumi.<stack>.yaml` files at the root. */
export function stackNames(): string[] {
  return fs
    .readdirSync(REPO_ROOT)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** The parsed `config:` section of a stack file. */
export function readStackConfig(stack: string): Record<string, unknown> {
  const text = fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8");
  const doc = parse(text) as { config?: Record<string, unknown> };
  return structuredClone(doc.config ?? {});
}

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
      case "aws-native:iot:TopicRule":
        return { arn: arn("iot", `rule/${named("ruleName")}`) };
      default:
        return typeof inputs.name === "string" ? { arn: arn(type.split(":")[1]?.split("/")[0] ?? "mock", named("name")) } : {};
    }
  }
}

/**
 * Run `infra/index.ts` for one stack under mocks with `config` (section name -> value, as in the stack file)
 * and return its exports. The module is loaded afresh each time.
 */
export async function runProgram(stack: string, config: Record<string, unknown>): Promise<{ exports: Record<string, unknown>; mocks: CloudMocks }> {
  const mocks = new CloudMocks(typeof config["aws:region"] === "string" ? config["aws:region"] : "eu-central-1");
  await pulumi.runtime.setMocks(mocks, "smart-factory", stack, false);
  pulumi.runtime.setAllConfig(engineConfig(config));
  const entry = require.resolve(path.join(REPO_ROOT, "infra", "index.ts"));
  for (const key of Object.keys(require.cache)) if (key.startsWith(path.join(REPO_ROOT, "infra"))) Reflect.deleteProperty(require.cache, key);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh CommonJS load per stack
  const outputs = require(entry) as Record<string, unknown>;
  const exports = await resolved(outputs);
  await pulumi.runtime.disconnect(); // waits until every resource registration has reached the mocks
  return { exports, mocks };
}

/** A value with every Output inside it resolved, as `pulumi stack output --json` would show it. */
export function resolved<T>(value: T): Promise<pulumi.Unwrap<T>> {
  return new Promise((resolve) => pulumi.output(value).apply(resolve));
}
