import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkStack } from "../../infra/policy/engine";
import { POLICIES } from "../../infra/policy/policies";
import { readStackConfig, renderStack, type RenderedStack, ofType } from "../helpers/stacks";

interface Recipe {
  ComponentName: string;
  ComponentVersion: string;
  ComponentConfiguration: { DefaultConfiguration: { factory: { factory: { id: string } }; agent: { iotEndpoint: string; buffer: { path: string } } } };
  Manifests: { Platform: { os: string; architecture: string }; Lifecycle: { Run: { Script: string } }; Artifacts: { URI: string; Digest: string; Unarchive: string }[] }[];
}

/** Fake packaged agents (`npm run edge:package` output) in a temporary directory. */
function artifacts(contents: Record<"x64" | "arm64", string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sf-artifacts-"));
  for (const [arch, content] of Object.entries(contents)) {
    const file = path.join(dir, `edge-agent-linux-${arch}.zip`);
    fs.writeFileSync(file, content);
    const sha256 = crypto.createHash("sha256").update(content).digest("hex");
    fs.writeFileSync(path.join(dir, `edge-agent-linux-${arch}.json`), JSON.stringify({ file, sha256, bytes: content.length, arch, platform: "linux", entry: "edge-agent/main.js", nodeAbi: "115" }));
  }
  return dir;
}

async function renderWith(dir: string | undefined, stack = "factory-a", extra: Record<string, unknown> = {}): Promise<RenderedStack> {
  const saved = process.env.SF_EDGE_ARTIFACT_DIR;
  process.env.SF_EDGE_ARTIFACT_DIR = dir ?? path.join(os.tmpdir(), "sf-no-artifacts-here");
  try {
    return await renderStack(stack, { ...readStackConfig(stack), ...extra });
  } finally {
    if (saved === undefined) delete process.env.SF_EDGE_ARTIFACT_DIR;
    else process.env.SF_EDGE_ARTIFACT_DIR = saved;
  }
}

const recipeOf = (r: RenderedStack): Recipe => JSON.parse(String(ofType(r, "aws-native:greengrassv2:ComponentVersion")[0]?.inputs.inlineRecipe)) as Recipe;

describe("infra: EdgeRuntime, the agent as a Greengrass component deployed to the factory's gateways", function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("uploads each packaged agent under its content address and deploys a version derived from the content", async () => {
    const dir = artifacts({ x64: "agent for x64", arm64: "agent for arm64" });
    dirs.push(dir);
    const r = await renderWith(dir);
    const recipe = recipeOf(r);
    assert.equal(recipe.ComponentName, "factory-a.smartfactory.EdgeAgent");
    assert.match(recipe.ComponentVersion, /^1\.0\.\d+$/);
    const bucket = ofType(r, "aws:s3/bucket:Bucket").find((b) => String(b.inputs.bucket).startsWith("factory-a-edge-artifacts-"));
    assert.ok(bucket?.protect);
    const objects = ofType(r, "aws:s3/bucketObjectv2:BucketObjectv2").filter((o) => o.inputs.bucket === bucket.state.bucket);
    assert.deepEqual(objects.map((o) => String(o.inputs.key)).sort(), ["arm64", "x64"].map((arch) => `edge-agent/${crypto.createHash("sha256").update(`agent for ${arch}`).digest("hex")}/edge-agent-linux-${arch}.zip`).sort());
    assert.deepEqual(recipe.Manifests.map((m) => m.Platform.architecture).sort(), ["aarch64", "amd64"]);
    for (const m of recipe.Manifests) {
      const artifact = m.Artifacts[0];
      assert.ok(artifact);
      assert.match(artifact.URI, new RegExp(`^s3://${String(bucket.inputs.bucket)}/edge-agent/[0-9a-f]{64}/edge-agent-linux-(x64|arm64)\\.zip$`));
      assert.equal(artifact.Unarchive, "ZIP");
      assert.match(m.Lifecycle.Run.Script, /^node --enable-source-maps \{artifacts:decompressedPath\}\/edge-agent-linux-(x64|arm64)\/edge-agent\/main\.js$/);
      // the configuration travels over IPC, not in the environment (a large factory's passes 128 KiB)
      assert.equal((m.Lifecycle as { Setenv?: unknown }).Setenv, undefined);
      assert.match(String((m.Lifecycle as { Install?: { Script: string } }).Install?.Script), /process\.versions\.modules === '115'/, "the install step checks the native addons' Node ABI");
    }
    const defaults = recipe.ComponentConfiguration.DefaultConfiguration;
    assert.equal(defaults.factory.factory.id, "factory-a");
    assert.equal(defaults.agent.iotEndpoint, (r.exports.bootstrap as { iotDataEndpoint: string }).iotDataEndpoint);
    const [deployment] = ofType(r, "aws-native:greengrassv2:Deployment");
    const group = ofType(r, "aws:iot/thingGroup:ThingGroup")[0];
    assert.equal(deployment?.inputs.targetArn, group?.state.arn);
    assert.deepEqual(deployment?.inputs.components, { [recipe.ComponentName]: { componentVersion: recipe.ComponentVersion } }, "no secret manager without edge secrets");
    assert.equal((recipe as unknown as { ComponentDependencies: Record<string, unknown> }).ComponentDependencies["aws.greengrass.SecretManager"], undefined);
    // the gateways may read exactly the agent's artifacts
    const grant = ofType(r, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "edge-artifacts");
    const statements = (JSON.parse(String(grant?.inputs.policy)) as { Statement: { Action: string[]; Resource: string[] }[] }).Statement;
    const download = statements[0];
    assert.ok(download);
    assert.deepEqual(download.Action, ["s3:GetObject"]);
    assert.deepEqual(download.Resource, [`${String(bucket.state.arn)}/edge-agent/*`]);
    assert.equal(grant?.inputs.role, "factory-a-token-exchange");
    const report = await checkStack(r, POLICIES);
    assert.equal(report.failed, false, JSON.stringify(report.results.flatMap((x) => x.violations.filter((v) => v.enforcementLevel === "mandatory"))));
  });

  it("with edge secrets: installs the secret manager syncing exactly them, and lets the role and the agent read exactly them", async () => {
    const dir = artifacts({ x64: "agent for x64", arm64: "agent for arm64" });
    dirs.push(dir);
    const identity = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:factory-a/opcua-client-AbCdEf";
    const credentials = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:factory-a/plc-user-GhIjKl";
    const key = "arn:aws:kms:eu-central-1:123456789012:key/0b3f6f5e-5a1c-4c55-9d0e-2f3a4b5c6d7e";
    const r = await renderWith(dir, "factory-a", { "smart-factory:edge": { secrets: { opcuaClientIdentity: identity, plcCredentials: credentials, kmsKeyArn: key } } });
    const recipe = recipeOf(r) as unknown as Recipe & {
      ComponentDependencies: Record<string, { VersionRequirement: string; DependencyType: string }>;
      ComponentConfiguration: { DefaultConfiguration: { accessControl: Record<string, Record<string, { operations: string[]; resources: string[] }>> } };
    };
    assert.deepEqual(recipe.ComponentDependencies["aws.greengrass.SecretManager"], { VersionRequirement: "^2.1.0", DependencyType: "HARD" });
    assert.deepEqual(recipe.ComponentConfiguration.DefaultConfiguration.accessControl, {
      "aws.greengrass.SecretManager": {
        "factory-a.smartfactory.EdgeAgent:secrets:1": {
          policyDescription: "The edge agent reads its OPC UA client identity and PLC credentials (edge.secrets of the stack), and no other secret",
          operations: ["aws.greengrass#GetSecretValue"],
          resources: [identity, credentials],
        },
      },
    });
    const components = ofType(r, "aws-native:greengrassv2:Deployment")[0]?.inputs.components as Record<string, { componentVersion: string; configurationUpdate?: { merge: string } }>;
    assert.deepEqual(Object.keys(components).sort(), ["aws.greengrass.SecretManager", recipe.ComponentName]);
    const secretManager = components["aws.greengrass.SecretManager"];
    assert.ok(secretManager);
    assert.equal(secretManager.componentVersion, "2.1.7");
    assert.deepEqual(JSON.parse(secretManager.configurationUpdate?.merge ?? "{}"), { cloudSecrets: [{ arn: identity }, { arn: credentials }] });
    const grant = ofType(r, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === "edge-secrets");
    assert.ok(grant);
    assert.equal(grant.inputs.role, "factory-a-token-exchange");
    assert.deepEqual((JSON.parse(String(grant.inputs.policy)) as { Statement: unknown[] }).Statement, [
      { Sid: "ReadEdgeSecrets", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [identity, credentials] },
      { Sid: "DecryptEdgeSecrets", Effect: "Allow", Action: ["kms:Decrypt"], Resource: [key], Condition: { StringEquals: { "kms:ViaService": "secretsmanager.eu-central-1.amazonaws.com" } } },
    ]);
    const report = await checkStack(r, POLICIES);
    assert.equal(report.failed, false, JSON.stringify(report.results.flatMap((x) => x.violations.filter((v) => v.enforcementLevel === "mandatory"))));
  });

  it("the same content gives the same version; new content a new one", async () => {
    const a = artifacts({ x64: "build 1", arm64: "build 1 arm" });
    const b = artifacts({ x64: "build 1", arm64: "build 1 arm" });
    const c = artifacts({ x64: "build 2", arm64: "build 1 arm" });
    dirs.push(a, b, c);
    const [va, vb, vc] = [recipeOf(await renderWith(a)).ComponentVersion, recipeOf(await renderWith(b)).ComponentVersion, recipeOf(await renderWith(c)).ComponentVersion];
    assert.equal(va, vb);
    assert.notEqual(va, vc);
  });

  it("without a packaged agent the stack deploys no component and says how to make one", async () => {
    const r = await renderWith(undefined, "factory-c");
    assert.equal(ofType(r, "aws-native:greengrassv2:ComponentVersion").length, 0);
    assert.match((r.exports.edgeAgent as { status: string }).status, /npm run edge:package/);
  });
});
