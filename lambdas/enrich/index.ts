/**
 * The deployable entry of the enrichment function (bundled with esbuild as CommonJS, with `factory.json` copied
 * next to the bundle). The factory's inventory does not fit in Lambda's 4 KB of environment variables, so it is
 * bundled as `factory.json`: the stack's `FactoryConfig` as JSON (the shape the SDK's codec decodes: `region`,
 * `factory`, `machineTypes`, `lines`, `gateways`, `telemetry`, ...). The environment holds only names:
 *
 * - `TIMESTREAM_DATABASE`, `TIMESTREAM_TABLE`: where the records go;
 * - `DEAD_LETTER_BUCKET`: where refused batches, readings and records go (keys under `enrich/<factory>/`);
 * - `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`: the Logger's service and the Metrics namespace.
 *
 * In Lambda the handler is built during the init phase, so a bad `factory.json` or a missing variable fails the
 * cold start with a message naming it; elsewhere (tests, tools) it is built on the first call.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { TimestreamWriteClient } from "@aws-sdk/client-timestream-write";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { decode, FactoryConfig } from "@smart-factory/sdk";
import type { Context } from "aws-lambda";
import { createEnrichHandler, type EnrichHandler, type EnrichResult } from "./handler";

/** File name of the bundled inventory, next to the bundle. */
export const BUNDLED_CONFIG_FILE = "factory.json";

/** The environment variables the function reads; each is required. */
export const ENVIRONMENT_VARIABLES = [
  "TIMESTREAM_DATABASE",
  "TIMESTREAM_TABLE",
  "DEAD_LETTER_BUCKET",
  "POWERTOOLS_SERVICE_NAME",
  "POWERTOOLS_METRICS_NAMESPACE",
] as const;

/** The settings read from the environment. */
export interface EnrichEnvironment {
  readonly databaseName: string;
  readonly tableName: string;
  readonly deadLetterBucket: string;
  readonly serviceName: string;
  readonly metricsNamespace: string;
}

/** Read and check the environment; throws naming every missing or empty variable. */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): EnrichEnvironment {
  const missing = ENVIRONMENT_VARIABLES.filter((name) => (env[name] ?? "").trim() === "");
  if (missing.length > 0) {
    throw new Error(`the enrichment function needs the environment variable${missing.length === 1 ? "" : "s"} ${missing.join(", ")} (missing or empty)`);
  }
  const value = (name: (typeof ENVIRONMENT_VARIABLES)[number]): string => (env[name] ?? "").trim();
  return {
    databaseName: value("TIMESTREAM_DATABASE"),
    tableName: value("TIMESTREAM_TABLE"),
    deadLetterBucket: value("DEAD_LETTER_BUCKET"),
    serviceName: value("POWERTOOLS_SERVICE_NAME"),
    metricsNamespace: value("POWERTOOLS_METRICS_NAMESPACE"),
  };
}

/**
 * Read `factory.json` from `dir` and validate it with the SDK's `FactoryConfig` codec.
 *
 * @throws Error naming the file for a missing file or bad JSON; the SDK's ContractError naming each offending
 *   field (`invalid factory.json (<path>): lines[0].machines[1].idealRunRate: expected ..., got ...`).
 */
export function loadBundledConfig(dir: string): FactoryConfig {
  const file = path.join(dir, BUNDLED_CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read the bundled factory config ${file}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`the bundled factory config ${file} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  return decode(FactoryConfig, json, `${BUNDLED_CONFIG_FILE} (${file})`);
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
  logger.info("enrichment function initialised", {
    machines: config.lines.reduce((n, l) => n + l.machines.length, 0),
    gateways: config.gateways.map((g) => g.id),
    database: settings.databaseName,
    table: settings.tableName,
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
  });
}

let instance: EnrichHandler | undefined = process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined ? createHandlerFromEnvironment() : undefined;

/** The Lambda handler (`index.handler`). */
export async function handler(event: unknown, context?: Context): Promise<EnrichResult> {
  instance ??= createHandlerFromEnvironment();
  return instance(event, context);
}
