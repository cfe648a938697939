/**
 * @smart-factory/sdk: the contract shared by the Pulumi program, the edge agent, the Lambdas and other teams'
 * tools: codecs of the stack config and of every message, the telemetry wire format, units, names, the
 * timestamp policy, the feature vector of the predictive-maintenance model.
 */
export * from "./errors";
export * from "./decode";
export * from "./codecs/primitives";
export * from "./codecs/config";
export * from "./codecs/reading";
export * from "./codecs/batch";
export * from "./codecs/state";
export * from "./wire/batchEncoding";
export * from "./units";
export * from "./names";
export * from "./timestamps";
export * from "./inventory";
export * from "./oee/local";
export * from "./telemetry/model";
export * from "./telemetry/lake";
export * from "./codecs/health";
export * from "./oee/definition";
export * from "./oee/sitewise";
export * from "./client/context";
export * from "./assets/queries";
export * from "./oee/queries";
export * from "./oee/calendar";
export * from "./telemetry/sql";
export * from "./telemetry/rows";
export * from "./telemetry/queries";
export * from "./client";
export type { EntryIssue } from "./assets/values";
export * from "./validation";
export * from "./codecs/sensor";
export * from "./maintenance/features";
export * from "./maintenance/lake";
