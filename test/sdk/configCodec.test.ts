import { strict as assert } from "node:assert";
import { check, closed, FactoryConfig, formatPath, NodeId, TimeZone, VpcCidr, windowMinutes } from "@smart-factory/sdk";
import * as t from "io-ts";
import { readStackConfig } from "../helpers/stacks";

/** factory-c's stack config as the program assembles it (sections keyed as in FactoryConfig). */
function factoryC(): Record<string, any> {
  const raw = readStackConfig("factory-c");
  const config: Record<string, any> = { region: raw["aws:region"] };
  for (const [key, value] of Object.entries(raw)) if (key.startsWith("smart-factory:")) config[key.slice("smart-factory:".length)] = value;
  return config;
}

function issuePaths(input: unknown): string[] {
  const result = check(FactoryConfig, input);
  return result.ok ? [] : result.issues.map((i) => i.path);
}

describe("FactoryConfig codec", () => {
  it("accepts factory C as written", () => {
    assert.deepEqual(issuePaths(factoryC()), []);
  });

  it("finds a night shift overlapping Monday's early shift across the week's end", () => {
    const config = factoryC();
    config.factory.shifts.push({ id: "weekend-night", name: "Sunday night", start: "22:00", end: "06:30", days: ["sun"] });
    config.factory.shifts[0].days = ["mon"];
    assert.deepEqual(issuePaths(config), ["factory.shifts[2].start"]);
  });

  it("requires the machines of a type to wire exactly the type's tags, once", () => {
    const config = factoryC();
    const machine = config.lines[0].machines[0];
    machine.sensors = { weldCurrent: "sensors/weld/current" };
    machine.tags.spindleSpeed = "ns=3;s=X";
    assert.deepEqual(issuePaths(config).sort(), ["lines[0].machines[0].sensors.weldCurrent", "lines[0].machines[0].tags.spindleSpeed"]);
  });

  it("rejects duplicate state codes and reserved tag names", () => {
    const config = factoryC();
    config.machineTypes[0].stateCodes.idle = [1];
    config.machineTypes[1].tags[0].name = "state";
    const paths = issuePaths(config);
    assert.ok(paths.includes("machineTypes[0].stateCodes.idle[0]"), paths.join());
    assert.ok(paths.includes("machineTypes[1].tags[0].name"), paths.join());
  });

  it("rejects a threshold band upside down and one with no limit", () => {
    const config = factoryC();
    config.alerts.thresholds[0].below = 800;
    delete config.alerts.thresholds[1].below;
    assert.deepEqual(issuePaths(config).sort(), ["alerts.thresholds[0].below", "alerts.thresholds[1].above"]);
  });

  it("knows SiteWise's window range", () => {
    assert.equal(windowMinutes("15m"), 15);
    assert.equal(windowMinutes("1w"), 10080);
    assert.equal(windowMinutes("90s"), undefined);
    assert.deepEqual(issuePaths({ ...factoryC(), oee: { window: "2w" } }), ["oee.window"]);
  });

  it("knows node ids, time zones and CIDR blocks", () => {
    for (const id of ["ns=3;s=Press07.State", "i=2258", "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a", "nsu=urn:plc:1;s=A.B", "ns=4;b=M/RbKBsRVkePCePcx24oRA=="]) {
      assert.ok(NodeId.is(id), id);
    }
    for (const id of ["Press07.State", "ns=3;x=1", "ns=;s=A", ""]) assert.ok(!NodeId.is(id), id);
    assert.ok(TimeZone.is("America/Monterrey") && TimeZone.is("UTC"));
    assert.ok(!TimeZone.is("CET+1") && !TimeZone.is("Mars/Olympus"));
    assert.ok(VpcCidr.is("10.42.0.0/16") && VpcCidr.is("10.42.16.0/20"));
    assert.ok(!VpcCidr.is("10.42.0.0/8") && !VpcCidr.is("10.42.1.0/16") && !VpcCidr.is("300.1.0.0/16"));
  });
});

describe("closed objects and error paths", () => {
  const Point = closed("a point", { x: t.number }, { label: t.string });

  it("drops nothing it declares and keeps nothing it does not", () => {
    assert.deepEqual(check(Point, { x: 1, label: "a" }), { ok: true, value: { x: 1, label: "a" } });
    assert.deepEqual(check(Point, { x: 1 }), { ok: true, value: { x: 1 } });
  });

  it("reports every unknown key with the allowed ones", () => {
    const result = check(Point, { x: 1, y: 2 });
    assert.ok(!result.ok);
    assert.deepEqual(result.issues.map((i) => [i.path, i.expected]), [["y", 'no key "y" here (allowed: x, label)']]);
  });

  it("formats paths readably, quoting keys that are not identifiers", () => {
    assert.equal(formatPath(["lines", 0, "machines", 12, "tags", "ramForce"]), "lines[0].machines[12].tags.ramForce");
    assert.equal(formatPath(["tags", "Cost Center"]), 'tags["Cost Center"]');
    assert.equal(formatPath([]), "");
  });
});
