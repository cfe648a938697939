/**
 * What the functions log and count through: the parts of Powertools' `Logger` and `Metrics` they use, so that
 * tests and the local factory inject their own, and the reasons a rule event's envelope is refused, which the
 * enrichment function and the detector check alike.
 */
import type { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";

/** The part of Powertools' `Logger` a handler uses. */
export interface FunctionLogger {
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
  addContext?(context: Context): void;
}

/** A CloudWatch unit as Powertools names it (`Count`, ...). */
export type MetricUnitName = (typeof MetricUnit)[keyof typeof MetricUnit];

/** The part of Powertools' `Metrics` a handler uses. */
export interface FunctionMetrics {
  addMetric(name: string, unit: MetricUnitName, value: number): unknown;
  publishStoredMetrics(): unknown;
}

/** Why a telemetry rule event's envelope is refused (nothing of its batch is used). */
export type EnvelopeRefusalReason =
  | "invalidEvent"
  | "badTopic"
  | "undecodablePayload"
  | "factoryMismatch"
  | "gatewayMismatch"
  | "unknownGateway"
  | "clientIdMismatch";
