/**
 * The deployable entry of the detector function (bundled with esbuild as CommonJS, with `factory.json` copied next
 * to the bundle, as the enrichment function's). The factory's inventory and alert settings travel as `factory.json`
 * (the stack's `FactoryConfig`); the environment holds only names:
 *
 * - `STATE_TABLE`: the DynamoDB table of the detectors' state;
 * - `NOTIFICATION_TOPIC_ARN`: the factory's SNS topic;
 * - `DEAD_LETTER_BUCKET`: where unusable input goes (keys under `detector/<factory>/`);
 * - `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_METRICS_NAMESPACE`: the Logger's service and the Metrics namespace;
 * - optional `SCORE_ENDPOINT` (a SageMaker endpoint name: the failure-window score is on), `SCORE_THRESHOLD`
 *   (default 0.8) and `SCORE_HYSTERESIS` (default 0.1).
 *
 * In Lambda the handler is built during the init phase, so a bad `factory.json` or a missing variable fails the cold
 * start with a message naming it; elsewhere (tests, tools) it is built on the first call.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { SNSClient } from "@aws-sdk/client-sns";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { loadBundledConfig } from "../shared/bundledConfig";
import { createDetectorHandler, type DetectorHandler, type DetectorResult } from "./handler";

export { BUNDLED_CONFIG_FILE, loadBundledConfig } from "../shared/bundledConfig";

/** The environment variables the function requires. */
export const ENVIRONMENT_VARIABLES = ["STATE_TABLE", "NOTIFICATION_TOPIC_ARN", "DEAD_LETTER_BUCKET", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"] as const;

/** The settings read from the environment. */
export interface DetectorEnvironment {
  readonly tableName: string;
  readonly topicArn: string;
  readonly deadLetterBucket: string;
  readonly serviceName: string;
  readonly metricsNamespace: string;
  /** The SageMaker endpoint of the failure-window score, when configured. */
  readonly scoreEndpoint?: string;
  readonly scoreThreshold: number;
  readonly scoreHysteresis: number;
}

/** Read and check the environment; throws naming every missing, empty or malformed variable. */
export function readEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): DetectorEnvironment {
  const value = (name: string): string => (env[name] ?? "").trim();
  const problems = ENVIRONMENT_VARIABLES.filter((name) => value(name) === "").map((name) => `${name} (missing or empty)`);
  const share = (name: string, fallback: number): number => {
    const text = value(name);
    if (text === "") return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0 || n > 1) problems.push(`${name} (${JSON.stringify(text)} is not a number from 0 to 1)`);
    return n;
  };
  const scoreThreshold = share("SCORE_THRESHOLD", 0.8);
  const scoreHysteresis = share("SCORE_HYSTERESIS", 0.1);
  if (problems.length > 0) throw new Error(`the detector function needs the environment variable${problems.length === 1 ? "" : "s"} ${problems.join(", ")}`);
  const scoreEndpoint = value("SCORE_ENDPOINT");
  return {
    tableName: value("STATE_TABLE"),
    topicArn: value("NOTIFICATION_TOPIC_ARN"),
    deadLetterBucket: value("DEAD_LETTER_BUCKET"),
    serviceName: value("POWERTOOLS_SERVICE_NAME"),
    metricsNamespace: value("POWERTOOLS_METRICS_NAMESPACE"),
    ...(scoreEndpoint === "" ? {} : { scoreEndpoint }),
    scoreThreshold,
    scoreHysteresis,
  };
}

/** Build the handler from the bundled config in `dir` and the environment, with real clients and Powertools. */
export function createHandlerFromEnvironment(dir: string = __dirname, env: Readonly<Record<string, string | undefined>> = process.env): DetectorHandler {
  const settings = readEnvironment(env);
  const config = loadBundledConfig(dir);
  const logger = new Logger({ serviceName: settings.serviceName, persistentKeys: { factory: config.factory.id } });
  const metrics = new Metrics({ namespace: settings.metricsNamespace, serviceName: settings.serviceName, defaultDimensions: { factory: config.factory.id } });
  logger.info("detector function initialised", {
    machines: config.lines.reduce((n, l) => n + l.machines.length, 0),
    thresholds: config.alerts.thresholds.length,
    rates: config.alerts.rates?.length ?? 0,
    table: settings.tableName,
    score: settings.scoreEndpoint === undefined ? "off" : { endpoint: settings.scoreEndpoint, threshold: settings.scoreThreshold },
  });
  return createDetectorHandler({
    config,
    ddb: new DynamoDBClient({ maxAttempts: 5 }),
    sns: new SNSClient({}),
    s3: new S3Client({}),
    tableName: settings.tableName,
    topicArn: settings.topicArn,
    deadLetterBucket: settings.deadLetterBucket,
    ...(settings.scoreEndpoint === undefined ? {} : { sagemaker: new SageMakerRuntimeClient({}), scoreEndpoint: settings.scoreEndpoint }),
    options: { scoreThreshold: settings.scoreThreshold, scoreHysteresis: settings.scoreHysteresis },
    logger,
    metrics,
  });
}

let instance: DetectorHandler | undefined = process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined ? createHandlerFromEnvironment() : undefined;

/** The Lambda handler (`index.handler`). */
export async function handler(event: unknown, context?: Context): Promise<DetectorResult> {
  instance ??= createHandlerFromEnvironment();
  return instance(event, context);
}
