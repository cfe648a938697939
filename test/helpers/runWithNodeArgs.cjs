// Loads the Pulumi program in this process the way the Pulumi runtime does (a plain require of `main`), under
// mocks, with the stack config given as JSON in SF_TEST_CONFIG; prints the program's exports and the file the
// SDK resolved to as JSON.
// Started by test/infra/projectFile.test.ts with the nodeargs of Pulumi.yaml.
const pulumi = require("@pulumi/pulumi");
const path = require("node:path");

async function main() {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
      call: (args) => {
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "smart-factory",
    process.env.SF_TEST_STACK,
    false,
  );
  pulumi.runtime.setAllConfig(JSON.parse(process.env.SF_TEST_CONFIG));
  const exports = require(path.resolve(process.env.SF_TEST_MAIN));
  process.stdout.write(JSON.stringify({ exports, sdk: require.resolve("@smart-factory/sdk") }));
}

main().catch((error) => {
  process.stderr.write(String(error && error.message));
  process.exit(1);
});
