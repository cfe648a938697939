import { strict as assert } from "node:assert";
import {
  agentClientId,
  checkName,
  healthTopic,
  machinePropertyAlias,
  NameError,
  parseTopic,
  policyTopic,
  scopedName,
  statePropertyAliasTemplate,
  stateTopic,
  telemetryTopic,
  thingName,
  topicRuleName,
  type FactoryId,
  type GatewayId,
  type LineId,
  type MachineId,
} from "@smart-factory/sdk";

const F = "factory-a" as FactoryId;
const G = "gw-press" as GatewayId;
const L = "press-line-1" as LineId;
const M = "press-07" as MachineId;

describe("names", () => {
  it("builds topic rule names of letters, digits and underscores only", () => {
    assert.equal(topicRuleName(F, "telemetry"), "sf_factory_a_telemetry");
    assert.equal(topicRuleName("plant-2-east" as FactoryId, "raw"), "sf_plant_2_east_raw");
  });

  it("prefixes account-scoped names with the factory id", () => {
    assert.equal(thingName(F, G), "factory-a-gw-press");
    assert.equal(scopedName("iamRole", F, "token-exchange"), "factory-a-token-exchange");
    assert.notEqual(agentClientId(F, G), thingName(F, G), "the agent must not take the nucleus's client id");
  });

  it("refuses a name that breaks the resource's rules, naming it", () => {
    assert.throws(() => scopedName("iamRole", F, "x".repeat(60)), (e: unknown) => e instanceof NameError && /iamRole name "factory-a-x+" is 70 characters long: at most 64/.test(e.message));
    assert.throws(() => checkName("topicRule", "sf-a"), /topicRule name "sf-a" does not match/);
    assert.throws(() => scopedName("s3Bucket", F), /needs a part after the factory id/);
  });

  it("builds Basic Ingest and plain topics under the gateway's thing name", () => {
    assert.equal(telemetryTopic(F, G), "$aws/rules/sf_factory_a_telemetry/sf/v1/factory-a/factory-a-gw-press/telemetry");
    assert.equal(telemetryTopic(F, G, "plain"), "sf/v1/factory-a/factory-a-gw-press/telemetry");
    assert.equal(stateTopic(F, G, L, M, "plain"), "sf/v1/factory-a/factory-a-gw-press/state/press-line-1/press-07");
    assert.equal(healthTopic(F, G), "$aws/rules/sf_factory_a_health/sf/v1/factory-a/factory-a-gw-press/health");
  });

  it("gives IoT policies the topics with the thing-name policy variable", () => {
    assert.equal(policyTopic(F, "telemetry"), "$aws/rules/sf_factory_a_telemetry/sf/v1/factory-a/${iot:Connection.Thing.ThingName}/telemetry");
    assert.equal(policyTopic(F, "state"), "$aws/rules/sf_factory_a_state/sf/v1/factory-a/${iot:Connection.Thing.ThingName}/state/*");
  });

  it("parses every topic it builds back to its origin", () => {
    for (const form of ["basicIngest", "plain"] as const) {
      const state = parseTopic(stateTopic(F, G, L, M, form));
      assert.deepEqual(
        { kind: state.kind, factoryId: state.factoryId, gatewayId: state.gatewayId, lineId: state.lineId, machineId: state.machineId },
        { kind: "state", factoryId: F, gatewayId: G, lineId: L, machineId: M },
      );
      const telemetry = parseTopic(telemetryTopic(F, G, form));
      assert.equal(telemetry.thingName, "factory-a-gw-press");
      assert.equal(telemetry.gatewayId, G);
      assert.equal(telemetry.rule, form === "basicIngest" ? "sf_factory_a_telemetry" : undefined);
    }
  });

  it("refuses topics that are not the pipeline's, saying why", () => {
    const cases: [string, RegExp][] = [
      ["devices/x/telemetry", /does not start with sf\/v1\//],
      ["sf/v1/factory-a/factory-a-gw-press/metrics", /unknown message kind "metrics"/],
      ["sf/v1/factory-a/factory-b-gw-press/telemetry", /does not belong to factory "factory-a"/],
      ["sf/v1/factory-a/factory-a-gw-press/state/press-line-1", /a state topic has 7 levels, this one 6/],
      ["$aws/rules/sf_factory_b_telemetry/sf/v1/factory-a/factory-a-gw/telemetry", /not the telemetry rule of factory factory-a/],
    ];
    for (const [topic, message] of cases) assert.throws(() => parseTopic(topic), (e: unknown) => e instanceof NameError && message.test(e.message), topic);
  });

  it("builds SiteWise aliases, and the rule template that takes line and machine from the topic", () => {
    assert.equal(machinePropertyAlias(F, L, M, "state"), "/sf/factory-a/press-line-1/press-07/state");
    assert.equal(statePropertyAliasTemplate(F, "goodParts"), "/sf/factory-a/${topic(6)}/${topic(7)}/goodParts");
    const levels = stateTopic(F, G, L, M, "plain").split("/");
    assert.equal(levels[6 - 1], L);
    assert.equal(levels[7 - 1], M);
    assert.throws(() => machinePropertyAlias(F, L, M, "good parts"), NameError);
  });
});
