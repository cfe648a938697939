/**
 * `npm run plan -- <stack> [--json]`: what `pulumi up -s <stack>` would create, without AWS credentials and
 * without the Pulumi CLI. The program runs under mocks (see `offline.ts`) and the result is printed as a tree
 * (component > resource, with the settings that matter) and as counts per resource type.
 */
import { renderStack, readStackConfig, stackNames, type PlannedResource, type RenderedStack } from "./offline";

/** The settings shown beside a resource of a type: the ones a reviewer checks first. */
const DETAILS: Record<string, (inputs: Record<string, unknown>) => Record<string, unknown>> = {
  "aws:kms/key:Key": (i) => ({ rotation: i.enableKeyRotation, rotationDays: i.rotationPeriodInDays }),
  "aws:timestreamwrite/table:Table": (i) => {
    const retention = i.retentionProperties as Record<string, unknown> | undefined;
    const magnetic = i.magneticStoreWriteProperties as Record<string, unknown> | undefined;
    return { memoryHours: retention?.memoryStoreRetentionPeriodInHours, magneticDays: retention?.magneticStoreRetentionPeriodInDays, magneticWrites: magnetic?.enableMagneticStoreWrites };
  },
  "aws:lambda/function:Function": (i) => ({ runtime: i.runtime, architectures: i.architectures, memoryMb: i.memorySize, timeoutS: i.timeout }),
  "aws-native:iot:TopicRule": (i) => ({ sql: (i.topicRulePayload as Record<string, unknown> | undefined)?.sql }),
  "aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment": (i) => ({ type: i.thingPrincipalType }),
  "aws:cloudwatch/logGroup:LogGroup": (i) => ({ retentionDays: i.retentionInDays }),
  "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": (i) => {
    const s3 = i.extendedS3Configuration as Record<string, unknown> | undefined;
    return { destination: i.destination, prefix: s3?.prefix, bufferMiB: s3?.bufferingSize };
  },
  "aws:ec2/vpcEndpoint:VpcEndpoint": (i) => ({ service: i.serviceName, type: i.vpcEndpointType, privateDns: i.privateDnsEnabled }),
  "awsx:ec2:Vpc": (i) => ({ cidr: i.cidrBlock, zones: i.numberOfAvailabilityZones, nat: (i.natGateways as { strategy?: string } | undefined)?.strategy }),
};

const NAME_KEYS = ["name", "bucket", "ruleName", "tableName", "databaseName", "alias", "assetModelName", "assetName", "functionName"] as const;

/** One line describing a resource: type, logical name, cloud name and key settings. */
export function describeResource(r: PlannedResource): string {
  // sub-resources of a bucket name it by id in `bucket`; only the bucket itself has its name there
  const keys = r.type === "aws:s3/bucket:Bucket" ? NAME_KEYS : NAME_KEYS.filter((k) => k !== "bucket");
  const cloudName = keys.map((k) => r.inputs[k]).find((v): v is string => typeof v === "string");
  const details = { ...(DETAILS[r.type]?.(r.inputs) ?? {}) };
  const flags = [r.protect ? "protected" : "", r.retainOnDelete ? "retained on delete" : ""].filter((f) => f !== "");
  const settings = Object.entries(details)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [`${r.type} ${r.name}`, cloudName === undefined ? "" : `"${cloudName}"`, ...settings, flags.length > 0 ? `[${flags.join(", ")}]` : ""].filter((s) => s !== "").join("  ");
}

/** The plan as text: a tree under the stack, then counts per type. */
export function formatPlan(rendered: RenderedStack): string {
  const byParent = new Map<string, PlannedResource[]>();
  for (const r of rendered.resources) {
    const siblings = byParent.get(r.parentUrn) ?? [];
    siblings.push(r);
    byParent.set(r.parentUrn, siblings);
  }
  const urns = new Set(rendered.resources.map((r) => r.urn));
  const roots = rendered.resources.filter((r) => !urns.has(r.parentUrn));
  const lines: string[] = [];
  const walk = (r: PlannedResource, prefix: string, last: boolean): void => {
    lines.push(`${prefix}${last ? "└─ " : "├─ "}${describeResource(r)}`);
    const children = byParent.get(r.urn) ?? [];
    children.forEach((c, i) => {
      walk(c, `${prefix}${last ? "   " : "│  "}`, i === children.length - 1);
    });
  };
  roots.forEach((r, i) => {
    walk(r, "", i === roots.length - 1);
  });
  const custom = rendered.resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
  const counts = new Map<string, number>();
  for (const r of custom) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
  const width = Math.max(...[...counts.keys()].map((k) => k.length));
  const region = typeof rendered.exports.bootstrap === "object" && rendered.exports.bootstrap !== null ? (rendered.exports.bootstrap as { region?: string }).region : undefined;
  return [
    `Plan for stack ${rendered.stack}${region === undefined ? "" : ` (${region})`}: ${custom.length} cloud resources in ${rendered.resources.length - custom.length} components and providers`,
    "(rendered offline under mocks: ids and ARNs are placeholders for account 123456789012)",
    "",
    ...lines,
    "",
    "Resources per type:",
    ...[...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => `  ${type.padEnd(width)}  ${String(n).padStart(4)}`),
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const stacks = argv.filter((a) => !a.startsWith("--"));
  if (stacks.length !== 1) {
    process.stderr.write(`usage: npm run plan -- <stack> [--json]   (stacks: ${stackNames().join(", ")})\n`);
    return 2;
  }
  const stack = stacks[0] ?? "";
  try {
    const rendered = await renderStack(stack, readStackConfig(stack));
    process.stdout.write(
      json
        ? `${JSON.stringify({ stack, exports: rendered.exports, resources: rendered.resources.map(({ urn, type, name, parentUrn, protect, inputs }) => ({ urn, type, name, parentUrn, protect, inputs })) }, null, 2)}\n`
        : `${formatPlan(rendered)}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`plan for ${stack} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
