import { strict as assert } from "node:assert";
import Database from "better-sqlite3";
import {
  LAKE_COLUMNS,
  LAKE_PARTITION_KEYS,
  LAKE_STATE_COLUMNS,
  LAKE_STATE_RULE_FIELDS,
  lakeDatabaseName,
  lakeStateRow,
  NAME_RULES,
  STATE_CODES,
  STATE_RULE_SELECT,
  stateTopic,
  toSiteWiseStateMessage,
  type FactoryConfig,
  type FactoryId,
  type GatewayId,
  type LineId,
  type MachineId,
  type MachineState,
  type Shift,
} from "@smart-factory/sdk";
import { LAKE_OBJECT_PREFIX, LAKE_STATES_OBJECT_PREFIX, PARTITION_KEY_QUERY } from "../../infra/components/dataLake";
import { hourlyReadingsSql, isoWeekdays, LAKE_STATE_CARRY_DAYS, shiftDowntimeInputs, shiftDowntimeSql, shiftStateSecondsSql, sqlString } from "../../infra/lib/lakeQueries";
import { checkStack } from "../../infra/policy/engine";
import { POLICIES } from "../../infra/policy/policies";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";
import { MOCK_ACCOUNT, readStackConfig, renderStack, type PlannedResource, type RenderedStack, ofType, one, statementsOf } from "../helpers/stacks";

const STACKS = ["factory-a", "factory-b", "factory-c"];

/** Minutes after midnight of `HH:MM`. */
const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));

describe("infra: DataLake (Firehose -> S3 Parquet + Glue + Athena), the three stacks under mocks", function () {
  this.timeout(120_000);
  const rendered = new Map<string, RenderedStack>();
  const configs = new Map<string, FactoryConfig>();
  before(async () => {
    for (const stack of STACKS) {
      rendered.set(stack, await renderStack(stack, readStackConfig(stack)));
      configs.set(stack, loadFactoryConfigFromStack(stack));
    }
  });

  const each = (title: string, fn: (r: RenderedStack, config: FactoryConfig) => void | Promise<void>): void => {
    for (const stack of STACKS) {
      it(`${stack}: ${title}`, async () => {
        const r = rendered.get(stack);
        const config = configs.get(stack);
        assert.ok(r && config);
        await fn(r, config);
      });
    }
  };
  const dataKey = (r: RenderedStack): string => String(one(r, "aws:kms/key:Key", "keys-data").state.arn);
  const logsKey = (r: RenderedStack): string => String(one(r, "aws:kms/key:Key", "keys-logs").state.arn);
  const region = (r: RenderedStack): string => r.mocks.region;
  const lakeBucket = (r: RenderedStack): PlannedResource => one(r, "aws:s3/bucket:Bucket", "lake-bucket");

  each("the lake bucket: data key, protected, STANDARD_IA after 30 days and GLACIER_IR after 180", (r) => {
    const bucket = lakeBucket(r);
    assert.equal(bucket.inputs.bucket, `${r.stack}-lake-${MOCK_ACCOUNT}-${region(r)}`);
    assert.ok(bucket.protect && bucket.retainOnDelete, "protected and retained");
    const sse = one(r, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "lake-bucket").inputs.rules as {
      applyServerSideEncryptionByDefault: { sseAlgorithm: string; kmsMasterKeyId: string };
    }[];
    assert.deepEqual(sse[0]?.applyServerSideEncryptionByDefault, { sseAlgorithm: "aws:kms", kmsMasterKeyId: dataKey(r) });
    const rules = one(r, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lake-bucket").inputs.rules as { id: string; status: string; transitions?: unknown }[];
    const colder = rules.find((x) => x.id === "colder-storage");
    assert.equal(colder?.status, "Enabled");
    assert.deepEqual(colder.transitions, [
      { days: 30, storageClass: "STANDARD_IA" },
      { days: 180, storageClass: "GLACIER_IR" },
    ]);
    assert.ok(!rules.some((x) => "expiration" in x), "the lake never expires data");
    // other buckets keep their own lifecycle
    const deadLetterRules = one(r, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "ingest-dead-letters").inputs.rules as { id: string }[];
    assert.ok(!deadLetterRules.some((x) => x.id === "colder-storage" || x.id === "expire"));
  });

  /** The two tables and their streams: logical names, table, data prefix, stream and role names, columns. */
  const TABLES = [
    { id: "lake", table: "readings", prefix: "readings/", stream: "lake-readings", role: "lake-firehose", columns: LAKE_COLUMNS },
    { id: "lake-states", table: "states", prefix: "states/", stream: "lake-states", role: "lake-states-firehose", columns: LAKE_STATE_COLUMNS },
  ] as const;

  each("the Glue catalog: a database of the factory, the readings and states tables, Parquet, partitions projected from the config", (r, config) => {
    const db = one(r, "aws:glue/catalogDatabase:CatalogDatabase", "lake");
    assert.equal(db.inputs.name, r.stack.replace(/-/g, "_") + "_lake");
    assert.equal(db.inputs.catalogId, MOCK_ACCOUNT);
    // with predictive maintenance, also the hourly features (test/infra/predictiveMaintenance.test.ts)
    const features = config.features.predictiveMaintenance.enabled ? ["machine_features"] : [];
    assert.deepEqual(ofType(r, "aws:glue/catalogTable:CatalogTable").map((t) => t.inputs.name).sort(), [...features, "readings", "states"]);
    for (const spec of TABLES) {
      const table = one(r, "aws:glue/catalogTable:CatalogTable", spec.id);
      assert.equal(table.inputs.name, spec.table);
      assert.equal(table.inputs.databaseName, db.inputs.name);
      assert.equal(table.inputs.tableType, "EXTERNAL_TABLE");
      const storage = table.inputs.storageDescriptor as { location: string; inputFormat: string; serDeInfo: { serializationLibrary: string }; columns: { name: string; type: string }[] };
      assert.equal(storage.location, `s3://${String(lakeBucket(r).inputs.bucket)}/${spec.prefix}`);
      assert.match(storage.inputFormat, /parquet/i);
      assert.equal(storage.serDeInfo.serializationLibrary, "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe");
      assert.deepEqual(
        storage.columns.map((c) => [c.name, c.type]),
        spec.table === "readings"
          ? [["machine_type", "string"], ["machine", "string"], ["time", "timestamp"], ["tag", "string"], ["value", "double"], ["unit", "string"], ["quality", "string"]]
          : [["machine", "string"], ["time", "timestamp"], ["state", "string"], ["state_code", "int"], ["good_increment", "bigint"], ["bad_increment", "bigint"], ["sequence", "bigint"]],
      );
      assert.deepEqual((table.inputs.partitionKeys as { name: string; type: string }[]).map((k) => [k.name, k.type]), [["factory", "string"], ["line", "string"], ["dt", "string"]]);
      const p = table.inputs.parameters as Record<string, string>;
      assert.equal(p.classification, "parquet");
      assert.equal(p["projection.enabled"], "true");
      assert.equal(p["projection.factory.values"], r.stack);
      assert.deepEqual(p["projection.line.values"]?.split(","), config.lines.map((l) => l.id));
      assert.equal(p["projection.dt.type"], "date");
      assert.equal(p["projection.dt.format"], "yyyy-MM-dd");
      assert.equal(p["storage.location.template"], `s3://${String(lakeBucket(r).inputs.bucket)}/${spec.prefix}factory=\${factory}/line=\${line}/dt=\${dt}/`);
    }
  });

  each("the Firehose streams (readings, states): data-key SSE, dynamic partitioning by factory/line/day, Parquet through their Glue table, 64+ MiB buffers, own error prefix, logging", (r) => {
    assert.deepEqual(ofType(r, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream").map((x) => x.inputs.name).sort(), [`${r.stack}-lake-readings`, `${r.stack}-lake-states`]);
    for (const spec of TABLES) {
      const stream = one(r, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", spec.id);
      const role = one(r, "aws:iam/role:Role", `${spec.id}-firehose`);
      const table = one(r, "aws:glue/catalogTable:CatalogTable", spec.id);
      assert.equal(stream.inputs.name, `${r.stack}-${spec.stream}`);
      assert.equal(stream.inputs.destination, "extended_s3");
      assert.deepEqual(stream.inputs.serverSideEncryption, { enabled: true, keyType: "CUSTOMER_MANAGED_CMK", keyArn: dataKey(r) });
      const s3 = stream.inputs.extendedS3Configuration as Record<string, any>;
      assert.equal(s3.bucketArn, lakeBucket(r).state.arn);
      assert.equal(s3.roleArn, role.state.arn);
      assert.equal(s3.kmsKeyArn, dataKey(r));
      assert.equal(s3.prefix, `${spec.prefix}factory=!{partitionKeyFromQuery:factory}/line=!{partitionKeyFromQuery:line}/dt=!{partitionKeyFromQuery:dt}/`);
      assert.equal(s3.errorOutputPrefix, `errors/${spec.prefix}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`);
      assert.ok(s3.bufferingSize >= 64, `buffer ${s3.bufferingSize} MiB`);
      assert.ok(s3.bufferingInterval > 0 && s3.bufferingInterval <= 900);
      assert.equal(s3.compressionFormat, "UNCOMPRESSED");
      assert.equal(s3.dynamicPartitioningConfiguration.enabled, true);
      const processors = s3.processingConfiguration.processors as { type: string; parameters: { parameterName: string; parameterValue: string }[] }[];
      assert.equal(s3.processingConfiguration.enabled, true);
      assert.deepEqual(processors.map((x) => x.type), ["RecordDeAggregation", "MetadataExtraction"]);
      const param = (type: string, name: string): string | undefined => processors.find((x) => x.type === type)?.parameters.find((x) => x.parameterName === name)?.parameterValue;
      assert.equal(param("RecordDeAggregation", "SubRecordType"), "JSON");
      assert.equal(param("MetadataExtraction", "JsonParsingEngine"), "JQ-1.6");
      assert.equal(param("MetadataExtraction", "MetadataExtractionQuery"), "{factory:.factory,line:.line,dt:.dt}");

      const conversion = s3.dataFormatConversionConfiguration;
      assert.equal(conversion.enabled, true);
      assert.deepEqual(conversion.inputFormatConfiguration.deserializer, { hiveJsonSerDe: { timestampFormats: ["millis"] } });
      assert.ok(conversion.outputFormatConfiguration.serializer.parquetSerDe, "Parquet");
      assert.equal(conversion.schemaConfiguration.databaseName, table.inputs.databaseName);
      assert.equal(conversion.schemaConfiguration.tableName, table.inputs.name);
      assert.equal(conversion.schemaConfiguration.roleArn, role.state.arn);
      assert.equal(conversion.schemaConfiguration.region, region(r));

      const logGroup = one(r, "aws:cloudwatch/logGroup:LogGroup", `${spec.id}-firehose`);
      const logStream = one(r, "aws:cloudwatch/logStream:LogStream", `${spec.id}-firehose-delivery`);
      assert.deepEqual(s3.cloudwatchLoggingOptions, { enabled: true, logGroupName: logGroup.inputs.name, logStreamName: logStream.inputs.name });
      assert.equal(logGroup.inputs.name, `/smart-factory/${r.stack}/firehose/${r.stack}-${spec.stream}`);
      assert.ok(Number(logGroup.inputs.retentionInDays) > 0);
      assert.equal(logGroup.inputs.kmsKeyId, logsKey(r));
      assert.equal(logStream.inputs.logGroupName, logGroup.inputs.name);
      // the stream is created once its role may act
      const rolePolicy = one(r, "aws:iam/rolePolicy:RolePolicy", `${spec.id}-firehose`);
      assert.ok(stream.dependencies.includes(rolePolicy.urn));
    }
    // every key the prefixes use is extracted, in the order of the tables' partition keys
    for (const prefix of [LAKE_OBJECT_PREFIX, LAKE_STATES_OBJECT_PREFIX]) {
      const used = [...prefix.matchAll(/!\{partitionKeyFromQuery:(\w+)\}/g)].map((m) => m[1]);
      assert.deepEqual(used, LAKE_PARTITION_KEYS.map((k) => k.name));
      assert.equal(PARTITION_KEY_QUERY, `{${used.map((k) => `${k}:.${k}`).join(",")}}`);
    }
  });

  each("the Firehose roles: trusted by Firehose for this account only, each exactly its own table's prefixes and schema, the key (through S3) and its log stream", (r) => {
    for (const spec of TABLES) {
      const role = one(r, "aws:iam/role:Role", `${spec.id}-firehose`);
      assert.equal(role.inputs.name, `${r.stack}-${spec.role}`);
      assert.deepEqual(statementsOf(role.inputs.assumeRolePolicy), [
        { Sid: "TrustFirehose", Effect: "Allow", Principal: { Service: "firehose.amazonaws.com" }, Action: ["sts:AssumeRole"], Condition: { StringEquals: { "sts:ExternalId": MOCK_ACCOUNT } } },
      ]);
      const bucketArn = String(lakeBucket(r).state.arn);
      const db = String(one(r, "aws:glue/catalogDatabase:CatalogDatabase", "lake").inputs.name);
      const glue = `arn:aws:glue:${region(r)}:${MOCK_ACCOUNT}`;
      const logGroupArn = String(one(r, "aws:cloudwatch/logGroup:LogGroup", `${spec.id}-firehose`).state.arn);
      const policy = one(r, "aws:iam/rolePolicy:RolePolicy", `${spec.id}-firehose`);
      const objects = [`${bucketArn}/${spec.prefix}*`, `${bucketArn}/errors/${spec.prefix}*`];
      assert.equal(policy.inputs.role, role.inputs.name);
      assert.deepEqual(statementsOf(policy.inputs.policy), [
        { Sid: "WriteLakeObjects", Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], Resource: objects },
        { Sid: "FindLakeBucket", Effect: "Allow", Action: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], Resource: [bucketArn] },
        {
          Sid: "EncryptLakeObjectsWithTheDataKey",
          Effect: "Allow",
          Action: ["kms:GenerateDataKey", "kms:Decrypt"],
          Resource: [dataKey(r)],
          Condition: {
            StringEquals: { "kms:ViaService": `s3.${region(r)}.amazonaws.com` },
            ArnLike: { "kms:EncryptionContext:aws:s3:arn": [bucketArn, ...objects] },
          },
        },
        {
          Sid: "ReadTheSchemaForParquet",
          Effect: "Allow",
          Action: ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
          Resource: [`${glue}:catalog`, `${glue}:database/${db}`, `${glue}:table/${db}/${spec.table}`],
        },
        { Sid: "LogDeliveryErrors", Effect: "Allow", Action: ["logs:PutLogEvents"], Resource: [`${logGroupArn}:log-stream:DestinationDelivery`] },
      ]);
    }
  });

  each("the enrichment Lambda sends to exactly the readings stream (environment and IAM)", (r) => {
    const stream = one(r, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "lake");
    assert.equal(stream.state.arn, `arn:aws:firehose:${region(r)}:${MOCK_ACCOUNT}:deliverystream/${r.stack}-lake-readings`);
    const fn = ofType(r, "aws:lambda/function:Function").find((f) => f.inputs.name === `${r.stack}-enrich`);
    assert.ok(fn);
    assert.equal((fn.inputs.environment as { variables: Record<string, string> }).variables.LAKE_DELIVERY_STREAM, stream.inputs.name);
    const statements = ofType(r, "aws:iam/rolePolicy:RolePolicy").flatMap((p) => statementsOf(p.inputs.policy).filter((s) => s.Action.includes("firehose:PutRecordBatch")));
    assert.deepEqual(statements.map((s) => s.Resource), [[stream.state.arn]]);
    // the data key admits Firehose (the stream's SSE), through the service only
    const keyPolicy = statementsOf(one(r, "aws:kms/key:Key", "keys-data").inputs.policy);
    const via = keyPolicy.flatMap((s) => [s.Condition?.StringEquals?.["kms:ViaService"] ?? []].flat());
    assert.ok(via.includes(`firehose.${region(r)}.amazonaws.com`));
  });

  each("the state rule sends every state event to the states stream: its SQL adds the lake's fields, a firehose action, PutRecord on exactly that stream", (r, config) => {
    const stream = one(r, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "lake-states");
    assert.equal(stream.state.arn, `arn:aws:firehose:${region(r)}:${MOCK_ACCOUNT}:deliverystream/${r.stack}-lake-states`);
    const rule = one(r, "aws-native:iot:TopicRule", "ingest-state");
    const payload = rule.inputs.topicRulePayload as { sql: string; awsIotSqlVersion: string; actions: Record<string, any>[] };
    assert.equal(payload.awsIotSqlVersion, "2016-03-23");
    assert.equal(payload.sql, `${STATE_RULE_SELECT} FROM 'sf/v1/${r.stack}/+/state/+/+' WHERE schemaVersion = 1`);
    assert.ok(payload.sql.startsWith("SELECT *, topic(3) AS factory, topic(6) AS line, topic(7) AS machine, "), payload.sql);
    const codes = Object.entries(STATE_CODES).sort(([, a], [, b]) => a - b);
    assert.ok(payload.sql.includes(`CASE stateCode ${codes.map(([state, code]) => `WHEN ${code} THEN '${state}'`).join(" ")} END AS state`), "the state's name from the SDK's codes");
    for (const [field, expression] of Object.entries(LAKE_STATE_RULE_FIELDS)) assert.ok(payload.sql.includes(`${expression} AS ${field}`), field);
    // the topic levels the SQL takes are the factory, line and machine of a real state topic
    const line = config.lines[0]!;
    const gateway = config.gateways.find((g) => g.lines.includes(line.id))!;
    const levels = stateTopic(config.factory.id, gateway.id, line.id, line.machines[0]!.id, "plain").split("/");
    const level = (field: "factory" | "line" | "machine"): string | undefined => levels[Number(/^topic\((\d)\)$/.exec(LAKE_STATE_RULE_FIELDS[field])?.[1]) - 1];
    assert.deepEqual([level("factory"), level("line"), level("machine")], [config.factory.id, line.id, line.machines[0]!.id]);

    const role = one(r, "aws:iam/role:Role", "ingest-state-rule");
    const firehose = payload.actions.filter((a) => a.firehose !== undefined).map((a) => a.firehose as Record<string, unknown>);
    assert.deepEqual(firehose, [{ deliveryStreamName: stream.inputs.name, roleArn: role.state.arn, separator: "\n", batchMode: false }]);
    // SiteWise, the detector and the archive stay
    assert.ok(payload.actions.some((a) => a.iotSiteWise !== undefined));
    assert.ok(payload.actions.some((a) => a.lambda !== undefined));
    assert.ok(payload.actions.some((a) => a.s3 !== undefined && String(a.s3.key).startsWith("raw/state/")));
    const sends = ofType(r, "aws:iam/rolePolicy:RolePolicy").flatMap((p) =>
      statementsOf(p.inputs.policy)
        .filter((s) => s.Action.some((a) => a.startsWith("firehose:")))
        .map((s) => [p.name, s.Action, s.Resource]),
    );
    assert.deepEqual(sends, [
      ["ingest-enrich", ["firehose:PutRecordBatch"], [String(one(r, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "lake").state.arn)]],
      ["ingest-state-rule", ["firehose:PutRecord"], [stream.state.arn]],
    ]);
    // the other rules do not send to the lake
    for (const kind of ["telemetry", "health"]) {
      const other = one(r, "aws-native:iot:TopicRule", `ingest-${kind}`).inputs.topicRulePayload as { actions: Record<string, unknown>[] };
      assert.ok(!other.actions.some((a) => a.firehose !== undefined), kind);
    }
  });

  each("the Athena workgroup: enforced settings, engine 3, results encrypted with the data key in an expiring, protected bucket", (r) => {
    const wg = one(r, "aws:athena/workgroup:Workgroup", "lake");
    assert.equal(wg.inputs.name, `${r.stack}-lake`);
    const c = wg.inputs.configuration as Record<string, any>;
    assert.equal(c.enforceWorkgroupConfiguration, true);
    assert.equal(c.engineVersion.selectedEngineVersion, "Athena engine version 3");
    assert.ok(c.bytesScannedCutoffPerQuery >= 10_485_760);
    const results = one(r, "aws:s3/bucket:Bucket", "lake-results");
    assert.ok(results.protect);
    assert.equal(c.resultConfiguration.outputLocation, `s3://${String(results.inputs.bucket)}/results/`);
    assert.deepEqual(c.resultConfiguration.encryptionConfiguration, { encryptionOption: "SSE_KMS", kmsKeyArn: dataKey(r) });
    assert.equal(c.resultConfiguration.expectedBucketOwner, MOCK_ACCOUNT);
    const sse = one(r, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "lake-results").inputs.rules as { applyServerSideEncryptionByDefault: { kmsMasterKeyId: string } }[];
    assert.equal(sse[0]?.applyServerSideEncryptionByDefault.kmsMasterKeyId, dataKey(r));
    const rules = one(r, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lake-results").inputs.rules as { id: string; expiration?: { days: number } }[];
    assert.equal(rules.find((x) => x.id === "expire")?.expiration?.days, 30);
  });

  each("named queries for ML and BI, in the workgroup: hourly readings over the readings table, downtime per shift over the states table, from the config's shifts and machines", (r, config) => {
    const wg = one(r, "aws:athena/workgroup:Workgroup", "lake");
    const db = String(one(r, "aws:glue/catalogDatabase:CatalogDatabase", "lake").inputs.name);
    const queries = ofType(r, "aws:athena/namedQuery:NamedQuery");
    assert.deepEqual(queries.map((q) => q.name).sort(), ["lake-hourlyReadings", "lake-shiftDowntime"]);
    const reads = { "lake-hourlyReadings": "readings", "lake-shiftDowntime": "states" } as Record<string, string>;
    for (const q of queries) {
      assert.equal(q.inputs.workgroup, wg.inputs.name);
      assert.equal(q.inputs.database, db);
      const tables = [...String(q.inputs.query).matchAll(/"[a-z0-9_]+_lake"\."(\w+)"/g)].map((m) => m[1]);
      assert.deepEqual(tables, [reads[q.name]], `${q.name} reads exactly its table`);
      assert.ok(String(q.inputs.query).includes(`factory = '${r.stack}'`), `${q.name} reads only this factory's partitions`);
      assert.match(String(q.inputs.query), /dt >= date_format\(/, `${q.name} prunes by day`);
    }
    const hourly = String(one(r, "aws:athena/namedQuery:NamedQuery", "lake-hourlyReadings").inputs.query);
    assert.match(hourly, /quality = 'good'/);
    assert.match(hourly, /SELECT DISTINCT/);
    for (const f of ["avg(value)", "min(value)", "max(value)", "stddev_samp(value)", "date_trunc('hour', \"time\")"]) assert.ok(hourly.includes(f), f);

    const downtime = String(one(r, "aws:athena/namedQuery:NamedQuery", "lake-shiftDowntime").inputs.query);
    assert.ok(downtime.includes(`with_timezone(`) && downtime.includes(`'${config.factory.timeZone}'`), "local shift times in the factory's zone");
    assert.ok(config.factory.shifts.length > 0);
    for (const s of config.factory.shifts) {
      assert.ok(downtime.includes(`(${sqlString(s.id)}, ${sqlString(s.name)}, ${minutes(s.start)}, ${minutes(s.end)}, ARRAY[${isoWeekdays(s).join(", ")}])`), `shift ${s.id}`);
    }
    for (const line of config.lines) for (const m of line.machines) assert.ok(downtime.includes(`('${line.id}', '${m.type}', '${m.id}')`), `machine ${m.id}`);
    assert.ok(downtime.includes(`lead("time") OVER (PARTITION BY machine ORDER BY "time", sequence)`), "a state holds until the machine's next event");
    for (const column of ["running_seconds", "idle_seconds", "fault_seconds", "planned_stop_seconds", "unknown_seconds", "downtime_seconds", "availability"]) assert.ok(downtime.includes(` AS ${column}`), column);
    assert.ok(downtime.includes(`date_add('day', -${7 + 1 + LAKE_STATE_CARRY_DAYS}, current_date)`), "states held into the window are read");
  });

  each("exports the lake's bucket, streams, Glue database and tables, workgroup and named query ids", (r, config) => {
    const lake = r.exports.lake as Record<string, unknown>;
    assert.deepEqual(lake, {
      bucket: lakeBucket(r).inputs.bucket,
      deliveryStream: `${r.stack}-lake-readings`,
      statesDeliveryStream: `${r.stack}-lake-states`,
      glueDatabase: r.stack.replace(/-/g, "_") + "_lake",
      glueTable: "readings",
      statesGlueTable: "states",
      featuresGlueTable: config.features.predictiveMaintenance.enabled ? "machine_features" : null,
      athenaWorkgroup: `${r.stack}-lake`,
      athenaResultsBucket: one(r, "aws:s3/bucket:Bucket", "lake-results").inputs.bucket,
      namedQueries: { hourlyReadings: "lake-hourlyReadings-id", shiftDowntime: "lake-shiftDowntime-id" },
    });
  });

  each("its resources pass every mandatory rule of the policy pack (as npm run policy), which also checks the workgroup's encryption", async (r) => {
    const report = await checkStack(r, POLICIES);
    // the component and its SecureBuckets name every resource "lake" or "lake-..."
    const lakeUrns = new Set(r.resources.filter((x) => x.name === "lake" || x.name.startsWith("lake-")).map((x) => x.urn));
    assert.ok(lakeUrns.size >= 20, `${lakeUrns.size} resources of the lake`);
    const mandatory = report.results.filter((x) => x.enforcementLevel === "mandatory").flatMap((x) => x.violations);
    assert.deepEqual(mandatory.filter((v) => v.urn === undefined || lakeUrns.has(v.urn)).map((v) => `${v.policy}: ${v.message}`), []);
    const wg = one(r, "aws:athena/workgroup:Workgroup", "lake");
    const c = wg.inputs.configuration as Record<string, any>;
    const unencrypted: PlannedResource = {
      ...wg,
      inputs: { ...wg.inputs, configuration: { ...c, resultConfiguration: { ...c.resultConfiguration, encryptionConfiguration: { encryptionOption: "SSE_S3" } } } },
      propertyDependencies: {},
    };
    const bad = await checkStack({ ...r, resources: r.resources.map((x) => (x === wg ? unencrypted : x)) }, POLICIES);
    const found = bad.results.flatMap((x) => x.violations).filter((v) => v.policy === "encryption-with-customer-managed-key");
    assert.equal(found.length, 1);
    assert.match(found[0]?.message ?? "", /Workgroup lake is not encrypted with a customer-managed KMS key/);
  });
});

describe("infra/lib/lakeQueries and the lake's names", () => {
  const config = loadFactoryConfigFromStack("factory-a");
  const ref = { factoryId: "factory-a", database: "factory_a_lake", table: "states" };

  it("names: the Glue database is the factory id with underscores, valid for Athena; the rules reject what Athena or Firehose would", () => {
    assert.equal(lakeDatabaseName("factory-a" as FactoryId), "factory_a_lake");
    assert.ok(NAME_RULES.glueDatabase.pattern.test("factory_b_lake"));
    assert.ok(!NAME_RULES.glueDatabase.pattern.test("factory-b-lake"));
    assert.ok(!NAME_RULES.glueTable.pattern.test("Readings"));
    assert.ok(NAME_RULES.firehoseStream.pattern.test("factory-a-lake-readings"));
    assert.ok(NAME_RULES.firehoseStream.pattern.test("factory-a-lake-states"));
    assert.ok(NAME_RULES.glueTable.pattern.test("states"));
    assert.equal(NAME_RULES.firehoseStream.maxLength, 64);
    assert.ok(!NAME_RULES.athenaWorkgroup.pattern.test("factory a"));
  });

  it("weekdays map to Athena's day_of_week (Monday 1 ... Sunday 7); a night shift ends the next day", () => {
    assert.deepEqual(isoWeekdays({ days: ["sun", "mon", "fri"] }), [1, 5, 7]);
    const night = config.factory.shifts.find((s) => s.id === "night");
    assert.ok(night && minutes(night.end) < minutes(night.start));
    const sql = shiftDowntimeSql(shiftDowntimeInputs(config, ref)) ?? "";
    assert.match(sql, /IF\(end_minute > start_minute, d, date_add\('day', 1, d\)\)/);
    assert.match(sql, /contains\(weekdays, day_of_week\(d\)\)/);
    assert.match(sql, /e\."time" > o\.shift_start AND e\."time" <= o\.shift_end/, "parts: start exclusive, end inclusive");
    assert.ok(sql.endsWith(shiftStateSecondsSql("factory-a")), "the state arithmetic tested on SQLite below is the query's");
    assert.ok(sql.includes(`FROM "factory_a_lake"."states"`));
  });

  describe("downtime per shift from state events: the query's arithmetic, run on SQLite over epoch milliseconds", () => {
    const H = 3600_000;
    const D = Date.UTC(2026, 2, 2);
    type Event = [machine: string, time: number, sequence: number, state: MachineState | null, good?: number, bad?: number];
    const events: Event[] = [
      // m1: in fault since before the early shift, then running, idle, a planned stop, running into the late shift
      ["m1", D - 2 * 24 * H + 5 * H, 1, "fault"],
      ["m1", D + 7 * H, 2, "running", 5],
      ["m1", D + 7 * H, 2, "running", 5], // delivered twice
      ["m1", D + 10 * H, 3, "idle", 10, 1],
      ["m1", D + 12 * H, 4, "plannedStop"],
      ["m1", D + 13 * H, 5, "running", 2],
      // m2: first known at 08:00; at 20:00 two events of the same time, the later sequence wins
      ["m2", D + 8 * H, 1, "running"],
      ["m2", D + 20 * H, 10, "fault"],
      ["m2", D + 20 * H, 11, "idle", 3],
      // m4: a fault entered exactly at the shift change belongs to the late shift; its parts to the early one
      ["m4", D + 14 * H, 1, "fault", 1],
      // m5: a code that names no state (state null) ends the previous state: unknown from then on
      ["m5", D + 5 * H, 1, "running"],
      ["m5", D + 11 * H, 2, null],
    ];
    let rows: Record<string, Record<string, unknown>>;
    before(() => {
      const db = new Database(":memory:");
      db.function("to_milliseconds", (x: number) => x);
      db.function("greatest", (a: number, b: number) => Math.max(a, b));
      db.function("least", (a: number, b: number) => Math.min(a, b));
      db.exec(`CREATE TABLE ended (shift_id TEXT, shift_name TEXT, shift_date TEXT, shift_start INTEGER, shift_end INTEGER);
        CREATE TABLE machines (line TEXT, machine_type TEXT, machine TEXT);
        CREATE TABLE events (machine TEXT, "time" INTEGER, sequence INTEGER, state TEXT, good_increment INTEGER, bad_increment INTEGER);`);
      const shift = db.prepare("INSERT INTO ended VALUES (?, ?, '2026-03-02', ?, ?)");
      shift.run("early", "Early", D + 6 * H, D + 14 * H);
      shift.run("late", "Late", D + 14 * H, D + 22 * H);
      for (const m of ["m1", "m2", "m3", "m4", "m5"]) db.prepare("INSERT INTO machines VALUES ('l1', 'press', ?)").run(m);
      const event = db.prepare(`INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)`);
      for (const [machine, time, sequence, state, good, bad] of events) event.run(machine, time, sequence, state, good ?? 0, bad ?? 0);
      const result = db.prepare(`WITH ${shiftStateSecondsSql("factory-a")}`).all() as Record<string, unknown>[];
      rows = Object.fromEntries(result.map((x) => [`${String(x.machine)} ${String(x.shift_id)}`, x]));
      db.close();
    });
    const seconds = (key: string): Record<string, unknown> => {
      const row = rows[key];
      assert.ok(row, key);
      const { running_seconds, idle_seconds, fault_seconds, planned_stop_seconds, unknown_seconds, downtime_seconds, good_parts, bad_parts } = row;
      return { running_seconds, idle_seconds, fault_seconds, planned_stop_seconds, unknown_seconds, downtime_seconds, good_parts, bad_parts };
    };
    const h = (hours: number): number => hours * 3600;

    it("one row per machine and shift, each shift's seconds accounted for", () => {
      assert.equal(Object.keys(rows).length, 10);
      for (const row of Object.values(rows)) {
        assert.equal(row.factory, "factory-a");
        assert.equal(row.shift_seconds, h(8));
        const sum = ["running_seconds", "idle_seconds", "fault_seconds", "planned_stop_seconds", "unknown_seconds"].reduce((a, k) => a + Number(row[k]), 0);
        assert.equal(sum, h(8), `${String(row.machine)} ${String(row.shift_id)}`);
      }
    });

    it("a state entered before the shift and still held at its start counts from the start; each state until the next event, deduplicated", () => {
      assert.deepEqual(seconds("m1 early"), {
        running_seconds: h(4),
        idle_seconds: h(2),
        fault_seconds: h(1),
        planned_stop_seconds: h(1),
        unknown_seconds: 0,
        downtime_seconds: h(3),
        good_parts: 17,
        bad_parts: 1,
      });
      assert.equal(rows["m1 early"]?.availability, 4 / 7);
    });

    it("the last state holds on to the end of the shift, across a shift change", () => {
      assert.deepEqual(seconds("m1 late"), { running_seconds: h(8), idle_seconds: 0, fault_seconds: 0, planned_stop_seconds: 0, unknown_seconds: 0, downtime_seconds: 0, good_parts: 0, bad_parts: 0 });
      assert.equal(rows["m1 late"]?.availability, 1);
    });

    it("time before a machine's first known event is unknown; events of the same time are ordered by sequence", () => {
      assert.deepEqual(seconds("m2 early"), { running_seconds: h(6), idle_seconds: 0, fault_seconds: 0, planned_stop_seconds: 0, unknown_seconds: h(2), downtime_seconds: 0, good_parts: 0, bad_parts: 0 });
      assert.deepEqual(seconds("m2 late"), { running_seconds: h(6), idle_seconds: h(2), fault_seconds: 0, planned_stop_seconds: 0, unknown_seconds: 0, downtime_seconds: h(2), good_parts: 3, bad_parts: 0 });
    });

    it("a machine without events is unknown for the whole shift, with no availability", () => {
      assert.deepEqual(seconds("m3 early"), { running_seconds: 0, idle_seconds: 0, fault_seconds: 0, planned_stop_seconds: 0, unknown_seconds: h(8), downtime_seconds: 0, good_parts: 0, bad_parts: 0 });
      assert.equal(rows["m3 early"]?.availability, null);
    });

    it("an event at the shift change starts its state in the next shift; its parts count in the shift that ends (start exclusive, end inclusive)", () => {
      assert.deepEqual(seconds("m4 early"), { running_seconds: 0, idle_seconds: 0, fault_seconds: 0, planned_stop_seconds: 0, unknown_seconds: h(8), downtime_seconds: 0, good_parts: 1, bad_parts: 0 });
      assert.deepEqual(seconds("m4 late"), { running_seconds: 0, idle_seconds: 0, fault_seconds: h(8), planned_stop_seconds: 0, unknown_seconds: 0, downtime_seconds: h(8), good_parts: 0, bad_parts: 0 });
      assert.equal(rows["m4 late"]?.availability, 0);
    });

    it("an event without a state name ends the previous state: unknown from then on", () => {
      assert.deepEqual(seconds("m5 early"), { running_seconds: h(5), idle_seconds: 0, fault_seconds: 0, planned_stop_seconds: 0, unknown_seconds: h(3), downtime_seconds: 0, good_parts: 0, bad_parts: 0 });
    });
  });

  it("the state rule's lake fields: the SELECT adds exactly the fields the table and partitions need, computed as lakeStateRow computes them", () => {
    const fields = Object.keys(LAKE_STATE_RULE_FIELDS);
    assert.deepEqual(fields, ["factory", "line", "machine", "time", "state", "state_code", "good_increment", "bad_increment", "dt"]);
    // every column and partition key is a rule field or, for sequence, the message's own
    for (const c of [...LAKE_STATE_COLUMNS, ...LAKE_PARTITION_KEYS]) assert.ok(fields.includes(c.name) || c.name === "sequence", c.name);
    assert.deepEqual(
      LAKE_STATE_COLUMNS.map((c) => c.name).filter((n) => LAKE_PARTITION_KEYS.some((k) => k.name === n)),
      [],
      "no column is also a partition key (Hive forbids it)",
    );
    // the CASE maps each code to the state toSiteWiseStateMessage gives it
    for (const state of Object.keys(STATE_CODES) as MachineState[]) {
      const m = toSiteWiseStateMessage(
        { machineId: "press-01" as MachineId, timestamp: Date.UTC(2026, 0, 1, 23, 59, 59, 999), clock: "source", state, goodIncrement: 1, badIncrement: 0 },
        { factoryId: "factory-a" as FactoryId, gatewayId: "gw-press" as GatewayId, lineId: "press-line-1" as LineId, sequence: 7 },
      );
      assert.ok(LAKE_STATE_RULE_FIELDS.state.includes(`WHEN ${m.stateCode} THEN '${state}'`), state);
      const row = lakeStateRow(m, { factory: "factory-a", line: "press-line-1", machine: "press-01" });
      assert.equal(row.state, state);
      assert.equal(row.time, Date.UTC(2026, 0, 1, 23, 59, 59, 999));
      assert.equal(row.dt, "2026-01-01");
    }
    assert.equal(STATE_RULE_SELECT.split(" AS ").length - 1, fields.length);
  });

  it("quotes what comes from the config: a shift name with a quote stays one literal", () => {
    const shifts: Shift[] = [{ id: "early", name: "Early 'A' shift", start: "06:00", end: "14:00", days: ["mon"] }];
    const sql = shiftDowntimeSql({ ...shiftDowntimeInputs(config, ref), shifts }) ?? "";
    assert.ok(sql.includes(`('early', 'Early ''A'' shift', 360, 840, ARRAY[1])`));
    assert.equal(sqlString("it's"), "'it''s'");
  });

  it("no downtime query for a factory without shifts; the hourly query covers the configured window", () => {
    assert.equal(shiftDowntimeSql({ ...shiftDowntimeInputs(config, ref), shifts: [] }), undefined);
    assert.match(hourlyReadingsSql({ ...ref, table: "readings", lookbackDays: 3 }), /date_add\('day', -3, current_date\)/);
    const downtime = shiftDowntimeSql({ ...shiftDowntimeInputs(config, ref), lookbackDays: 3, stateCarryDays: 2 }) ?? "";
    assert.ok(downtime.includes("SELECT d FROM UNNEST(sequence(date_add('day', -3, current_date), current_date, INTERVAL '1' DAY))"), "shifts of the last 3 days");
    assert.match(downtime, /dt >= date_format\(date_add\('day', -6, current_date\)/, "3 days, the night shift's next day and 2 days of states held into the window");
    assert.deepEqual(
      LAKE_COLUMNS.map((c) => c.name).filter((n) => LAKE_PARTITION_KEYS.some((k) => k.name === n)),
      [],
      "no column is also a partition key (Hive forbids it)",
    );
  });
});
