import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { REPO_ROOT, stackNames } from "../helpers/stacks";

interface Step {
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  jobs: Record<string, { "runs-on": string; steps: Step[]; strategy?: { matrix: Record<string, string[]> } }>;
}

const read = (file: string): Workflow => parse(fs.readFileSync(path.join(REPO_ROOT, ".github", "workflows", file), "utf8")) as Workflow;
const scripts = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

/** Every command a workflow runs that refers to this repository must exist: npm scripts, files. */
function checkCommands(workflow: Workflow): string[] {
  const runs = Object.values(workflow.jobs).flatMap((job) => job.steps.flatMap((s) => (s.run === undefined ? [] : [s.run])));
  for (const run of runs) {
    for (const match of run.matchAll(/npm run ([\w:-]+)/g)) assert.ok(scripts[match[1]!] !== undefined, `npm script ${match[1]} exists`);
    for (const match of run.matchAll(/bash (\S+)/g)) assert.ok(fs.existsSync(path.join(REPO_ROOT, match[1]!)), `${match[1]} exists`);
  }
  return runs;
}

describe("the team's GitHub Actions workflows", () => {
  it("ci: on pull requests, runs .ci/run (which runs the tests, the date check and npm run policy)", () => {
    const ci = read("ci.yml");
    assert.ok("pull_request" in ci.on);
    const runs = checkCommands(ci);
    assert.ok(runs.includes("bash .ci/run"));
    const ciRun = fs.readFileSync(path.join(REPO_ROOT, ".ci", "run"), "utf8");
    for (const command of ["npm ci", "npm run typecheck", "npm run lint", "npm test", "npm run test:dates", "npm run policy"]) assert.ok(ciRun.includes(command), `.ci/run runs ${command}`);
  });

  it("ci: previews every factory stack with the policy pack, only where credentials exist", () => {
    const preview = read("ci.yml").jobs.preview!;
    assert.deepEqual(preview.strategy?.matrix.stack, stackNames());
    const command = preview.steps.find((s) => s.run?.startsWith("pulumi preview"));
    assert.match(command?.run ?? "", /--stack \$\{\{ matrix\.stack \}\} --policy-pack infra\/policy/);
    assert.equal(command?.if, "env.HAS_CREDENTIALS == 'true'");
    assert.ok(fs.existsSync(path.join(REPO_ROOT, "infra", "policy", "PulumiPolicy.yaml")));
  });

  it("ci: packages the edge agent on a runner of each gateway architecture, and the preview deploys those artifacts", () => {
    const ci = read("ci.yml");
    const job = ci.jobs["edge-package"] as unknown as { strategy: { matrix: { include: { arch: string; runner: string }[] } }; steps: Step[] };
    assert.deepEqual(job.strategy.matrix.include.map((m) => m.arch).sort(), ["arm64", "x64"]);
    assert.ok(job.steps.some((s) => s.run === "npm run edge:package -- --arch ${{ matrix.arch }}"));
    assert.ok(scripts["edge:package"] !== undefined);
    const download = ci.jobs.preview!.steps.find((s) => s.uses?.startsWith("actions/download-artifact"));
    assert.equal(download?.with?.path, "edge/dist/", "where infra/components/edgeRuntime.ts looks for them");
  });

  it("release: publishes the SDK workspace on an sdk-v* tag that matches its version, after the checks", () => {
    const release = read("release.yml");
    assert.deepEqual((release.on.push as { tags: string[] }).tags, ["sdk-v*"]);
    const runs = checkCommands(release);
    const publish = runs.findIndex((r) => r.startsWith("npm publish --workspace sdk"));
    assert.ok(publish > runs.indexOf("bash .ci/run"), "publishes after .ci/run passes");
    assert.ok(runs.some((r) => r.includes('require("./sdk/package.json").version')));
  });
});
