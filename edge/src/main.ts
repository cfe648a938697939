/**
 * The agent's process: `node main.js [--config <file> --thing <name>] [--no-opcua]`. Under Greengrass it reads its
 * component configuration over the nucleus's IPC and Greengrass sets `AWS_IOT_THING_NAME`. A bad configuration stops
 * the process at start (exit code 2) with a message naming the key; `SIGTERM` (Greengrass's stop) and `SIGINT`
 * shut down gracefully: stop reading, flush in-flight publishes, close the store.
 */
import { Agent, jsonLog, opcuaAdapter } from "./agent";
import { AgentConfigError, loadAgentPlan } from "./config";

async function main(): Promise<void> {
  let agent: Agent;
  try {
    const plan = await loadAgentPlan({ argv: process.argv.slice(2), env: process.env });
    // `--no-opcua` runs the sensors and the publisher only (a gateway whose PLCs are not reachable yet)
    const withOpcUa = !process.argv.includes("--no-opcua");
    agent = new Agent({ plan, adapters: (intake) => (withOpcUa ? [opcuaAdapter(plan, intake)] : []) });
  } catch (error) {
    jsonLog("error", error instanceof Error ? error.message : String(error), { fatal: true });
    process.exitCode = error instanceof AgentConfigError ? 2 : 1;
    return;
  }
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    jsonLog("info", `${signal}: shutting down`);
    agent.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        jsonLog("error", `shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => { shutdown("SIGTERM"); });
  process.on("SIGINT", () => { shutdown("SIGINT"); });
  await agent.start();
}

void main();
