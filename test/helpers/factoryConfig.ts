/** A stack's config as the codec takes it, and decoded with the SDK's codec, as the program and the Lambdas see it. */
import { decode, FactoryConfig } from "@smart-factory/sdk";
import { readStackConfig } from "./stacks";

/**
 * A stack file's config keyed as in `FactoryConfig` (`aws:region` as `region`, `smart-factory:<key>` as `<key>`),
 * not yet validated: what the program bundles as `factory.json`, and what tests edit before decoding.
 */
export function rawFactoryConfig(stack: string): Record<string, any> {
  const input: Record<string, any> = {};
  for (const [key, value] of Object.entries(readStackConfig(stack))) {
    if (key === "aws:region") input.region = value;
    else if (key.startsWith("smart-factory:")) input[key.slice("smart-factory:".length)] = value;
  }
  return input;
}

/** The validated `FactoryConfig` of a stack file. */
export function loadFactoryConfigFromStack(stack: string): FactoryConfig {
  return decode(FactoryConfig, rawFactoryConfig(stack), `stack ${stack}`);
}
