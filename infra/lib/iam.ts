/**
 * IAM, KMS key and IoT policy documents as plain data, so the same statements are rendered into resources and
 * inspected by tests and policies. Actions are always full names: a statement never allows a wildcard action.
 */
import * as pulumi from "@pulumi/pulumi";

/** A policy principal: AWS accounts or roles, or service principals. */
export type Principal = { AWS: pulumi.Input<string> | pulumi.Input<string>[] } | { Service: string | string[] };

/** Condition operators we use, keyed by condition key. */
export type Conditions = Record<string, Record<string, pulumi.Input<string> | pulumi.Input<string>[] | boolean>>;

/** One statement of a policy document. */
export interface Statement {
  /** Readable id: why the statement exists. */
  readonly Sid: string;
  readonly Effect?: "Allow" | "Deny";
  readonly Principal?: Principal;
  readonly Action: readonly string[];
  /** Absent only in trust policies, whose resource is the role itself. */
  readonly Resource?: pulumi.Input<string> | readonly pulumi.Input<string>[];
  readonly Condition?: Conditions;
}

/** A policy document (IAM identity policy, trust policy, key policy, bucket or IoT policy). */
export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly Statement[];
}

/**
 * A wildcard action (`*`, `service:*`, `service:Get*`) in an Allow is a mistake in this program: statements list
 * the actions they need. (A Deny may use one: denying everything without TLS is the point.)
 */
export function wildcardActions(statement: Pick<Statement, "Action">): string[] {
  return statement.Action.filter((action) => action.includes("*") || action.includes("?"));
}

/**
 * A policy document of `statements`, each defaulting to `Allow`.
 *
 * @throws Error naming the statement whose action is a wildcard or that has no action.
 */
export function policyDocument(...statements: Statement[]): PolicyDocument {
  const sids = new Set<string>();
  for (const s of statements) {
    if (s.Action.length === 0) throw new Error(`policy statement ${s.Sid} lists no action`);
    const wild = s.Effect === "Deny" ? [] : wildcardActions(s);
    if (wild.length > 0) throw new Error(`policy statement ${s.Sid} allows wildcard action(s) ${wild.join(", ")}: list the actions it needs`);
    if (sids.has(s.Sid)) throw new Error(`policy statement id ${s.Sid} is used twice`);
    sids.add(s.Sid);
  }
  return { Version: "2012-10-17", Statement: statements.map((s) => ({ Effect: "Allow", ...s })) };
}

/** The document as JSON text for a resource argument (Outputs inside are resolved). */
export function renderPolicy(document: PolicyDocument): pulumi.Output<string> {
  return pulumi.jsonStringify(document);
}

/**
 * A trust policy that lets `service` assume a role. `sourceAccount`/`sourceArn` limit it to requests made for
 * this account or resource (the confused-deputy guard). Give them only for services that send those keys when
 * they assume a role (the IoT rules engine does); a condition on a key the service does not send makes the role
 * impossible to assume, so Lambda execution roles and the IoT credentials provider get none.
 */
export function trustPolicy(service: string, guard: { sourceAccount?: pulumi.Input<string>; sourceArn?: pulumi.Input<string> } = {}): PolicyDocument {
  const condition: Conditions = {};
  if (guard.sourceAccount !== undefined) condition.StringEquals = { "aws:SourceAccount": guard.sourceAccount };
  if (guard.sourceArn !== undefined) condition.ArnLike = { "aws:SourceArn": guard.sourceArn };
  return policyDocument({ Sid: "TrustService", Principal: { Service: service }, Action: ["sts:AssumeRole"], ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}) });
}

/** AWS account and partition of the stack: every ARN is built from them. */
export interface AccountContext {
  readonly accountId: pulumi.Input<string>;
  readonly partition: pulumi.Input<string>;
  readonly region: string;
}

/** `arn:<partition>:<service>:<region>:<account>:<resource>`; `region: ""` for global services such as IAM. */
export function arn(ctx: AccountContext, service: string, resource: string, region: string = ctx.region): pulumi.Output<string> {
  return pulumi.interpolate`arn:${ctx.partition}:${service}:${region}:${ctx.accountId}:${resource}`;
}
