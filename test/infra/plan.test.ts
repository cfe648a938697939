import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { formatPlan } from "../../infra/plan";
import { readStackConfig, renderStack, REPO_ROOT } from "../helpers/stacks";

/** `npm run plan -- <args>` as a platform engineer runs it (same node arguments as the npm script). */
function plan(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--conditions=@smart-factory/source", "--import", "tsx", path.join(REPO_ROOT, "infra", "plan.ts"), ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("npm run plan: a stack previewed offline", function () {
  this.timeout(60_000);

  it("prints factory A as a tree of components and resources, and counts per type", async () => {
    const text = formatPlan(await renderStack("factory-a", readStackConfig("factory-a")));
    assert.match(text, /^Plan for stack factory-a \(eu-central-1\): \d+ cloud resources/);
    for (const component of ["smart-factory:keys:Keys keys", "smart-factory:telemetry:TelemetryStore telemetry", "smart-factory:devices:DeviceFleet fleet", "smart-factory:twin:DigitalTwin twin", "smart-factory:ingestion:Ingestion ingest"]) {
      assert.match(text, new RegExp(`^[├└]─ ${component.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"), component);
    }
    assert.match(text, /│ {2}[├└]─ aws:timestreamwrite\/table:Table telemetry {2}"telemetry" {2}memoryHours=\d+ {2}magneticDays=\d+ {2}magneticWrites=true {2}\[protected, retained on delete\]/);
    assert.match(text, /aws:iot\/thingPrincipalAttachment:ThingPrincipalAttachment fleet-gw-press {2}type=EXCLUSIVE_THING/);
    // 24 machines + 3 lines + the factory
    assert.match(text, /^ {2}aws-native:iotsitewise:Asset +28$/m);
    assert.match(text, /^ {2}aws:iot\/thing:Thing +2$/m);
  });

  it("runs from the command line, and --json gives the resources as data", () => {
    const result = plan("factory-c", "--json");
    assert.equal(result.status, 0, result.stderr);
    const parsed = JSON.parse(result.stdout) as { stack: string; resources: { type: string }[]; exports: { bootstrap: { roleAlias: string } } };
    assert.equal(parsed.stack, "factory-c");
    assert.equal(parsed.exports.bootstrap.roleAlias, "factory-c-token-exchange");
    assert.equal(parsed.resources.filter((r) => r.type === "aws:iot/thing:Thing").length, 2);
  });

  it("an unknown stack, or none, is a clear error with the stacks there are", () => {
    const unknown = plan("factory-x");
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no stack "factory-x": there is no Pulumi\.factory-x\.yaml \(stacks: factory-a, factory-b, factory-c\)/);
    const none = plan();
    assert.equal(none.status, 2);
    assert.match(none.stderr, /usage: npm run plan -- <stack>/);
  });
});
