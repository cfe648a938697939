/**
 * The smart-factory Pulumi program: one stack per factory. It reads and validates the stack config, then
 * (in later parts) creates explicit providers and composes one component per domain.
 */
import { loadFactoryConfig } from "./config";
import { summarizeFactory } from "./lib/summary";

const config = loadFactoryConfig();

/** Ids and counts of the factory this stack provisions. */
export const factory = summarizeFactory(config);
