/** A stack's config decoded with the SDK's codec, as the program and the Lambdas see it. */
import { decode, FactoryConfig } from "@smart-factory/sdk";
import { readStackConfig } from "./stacks";

/** The validated `FactoryConfig` of a stack file (sections keyed as in `FactoryConfig`). */
export function loadFactoryConfigFromStack(stack: string): FactoryConfig {
  const raw = readStackConfig(stack);
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) input[key === "aws:region" ? "region" : key.replace(/^smart-factory:/, "")] = value;
  return decode(FactoryConfig, input);
}
