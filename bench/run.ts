/**
 * `npm run bench`: runs every benchmark of this folder (each module exporting `run()`), prints each result as a
 * JSON line, and writes them all with the machine they ran on to `bench/results.json`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BenchResult } from "./lib";

async function main(): Promise<void> {
  const only = process.argv[2];
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith(".ts") && f !== "run.ts" && (only === undefined || f === `${only}.ts`))
    .sort();
  const results: BenchResult[] = [];
  for (const file of files) {
    const bench = (await import(path.join(__dirname, file))) as { run?: () => BenchResult | Promise<BenchResult> };
    if (typeof bench.run !== "function") continue;
    const result = await bench.run();
    results.push(result);
    console.log(JSON.stringify(result));
  }
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown", memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.arch()}` };
  fs.writeFileSync(path.join(__dirname, "results.json"), `${JSON.stringify({ ranAt: new Date().toISOString(), machine, results }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
