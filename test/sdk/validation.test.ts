import { strict as assert } from "node:assert";
import { ReadingValidator, type Reading } from "@smart-factory/sdk";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";

describe("ReadingValidator: the inventory checks the edge agent and the enrichment Lambda share", () => {
  const validator = new ReadingValidator(loadFactoryConfigFromStack("factory-c"));
  const NOW = Date.UTC(2026, 10, 23, 7);
  const reading = (over: Partial<Record<keyof Reading, unknown>> = {}): Reading =>
    ({ machineId: "weld-robot-01", tag: "tipTemperature", timestamp: NOW - 1000, clock: "source", value: 212, unit: "degF", quality: "good", ...over }) as Reading;

  it("accepts a reading of the gateway's machine and gives its canonical value", () => {
    const verdict = validator.check(reading(), "gw-body", NOW);
    assert.ok(verdict.ok);
    assert.equal(verdict.canonical, 100);
    assert.equal(verdict.placement.line.id, "body-assembly");
  });

  const cases: [string, Partial<Record<keyof Reading, unknown>>, string, string, RegExp][] = [
    ["an unknown machine", { machineId: "weld-robot-99" }, "unknownMachine", "machineId", /machineId "weld-robot-99" is not a machine of factory factory-c/],
    ["a machine of another gateway", { machineId: "torque-01", tag: "finalTorque", unit: "lbf.ft", value: 10 }, "machineNotOnGateway", "machineId", /served by gateway gw-final, not by gw-body/],
    ["a tag its type lacks", { tag: "leakRate" }, "unknownTag", "tag", /tag "leakRate" is not a tag of machine type weld-robot/],
    ["a unit of another quantity", { unit: "psi" }, "unitMismatch", "unit", /unit "psi" measures pressure, but tag tipTemperature is a temperature/],
    ["a value out of range, compared in the configured unit", { value: 500, unit: "degC" }, "outOfRange", "value", /value 500 degC \(932 degF\) is outside the valid range of tipTemperature, 32 to 900 degF/],
    ["a timestamp too far ahead", { timestamp: NOW + 3_600_000 }, "timestampInFuture", "timestamp", /./],
    ["a timestamp older than retention", { timestamp: NOW - 4000 * 24 * 3_600_000 }, "timestampTooOld", "timestamp", /./],
  ];
  for (const [title, over, reason, field, message] of cases) {
    it(`refuses ${title}, naming the field and value`, () => {
      const verdict = validator.check(reading(over), "gw-body", NOW);
      assert.ok(!verdict.ok);
      assert.equal(verdict.reason, reason);
      assert.equal(verdict.field, field);
      assert.equal(verdict.value, (reading(over) as unknown as Record<string, unknown>)[field]);
      assert.match(verdict.message, message);
    });
  }
});
