import { strict as assert } from "node:assert";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Teardown } from "./teardown";

describe("test helpers: Teardown, what a suite started, stopped whatever of it started", () => {
  it("stops what was started, newest first, and nothing that never started", async () => {
    const teardown = new Teardown();
    const stopped: string[] = [];
    const start = (name: string): string => teardown.add(name, name, (n) => { stopped.push(n); });
    start("the PLC server");
    start("the broker");
    // a before hook that fails here never starts the publisher: nothing refers to an unset variable
    await teardown.run();
    assert.deepEqual(stopped, ["the broker", "the PLC server"]);
    await teardown.run();
    assert.equal(stopped.length, 2, "a second run stops nothing twice");
  });

  it("runs every step although one fails, then fails once naming it", async () => {
    const teardown = new Teardown();
    const stopped: string[] = [];
    const dir = teardown.directory("sf-teardown-");
    writeFileSync(join(dir, "buffer.db"), "");
    teardown.add("the store", "store", () => { stopped.push("store"); });
    teardown.defer("the broker", () => Promise.reject(new Error("kill ESRCH")));
    teardown.add("the agent", "agent", () => Promise.resolve().then(() => { stopped.push("agent"); }));
    await assert.rejects(teardown.run(), { message: "teardown failed for 1 step(s):\n  the broker: kill ESRCH" });
    assert.deepEqual(stopped, ["agent", "store"]);
    assert.equal(existsSync(dir), false, "the temporary directory is gone with its files");
  });
});
