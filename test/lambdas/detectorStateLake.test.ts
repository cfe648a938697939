import { strict as assert } from "node:assert";
import {
  lakeStateRow,
  stateTopic,
  toSiteWiseStateMessage,
  type FactoryId,
  type GatewayId,
  type LineId,
  type MachineId,
  type MachineState,
  type SiteWiseStateMessage,
} from "@smart-factory/sdk";
import { InputReader, type Classified } from "../../lambdas/detector/events";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";

const T = Date.UTC(2026, 10, 25, 8, 0, 0);

/** A state message of press-01 on press-line-1 from gw-press (factory-a), `state` entered at `timestamp`. */
function message(state: MachineState, timestamp: number): SiteWiseStateMessage {
  return toSiteWiseStateMessage(
    { machineId: "press-01" as MachineId, timestamp, clock: "source", state, goodIncrement: 3, badIncrement: 1 },
    { factoryId: "factory-a" as FactoryId, gatewayId: "gw-press" as GatewayId, lineId: "press-line-1" as LineId, sequence: 42 },
  );
}

/** What the state rule hands the detector when the factory has a lake: the message and the lake's fields from its topic. */
function withLake(m: SiteWiseStateMessage, topic = { factory: m.factoryId as string, line: m.lineId as string, machine: m.machineId as string }): Record<string, unknown> {
  return { ...m, ...lakeStateRow(m, topic) };
}

function refusal(c: Classified): [string, string] {
  assert.ok(!c.ok, "refused");
  return [c.refusal.kind, c.refusal.reason];
}

describe("lambdas/detector/events: the state rule's lake fields (SELECT *, topic(3) AS factory, ...)", () => {
  const reader = new InputReader(loadFactoryConfigFromStack("factory-a"));

  it("reads a state event with the lake's fields as the same input as the bare message", () => {
    const m = message("fault", T);
    const bare = reader.read(m, T + 1000);
    const extended = reader.read(withLake(m), T + 1000);
    assert.ok(bare.ok && extended.ok);
    assert.deepEqual(extended.input, bare.input);
    assert.deepEqual(extended.input, { kind: "state", gatewayId: "gw-press", lineId: "press-line-1", machineId: "press-01", sequence: 42, state: "fault", timestamp: T });
  });

  it("the lake's fields are the message's: factory, line and machine of the topic, state name, epoch milliseconds, UTC day", () => {
    const m = message("plannedStop", T + 123);
    assert.deepEqual(lakeStateRow(m, { factory: "factory-a", line: "press-line-1", machine: "press-01" }), {
      factory: "factory-a",
      line: "press-line-1",
      machine: "press-01",
      time: T + 123,
      state: "plannedStop",
      state_code: 3,
      good_increment: 3,
      bad_increment: 1,
      dt: "2026-11-25",
    });
    // the topic the rule takes them from names the same line and machine at levels 6 and 7
    const levels = stateTopic("factory-a" as FactoryId, "gw-press" as GatewayId, "press-line-1" as LineId, "press-01" as MachineId, "plain").split("/");
    assert.deepEqual([levels[2], levels[5], levels[6]], ["factory-a", "press-line-1", "press-01"]);
  });

  it("refuses a message whose topic (as the lake's fields tell it) names another line or machine", () => {
    const m = message("running", T);
    assert.deepEqual(refusal(reader.read(withLake(m, { factory: "factory-a", line: "press-line-1", machine: "press-02" }), T + 1000)), ["state", "badTopic"]);
    assert.deepEqual(refusal(reader.read(withLake(m, { factory: "factory-a", line: "cnc-cell-1", machine: "press-01" }), T + 1000)), ["state", "badTopic"]);
    assert.deepEqual(refusal(reader.read(withLake(m, { factory: "factory-b", line: "press-line-1", machine: "press-01" }), T + 1000)), ["state", "badTopic"]);
  });

  it("refuses lake fields that disagree with the message, and any other key it does not know", () => {
    const m = message("running", T);
    assert.deepEqual(refusal(reader.read({ ...withLake(m), state: "fault" }, T + 1000)), ["state", "invalidEvent"]);
    assert.deepEqual(refusal(reader.read({ ...withLake(m), time: T - 1000 }, T + 1000)), ["state", "invalidEvent"]);
    assert.deepEqual(refusal(reader.read({ ...withLake(m), shift: "early" }, T + 1000)), ["state", "invalidEvent"]);
  });

  it("still checks the message against the inventory: a machine the factory lacks is refused, lake fields or not", () => {
    const m = { ...message("fault", T), machineId: "press-99" } as SiteWiseStateMessage;
    assert.deepEqual(refusal(reader.read(withLake(m), T + 1000)), ["state", "unknownMachine"]);
  });
});
