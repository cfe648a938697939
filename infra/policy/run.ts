/**
 * `npm run policy`: every stack (each `Pulumi.<stack>.yaml`) rendered under mocks and checked by every rule of
 * the pack, printed as a table of rule x stack with each violation below; exits non-zero on any mandatory
 * violation. With the Pulumi CLI, the same rules run as `pulumi preview --policy-pack infra/policy`.
 */
import { readStackConfig, renderStack, stackNames } from "../offline";
import { checkStack, formatReports, type StackReport } from "./engine";
import { POLICIES } from "./policies";

async function main(argv: string[]): Promise<number> {
  const stacks = argv.length > 0 ? argv : stackNames();
  const reports: StackReport[] = [];
  for (const stack of stacks) {
    try {
      reports.push(await checkStack(await renderStack(stack, readStackConfig(stack)), POLICIES));
    } catch (error) {
      process.stderr.write(`policy check of ${stack} failed: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
  }
  process.stdout.write(`${formatReports(reports)}\n`);
  const failed = reports.filter((r) => r.failed).map((r) => r.stack);
  process.stdout.write(failed.length === 0 ? `\nall ${reports.length} stack(s) pass every mandatory rule\n` : `\nmandatory violations in: ${failed.join(", ")}\n`);
  return failed.length === 0 ? 0 : 1;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
