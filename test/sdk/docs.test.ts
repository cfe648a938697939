import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../helpers/stacks";

describe("npm run docs: the SDK's API reference", function () {
  this.timeout(120_000);

  it("builds with typedoc, warning-free (every exported function, class, interface, type and constant documented)", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "sdk-docs-"));
    try {
      const typedoc = path.join(REPO_ROOT, "node_modules", "typedoc", "bin", "typedoc");
      // the same options as `npm run docs`, which treat warnings (an undocumented export, a broken link) as errors
      const result = spawnSync(process.execPath, [typedoc, "--options", path.join(REPO_ROOT, "sdk", "typedoc.json"), "--out", out], { cwd: REPO_ROOT, encoding: "utf8" });
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const functions = fs.readdirSync(path.join(out, "functions"));
      for (const name of ["createFactoryClient", "decode", "convert", "machineCounters"]) assert.ok(functions.includes(`${name}.html`), name);
      assert.match(fs.readFileSync(path.join(out, "index.html"), "utf8"), /A client per factory/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
