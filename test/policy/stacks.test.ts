import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import type { PlannedResource, RenderedStack } from "../../infra/offline";
import { checkStack, formatReports } from "../../infra/policy/engine";
import { POLICIES } from "../../infra/policy/policies";
import { readStackConfig, renderStack, REPO_ROOT, stackNames } from "../helpers/stacks";

describe("policy pack over the three stacks", function () {
  this.timeout(60_000);
  const rendered = new Map<string, RenderedStack>();
  before(async () => {
    for (const stack of stackNames()) rendered.set(stack, await renderStack(stack, readStackConfig(stack)));
  });

  it("every stack passes every mandatory rule", async () => {
    for (const [stack, r] of rendered) {
      const report = await checkStack(r, POLICIES);
      const mandatory = report.results.filter((x) => x.enforcementLevel === "mandatory").flatMap((x) => x.violations);
      assert.deepEqual(mandatory.map((v) => `${v.policy}: ${v.message}`), [], stack);
      assert.equal(report.failed, false);
    }
  });

  it("says that factory C runs without a VPC, as an advisory", async () => {
    const report = await checkStack(rendered.get("factory-c")!, POLICIES);
    const notice = report.results.find((x) => x.policy === "vpc-disabled-notice");
    assert.ok(notice);
    assert.equal(notice.violations.length, 1);
    assert.match(notice.violations[0]?.message ?? "", /VPC is disabled by config/);
    const a = await checkStack(rendered.get("factory-a")!, POLICIES);
    assert.equal(a.results.find((x) => x.policy === "vpc-disabled-notice")?.violations.length, 0);
  });

  it("a role allowing s3:* injected into a rendered stack is reported and fails the stack", async () => {
    const r = rendered.get("factory-a")!;
    const bad: PlannedResource = {
      ...r.resources.find((x) => x.type === "aws:iam/rolePolicy:RolePolicy")!,
      urn: "urn:pulumi:factory-a::smart-factory::aws:iam/rolePolicy:RolePolicy::injected",
      name: "injected",
      inputs: { role: "x", policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "Everything", Effect: "Allow", Action: ["s3:*"], Resource: ["*"] }] }) },
    };
    const report = await checkStack({ ...r, resources: [...r.resources, bad] }, POLICIES);
    assert.equal(report.failed, true);
    const found = report.results.flatMap((x) => x.violations).filter((v) => v.resourceName === "injected");
    assert.deepEqual(found.map((v) => v.policy).sort(), ["iam-no-wildcard-actions", "iam-wildcard-resources-allow-list"]);
    assert.match(found.find((v) => v.policy === "iam-no-wildcard-actions")?.message ?? "", /statement Everything allows wildcard action\(s\) s3:\*/);
    const table = formatReports([report]);
    assert.match(table, /^iam-no-wildcard-actions \(mandatory\) +1 violation/m);
    assert.match(table, /factory-a {2}FAIL {2}iam-no-wildcard-actions: aws:iam\/rolePolicy:RolePolicy injected: policy statement Everything allows wildcard action/);
  });

  it("npm run policy prints the table for every stack and exits 0", () => {
    const result = spawnSync(process.execPath, ["--conditions=@smart-factory/source", "--import", "tsx", path.join(REPO_ROOT, "infra", "policy", "run.ts")], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /^rule +factory-a +factory-b +factory-c/m);
    for (const rule of POLICIES) assert.match(result.stdout, new RegExp(`^${rule.name} \\(${rule.enforcementLevel ?? ""}\\)`, "m"));
    assert.match(result.stdout, /all 3 stack\(s\) pass every mandatory rule/);
  });

  it("the pack is ready for the CLI: PulumiPolicy.yaml runs index.ts through tsx like the program", () => {
    const dir = path.join(REPO_ROOT, "infra", "policy");
    const yaml = parse(fs.readFileSync(path.join(dir, "PulumiPolicy.yaml"), "utf8")) as { runtime: { name: string; options: { nodeargs: string } } };
    const project = parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as { runtime: { options: { nodeargs: string } } };
    assert.equal(yaml.runtime.name, "nodejs");
    assert.equal(yaml.runtime.options.nodeargs, project.runtime.options.nodeargs);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { main: string };
    assert.ok(fs.existsSync(path.join(dir, pkg.main)));
    assert.match(fs.readFileSync(path.join(dir, pkg.main), "utf8"), /new PolicyPack\("smart-factory", \{[\s\S]*policies: \[\.\.\.POLICIES\]/);
  });
});
