/**
 * Runs the pack's rules in-process over a stack rendered under mocks (`../offline.ts`), the way the Pulumi CLI's
 * analyzer would over a preview: resource rules once per resource, stack rules once over all of them, each
 * violation attributed to a resource. This is `npm run policy`, and what the tests call.
 */
import type { EnforcementLevel, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import type { PlannedResource, RenderedStack } from "../offline";
import type { Rule } from "./lib";

/** One violation of one rule. */
export interface Violation {
  readonly policy: string;
  readonly enforcementLevel: EnforcementLevel;
  readonly message: string;
  /** The resource, when the violation is about one. */
  readonly urn?: string;
  readonly resourceName?: string;
  readonly resourceType?: string;
}

/** A rule's outcome on one stack. */
export interface RuleResult {
  readonly policy: string;
  readonly enforcementLevel: EnforcementLevel;
  readonly violations: readonly Violation[];
}

/** The outcome of every rule on one stack; `failed` when a mandatory rule has a violation. */
export interface StackReport {
  readonly stack: string;
  readonly results: readonly RuleResult[];
  readonly failed: boolean;
}

class NotApplicable extends Error {}

/** The resources as the analyzer shows them to rules: with their provider, parent and dependencies linked. */
export function policyResources(resources: readonly PlannedResource[]): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  const out = resources.map((r) => {
    const resource: PolicyResource = {
      type: r.type,
      props: r.inputs,
      urn: r.urn,
      name: r.name,
      opts: { protect: r.protect, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [], parent: r.parentUrn },
      dependencies: [],
      propertyDependencies: {},
      isType: () => false,
      asType: () => undefined,
    };
    byUrn.set(r.urn, resource);
    return resource;
  });
  resources.forEach((r, i) => {
    const resource = out[i] as { -readonly [K in keyof PolicyResource]: PolicyResource[K] };
    const link = (urns: readonly string[]): PolicyResource[] => urns.map((u) => byUrn.get(u)).filter((x): x is PolicyResource => x !== undefined);
    resource.dependencies = link(r.dependencies);
    resource.propertyDependencies = Object.fromEntries(Object.entries(r.propertyDependencies).map(([k, urns]) => [k, link(urns)]));
    const parent = byUrn.get(r.parentUrn);
    if (parent !== undefined) resource.parent = parent;
    const providerUrn = r.provider?.split("::").slice(0, -1).join("::");
    const provider = providerUrn === undefined ? undefined : byUrn.get(providerUrn);
    if (provider !== undefined) resource.provider = { type: provider.type, props: provider.props, urn: provider.urn, name: provider.name };
  });
  return out;
}

const isStackRule = (rule: Rule): rule is StackValidationPolicy => "validateStack" in rule;

/** Run `rules` over a rendered stack. */
export async function checkStack(rendered: RenderedStack, rules: readonly Rule[]): Promise<StackReport> {
  const resources = policyResources(rendered.resources);
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const stackTags = new Map<string, string>();
  const results: RuleResult[] = [];
  for (const rule of rules) {
    const level = rule.enforcementLevel ?? "advisory";
    const violations: Violation[] = [];
    const reporter =
      (defaultUrn?: string): ReportViolation =>
      (message, urn) => {
        const at = urn ?? defaultUrn;
        const r = at === undefined ? undefined : byUrn.get(at);
        violations.push({ policy: rule.name, enforcementLevel: level, message, ...(at === undefined ? {} : { urn: at }), ...(r === undefined ? {} : { resourceName: r.name, resourceType: r.type }) });
      };
    const notApplicable = (reason?: string): never => {
      throw new NotApplicable(reason);
    };
    if (level !== "disabled") {
      try {
        if (isStackRule(rule)) {
          await rule.validateStack({ resources, stackTags, getConfig: () => ({}) as never, notApplicable }, reporter());
        } else {
          const validations = rule.validateResource === undefined ? [] : Array.isArray(rule.validateResource) ? rule.validateResource : [rule.validateResource];
          for (const r of resources) {
            const args = {
              type: r.type,
              props: r.props,
              urn: r.urn,
              name: r.name,
              opts: r.opts,
              provider: r.provider,
              stackTags,
              isType: (cls: { __pulumiType?: string }) => cls.__pulumiType === r.type,
              asType: (cls: { __pulumiType?: string }) => (cls.__pulumiType === r.type ? r.props : undefined),
              getConfig: () => ({}),
              notApplicable,
            } as unknown as ResourceValidationArgs;
            for (const validate of validations) await validate(args, reporter(r.urn));
          }
        }
      } catch (error) {
        if (!(error instanceof NotApplicable)) throw error;
      }
    }
    results.push({ policy: rule.name, enforcementLevel: level, violations });
  }
  return { stack: rendered.stack, results, failed: results.some((r) => r.enforcementLevel === "mandatory" && r.violations.length > 0) };
}

/** The reports as a table: one row per rule, one column per stack (`pass`, or the number of violations). */
export function formatReports(reports: readonly StackReport[]): string {
  const rules = reports[0]?.results.map((r) => ({ policy: r.policy, level: r.enforcementLevel })) ?? [];
  const width = Math.max(4, ...rules.map((r) => r.policy.length + r.level.length + 3));
  const cell = (report: StackReport, policy: string): string => {
    const n = report.results.find((r) => r.policy === policy)?.violations.length ?? 0;
    return n === 0 ? "pass" : `${n} violation${n === 1 ? "" : "s"}`;
  };
  const columns = reports.map((r) => Math.max(r.stack.length, 14));
  const lines = [
    ["rule".padEnd(width), ...reports.map((r, i) => r.stack.padEnd(columns[i] ?? 14))].join("  "),
    ...rules.map((rule) => [`${rule.policy} (${rule.level})`.padEnd(width), ...reports.map((r, i) => cell(r, rule.policy).padEnd(columns[i] ?? 14))].join("  ")),
  ];
  const details = reports.flatMap((report) =>
    report.results.flatMap((result) =>
      result.violations.map((v) => `${report.stack}  ${v.enforcementLevel === "mandatory" ? "FAIL" : "note"}  ${v.policy}: ${v.resourceName === undefined ? "" : `${v.resourceType ?? ""} ${v.resourceName}: `}${v.message}`),
    ),
  );
  return [...lines, ...(details.length > 0 ? ["", ...details] : [])].join("\n");
}
