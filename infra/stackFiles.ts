/**
 * The stack files at the repository root (`Pulumi.<stack>.yaml`), read without the Pulumi engine: for the offline
 * renderer, the policy run and the local factory (`npm start`), which all start from a stack's config.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { decode, FactoryConfig } from "@smart-factory/sdk";

/** Config namespace of this project (`smart-factory:<key>` in the stack files). */
export const PROJECT_NAMESPACE = "smart-factory";

/** The repository root (this file is in infra/). */
export const REPO_ROOT = path.resolve(__dirname, "..");

/** The stacks of the project, from the `Pulumi.<stack>.yaml` files at the root. */
export function stackNames(): string[] {
  return fs
    .readdirSync(REPO_ROOT)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** The parsed `config:` section of a stack file; an unknown stack is an error naming the stacks there are. */
export function readStackConfig(stack: string): Record<string, unknown> {
  const file = path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) throw new Error(`no stack ${JSON.stringify(stack)}: there is no ${path.basename(file)} (stacks: ${stackNames().join(", ")})`);
  const doc = parse(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  return structuredClone(doc?.config ?? {});
}

/**
 * A stack file's config validated with the SDK's `FactoryConfig` codec (`aws:region` as `region`,
 * `smart-factory:<key>` as `<key>`), as the program sees it.
 *
 * @throws Error for an unknown stack; the SDK's ContractError naming each offending key.
 */
export function stackFactoryConfig(stack: string): FactoryConfig {
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(readStackConfig(stack))) {
    if (key === "aws:region") input.region = value;
    else if (key.startsWith(`${PROJECT_NAMESPACE}:`)) input[key.slice(PROJECT_NAMESPACE.length + 1)] = value;
  }
  return decode(FactoryConfig, input, `Pulumi.${stack}.yaml`);
}
