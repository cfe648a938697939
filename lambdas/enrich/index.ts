/**
 * The deployable entry of the enrichment function (bundled with esbuild as CommonJS, with `factory.json` copied
 * next to the bundle). The factory's inventory does not fit in Lambda's 4 KB of environment variables, so it is
 * bundled as `factory.json`: the stack's `FactoryConfig` as JSON (the shape the SDK's codec decodes: `region`,
 * `factory`, `machineTypes`, `lines`, `gateways`, `telemetry`, ...). The environment holds only names:
 *
 * - `TIMESTREAM_DATABASE`, `TIMESTREAM_TABLE`: where the records go;
 * - `DEAD_LETTER_BUCKET`: where refused batches, readings and records go (keys under `enrich/<factory>/`);
 * - `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`: the Logger's service and the Metrics namespace;
 * - `LAKE_DELIVERY_STREAM` (optional): the data lake's Firehose stream, which also gets the enriched readings.
 *
 * In Lambda the handler is built during the init phase, so a bad `factory.json` or a missing variable fails the
 * cold start with a message naming it; elsewhere (tests, tools) it is built on the first call.
 */
import { FirehoseClient } from "@aws-sdk/client-firehose";
import { S3Client } from "@aws-sdk/client-s3";
import { TimestreamWriteClient } from "@aws-sdk/client-timestream-write";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { loadBundledConfig } from "../shared/bundledConfig";
import { createEnrichHandler, type EnrichHandler, type EnrichResult } from "./handler";

export { BUNDLED_CONFIG_FILE, loadBundledConfig } from "../shared/bundledConfig";

/** The environment variables the function reads; each is required. */
export const ENVIRONMENT_VARIABLES = [
  "TIMESTREAM_DATABASE",
  "TIMESTREAM_TABLE",
  "DEAD_LETTER_BUCKET",
  "POWERTOOLS_SERVICE_NAME",
  "POWERTOOLS_METRICS_NAMESPACE",
] as const;

/** The optional environment variable naming the data lake's Firehose stream. */
export const LAKE_STREAM_VARIABLE = "LAKE_DELIVERY_STREAM";

/** The settings read from the environment. */
export interface EnrichEnvironment {
  readonly databaseName: string;
  readonly tableName: string;
  readonly deadLetterBucket: string;
  readonly serviceName: string;
  readonly metricsNamespace: string;
  /** The data lake's Firehose stream, when `LAKE_DELIVERY_STREAM` is set. */
  readonly lakeDeliveryStream?: string;
}

/** Read and check the environment; throws naming every missing or empty required variable. */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): EnrichEnvironment {
  const missing = ENVIRONMENT_VARIABLES.filter((name) => (env[name] ?? "").trim() === "");
  if (missing.length > 0) {
    throw new Error(`the enrichment function needs the environment variable${missing.length === 1 ? "" : "s"} ${missing.join(", ")} (missing or empty)`);
  }
  const value = (name: (typeof ENVIRONMENT_VARIABLES)[number]): string => (env[name] ?? "").trim();
  const lake = (env[LAKE_STREAM_VARIABLE] ?? "").trim();
  return {
    databaseName: value("TIMESTREAM_DATABASE"),
    tableName: value("TIMESTREAM_TABLE"),
    deadLetterBucket: value("DEAD_LETTER_BUCKET"),
    serviceName: value("POWERTOOLS_SERVICE_NAME"),
    metricsNamespace: value("POWERTOOLS_METRICS_NAMESPACE"),
    ...(lake === "" ? {} : { lakeDeliveryStream: lake }),
  };
}

/** Build the handler from the bundled config in `dir` and the environment, with real clients and Powertools. */
export function createHandlerFromEnvironment(dir: string = __dirname, env: Readonly<Record<string, string | undefined>> = process.env): EnrichHandler {
  const settings = readEnvironment(env);
  const config = loadBundledConfig(dir);
  const logger = new Logger({ serviceName: settings.serviceName, persistentKeys: { factory: config.factory.id } });
  const metrics = new Metrics({
    namespace: settings.metricsNamespace,
    serviceName: settings.serviceName,
    defaultDimensions: { factory: config.factory.id },
  });
  // The SDK retries throttling and 5xx errors itself (standard mode, with backoff); give Timestream a few more tries.
  const timestream = new TimestreamWriteClient({ maxAttempts: 5 });
  const s3 = new S3Client({});
  // Whole-call failures get the SDK's retries; records Firehose fails are retried by the handler (lake.ts).
  const lake = settings.lakeDeliveryStream === undefined ? undefined : { firehose: new FirehoseClient({ maxAttempts: 3 }), deliveryStreamName: settings.lakeDeliveryStream };
  logger.info("enrichment function initialised", {
    machines: config.lines.reduce((n, l) => n + l.machines.length, 0),
    gateways: config.gateways.map((g) => g.id),
    database: settings.databaseName,
    table: settings.tableName,
    lakeDeliveryStream: settings.lakeDeliveryStream ?? null,
  });
  return createEnrichHandler({
    config,
    timestream,
    s3,
    databaseName: settings.databaseName,
    tableName: settings.tableName,
    deadLetterBucket: settings.deadLetterBucket,
    logger,
    metrics,
    ...(lake === undefined ? {} : { lake }),
  });
}

let instance: EnrichHandler | undefined = process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined ? createHandlerFromEnvironment() : undefined;

/** The Lambda handler (`index.handler`). */
export async function handler(event: unknown, context?: Context): Promise<EnrichResult> {
  instance ??= createHandlerFromEnvironment();
  return instance(event, context);
}
