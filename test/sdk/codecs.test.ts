import { strict as assert } from "node:assert";
import {
  check,
  ContractError,
  decode,
  fromSiteWiseStateMessage,
  MachineStateEvent,
  Reading,
  SiteWiseStateMessage,
  TelemetryBatch,
  toSiteWiseStateMessage,
  type FactoryId,
  type GatewayId,
  type LineId,
} from "@smart-factory/sdk";
import type * as t from "io-ts";

const T0 = Date.UTC(2026, 10, 25, 8, 0, 0);

const reading = {
  machineId: "press-07",
  tag: "motorTemperature",
  timestamp: T0,
  clock: "source",
  value: 71.25,
  unit: "degC",
  quality: "good",
};

/** The path of the first issue `codec` reports for `input`, asserting that there is one. */
function firstIssue(codec: t.Mixed, input: unknown): { path: string; expected: string; value: unknown } {
  const result = check(codec, input);
  assert.ok(!result.ok, `expected ${JSON.stringify(input)} to be rejected`);
  const issue = result.issues[0];
  assert.ok(issue);
  return issue;
}

describe("Reading", () => {
  it("accepts a reading and returns exactly its fields", () => {
    assert.deepEqual(decode(Reading, reading), reading);
  });

  it("accepts a bad reading without a value", () => {
    assert.equal(decode(Reading, { ...reading, value: null, quality: "bad" }).value, null);
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ["a machine id with upper case", { machineId: "Press-07" }, "machineId"],
    ["a tag that is not lowerCamelCase", { tag: "motor_temperature" }, "tag"],
    ["a timestamp in seconds", { timestamp: T0 / 1000 }, "timestamp"],
    ["a fractional millisecond", { timestamp: T0 + 0.5 }, "timestamp"],
    ["an unknown clock", { clock: "plc" }, "clock"],
    ["NaN", { value: Number.NaN }, "value"],
    ["a value as text", { value: "71.25" }, "value"],
    ["an unknown unit", { unit: "celsius" }, "unit"],
    ["an unknown quality", { quality: "ok" }, "quality"],
    ["a good reading without value", { value: null }, "value"],
    ["an unknown key", { site: "x" }, "site"],
  ];
  for (const [what, change, path] of invalid) {
    it(`rejects ${what}, naming ${path}`, () => {
      assert.equal(firstIssue(Reading, { ...reading, ...change }).path, path);
    });
  }

  it("reports a missing field by name", () => {
    const { unit: _unit, ...withoutUnit } = reading;
    const issue = firstIssue(Reading, withoutUnit);
    assert.equal(issue.path, "unit");
    assert.equal(issue.value, undefined);
  });
});

describe("TelemetryBatch", () => {
  const batch = {
    schemaVersion: 1,
    factoryId: "factory-a",
    gatewayId: "gw-press",
    sequence: 1041,
    sentAt: T0 + 1000,
    readings: [reading, { ...reading, tag: "ramForce", unit: "kN", value: 1830 }],
  };

  it("accepts a batch", () => {
    assert.deepEqual(decode(TelemetryBatch, batch), batch);
  });

  it("names the reading and field at fault", () => {
    const bad = { ...batch, readings: [reading, { ...reading, unit: "Kelvin" }] };
    const error = (() => {
      try {
        decode(TelemetryBatch, bad, "telemetry batch");
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(error instanceof ContractError);
    assert.equal(error.issues[0]?.path, "readings[1].unit");
    assert.match(error.message, /^invalid telemetry batch: readings\[1\]\.unit: expected a known unit id .*, got "Kelvin"$/);
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ["another schema version", { schemaVersion: 2 }, "schemaVersion"],
    ["a negative sequence", { sequence: -1 }, "sequence"],
    ["a factory id with an underscore", { factoryId: "factory_a" }, "factoryId"],
    ["a gateway id too long", { gatewayId: "g".repeat(25) }, "gatewayId"],
    ["readings that are not a list", { readings: {} }, "readings"],
  ];
  for (const [what, change, path] of invalid) {
    it(`rejects ${what}, naming ${path}`, () => {
      assert.equal(firstIssue(TelemetryBatch, { ...batch, ...change }).path, path);
    });
  }
});

describe("MachineStateEvent and its fixed-shape SiteWise message", () => {
  const event = { machineId: "press-07", timestamp: T0 + 123, clock: "source", state: "fault", goodIncrement: 3, badIncrement: 1 };
  const origin = { factoryId: "factory-a" as FactoryId, gatewayId: "gw-press" as GatewayId, lineId: "press-line-1" as LineId, sequence: 9 };

  it("accepts an event", () => {
    assert.deepEqual(decode(MachineStateEvent, event), event);
  });

  it("rejects an unknown state and a fractional part count, naming the field", () => {
    assert.equal(firstIssue(MachineStateEvent, { ...event, state: "broken" }).path, "state");
    assert.equal(firstIssue(MachineStateEvent, { ...event, goodIncrement: 1.5 }).path, "goodIncrement");
    assert.equal(firstIssue(MachineStateEvent, { ...event, badIncrement: -1 }).path, "badIncrement");
  });

  it("maps every field of an event to the message and back", () => {
    const e = decode(MachineStateEvent, event);
    const message = toSiteWiseStateMessage(e, origin);
    assert.deepEqual(message, {
      schemaVersion: 1,
      factoryId: "factory-a",
      gatewayId: "gw-press",
      lineId: "press-line-1",
      machineId: "press-07",
      sequence: 9,
      stateCode: 2,
      goodIncrement: 3,
      badIncrement: 1,
      timeInSeconds: Math.floor((T0 + 123) / 1000),
      offsetInNanos: 123_000_000,
      clock: "source",
    });
    assert.deepEqual(decode(SiteWiseStateMessage, JSON.parse(JSON.stringify(message))), message);
    assert.deepEqual(fromSiteWiseStateMessage(message), e);
  });

  it("round-trips every state through its code", () => {
    for (const state of ["running", "idle", "fault", "plannedStop"] as const) {
      const e = decode(MachineStateEvent, { ...event, state });
      assert.equal(fromSiteWiseStateMessage(toSiteWiseStateMessage(e, origin)).state, state);
    }
  });

  it("rejects a message whose code or time SiteWise could not take", () => {
    const message = toSiteWiseStateMessage(decode(MachineStateEvent, event), origin);
    assert.equal(firstIssue(SiteWiseStateMessage, { ...message, stateCode: 4 }).path, "stateCode");
    assert.equal(firstIssue(SiteWiseStateMessage, { ...message, offsetInNanos: 1_000_000_000 }).path, "offsetInNanos");
    assert.equal(firstIssue(SiteWiseStateMessage, { ...message, offsetInNanos: 1_500 }).path, "offsetInNanos");
    assert.equal(firstIssue(SiteWiseStateMessage, { ...message, lineId: undefined }).path, "lineId");
  });
});
