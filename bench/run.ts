/**
 * `npm run bench`: runs every benchmark of this folder (each module exporting `run()`), prints each result as a
 * JSON line, and writes them all with the machine they ran on to `bench/results.json`, and a short summary for
 * people to `bench/results.md`.
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
  const ranAt = new Date().toISOString();
  fs.writeFileSync(path.join(__dirname, "results.json"), `${JSON.stringify({ ranAt, machine, results }, null, 2)}\n`);
  fs.writeFileSync(path.join(__dirname, "results.md"), summary(ranAt, machine, results));
}

/** A figure as people read it: three significant digits, thousands separated. */
export function figure(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const rounded = Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(3));
  return rounded.toLocaleString("en-US", { maximumFractionDigits: 3 });
}

/** The markdown summary: the machine, then each benchmark's figures and how they were measured. */
export function summary(ranAt: string, machine: Record<string, string | number>, results: readonly BenchResult[]): string {
  const lines = [
    "# Benchmark results",
    "",
    `Run ${ranAt} on ${String(machine.cpus)} cores (${String(machine.cpuModel)}), ${String(machine.memoryGiB)} GiB, Node.js ${String(machine.node)}, ${String(machine.platform)}.`,
    "Figures from one run on a shared machine: compare ratios measured in the same run, not absolutes across runs.",
  ];
  for (const result of results) {
    lines.push("", `## ${result.name}`, "", "| figure | value |", "|---|---|");
    for (const [name, value] of Object.entries(result.figures)) lines.push(`| ${name} | ${figure(value)} |`);
    lines.push("", result.notes);
  }
  return `${lines.join("\n")}\n`;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
