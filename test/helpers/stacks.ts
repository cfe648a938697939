/** Stack files as the Pulumi engine hands them to the program, and the program run under Pulumi's mocks. */
import { renderStack, type CloudMocks } from "../../infra/offline";

export { CloudMocks, MOCK_ACCOUNT, REPO_ROOT, engineConfig, readStackConfig, renderStack, resolved, stackNames } from "../../infra/offline";
export type { MockResource, PlannedResource, RenderedStack } from "../../infra/offline";

/**
 * Run `infra/index.ts` for one stack under mocks with `config` (section name -> value, as in the stack file)
 * and return its resolved exports and the mocks that saw its resources.
 */
export async function runProgram(stack: string, config: Record<string, unknown>): Promise<{ exports: Record<string, unknown>; mocks: CloudMocks }> {
  const rendered = await renderStack(stack, config);
  return { exports: rendered.exports, mocks: rendered.mocks };
}
