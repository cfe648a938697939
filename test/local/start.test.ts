import { strict as assert } from "node:assert";
import { parseStartArgs, UsageError } from "../../local/start";

describe("local: npm start's command line", () => {
  it("runs factory-a at 10x with the web view on 8080 (or a free port) by default", () => {
    assert.deepEqual(parseStartArgs([]), {
      stack: "factory-a",
      speed: 10,
      seed: 1,
      outageMs: undefined,
      outageAfterMs: 20_000,
      durationMs: undefined,
      port: undefined,
      web: true,
      keepRunDir: false,
    });
  });

  it("takes the factory, speed, outage, duration, port and switches", () => {
    const options = parseStartArgs(["--factory", "factory-b", "--speed", "60", "--outage", "30s", "--outage-after", "1m", "--duration", "5m", "--port", "9000", "--no-web", "--keep", "--seed", "7"]);
    assert.notEqual(options, "help");
    assert.deepEqual(options, { stack: "factory-b", speed: 60, seed: 7, outageMs: 30_000, outageAfterMs: 60_000, durationMs: 300_000, port: 9000, web: false, keepRunDir: true });
    assert.equal(parseStartArgs(["--help"]), "help");
  });

  const refused: [string[], RegExp][] = [
    [["--factory", "factory-z"], /--factory: no stack "factory-z" \(stacks: factory-a, factory-b, factory-c\)/],
    [["--speed", "0"], /--speed: expected a number from 0.1 to 1000, got "0"/],
    [["--speed", "fast"], /--speed: expected a number from 0.1 to 1000, got "fast"/],
    [["--outage", "30"], /--outage: expected a duration such as 30s, 5m or 1h, got "30"/],
    [["--port", "70000"], /--port: expected a port from 1 to 65535, got "70000"/],
    [["--colour"], /Unknown option '--colour'/],
  ];
  for (const [argv, message] of refused) {
    it(`refuses ${argv.join(" ")}, naming the option and the value`, () => {
      assert.throws(() => parseStartArgs(argv), (e: Error) => e instanceof UsageError && message.test(e.message));
    });
  }
});
