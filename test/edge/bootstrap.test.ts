import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";
import { bootstrapScript, type BootstrapOutputs } from "../../edge/bootstrap";
import { readStackConfig, renderStack, REPO_ROOT } from "../helpers/stacks";

describe("edge bootstrap: the gateway's Greengrass install, scripted from the stack outputs", function () {
  this.timeout(60_000);
  let outputs: BootstrapOutputs;
  before(async () => {
    outputs = (await renderStack("factory-a", readStackConfig("factory-a"))).exports.bootstrap as BootstrapOutputs;
  });

  it("writes the issued certificate and the nucleus config with the stack's endpoints, role alias and thing name", () => {
    const script = bootstrapScript(outputs, "gw-press");
    assert.match(script, /^#!\/usr\/bin\/env bash\n/);
    assert.match(script, /set -euo pipefail/);
    assert.match(script, /thingName: "factory-a-gw-press"/);
    assert.match(script, new RegExp(`iotDataEndpoint: "${outputs.iotDataEndpoint.replace(/\./g, "\\.")}"`));
    assert.match(script, new RegExp(`iotCredEndpoint: "${outputs.iotCredentialEndpoint.replace(/\./g, "\\.")}"`));
    assert.match(script, /iotRoleAlias: "factory-a-token-exchange"/);
    assert.match(script, /awsRegion: "eu-central-1"/);
    assert.ok(script.includes(outputs.gateways["gw-press"]?.certificatePem?.trim() ?? "missing"));
    assert.doesNotMatch(script, /PRIVATE KEY/, "the private key never travels");
    assert.match(script, /missing \$root\/privKey\.key/);
    execFileSync("bash", ["-n"], { input: script }); // valid shell
  });

  it("refuses an unknown gateway, or one without a certificate, naming it", () => {
    assert.throws(() => bootstrapScript(outputs, "gw-paint"), /no gateway "gw-paint" in the stack outputs \(gateways: gw-press, gw-cnc\)/);
    const pending = { ...outputs, gateways: { ...outputs.gateways, "gw-cnc": { thingName: "factory-a-gw-cnc", certificatePem: null } } };
    assert.throws(() => bootstrapScript(pending, "gw-cnc"), /gateway gw-cnc has no certificate yet: put its CSR in smart-factory:gateways\[\]\.csr/);
    assert.throws(() => bootstrapScript({ ...outputs, roleAlias: "x; rm -rf /" }, "gw-press"), /roleAlias "x; rm -rf \/" has characters a shell script must not take literally/);
  });

  it("runs as npm run edge:bootstrap, reading the outputs on stdin", () => {
    const result = spawnSync(process.execPath, ["--conditions=@smart-factory/source", "--import", "tsx", path.join(REPO_ROOT, "edge", "bootstrap.ts"), "gw-cnc"], {
      input: JSON.stringify(outputs),
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /thingName: "factory-a-gw-cnc"/);
  });
});
