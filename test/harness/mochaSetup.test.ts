import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Teardown } from "../helpers/teardown";
import { NO_INSTALL_VARIABLE } from "./systemTools";

const ROOT = join(__dirname, "..", "..");

/** Run mocha, as `npm test` does, on one fixture spec; returns what it printed and how it ended. */
function mocha(fixture: string, env: NodeJS.ProcessEnv): { status: number | null; output: string; ms: number } {
  const started = Date.now();
  const run = spawnSync(process.execPath, [join(ROOT, "node_modules", "mocha", "bin", "mocha.js"), "--reporter", "dot", join(__dirname, "fixtures", fixture)], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: "", ...env },
    timeout: 60_000,
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}`, ms: Date.now() - started };
}

describe("test harness: a run that cannot start, or cannot end", function () {
  this.timeout(60_000);
  const teardown = new Teardown();
  after(() => teardown.run());

  it("stops before the first test with one message when a program the specs declared is missing", () => {
    // a Debian-like PATH (an apt-get) without faketime, and no installing: the run must name faketime and the
    // command, and run nothing
    const bin = teardown.directory("sf-no-faketime-");
    writeFileSync(join(bin, "apt-get"), "#!/bin/sh\nexit 100\n", { mode: 0o755 });
    const { status, output } = mocha("needsFaketime.ts", { PATH: bin, [NO_INSTALL_VARIABLE]: "1" });
    assert.notEqual(status, 0);
    assert.match(output, /global setup failed:\nMissingSystemToolsError: these tests need programs this machine lacks:\n {2}- faketime: /);
    assert.match(output, /apt-get install -y --no-install-recommends faketime/);
    assert.doesNotMatch(output, /the run started although faketime is missing|passing|failing/, "no test ran");
    assert.equal(output.match(/MissingSystemToolsError/g)?.length, 1, "one message, not one per suite");
  });

  it("ends a run whose tests left something running, naming what holds the process, and fails it", () => {
    const { status, output, ms } = mocha("leavesServerRunning.ts", { SF_TEST_WIND_DOWN_MS: "300" });
    assert.match(output, /1 passing/);
    assert.match(output, /the tests are over, but 0\.3 s later the process is still held by: 1 x TCPServerWrap\./);
    assert.equal(status, 1, "the passing test does not hide the leak");
    assert.ok(ms < 30_000, `the run ended by itself, after ${ms} ms`);
  });
});
