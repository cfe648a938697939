import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bundleHandler } from "../../infra/lib/bundle";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";

describe("infra/lib/bundle.ts: Lambda bundles built by the program", function () {
  this.timeout(60_000);

  it("bundles the enrichment handler into one file that cold-starts from its archive with the factory's inventory beside it", () => {
    const config = loadFactoryConfigFromStack("factory-c");
    const bundle = bundleHandler("lambdas/enrich/index.ts", { "factory.json": JSON.stringify(config) });
    assert.doesNotMatch(bundle.code, /require\("(@smart-factory|@aws-sdk\/client-|@aws-lambda-powertools|io-ts|fp-ts)/, "dependencies are inside the bundle");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sf-bundle-"));
    try {
      fs.writeFileSync(path.join(dir, "index.js"), bundle.code);
      for (const [name, text] of Object.entries(bundle.files)) fs.writeFileSync(path.join(dir, name), text);
      const saved = { ...process.env };
      Object.assign(process.env, { TIMESTREAM_DATABASE: "factory-c-telemetry", TIMESTREAM_TABLE: "telemetry", DEAD_LETTER_BUCKET: "dl", AWS_REGION: "us-east-1", POWERTOOLS_METRICS_NAMESPACE: "t", POWERTOOLS_SERVICE_NAME: "enrich" });
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the artifact as Lambda would
        const loaded = require(path.join(dir, "index.js")) as { handler?: unknown };
        assert.equal(typeof loaded.handler, "function");
      } finally {
        process.env = saved;
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the archive digest changes with the files beside the code, not otherwise", () => {
    const a = bundleHandler("lambdas/twin-attributes/index.ts", { "x.json": "1" });
    const b = bundleHandler("lambdas/twin-attributes/index.ts", { "x.json": "1" });
    const c = bundleHandler("lambdas/twin-attributes/index.ts", { "x.json": "2" });
    assert.equal(a.sha256, b.sha256);
    assert.notEqual(a.sha256, c.sha256);
  });

  it("a handler that does not compile stops the program with esbuild's message", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sf-bad-"));
    try {
      const entry = path.join(dir, "bad.ts");
      fs.writeFileSync(entry, "export const handler = (;\n");
      assert.throws(() => bundleHandler(entry), /cannot bundle .*bad\.ts/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
