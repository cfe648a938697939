/**
 * The factory's inventory as the functions that need it receive it: the stack's `FactoryConfig` as JSON in
 * `factory.json` beside the bundle (it does not fit in Lambda's 4 KB of environment variables).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { decode, FactoryConfig } from "@smart-factory/sdk";

/** File name of the bundled inventory, next to the bundle. */
export const BUNDLED_CONFIG_FILE = "factory.json";

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
