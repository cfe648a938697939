/**
 * Helpers the policy rules share: reading policy documents out of resource properties (as JSON text or as
 * objects), and the shape of a rule. Rules are plain objects of `@pulumi/policy`'s types so that the pack
 * (`index.ts`) and the in-process engine (`engine.ts`) run exactly the same code.
 */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

/** A rule of the pack. */
export type Rule = ResourceValidationPolicy | StackValidationPolicy;

/** One statement of an IAM-grammar document (IAM, KMS key, bucket, endpoint and IoT policies). */
export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect?: string;
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: string | string[];
  readonly NotResource?: string | string[];
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** A list, whether the document gave one value or several. */
export function asList<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The statements of a policy document given as JSON text or as an object; `undefined` if it is not one. */
export function statementsOf(document: unknown): PolicyStatement[] | undefined {
  let doc = document;
  if (typeof doc === "string") {
    try {
      doc = JSON.parse(doc) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof doc !== "object" || doc === null) return undefined;
  const statements = (doc as { Statement?: unknown }).Statement;
  return asList(statements as PolicyStatement | PolicyStatement[] | undefined);
}

/** `Sid` or position, to name a statement in a message. */
export function statementName(s: PolicyStatement, index: number): string {
  return s.Sid === undefined ? `statement ${index + 1}` : `statement ${s.Sid}`;
}

/** Whether an action pattern is a wildcard (`*`, `s3:*`, `s3:Get*`, `s3:?et*`). */
export function isWildcard(action: string): boolean {
  return action.includes("*") || action.includes("?");
}

/** The properties that hold an IAM-grammar policy, by resource type. */
export const POLICY_PROPERTIES: Readonly<Record<string, string>> = {
  "aws:iam/role:Role": "assumeRolePolicy",
  "aws:iam/rolePolicy:RolePolicy": "policy",
  "aws:iam/policy:Policy": "policy",
  "aws:kms/key:Key": "policy",
  "aws:s3/bucketPolicy:BucketPolicy": "policy",
  "aws:sqs/queuePolicy:QueuePolicy": "policy",
  "aws:sns/topicPolicy:TopicPolicy": "policy",
  "aws:ec2/vpcEndpoint:VpcEndpoint": "policy",
};

/** IAM identity policies: what a role or user may do (as opposed to resource, trust or key policies). */
export const IDENTITY_POLICY_TYPES = new Set(["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"]);

/** A property as an object: provider configuration reaches policies as JSON text. */
export function objectProperty(value: unknown): Record<string, unknown> | undefined {
  if (typeof value === "string") {
    try {
      const parsed = JSON.parse(value) as unknown;
      return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
}

/** The resources of a stack that are of one of `types`. */
export function ofTypes(resources: readonly PolicyResource[], ...types: string[]): PolicyResource[] {
  return resources.filter((r) => types.includes(r.type));
}

/** The resources a property of `r` was computed from (e.g. the bucket a bucket policy is for). */
export function dependsThrough(r: PolicyResource, property: string): PolicyResource[] {
  return r.propertyDependencies[property] ?? [];
}

/** A property value as a message shows it: JSON, or "not set". */
export function show(value: unknown): string {
  return value === undefined ? "not set" : JSON.stringify(value);
}
