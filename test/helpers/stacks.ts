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

/** Mocks that create nothing: the program of this stage declares no resource, and any call is a bug. */
class NoCloudMocks implements pulumi.runtime.Mocks {
  readonly resources: pulumi.runtime.MockResourceArgs[] = [];
  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    this.resources.push(args);
    return { id: `${args.name}-id`, state: args.inputs as Record<string, unknown> };
  }
  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    throw new Error(`unexpected provider call ${args.token} under mocks`);
  }
}

/**
 * Run `infra/index.ts` for one stack under mocks with `config` (section name -> value, as in the stack file)
 * and return its exports. The module is loaded afresh each time.
 */
export async function runProgram(stack: string, config: Record<string, unknown>): Promise<{ exports: Record<string, unknown>; mocks: NoCloudMocks }> {
  const mocks = new NoCloudMocks();
  await pulumi.runtime.setMocks(mocks, "smart-factory", stack, false);
  pulumi.runtime.setAllConfig(engineConfig(config));
  const entry = require.resolve(path.join(REPO_ROOT, "infra", "index.ts"));
  for (const key of Object.keys(require.cache)) if (key.startsWith(path.join(REPO_ROOT, "infra"))) Reflect.deleteProperty(require.cache, key);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh CommonJS load per stack
  const exports = require(entry) as Record<string, unknown>;
  return { exports, mocks };
}
