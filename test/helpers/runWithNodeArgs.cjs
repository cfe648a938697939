// Loads the Pulumi program in this process the way the Pulumi runtime does (a plain require of `main`), under
// the test mocks (test/helpers/stacks.ts), with the stack config given as JSON in SF_TEST_CONFIG; prints the program's exports and the file the
// SDK resolved to as JSON.
// Started by test/infra/projectFile.test.ts with the nodeargs of Pulumi.yaml.
const pulumi = require("@pulumi/pulumi");
const path = require("node:path");

async function main() {
  const config = JSON.parse(process.env.SF_TEST_CONFIG);
  const { CloudMocks } = require("../../infra/offline.ts");
  await pulumi.runtime.setMocks(
    new CloudMocks(config["aws:region"]),
    "smart-factory",
    process.env.SF_TEST_STACK,
    false,
  );
  pulumi.runtime.setAllConfig(config);
  const program = require(path.resolve(process.env.SF_TEST_MAIN));
  const exports = await new Promise((resolve) => pulumi.output(program).apply(resolve));
  await pulumi.runtime.disconnect();
  process.stdout.write(JSON.stringify({ exports, sdk: require.resolve("@smart-factory/sdk") }));
}

main().catch((error) => {
  process.stderr.write(String(error && error.message));
  process.exit(1);
});
