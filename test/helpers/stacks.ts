/** Stack files as the Pulumi engine hands them to the program, and the program run under Pulumi's mocks. */
import * as assert from "node:assert/strict";
import { readStackConfig, renderStack as renderAnew, type CloudMocks, type PlannedResource, type RenderedStack } from "../../infra/offline";

export { CloudMocks, MOCK_ACCOUNT, REPO_ROOT, engineConfig, readStackConfig, resolved, stackNames } from "../../infra/offline";
export type { MockResource, PlannedResource, RenderedStack } from "../../infra/offline";

/** Freeze a value and everything in it (plain objects and arrays). */
function frozen<T>(value: T): T {
  if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) frozen(inner);
  }
  return value;
}

const renders = new Map<string, Promise<RenderedStack>>();

/**
 * `infra/offline`'s renderStack, done once per stack and config in a run: a render takes about 2 s, and a dozen
 * spec files render the same three stack files. The program's only other input is the packaged edge agent on disk
 * (`SF_EDGE_ARTIFACT_DIR`): while that is set, every call renders anew. The resources and exports are frozen, so a
 * test that changed them, and with them every later test's, fails at once instead.
 */
export function renderStack(stack: string, config: Record<string, unknown> = readStackConfig(stack)): Promise<RenderedStack> {
  if (process.env.SF_EDGE_ARTIFACT_DIR !== undefined) return renderAnew(stack, config);
  const key = JSON.stringify([stack, config]);
  let render = renders.get(key);
  if (render === undefined) {
    render = renderAnew(stack, config).then((r) => {
      frozen(r.resources);
      frozen(r.exports);
      return r;
    });
    renders.set(key, render);
  }
  return render;
}

/**
 * Run `infra/index.ts` for one stack under mocks with `config` (section name -> value, as in the stack file)
 * and return its resolved exports and the mocks that saw its resources.
 */
export async function runProgram(stack: string, config: Record<string, unknown>): Promise<{ exports: Record<string, unknown>; mocks: CloudMocks }> {
  const rendered = await renderStack(stack, config);
  return { exports: rendered.exports, mocks: rendered.mocks };
}

/** The planned resources of one type. */
export const ofType = (r: RenderedStack, type: string): PlannedResource[] => r.resources.filter((x) => x.type === type);

/** The one planned resource of `type` (named `name` when given); fails the test when there is none or more than one. */
export function one(r: RenderedStack, type: string, name?: string): PlannedResource {
  const found = ofType(r, type).filter((x) => name === undefined || x.name === name);
  assert.equal(found.length, 1, `exactly one ${type}${name === undefined ? "" : ` ${name}`} in ${r.stack} (found ${found.length})`);
  return found[0]!;
}

/** A statement of an IAM, key, bucket or topic policy document as the tests read it. */
export interface Statement {
  Sid: string;
  Effect: string;
  Action: string[];
  Resource?: string | string[];
  Principal?: { Service?: string | string[]; AWS?: string | string[] };
  Condition?: Record<string, Record<string, unknown>>;
}

/** The statements of a policy document given as JSON text. */
export const statementsOf = (text: unknown): Statement[] => (JSON.parse(String(text)) as { Statement: Statement[] }).Statement;
