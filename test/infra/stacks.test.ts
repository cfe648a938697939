import { strict as assert } from "node:assert";
import { machinePropertyAlias, parseTopic, telemetryTopic, stateTopic, healthTopic, type FactoryId, type GatewayId, type LineId, type MachineId } from "@smart-factory/sdk";
import { bundleHandler } from "../../infra/lib/bundle";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";
import { WILDCARD_RESOURCE_ALLOW_LIST } from "../../infra/policy/rules/iamWildcardResources";
import { readStackConfig, renderStack, stackNames, type PlannedResource, type RenderedStack } from "../helpers/stacks";

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string[];
  Resource?: string | string[];
  Principal?: { Service?: string | string[]; AWS?: string | string[] };
  Condition?: Record<string, Record<string, unknown>>;
}

/** Every policy document a resource of the stack carries, with where it came from. */
function policies(resources: PlannedResource[]): { where: string; statements: Statement[] }[] {
  const fields: Record<string, string> = {
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:kms/key:Key": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:iot/policy:Policy": "policy",
  };
  return resources.flatMap((r) => {
    const field = fields[r.type];
    if (field === undefined) return [];
    const text = r.inputs[field];
    assert.equal(typeof text, "string", `${r.type} ${r.name}.${field} is rendered JSON`);
    const doc = JSON.parse(text as string) as { Statement: Statement[] };
    return [{ where: `${r.type} ${r.name}`, statements: doc.Statement }];
  });
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
const ofType = (rendered: RenderedStack, type: string): PlannedResource[] => rendered.resources.filter((r) => r.type === type);

describe("infra: the three stacks under mocks", function () {
  this.timeout(60_000);
  const rendered = new Map<string, RenderedStack>();
  before(async () => {
    for (const stack of stackNames()) rendered.set(stack, await renderStack(stack, readStackConfig(stack)));
  });
  const each = (title: string, fn: (r: RenderedStack, config: Record<string, any>) => void): void => {
    for (const stack of ["factory-a", "factory-b", "factory-c"]) {
      it(`${stack}: ${title}`, () => {
        const r = rendered.get(stack);
        assert.ok(r, `${stack} rendered`);
        fn(r, readStackConfig(stack) as Record<string, any>);
      });
    }
  };

  each("every cloud resource goes through the stack's explicit providers, in the config's region", (r, config) => {
    const providers = r.resources.filter((x) => x.type.startsWith("pulumi:providers:"));
    assert.deepEqual(providers.map((p) => p.type).sort(), ["pulumi:providers:aws", "pulumi:providers:aws-native"]);
    for (const p of providers) assert.equal(p.inputs.region, config["aws:region"]);
    const urns = new Set(providers.map((p) => p.urn));
    for (const x of r.resources.filter((x) => x.custom && !x.type.startsWith("pulumi:providers:"))) {
      const provider = (x.provider ?? "").split("::").slice(0, -1).join("::");
      assert.ok(urns.has(provider), `${x.type} ${x.name} uses provider ${x.provider}`);
    }
  });

  each("the providers tag every resource with the cost tags and the factory", (r, config) => {
    for (const p of r.resources.filter((x) => x.type.startsWith("pulumi:providers:"))) {
      // provider inputs reach the engine as JSON text
      const raw = p.inputs.defaultTags;
      const tags = (typeof raw === "string" ? JSON.parse(raw) : raw) as { tags: Record<string, string> };
      for (const [k, v] of Object.entries(config["smart-factory:tags"] as Record<string, string>)) assert.equal(tags.tags[k], v);
      assert.equal(tags.tags.Factory, r.stack);
    }
  });

  each("no policy statement allows a wildcard action", (r) => {
    const docs = policies(r.resources);
    assert.ok(docs.length >= 8);
    for (const { where, statements } of docs) {
      for (const s of statements.filter((s) => s.Effect === "Allow")) {
        for (const action of asList(s.Action) as string[]) assert.ok(!/[*?]/.test(action), `${where} ${s.Sid} allows ${action}`);
      }
    }
  });

  each("an IAM identity policy uses Resource \"*\" only where AWS requires it", (r) => {
    const allowedStar = new Set(Object.keys(WILDCARD_RESOURCE_ALLOW_LIST));
    for (const { where, statements } of policies(ofType(r, "aws:iam/rolePolicy:RolePolicy"))) {
      for (const s of statements) {
        if (asList(s.Resource).includes("*")) for (const a of s.Action) assert.ok(allowedStar.has(a), `${where} ${s.Sid}: ${a} on *`);
      }
    }
  });

  each("KMS keys rotate, are protected, and each admits exactly the services that use it", (r) => {
    const keys = ofType(r, "aws:kms/key:Key");
    assert.equal(keys.length, 3);
    for (const k of keys) {
      assert.equal(k.inputs.enableKeyRotation, true);
      assert.ok(k.protect && k.retainOnDelete, `${k.name} is protected`);
    }
    const policyOf = (purpose: string): Statement[] => JSON.parse(keys.find((k) => k.name === `keys-${purpose}`)?.inputs.policy as string).Statement;
    const via = (statements: Statement[]): string[] => statements.flatMap((s) => asList(s.Condition?.StringEquals?.["kms:ViaService"] ?? []) as string[]);
    const region = r.mocks.region;
    assert.deepEqual([...new Set(via(policyOf("data")))].sort(), ["dynamodb", "firehose", "lambda", "s3", "sagemaker", "sqs", "timestream"].map((s) => `${s}.${region}.amazonaws.com`));
    const logs = policyOf("logs").filter((s) => s.Principal?.Service !== undefined);
    assert.deepEqual(logs.map((s) => s.Principal?.Service), [`logs.${region}.amazonaws.com`]);
    const notify = policyOf("notifications").flatMap((s) => asList(s.Principal?.Service ?? []));
    assert.deepEqual(notify.sort(), ["cloudwatch.amazonaws.com", "events.amazonaws.com"]);
  });

  each("Timestream: CMK-encrypted, retention from config, magnetic writes with a rejected-data bucket, protected", (r, config) => {
    const dataKey = ofType(r, "aws:kms/key:Key").find((k) => k.name === "keys-data");
    const [db] = ofType(r, "aws:timestreamwrite/database:Database");
    const [table] = ofType(r, "aws:timestreamwrite/table:Table");
    assert.ok(db && table && dataKey);
    assert.equal(db.inputs.kmsKeyId, dataKey.state.arn);
    assert.equal(db.inputs.databaseName, `${r.stack}-telemetry`);
    assert.ok(db.protect && table.protect);
    const retention = table.inputs.retentionProperties as Record<string, number>;
    assert.equal(retention.memoryStoreRetentionPeriodInHours, config["smart-factory:telemetry"].memoryStoreRetentionHours);
    assert.equal(retention.magneticStoreRetentionPeriodInDays, config["smart-factory:telemetry"].magneticStoreRetentionDays);
    const magnetic = table.inputs.magneticStoreWriteProperties as { enableMagneticStoreWrites: boolean; magneticStoreRejectedDataLocation: { s3Configuration: Record<string, string> } };
    assert.equal(magnetic.enableMagneticStoreWrites, true);
    const s3 = magnetic.magneticStoreRejectedDataLocation.s3Configuration;
    assert.equal(s3.encryptionOption, "SSE_KMS");
    assert.equal(s3.kmsKeyId, dataKey.state.arn);
    assert.ok(ofType(r, "aws:s3/bucket:Bucket").some((b) => b.inputs.bucket === s3.bucketName));
  });

  each("every bucket is private, versioned, TLS-only, encrypted with the data key, and protected", (r) => {
    const dataKeyArn = ofType(r, "aws:kms/key:Key").find((k) => k.name === "keys-data")?.state.arn;
    const buckets = ofType(r, "aws:s3/bucket:Bucket");
    assert.ok(buckets.length >= 1);
    for (const b of buckets) {
      assert.ok(b.protect && b.retainOnDelete, `${b.name} protected`);
      const by = (type: string): PlannedResource | undefined => ofType(r, type).find((x) => x.name === b.name);
      const sse = by("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")?.inputs.rules as any[];
      assert.equal(sse[0].applyServerSideEncryptionByDefault.sseAlgorithm, "aws:kms");
      assert.equal(sse[0].applyServerSideEncryptionByDefault.kmsMasterKeyId, dataKeyArn);
      const block = by("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")?.inputs;
      assert.ok(block?.blockPublicAcls && block.blockPublicPolicy && block.ignorePublicAcls && block.restrictPublicBuckets);
      assert.equal((by("aws:s3/bucketVersioning:BucketVersioning")?.inputs.versioningConfiguration as any).status, "Enabled");
      const policy = JSON.parse(by("aws:s3/bucketPolicy:BucketPolicy")?.inputs.policy as string) as { Statement: Statement[] };
      assert.ok(policy.Statement.some((s) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === false));
    }
  });

  each("one thing per gateway in the factory's thing group, each with a CSR-issued certificate attached exclusively", (r, config) => {
    const gateways = config["smart-factory:gateways"] as { id: string }[];
    const things = ofType(r, "aws:iot/thing:Thing").map((t) => t.inputs.name).sort();
    assert.deepEqual(things, gateways.map((g) => `${r.stack}-${g.id}`).sort());
    assert.equal(ofType(r, "aws:iot/thingGroupMembership:ThingGroupMembership").length, gateways.length);
    const certificates = ofType(r, "aws:iot/certificate:Certificate");
    assert.equal(certificates.length, gateways.length);
    for (const c of certificates) assert.match(String(c.inputs.csr), /^-----BEGIN CERTIFICATE REQUEST-----/);
    for (const a of ofType(r, "aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment")) assert.equal(a.inputs.thingPrincipalType, "EXCLUSIVE_THING");
  });

  each("a gateway's IoT policy: connect only as its thing (or its agent), publish only its own Basic Ingest topics", (r, config) => {
    const gateways = config["smart-factory:gateways"] as { id: string; lines: string[] }[];
    const lines = (config["smart-factory:lines"] as { id: string; machines: { id: string }[] }[]);
    for (const gateway of gateways) {
      const policy = ofType(r, "aws:iot/policy:Policy").find((p) => p.inputs.name === `${r.stack}-${gateway.id}-gateway`);
      assert.ok(policy, `policy of ${gateway.id}`);
      const statements = (JSON.parse(policy.inputs.policy as string) as { Statement: Statement[] }).Statement;
      const actions = statements.flatMap((s) => s.Action);
      assert.ok(!actions.includes("iot:*"));
      const connect = statements.find((s) => s.Action.includes("iot:Connect"));
      assert.deepEqual(asList(connect?.Resource).map((x) => String(x).split(":client/")[1]), [
        "${iot:Connection.Thing.ThingName}",
        "${iot:Connection.Thing.ThingName}-agent",
        ...[2, 3, 4, 5, 6, 7, 8].map((n) => `\${iot:Connection.Thing.ThingName}-agent-${n}`),
      ]);
      const publishes = statements.filter((s) => s.Action.includes("iot:Publish")).flatMap((s) => asList(s.Resource) as string[]);
      for (const resource of publishes) {
        assert.ok(!resource.endsWith(":topic/*"), `no topic/* (${resource})`);
        const topic = resource.split(":topic/")[1] ?? "";
        assert.ok(topic.startsWith("$aws/"), `${topic} is a Basic Ingest or reserved topic`);
        assert.ok(topic.includes("${iot:Connection.Thing.ThingName}"), `${topic} is scoped to the connected thing`);
      }
      // the topics the SDK builds for this gateway are allowed, another line's state topic is not
      const match = (topic: string): boolean =>
        publishes.some((p) => {
          const pattern = (p.split(":topic/")[1] ?? "").replace("${iot:Connection.Thing.ThingName}", `${r.stack}-${gateway.id}`);
          return new RegExp(`^${pattern.replace(/[.+?^$()[\]{}|\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(topic);
        });
      const f = r.stack as FactoryId;
      const g = gateway.id as GatewayId;
      assert.ok(match(telemetryTopic(f, g)), "own telemetry");
      assert.ok(match(healthTopic(f, g)), "own health");
      for (const line of lines) {
        const machine = line.machines[0]?.id as MachineId;
        assert.equal(match(stateTopic(f, g, line.id as LineId, machine)), gateway.lines.includes(line.id), `state of ${line.id} by ${gateway.id}`);
      }
      const other = gateways.find((x) => x.id !== gateway.id);
      if (other !== undefined) assert.ok(!match(telemetryTopic(f, other.id as GatewayId)), "another gateway's telemetry is denied");
      assert.ok(statements.some((s) => s.Action.includes("iot:AssumeRoleWithCertificate")));
    }
  });

  each("exports what a gateway's bootstrap needs, and no private key", (r, config) => {
    const bootstrap = r.exports.bootstrap as Record<string, any>;
    assert.match(bootstrap.iotDataEndpoint, /-ats\.iot\./);
    assert.match(bootstrap.iotCredentialEndpoint, /credentials\.iot\./);
    assert.equal(bootstrap.roleAlias, `${r.stack}-token-exchange`);
    for (const g of config["smart-factory:gateways"] as { id: string }[]) {
      assert.equal(bootstrap.gateways[g.id].thingName, `${r.stack}-${g.id}`);
      assert.equal(bootstrap.gateways[g.id].agentClientId, `${r.stack}-${g.id}-agent`);
      assert.match(bootstrap.gateways[g.id].certificatePem, /BEGIN CERTIFICATE/);
    }
    assert.deepEqual(bootstrap.awaitingCsr, []);
    assert.doesNotMatch(JSON.stringify(r.exports), /PRIVATE KEY/);
  });

  each("digital twin: one asset per machine, line and factory, in that hierarchy, with the SDK's aliases", (r, config) => {
    const lines = config["smart-factory:lines"] as { id: string; machines: { id: string; type: string; idealRunRate: number }[] }[];
    const assets = ofType(r, "aws-native:iotsitewise:Asset");
    const models = ofType(r, "aws-native:iotsitewise:AssetModel");
    const modelById = new Map(models.map((m) => [m.state.assetModelId as string, m]));
    const assetById = new Map(assets.map((a) => [a.state.assetId as string, a]));
    const machines = lines.flatMap((l) => l.machines.map((m) => ({ line: l.id, ...m })));
    assert.equal(assets.length, machines.length + lines.length + 1);
    for (const m of machines) {
      const asset = assets.find((a) => a.inputs.assetName === `${r.stack}/${m.line}/${m.id}`);
      assert.ok(asset, `asset of ${m.id}`);
      const model = modelById.get(asset.inputs.assetModelId as string);
      assert.ok(model, `the model of ${m.id}`);
      assert.equal(model.inputs.assetModelName, `${r.stack}-machine-${m.type}`);
      const aliases = Object.fromEntries((asset.inputs.assetProperties as { logicalId: string; alias: string }[]).map((p) => [p.logicalId, p.alias]));
      for (const p of ["state", "goodParts", "badParts", "idealRunRate"]) {
        assert.equal(aliases[p], machinePropertyAlias(r.stack as FactoryId, m.line as LineId, m.id as MachineId, p));
        assert.ok((model.inputs.assetModelProperties as { logicalId: string }[]).some((x) => x.logicalId === p), `${p} is a property of the model`);
      }
    }
    const factory = assets.find((a) => a.inputs.assetName === r.stack);
    assert.ok(factory);
    const lineChildren = (factory.inputs.assetHierarchies as { childAssetId: string; logicalId: string }[]).map((h) => assetById.get(h.childAssetId)?.inputs.assetName);
    assert.deepEqual(lineChildren, lines.map((l) => `${r.stack}/${l.id}`));
    for (const line of lines) {
      const asset = assets.find((a) => a.inputs.assetName === `${r.stack}/${line.id}`);
      assert.ok(asset);
      const model = modelById.get(asset.inputs.assetModelId as string);
      const hierarchies = model?.inputs.assetModelHierarchies as { logicalId: string; childAssetModelId: string }[];
      for (const h of asset.inputs.assetHierarchies as { childAssetId: string; logicalId: string }[]) {
        const childAsset = assetById.get(h.childAssetId);
        const declared = hierarchies.find((x) => x.logicalId === h.logicalId);
        assert.ok(declared, `${line.id}: hierarchy ${h.logicalId} exists in its model`);
        assert.equal(childAsset?.inputs.assetModelId, declared.childAssetModelId, "the child's model is the hierarchy's");
      }
      assert.deepEqual(
        (asset.inputs.assetHierarchies as { childAssetId: string }[]).map((h) => assetById.get(h.childAssetId)?.inputs.assetName),
        line.machines.map((m) => `${r.stack}/${line.id}/${m.id}`),
      );
    }
    // every model's metrics use the config's window, and every division is guarded
    for (const model of models) {
      for (const p of model.inputs.assetModelProperties as { logicalId: string; type: { typeName: string; metric?: { expression: string; window: { tumbling: { interval: string } } } } }[]) {
        if (p.type.typeName !== "Metric" || p.type.metric === undefined) continue;
        assert.equal(p.type.metric.window.tumbling.interval, config["smart-factory:oee"].window);
        if (["availability", "performance", "quality", "oee"].includes(p.logicalId)) assert.match(p.type.metric.expression, /^if\(gt\(/, `${p.type.metric.expression} is guarded`);
      }
    }
  });

  each("digital twin: each machine's ideal run rate is set from config at deploy time", (r, config) => {
    const [invocation] = ofType(r, "aws:lambda/invocation:Invocation");
    assert.ok(invocation);
    const values = (JSON.parse(invocation.inputs.input as string) as { values: { alias: string; value: number }[] }).values;
    const lines = config["smart-factory:lines"] as { id: string; machines: { id: string; idealRunRate: number }[] }[];
    assert.deepEqual(
      values,
      lines.flatMap((l) => l.machines.map((m) => ({ alias: `/sf/${r.stack}/${l.id}/${m.id}/idealRunRate`, value: m.idealRunRate }))),
    );
  });

  each("every topic rule is a Basic Ingest rule with an error action and an archive", (r, config) => {
    const rules = ofType(r, "aws-native:iot:TopicRule");
    assert.deepEqual(rules.map((x) => x.inputs.ruleName).sort(), ["health", "state", "telemetry"].map((k) => `sf_${r.stack.replace(/-/g, "_")}_${k}`));
    const gateway = (config["smart-factory:gateways"] as { id: string; lines: string[] }[])[0]!;
    const line = (config["smart-factory:lines"] as { id: string; machines: { id: string }[] }[]).find((l) => l.id === gateway.lines[0])!;
    const f = r.stack as FactoryId;
    const g = gateway.id as GatewayId;
    const topics = { telemetry: telemetryTopic(f, g), health: healthTopic(f, g), state: stateTopic(f, g, line.id as LineId, line.machines[0]!.id as MachineId) };
    for (const [kind, topic] of Object.entries(topics)) {
      const rule = rules.find((x) => String(x.inputs.ruleName).endsWith(`_${kind}`))!;
      const payload = rule.inputs.topicRulePayload as { sql: string; errorAction?: { s3?: { bucketName: string; key: string } }; actions: Record<string, any>[] };
      const ingest = /^\$aws\/rules\/([A-Za-z0-9_]+)\/(.*)$/.exec(topic);
      assert.ok(ingest, `${kind} topic ${topic} is a Basic Ingest topic`);
      assert.equal(ingest[1], rule.inputs.ruleName, "the topic names this rule");
      const filter = /FROM '([^']+)'/.exec(payload.sql)?.[1] ?? "";
      const pattern = new RegExp(`^${filter.split("/").map((l) => (l === "+" ? "[^/]+" : l.replace(/[.$]/g, "\\$&"))).join("/")}$`);
      assert.match(ingest[2] ?? "", pattern, `${kind}: the rule's FROM filter matches the plain topic`);
      assert.ok(payload.errorAction?.s3, `${kind} has an error action`);
      assert.match(payload.errorAction.s3.key, /^rule-errors\//);
      assert.ok(payload.actions.some((a) => a.s3 !== undefined && String(a.s3.key).startsWith("raw/")), `${kind} archives what it receives`);
    }
    const telemetry = rules.find((x) => String(x.inputs.ruleName).endsWith("_telemetry"))!;
    const enrich = ofType(r, "aws:lambda/function:Function").find((x) => x.inputs.name === `${r.stack}-enrich`)!;
    const telemetryPayload = telemetry.inputs.topicRulePayload as { sql: string; actions: Record<string, any>[] };
    assert.match(telemetryPayload.sql, /^SELECT encode\(\*, 'base64'\) AS payload, topic\(\) AS topic, clientid\(\) AS clientId/);
    assert.ok(telemetryPayload.actions.some((a) => a.lambda?.functionArn === enrich.state.arn));
    // the enrichment function's permission (the detector's, one per rule, are checked in alerts.test.ts)
    const permissions = ofType(r, "aws:lambda/permission:Permission").filter((p) => p.inputs.function === enrich.inputs.name);
    assert.equal(permissions.length, 1);
    assert.equal(permissions[0]!.inputs.principal, "iot.amazonaws.com");
    assert.equal(permissions[0]!.inputs.sourceArn, telemetry.state.arn);
  });

  each("the state rule writes SiteWise by aliases taken from the topic, never from the payload", (r, config) => {
    const rule = ofType(r, "aws-native:iot:TopicRule").find((x) => String(x.inputs.ruleName).endsWith("_state"))!;
    const action = (rule.inputs.topicRulePayload as { actions: Record<string, any>[] }).actions.find((a) => a.iotSiteWise !== undefined)?.iotSiteWise;
    assert.ok(action);
    const entries = action.putAssetPropertyValueEntries as { propertyAlias: string; propertyValues: { value: Record<string, string> }[] }[];
    assert.deepEqual(entries.map((e) => e.propertyAlias), ["state", "goodParts", "badParts"].map((p) => `/sf/${r.stack}/\${topic(6)}/\${topic(7)}/${p}`));
    assert.deepEqual(entries.map((e) => e.propertyValues[0]?.value), [{ integerValue: "${stateCode}" }, { integerValue: "${goodIncrement}" }, { integerValue: "${badIncrement}" }]);
    // substituting a real state topic gives the alias of that machine's asset property
    const line = (config["smart-factory:lines"] as { id: string; machines: { id: string }[] }[])[0]!;
    const gateway = (config["smart-factory:gateways"] as { id: string; lines: string[] }[]).find((g) => g.lines.includes(line.id))!;
    const topic = stateTopic(r.stack as FactoryId, gateway.id as GatewayId, line.id as LineId, line.machines[0]!.id as MachineId, "plain");
    const levels = topic.split("/");
    const alias = entries[0]!.propertyAlias.replace(/\$\{topic\((\d)\)\}/g, (_, n: string) => levels[Number(n) - 1] ?? "");
    assert.equal(alias, machinePropertyAlias(r.stack as FactoryId, line.id as LineId, line.machines[0]!.id as MachineId, "state"));
  });

  each("the enrichment Lambda: arm64 on a current Node runtime, a DLQ, names in env vars, the inventory beside its code", (r) => {
    const fn = ofType(r, "aws:lambda/function:Function").find((x) => x.inputs.name === `${r.stack}-enrich`)!;
    assert.match(String(fn.inputs.runtime), /^nodejs(22|24)\.x$/);
    assert.deepEqual(fn.inputs.architectures, ["arm64"]);
    const dlq = ofType(r, "aws:sqs/queue:Queue").find((q) => q.inputs.name === `${r.stack}-enrich-dlq`)!;
    assert.equal((fn.inputs.deadLetterConfig as { targetArn: string }).targetArn, dlq.state.arn);
    const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    assert.ok(Buffer.byteLength(JSON.stringify(env)) < 1024, "environment stays small");
    assert.deepEqual(Object.keys(env).sort(), ["DEAD_LETTER_BUCKET", "LAKE_DELIVERY_STREAM", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME", "TIMESTREAM_DATABASE", "TIMESTREAM_TABLE"]);
    assert.equal(env.TIMESTREAM_DATABASE, `${r.stack}-telemetry`);
    assert.match(env.DEAD_LETTER_BUCKET ?? "", new RegExp(`^${r.stack}-dead-letters-`));
    // the archive's content is not visible under mocks; its hash is: the handler with this factory's inventory
    const expected = bundleHandler("lambdas/enrich/index.ts", { "factory.json": JSON.stringify(loadFactoryConfigFromStack(r.stack)) });
    assert.equal(fn.inputs.sourceCodeHash, expected.sha256);
  });

  each("the Lambda's dead-letter queue and environment are encrypted with the data key", (r) => {
    const dataKeyArn = ofType(r, "aws:kms/key:Key").find((k) => k.name === "keys-data")?.state.arn;
    for (const q of ofType(r, "aws:sqs/queue:Queue")) assert.equal(q.inputs.kmsMasterKeyId, dataKeyArn);
    const enrich = ofType(r, "aws:lambda/function:Function").find((x) => String(x.inputs.name).endsWith("-enrich"));
    assert.equal(enrich?.inputs.kmsKeyArn, dataKeyArn);
  });

  each("log groups are encrypted with the logs key and keep logs for a bounded time", (r) => {
    const logsKey = ofType(r, "aws:kms/key:Key").find((k) => k.name === "keys-logs")!;
    for (const g of ofType(r, "aws:cloudwatch/logGroup:LogGroup")) {
      assert.equal(g.inputs.kmsKeyId, logsKey.state.arn);
      assert.ok(Number(g.inputs.retentionInDays) > 0);
    }
  });

  it("each factory's enrichment bundle differs only by its inventory", () => {
    const hashes = [...rendered.values()].map((r) => ofType(r, "aws:lambda/function:Function").find((x) => String(x.inputs.name).endsWith("-enrich"))?.inputs.sourceCodeHash);
    assert.equal(new Set(hashes).size, 3);
  });

  it("all three stacks can share one account: no account-scoped name repeats across them", () => {
    const nameFields: Record<string, string> = {
      "aws:iot/thing:Thing": "name",
      "aws:iot/thingGroup:ThingGroup": "name",
      "aws:iot/policy:Policy": "name",
      "aws:iot/roleAlias:RoleAlias": "alias",
      "aws:iam/role:Role": "name",
      "aws:kms/alias:Alias": "name",
      "aws:s3/bucket:Bucket": "bucket",
      "aws:timestreamwrite/database:Database": "databaseName",
      "aws:lambda/function:Function": "name",
      "aws:sqs/queue:Queue": "name",
      "aws:cloudwatch/logGroup:LogGroup": "name",
      "aws-native:iot:TopicRule": "ruleName",
      "aws-native:iotsitewise:AssetModel": "assetModelName",
      "aws-native:iotsitewise:Asset": "assetName",
    };
    const owner = new Map<string, string>();
    let checked = 0;
    for (const [stack, r] of rendered) {
      for (const x of r.resources) {
        const field = nameFields[x.type];
        if (field === undefined) continue;
        const name = x.inputs[field];
        assert.equal(typeof name, "string", `${stack} ${x.type} ${x.name} has an explicit ${field}`);
        const key = `${x.type} ${String(name)}`;
        assert.equal(owner.get(key), undefined, `${key} is declared by ${owner.get(key)} and ${stack}`);
        owner.set(key, stack);
        checked++;
      }
    }
    assert.ok(checked > 60, `${checked} names compared`);
  });

  it("a gateway without a CSR gets its thing and policy but no certificate, and the stack says so", async () => {
    const config = readStackConfig("factory-c");
    const gateways = config["smart-factory:gateways"] as { id: string; csr?: string }[];
    delete gateways[1]?.csr;
    const r = await renderStack("factory-c", config);
    assert.equal(ofType(r, "aws:iot/thing:Thing").length, 2);
    assert.equal(ofType(r, "aws:iot/certificate:Certificate").length, 1);
    const bootstrap = r.exports.bootstrap as Record<string, any>;
    assert.deepEqual(bootstrap.awaitingCsr, [gateways[1]?.id]);
    assert.equal(bootstrap.gateways[gateways[1]?.id ?? ""].certificateArn, null);
  });

  it("a CSR that is not a PEM certificate request is rejected with its path", async () => {
    const config = readStackConfig("factory-a");
    (config["smart-factory:gateways"] as { csr?: string }[])[0]!.csr = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n";
    await assert.rejects(renderStack("factory-a", config), /smart-factory:gateways\[0\]\.csr: expected a PEM certificate signing request/);
  });

  it("parseTopic agrees with the topics the policies allow (Basic Ingest prefix names the rule)", () => {
    const parsed = parseTopic(telemetryTopic("factory-a" as FactoryId, "gw-press" as GatewayId));
    assert.equal(parsed.rule, "sf_factory_a_telemetry");
    assert.equal(parsed.thingName, "factory-a-gw-press");
  });
});
