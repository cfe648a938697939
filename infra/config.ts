/**
 * Reads the stack config (`Pulumi.<stack>.yaml`) and validates it with the SDK's `FactoryConfig` codec before
 * the program declares anything. A bad config stops `pulumi up` with every problem listed, each naming the
 * config key, the path inside it and the value found.
 */
import * as pulumi from "@pulumi/pulumi";
import { check, describeValue, type ContractIssue, type FactoryConfig, FactoryConfig as FactoryConfigCodec, formatPath } from "@smart-factory/sdk";

import { PROJECT_NAMESPACE } from "./stackFiles";

export { PROJECT_NAMESPACE };

/** The stack config key each top-level section of `FactoryConfig` is read from. */
export const CONFIG_KEYS: Readonly<Record<keyof FactoryConfig, string>> = {
  region: "aws:region",
  factory: `${PROJECT_NAMESPACE}:factory`,
  oee: `${PROJECT_NAMESPACE}:oee`,
  machineTypes: `${PROJECT_NAMESPACE}:machineTypes`,
  lines: `${PROJECT_NAMESPACE}:lines`,
  gateways: `${PROJECT_NAMESPACE}:gateways`,
  telemetry: `${PROJECT_NAMESPACE}:telemetry`,
  alerts: `${PROJECT_NAMESPACE}:alerts`,
  features: `${PROJECT_NAMESPACE}:features`,
  tags: `${PROJECT_NAMESPACE}:tags`,
  edge: `${PROJECT_NAMESPACE}:edge`,
};

/** A stack config that cannot be used; the message lists every problem found. */
export class StackConfigError extends pulumi.RunError {
  constructor(readonly problems: readonly string[]) {
    super(`the stack config is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "StackConfigError";
  }
}

/**
 * The validated config of the current stack.
 *
 * @throws StackConfigError naming each offending key, path and value.
 */
export function loadFactoryConfig(): FactoryConfig {
  const raw = pulumi.runtime.allConfig();
  const problems: string[] = [];
  const known = new Set(Object.values(CONFIG_KEYS));
  for (const key of Object.keys(raw).sort()) {
    if (key.startsWith(`${PROJECT_NAMESPACE}:`) && !known.has(key)) {
      problems.push(`${key}: no such config key (the keys of ${PROJECT_NAMESPACE} are ${[...known].filter((k) => k.startsWith(PROJECT_NAMESPACE)).join(", ")})`);
    }
  }
  const input: Record<string, unknown> = {};
  for (const [section, key] of Object.entries(CONFIG_KEYS)) {
    const text = raw[key];
    if (text === undefined) continue; // the codec reports it as missing, with the key
    input[section] = section === "region" ? text : parseStructured(key, text, problems);
  }
  const result = check(FactoryConfigCodec, input);
  if (!result.ok) problems.push(...result.issues.map(describeIssue));
  if (!result.ok || problems.length > 0) throw new StackConfigError(problems);
  return result.value;
}

/** Structured values reach the program as JSON text; a plain scalar arrives as itself. */
function parseStructured(key: string, text: string, problems: string[]): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // `pulumi config set smart-factory:oee 15m` stores a plain string: let the codec say what was expected.
    if (!/^\s*[[{]/.test(text)) return text;
    problems.push(`${key}: not valid structured config (JSON or YAML), got ${describeValue(text)}`);
    return undefined;
  }
}

/** `smart-factory:lines[1].machines[0].idealRunRate: expected a number greater than 0, got -5`. */
function describeIssue(issue: ContractIssue): string {
  const [section, ...rest] = issue.segments;
  const key = typeof section === "string" && section in CONFIG_KEYS ? CONFIG_KEYS[section as keyof FactoryConfig] : undefined;
  const where = key === undefined ? "stack config" : `${key}${formatPath(rest).replace(/^(?=[A-Za-z_$])/, ".")}`;
  return `${where}: expected ${issue.expected}, got ${describeValue(issue.value)}`;
}
