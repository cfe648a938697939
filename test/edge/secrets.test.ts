import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { opcuaAdapter } from "../../edge/src/agent";
import { planGateway, type GatewayPlan } from "../../edge/src/config";
import { Intake } from "../../edge/src/intake";
import { GreengrassIpc } from "../../edge/src/ipc";
import { greengrassSecretReader, parseClientIdentity, parsePlcCredentials, readAgentSecrets, SecretError } from "../../edge/src/secrets";
import { openStore } from "../../edge/src/store";
import { agentDocument } from "../helpers/agentConfig";
import { startFakeNucleusIpc, type FakeNucleusIpc } from "../helpers/greengrassIpc";
import { openssl } from "../helpers/mosquitto";
import { startPlcServer, type PlcServer } from "../helpers/opcuaServer";
import { Teardown } from "../helpers/teardown";
import { until } from "../helpers/until";

const REGION = "eu-central-1";
const IDENTITY_ARN = `arn:aws:secretsmanager:${REGION}:123456789012:secret:factory-a/opcua-client-AbCdEf`;
const CREDENTIALS_ARN = `arn:aws:secretsmanager:${REGION}:123456789012:secret:factory-a/plc-user-GhIjKl`;

/** An OPC UA application instance certificate (RSA, SAN URI and host) and its key, made by openssl in `dir`. */
function makeClientIdentity(dir: string, name: string, uri: string): { certificate: string; privateKey: string; certificateFile: string } {
  fs.writeFileSync(
    path.join(dir, `${name}.cnf`),
    [
      "[req]",
      "distinguished_name = dn",
      "x509_extensions = ext",
      "prompt = no",
      "[dn]",
      `CN = ${name}`,
      "O = Global Manufacturing Inc.",
      "[ext]",
      `subjectAltName = URI:${uri}, DNS:localhost`,
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment",
      "extendedKeyUsage = clientAuth, serverAuth",
      "subjectKeyIdentifier = hash",
      "",
    ].join("\n"),
  );
  openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30", "-config", `${name}.cnf`, "-keyout", `${name}.key`, "-out", `${name}.crt`]);
  return { certificate: fs.readFileSync(path.join(dir, `${name}.crt`), "utf8"), privateKey: fs.readFileSync(path.join(dir, `${name}.key`), "utf8"), certificateFile: path.join(dir, `${name}.crt`) };
}



describe("edge secrets through Greengrass's secret manager", function () {
  this.timeout(60_000);
  let dir: string;
  let ipc: FakeNucleusIpc;
  let identity: ReturnType<typeof makeClientIdentity>;
  let other: ReturnType<typeof makeClientIdentity>;

  const teardown = new Teardown();

  before(async () => {
    dir = teardown.directory("sf-secrets-");
    identity = makeClientIdentity(dir, "agent", "urn:smart-factory:factory-a:gw-press:edge-agent");
    other = makeClientIdentity(dir, "other", "urn:smart-factory:other");
    ipc = teardown.add("the fake nucleus", await startFakeNucleusIpc(), (n) => n.stop());
  });
  after(() => teardown.run());

  describe("the IPC reader (aws-iot-device-sdk-v2 over the nucleus's domain socket)", () => {
    it("reads a secret's string with the component's token", async () => {
      ipc.secrets.set(CREDENTIALS_ARN, JSON.stringify({ username: "sf-agent", password: "s3cret!" }));
      const reader = greengrassSecretReader(new GreengrassIpc(ipc.env()));
      try {
        assert.equal(await reader.read(CREDENTIALS_ARN), '{"username":"sf-agent","password":"s3cret!"}');
        assert.equal(await reader.read(CREDENTIALS_ARN), '{"username":"sf-agent","password":"s3cret!"}', "a second read on the same connection");
      } finally {
        await reader.close();
      }
      assert.deepEqual(ipc.calls.slice(-2), [
        { operation: "aws.greengrass#GetSecretValue", secretId: CREDENTIALS_ARN },
        { operation: "aws.greengrass#GetSecretValue", secretId: CREDENTIALS_ARN },
      ]);
    });

    it("says why a secret cannot be read: not authorised (final), not synced yet (retry), wrong token, no Greengrass", async () => {
      const reader = greengrassSecretReader(new GreengrassIpc(ipc.env()));
      try {
        ipc.denied.add(IDENTITY_ARN);
        await assert.rejects(reader.read(IDENTITY_ARN), (e: unknown) => e instanceof SecretError && !e.retryable && e.secretId === IDENTITY_ARN && /may not read secret .*accessControl for aws\.greengrass\.SecretManager does not list it/.test(e.message));
        ipc.denied.delete(IDENTITY_ARN);
        await assert.rejects(reader.read(IDENTITY_ARN), (e: unknown) => e instanceof SecretError && e.retryable && /is not on this gateway yet: Greengrass's secret manager syncs/.test(e.message));
      } finally {
        await reader.close();
      }
      const impostor = greengrassSecretReader(new GreengrassIpc({ ...ipc.env(), SVCUID: "stolen" }));
      await assert.rejects(impostor.read(CREDENTIALS_ARN), (e: unknown) => e instanceof SecretError && /refused the agent's IPC connection .*during the handshake: its SVCUID token was not accepted/.test(e.message));
      await impostor.close();
      assert.ok(ipc.refusedConnects >= 1);
      const local = greengrassSecretReader(new GreengrassIpc({}));
      await assert.rejects(local.read(CREDENTIALS_ARN), (e: unknown) => e instanceof SecretError && !e.retryable && /edge\.secrets are configured but the agent does not run under Greengrass \(AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT and SVCUID are not set\): secrets are read through Greengrass's secret manager only/.test(e.message));
      const gone = greengrassSecretReader(new GreengrassIpc({ ...ipc.env(), AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT: path.join(dir, "no-such.socket") }));
      await assert.rejects(gone.read(CREDENTIALS_ARN), (e: unknown) => e instanceof SecretError && e.retryable && /cannot reach the Greengrass nucleus's IPC at .*no-such\.socket/.test(e.message));
    });
  });

  describe("secret contents", () => {
    it("accepts a matching certificate and key and takes the application URI from the certificate", () => {
      const parsed = parseClientIdentity(IDENTITY_ARN, JSON.stringify({ certificate: identity.certificate, privateKey: identity.privateKey }));
      assert.equal(parsed.applicationUri, "urn:smart-factory:factory-a:gw-press:edge-agent");
      assert.deepEqual(parsePlcCredentials(CREDENTIALS_ARN, '{"username":"op","password":""}'), { username: "op", password: "" });
    });

    it("names the secret and the field of a bad secret, and never shows its value", () => {
      const cases: [string, RegExp][] = [
        ["-----BEGIN PRIVATE KEY-----\nnot json", /secret .*opcua-client-AbCdEf: expected a JSON object \{"certificate": "<PEM>", "privateKey": "<PEM>"\}, got \d+ characters that are not JSON/],
        [JSON.stringify({ certificate: identity.certificate }), /: privateKey: expected an unencrypted PEM private key .*, got nothing/],
        [JSON.stringify({ certificate: identity.certificate, privateKey: other.privateKey }), /: privateKey does not belong to certificate \(subject CN=agent/],
        [JSON.stringify({ certificate: "hello", privateKey: identity.privateKey }), /: certificate: expected a PEM certificate .*, got a string of 5 characters/],
      ];
      for (const [text, expected] of cases) {
        assert.throws(
          () => parseClientIdentity(IDENTITY_ARN, text),
          (e: unknown) => e instanceof SecretError && !e.retryable && expected.test(e.message) && !e.message.includes("MII") && !e.message.includes("PRIVATE KEY-----\n"),
          text.slice(0, 40),
        );
      }
      assert.throws(() => parsePlcCredentials(CREDENTIALS_ARN, '{"username":"","password":"hunter2"}'), (e: unknown) => e instanceof SecretError && /: username: expected a non-empty string, got a string of 0 characters/.test(e.message) && !e.message.includes("hunter2"));
      assert.throws(() => parsePlcCredentials(CREDENTIALS_ARN, '{"username":"op","password":42}'), /: password: expected a string, got a number/);
    });

    it("reads only the configured secrets", async () => {
      const reads: string[] = [];
      const reader = { read: (id: string) => { reads.push(id); return Promise.resolve('{"username":"op","password":"pw"}'); }, close: () => Promise.resolve() };
      assert.deepEqual(await readAgentSecrets(undefined, reader), {});
      assert.deepEqual(await readAgentSecrets({ plcCredentials: CREDENTIALS_ARN }, reader), { plcCredentials: { username: "op", password: "pw" } });
      assert.deepEqual(reads, [CREDENTIALS_ARN]);
    });
  });

  describe("a locked-down PLC (SignAndEncrypt, trusted client certificates, named users)", () => {
    let server: PlcServer;
    let plan: GatewayPlan;

    before(async () => {
      const doc = agentDocument("factory-a", path.join(dir, "agent", "buffer.db"));
      doc.factory.edge = { secrets: { opcuaClientIdentity: IDENTITY_ARN, plcCredentials: CREDENTIALS_ARN } };
      const full = planGateway(doc, "factory-a-gw-press");
      plan = { ...full, machines: full.machines.filter((m) => m.machine.id === "press-03") };
      assert.equal(plan.machines[0]?.machine.opcua.securityMode, "SignAndEncrypt");
      server = teardown.add("the PLC server", await startPlcServer({
        machines: plan.machines,
        secured: { users: { "sf-agent": "s3cret!" }, trustedClientCertificates: [identity.certificateFile], pkiRoot: path.join(dir, "plc-pki") },
      }), (s) => s.stop());
    });

    const run = (secrets: Record<string, string>, pki: string) => {
      ipc.secrets.clear();
      for (const [k, v] of Object.entries(secrets)) ipc.secrets.set(k, v);
      fs.mkdirSync(path.join(dir, "agent"), { recursive: true });
      const store = openStore({ path: path.join(dir, "agent", `${pki}.db`), factoryId: plan.config.factory.factory.id, gatewayId: plan.gateway.id, limits: { maxBytes: 64 * 1024 ** 2, maxAgeHours: 24, onOverflow: "rejectNew" } });
      const logs: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
      const adapter = opcuaAdapter(plan, new Intake(plan, store), {
        log: (level, message, fields) => logs.push({ level, message, ...(fields === undefined ? {} : { fields }) }),
        secretReader: () => greengrassSecretReader(new GreengrassIpc(ipc.env())),
        secretRetry: { initialDelayMs: 200, maxDelayMs: 400 },
        adapter: {
          endpointOverride: () => server.endpointUrl,
          trustedServerCertificates: [server.certificatePath],
          pkiFolder: path.join(dir, pki),
          signalSamplingIntervalMs: 100,
          reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
        },
      });
      return { adapter, logs, store };
    };

    it("logs in as the PLC user with the client certificate from the secrets, and keeps the key private on disk", async () => {
      const { adapter, logs, store } = run(
        { [IDENTITY_ARN]: JSON.stringify({ certificate: identity.certificate, privateKey: identity.privateKey }), [CREDENTIALS_ARN]: JSON.stringify({ username: "sf-agent", password: "s3cret!" }) },
        "pki-good",
      );
      try {
        await adapter.start();
        await until("the machine is no longer stale", () => adapter.staleMachines().length === 0);
        assert.deepEqual(adapter.sessions(), { up: 1, configured: 1 });
        const fingerprint = crypto.createHash("sha256").update(new crypto.X509Certificate(identity.certificate).raw).digest("hex");
        assert.deepEqual(server.sessions(), [{ userName: "sf-agent", clientCertificateSha256: fingerprint }]);
        const keyFile = path.join(dir, "pki-good", "own", "private", "agent_private_key.pem");
        assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
        assert.equal(adapter.waitingFor(), undefined);
        const text = JSON.stringify(logs);
        assert.ok(!text.includes("s3cret!") && !text.includes("PRIVATE KEY"), "no secret in the logs");
        assert.ok(logs.some((l) => /secrets read through Greengrass's secret manager/.test(l.message)));
      } finally {
        await adapter.stop();
        store.close();
      }
    });

    it("waits, retrying and reporting every machine stale, until the secret manager has the secrets", async () => {
      const { adapter, logs, store } = run({}, "pki-wait");
      try {
        await adapter.start();
        assert.deepEqual(adapter.staleMachines(), ["press-03"]);
        assert.deepEqual(adapter.sessions(), { up: 0, configured: 1 });
        assert.match(adapter.waitingFor() ?? "", /waiting for its secrets: secret .*opcua-client-AbCdEf is not on this gateway yet/);
        // retried (200 ms, then 400 ms) and said so each time
        await until("two retries are logged", () => logs.filter((l) => /cannot read the agent's secrets \(retrying in/.test(l.message)).length >= 2, 5000);
        ipc.secrets.set(IDENTITY_ARN, JSON.stringify({ certificate: identity.certificate, privateKey: identity.privateKey }));
        ipc.secrets.set(CREDENTIALS_ARN, JSON.stringify({ username: "sf-agent", password: "s3cret!" }));
        await until("the machine is no longer stale", () => adapter.staleMachines().length === 0);
        assert.equal(server.sessions().length, 1);
      } finally {
        await adapter.stop();
        store.close();
      }
    });

    it("is refused by the PLC with wrong credentials, and says so", async () => {
      const refusedBefore = server.refusedUsers.length;
      const { adapter, logs, store } = run(
        { [IDENTITY_ARN]: JSON.stringify({ certificate: identity.certificate, privateKey: identity.privateKey }), [CREDENTIALS_ARN]: JSON.stringify({ username: "sf-agent", password: "wrong" }) },
        "pki-wrong",
      );
      try {
        await adapter.start();
        await until("the PLC refuses the user", () => server.refusedUsers.length > refusedBefore);
        await until("the refusal is logged", () => logs.some((l) => l.level === "warn" && /setting up opc\.tcp/.test(l.message)));
        assert.deepEqual(adapter.staleMachines(), ["press-03"]);
        assert.ok(logs.some((l) => l.level === "warn" && /setting up opc\.tcp:\/\/127\.0\.0\.1:\d+ failed: .*(BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid)/.test(l.message)), JSON.stringify(logs));
        assert.ok(!JSON.stringify(logs).includes("wrong\""), "the password is not logged");
      } finally {
        await adapter.stop();
        store.close();
      }
    });
  });
});
