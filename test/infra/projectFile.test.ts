import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { engineConfig, readStackConfig, REPO_ROOT } from "../helpers/stacks";

interface ProjectFile {
  name: string;
  main: string;
  runtime: { name: string; options: { typescript: boolean; nodeargs: string } };
}

describe("Pulumi.yaml", () => {
  const project = parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as ProjectFile;

  it("names the project smart-factory, a nodejs program with main infra/index.ts", () => {
    assert.equal(project.name, "smart-factory");
    assert.equal(project.runtime.name, "nodejs");
    assert.equal(project.main, "infra/index.ts");
  });

  it("lets the Pulumi runtime load the program with its nodeargs, as `pulumi up` would", () => {
    const stack = "factory-b";
    const output = execFileSync(process.execPath, [...project.runtime.options.nodeargs.split(/\s+/), path.join(__dirname, "..", "helpers", "runWithNodeArgs.cjs")], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "", SF_TEST_STACK: stack, SF_TEST_MAIN: project.main, SF_TEST_CONFIG: JSON.stringify(engineConfig(readStackConfig(stack))) },
    });
    const { exports, sdk } = JSON.parse(output) as { exports: { factory: { factoryId: string; counts: { machines: number } } }; sdk: string };
    assert.equal(exports.factory.factoryId, stack);
    assert.equal(exports.factory.counts.machines, 16);
    // The SDK comes from its sources, not from a dist/ that may be stale or missing.
    assert.equal(path.relative(REPO_ROOT, sdk), path.join("sdk", "src", "index.ts"));
  });
});
