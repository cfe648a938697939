import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_OFFSETS, pureSpecFiles, SERVER_SPECS, specFiles } from "./anyDay";

const ROOT = join(__dirname, "..", "..");

/** Calls that open a TCP server or start a broker, a PLC, a browser or a whole factory. */
const STARTS_A_SERVER = /\b(startMosquitto|startPlcServer|startFactoryBox|startSimulator|startCloudBroker|startSensorBroker|startWebView|startUplink)\(|chromium\.launch\(|\.listen\(/;

describe("test harness: the date check's pure-logic specs", () => {
  it("moves the clock a year ahead and a year back", () => {
    assert.deepEqual(DEFAULT_OFFSETS, ["+365d", "-365d"]);
  });

  it("names only spec files that exist as server specs, and leaves every other spec in the check", () => {
    const all = specFiles();
    for (const file of SERVER_SPECS) assert.ok(all.includes(file), `${file} is a spec file`);
    const pure = pureSpecFiles(all);
    assert.equal(pure.length + SERVER_SPECS.length, all.length);
    for (const file of ["test/edge/store.test.ts", "test/lambdas/detector.test.ts", "test/sdk/oeeLocal.test.ts", "test/harness/anyDay.test.ts"]) assert.ok(pure.includes(file), file);
  });

  it("keeps out every spec that starts a server, and only those", () => {
    const servers = specFiles().filter((file) => STARTS_A_SERVER.test(readFileSync(join(ROOT, file), "utf8")));
    assert.deepEqual(servers, [...SERVER_SPECS].sort());
  });
});
