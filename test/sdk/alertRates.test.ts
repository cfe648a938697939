import { strict as assert } from "node:assert";
import { check, FactoryConfig, formatIssues } from "@smart-factory/sdk";
import { rawFactoryConfig } from "../helpers/factoryConfig";

/** factory-a's stack file as the codec takes it, with `alerts` changed by `edit`. */
function configWith(edit: (alerts: Record<string, any>) => void): unknown {
  const input = rawFactoryConfig("factory-a");
  edit(input.alerts);
  return input;
}

function problems(edit: (alerts: Record<string, any>) => void): string {
  const result = check(FactoryConfig, configWith(edit));
  return result.ok ? "" : formatIssues(result.issues);
}

describe("sdk: rate-of-change alerts in the stack config (alerts.rates)", () => {
  it("are optional: a config without them decodes as before, and one with them keeps them", () => {
    assert.equal(problems((a) => delete a.rates), "");
    const result = check(FactoryConfig, configWith(() => undefined));
    assert.ok(result.ok);
    assert.deepEqual(result.value.alerts.rates, [{ id: "press-motor-heating", machineType: "servo-press", tag: "motorTemperature", unit: "degC", maxRatePerSecond: 0.5, severity: "warning" }]);
  });

  it("name a tag of the machine type, in a unit of its quantity, with a positive limit", () => {
    assert.match(problems((a) => (a.rates[0].tag = "spindleLoad")), /alerts\.rates\[0\]\.tag: expected a tag of machine type servo-press/);
    assert.match(problems((a) => (a.rates[0].unit = "bar")), /alerts\.rates\[0\]\.unit: expected a unit of temperature, the quantity of tag motorTemperature \(degC\)/);
    assert.match(problems((a) => (a.rates[0].machineType = "lathe")), /alerts\.rates\[0\]\.machineType: expected one of the machine types/);
    assert.match(problems((a) => (a.rates[0].maxRatePerSecond = 0)), /alerts\.rates\[0\]\.maxRatePerSecond: expected a number greater than 0/);
    assert.match(problems((a) => (a.rates[0].forSeconds = 10)), /alerts\.rates\[0\]\.forSeconds: .*no key "forSeconds"/);
  });

  it("have ids of their own: not repeated, not a threshold's", () => {
    assert.match(problems((a) => a.rates.push({ ...a.rates[0] })), /alerts\.rates\[1\]\.id: expected a alert id not used before/);
    assert.match(problems((a) => (a.rates[0].id = "press-motor-hot")), /alerts\.rates\[0\]\.id: expected an alert id no threshold uses/);
  });

  it("accept a unit other than the tag's, of the same quantity (degF per second on a degC tag)", () => {
    assert.equal(problems((a) => (a.rates[0].unit = "degF")), "");
  });
});
