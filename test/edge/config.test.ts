import { strict as assert } from "node:assert";
import { AgentConfigError, CONFIG_ENV, loadAgentPlan, loadGatewayPlan, planGateway, THING_NAME_ENV } from "../../edge/src/config";
import { IpcError } from "../../edge/src/ipc";
import { agentDocument as document } from "../helpers/agentConfig";
import { startFakeNucleusIpc } from "../helpers/greengrassIpc";

describe("edge/src/config.ts: one deployment, each gateway picks its own machines", () => {
  it("selects the gateway by thing name, with its lines' machines and the agent's client id", () => {
    const body = planGateway(document(), "factory-c-gw-body");
    assert.equal(body.gateway.id, "gw-body");
    assert.equal(body.clientId, "factory-c-gw-body-agent");
    assert.deepEqual([...new Set(body.machines.map((m) => m.line.id))], ["body-assembly"]);
    assert.equal(body.machines.length, 5);
    const final = planGateway(document(), "factory-c-gw-final");
    assert.deepEqual([...new Set(final.machines.map((m) => m.line.id))], ["final-assembly", "end-of-line"]);
    assert.equal(final.machines.length + body.machines.length, 12, "every machine is served by exactly one gateway");
  });

  it("an unknown thing name stops the agent, naming it and the gateways there are", () => {
    assert.throws(() => planGateway(document(), "factory-c-gw-paint"), (e: unknown) => e instanceof AgentConfigError && /AWS_IOT_THING_NAME "factory-c-gw-paint" is no gateway of factory-c \(its gateways are factory-c-gw-body, factory-c-gw-final\)/.test(e.message));
  });

  it("a bad key stops the agent with the key's path and value", () => {
    const bad = document();
    bad.agent.buffer.maxBytes = 10;
    bad.agent.buffer.onOverflow = "dropNewest";
    bad.factory.lines[0].machines[1].idealRunRate = -3;
    assert.throws(
      () => planGateway(bad, "factory-c-gw-body"),
      (e: unknown) =>
        e instanceof AgentConfigError &&
        /agent\.buffer\.maxBytes: expected a whole number from 1048576 to 1099511627776, got 10/.test(e.message) &&
        /agent\.buffer\.onOverflow: expected an overflow policy .*got "dropNewest"/.test(e.message) &&
        /factory\.lines\[0\]\.machines\[1\]\.idealRunRate: expected .*got -3/.test(e.message),
    );
  });

  it("refuses secret values in the configuration: only Secrets Manager ARNs, in the stack's region", () => {
    const leaky = document();
    leaky.factory.edge = { secrets: { opcuaClientIdentity: "arn:aws:secretsmanager:us-east-1:123456789012:secret:factory-c/opcua-AbCdEf", privateKey: "-----BEGIN PRIVATE KEY-----..." } };
    assert.throws(() => planGateway(leaky, "factory-c-gw-body"), /factory\.edge\.secrets\.privateKey: expected .*no key "privateKey" here \(allowed: opcuaClientIdentity, plcCredentials, kmsKeyArn\)/);
    const plain = document();
    plain.factory.edge = { secrets: { plcCredentials: "admin:admin" } };
    assert.throws(() => planGateway(plain, "factory-c-gw-body"), /factory\.edge\.secrets\.plcCredentials: expected a Secrets Manager secret ARN/);
    const elsewhere = document();
    elsewhere.factory.edge = { secrets: { plcCredentials: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:factory-c/plc-AbCdEf" } };
    assert.throws(() => planGateway(elsewhere, "factory-c-gw-body"), /factory\.edge\.secrets\.plcCredentials: expected an ARN in the stack's region us-east-1/);
    const agentSecrets = document();
    agentSecrets.agent.secrets = {};
    assert.throws(() => planGateway(agentSecrets, "factory-c-gw-body"), /agent\.secrets: expected .*no key "secrets" here/);
  });

  it("loads from the Greengrass environment, or from --config and --thing for a local run", () => {
    const json = JSON.stringify(document());
    const fromGreengrass = loadGatewayPlan({ argv: [], env: { [CONFIG_ENV]: json, [THING_NAME_ENV]: "factory-c-gw-final" } });
    assert.equal(fromGreengrass.gateway.id, "gw-final");
    const local = loadGatewayPlan({ argv: ["--config", "/etc/agent.json", "--thing", "factory-c-gw-body"], env: {}, readFile: (p) => (p === "/etc/agent.json" ? json : "") });
    assert.equal(local.gateway.id, "gw-body");
    assert.throws(() => loadGatewayPlan({ argv: [], env: {} }), /no configuration: pass --config <file> \(or set SF_AGENT_CONFIG\), or run as the Greengrass component, which reads its configuration over IPC/);
    assert.throws(() => loadGatewayPlan({ argv: [], env: { [CONFIG_ENV]: json } }), /no thing name: AWS_IOT_THING_NAME is not set/);
    assert.throws(() => loadGatewayPlan({ argv: [], env: { [CONFIG_ENV]: "{factory:", [THING_NAME_ENV]: "x" } }), /SF_AGENT_CONFIG is not JSON/);
    assert.throws(() => loadGatewayPlan({ argv: ["--config", "/missing.json"], env: {}, readFile: () => { throw new Error("ENOENT: no such file"); } }), /cannot read --config \/missing\.json: ENOENT/);
  });

  describe("under Greengrass: the component configuration over IPC", () => {
    /** factory-c with each machine repeated `copies` times (new ids), as a large factory's document. */
    function largeDocument(copies: number): Record<string, any> {
      const doc = document();
      for (const line of doc.factory.lines) {
        line.machines = line.machines.flatMap((m: Record<string, any>) => Array.from({ length: copies }, (_, i) => ({ ...m, id: i === 0 ? m.id : `${String(m.id).slice(0, 24)}-${i}` })));
      }
      return doc;
    }

    it("reads factory and agent from GetConfiguration, however large the factory (an environment string stops at 128 KiB)", async () => {
      const ipc = await startFakeNucleusIpc();
      try {
        const doc = largeDocument(42);
        ipc.configuration = { ...doc, accessControl: { "aws.greengrass.SecretManager": {} } };
        const bytes = JSON.stringify(doc).length;
        assert.ok(bytes > 128 * 1024, `${bytes} bytes`); // 504 machines: about 250 KB
        const plan = await loadAgentPlan({ argv: [], env: { ...ipc.env(), [THING_NAME_ENV]: "factory-c-gw-body" } });
        assert.equal(plan.machines.length, 5 * 42);
        assert.equal(plan.thingName, "factory-c-gw-body");
        assert.deepEqual(ipc.calls.map((c) => c.operation), ["aws.greengrass#GetConfiguration"]);
        // a file or SF_AGENT_CONFIG given explicitly still wins (local runs next to a nucleus)
        const local = await loadAgentPlan({ argv: ["--config", "/etc/agent.json", "--thing", "factory-c-gw-final"], env: ipc.env(), readFile: () => JSON.stringify(document()) });
        assert.equal(local.gateway.id, "gw-final");
        assert.equal(ipc.calls.length, 1);
      } finally {
        await ipc.stop();
      }
    });

    it("stops with exit-2 errors for a bad configuration, and an IPC error (restart may help) when the nucleus cannot be asked", async () => {
      const ipc = await startFakeNucleusIpc();
      try {
        const bad = document();
        bad.agent.buffer.onOverflow = "dropNewest";
        ipc.configuration = bad;
        await assert.rejects(loadAgentPlan({ argv: [], env: { ...ipc.env(), [THING_NAME_ENV]: "factory-c-gw-body" } }), (e: unknown) => e instanceof AgentConfigError && /agent\.buffer\.onOverflow: expected an overflow policy/.test(e.message));
        ipc.configuration = document();
        await assert.rejects(loadAgentPlan({ argv: [], env: ipc.env() }), (e: unknown) => e instanceof AgentConfigError && /no thing name: AWS_IOT_THING_NAME is not set/.test(e.message));
        await assert.rejects(
          loadAgentPlan({ argv: [], env: { ...ipc.env(), SVCUID: "wrong", [THING_NAME_ENV]: "factory-c-gw-body" } }),
          (e: unknown) => e instanceof IpcError && e.retryable && /refused the agent's IPC connection/.test(e.message),
        );
      } finally {
        await ipc.stop();
      }
      await assert.rejects(loadAgentPlan({ argv: [], env: {} }), (e: unknown) => e instanceof AgentConfigError && /^no configuration: pass --config <file> \(or set SF_AGENT_CONFIG\), or run as the Greengrass component/.test(e.message));
    });
  });
});
