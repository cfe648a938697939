/**
 * The deployable entry of the features export (bundled with esbuild as CommonJS, with `factory.json` beside the
 * bundle, as the other functions). The environment holds only names:
 *
 * - `FEATURES_DATABASE`, `FEATURES_TABLE`: the Timestream table the scheduled query writes the features into;
 * - `LAKE_BUCKET`: the data lake's bucket;
 * - `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`: the Logger's service and the Metrics namespace.
 *
 * In Lambda the handler is built during the init phase, so a bad `factory.json` or a missing variable fails the
 * cold start with a message naming it; elsewhere (tests, tools) it is built on the first call.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { TimestreamQueryClient } from "@aws-sdk/client-timestream-query";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { loadBundledConfig } from "../shared/bundledConfig";
import { createExportHandler, type ExportHandler, type ExportResult } from "./handler";

export { BUNDLED_CONFIG_FILE, loadBundledConfig } from "../shared/bundledConfig";

/** The environment variables the function reads; each is required. */
export const ENVIRONMENT_VARIABLES = ["FEATURES_DATABASE", "FEATURES_TABLE", "LAKE_BUCKET", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"] as const;

/** The settings read from the environment. */
export interface ExportEnvironment {
  readonly database: string;
  readonly table: string;
  readonly bucket: string;
  readonly serviceName: string;
  readonly metricsNamespace: string;
}

/** Read and check the environment; throws naming every missing or empty variable. */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): ExportEnvironment {
  const value = (name: string): string => (env[name] ?? "").trim();
  const missing = ENVIRONMENT_VARIABLES.filter((name) => value(name) === "");
  if (missing.length > 0) throw new Error(`the features export needs the environment variable${missing.length === 1 ? "" : "s"} ${missing.map((n) => `${n} (missing or empty)`).join(", ")}`);
  return {
    database: value("FEATURES_DATABASE"),
    table: value("FEATURES_TABLE"),
    bucket: value("LAKE_BUCKET"),
    serviceName: value("POWERTOOLS_SERVICE_NAME"),
    metricsNamespace: value("POWERTOOLS_METRICS_NAMESPACE"),
  };
}

/** Build the handler from the bundled config in `dir` and the environment, with real clients and Powertools. */
export function createHandlerFromEnvironment(dir: string = __dirname, env: Readonly<Record<string, string | undefined>> = process.env): ExportHandler {
  const settings = readEnvironment(env);
  const config = loadBundledConfig(dir);
  const logger = new Logger({ serviceName: settings.serviceName, persistentKeys: { factory: config.factory.id } });
  const metrics = new Metrics({ namespace: settings.metricsNamespace, serviceName: settings.serviceName, defaultDimensions: { factory: config.factory.id } });
  return createExportHandler({
    config,
    timestream: new TimestreamQueryClient({}),
    s3: new S3Client({}),
    database: settings.database,
    table: settings.table,
    bucket: settings.bucket,
    logger,
    metrics,
  });
}

let instance: ExportHandler | undefined = process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined ? createHandlerFromEnvironment() : undefined;

/** The Lambda handler (`index.handler`). */
export async function handler(event: unknown, context?: Context): Promise<ExportResult> {
  instance ??= createHandlerFromEnvironment();
  return instance(event, context);
}
