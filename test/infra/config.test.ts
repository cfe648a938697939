import { strict as assert } from "node:assert";
import { readStackConfig, runProgram, stackNames } from "../helpers/stacks";

interface Summary {
  factoryId: string;
  region: string;
  counts: { lines: number; machines: number; machineTypes: number; gateways: number; tags: number };
  gateways: { id: string; thingName: string; lines: string[] }[];
  features: { vpc: boolean; quickSight: boolean; predictiveMaintenance: boolean };
}

/** Run the program for factory-a with `mutate` applied to its config; return the error it stops with. */
async function rejection(mutate: (config: Record<string, any>) => void): Promise<Error & { problems?: string[] }> {
  const config = readStackConfig("factory-a");
  mutate(config);
  try {
    const { mocks } = await runProgram("factory-a", config);
    assert.fail(`the program accepted the config and declared ${mocks.resources.length} resources`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error as Error;
  }
}

describe("infra/config.ts: the three factory stacks", () => {
  it("has exactly the stacks factory-a, factory-b and factory-c", () => {
    assert.deepEqual(stackNames(), ["factory-a", "factory-b", "factory-c"]);
  });

  const expected: Record<string, { region: string; lines: number; machines: number; gateways: number; vpc: boolean }> = {
    "factory-a": { region: "eu-central-1", lines: 3, machines: 24, gateways: 2, vpc: true },
    "factory-b": { region: "us-east-2", lines: 3, machines: 16, gateways: 2, vpc: true },
    "factory-c": { region: "us-east-1", lines: 3, machines: 12, gateways: 2, vpc: false },
  };
  for (const [stack, want] of Object.entries(expected)) {
    it(`${stack} loads through the program and exports its summary`, async () => {
      const { exports, mocks } = await runProgram(stack, readStackConfig(stack));
      const summary = exports.factory as Summary;
      assert.equal(summary.factoryId, stack);
      assert.equal(summary.region, want.region);
      assert.equal(summary.counts.lines, want.lines);
      assert.equal(summary.counts.machines, want.machines);
      assert.equal(summary.counts.gateways, want.gateways);
      assert.equal(summary.features.vpc, want.vpc);
      for (const gateway of summary.gateways) assert.equal(gateway.thingName, `${stack}-${gateway.id}`);
      assert.ok(mocks.resources.length > 0, "the program declares the factory's resources");
    });
  }

  it("keeps factory C's PLC units as reported (degF, psi) in its config", () => {
    const types = readStackConfig("factory-c")["smart-factory:machineTypes"] as { tags: { unit: string }[] }[];
    const units = new Set(types.flatMap((t) => t.tags.map((tag) => tag.unit)));
    assert.ok(units.has("degF") && units.has("psi"));
    assert.ok(!units.has("degC"));
  });
});

describe("infra/config.ts: a malformed stack config stops the program, naming key and value", () => {
  const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
    ["a missing section", (c) => delete c["smart-factory:lines"], /smart-factory:lines: expected a list of lines, got nothing \(missing\)/],
    ["a region that is not one", (c) => (c["aws:region"] = "europe"), /aws:region: expected an AWS region code .*, got "europe"/],
    ["a factory id unfit for AWS names", (c) => (c["smart-factory:factory"].id = "Factory_A"), /smart-factory:factory\.id: expected a factory id .*, got "Factory_A"/],
    ["an unknown time zone", (c) => (c["smart-factory:factory"].timeZone = "Europe/Stutgart"), /smart-factory:factory\.timeZone: .*got "Europe\/Stutgart"/],
    ["a shift time without leading zero", (c) => (c["smart-factory:factory"].shifts[0].start = "6:00"), /smart-factory:factory\.shifts\[0\]\.start: expected a time of day HH:MM .*got "6:00"/],
    ["overlapping shifts", (c) => (c["smart-factory:factory"].shifts[1].start = "13:00"), /smart-factory:factory\.shifts\[1\]\.start: expected a time outside shift "early" \(they overlap on mon\), got "13:00"/],
    ["a window SiteWise cannot compute", (c) => (c["smart-factory:oee"].window = "30s"), /smart-factory:oee\.window: expected a metric window from 1m to 1w.*got "30s"/],
    ["a tag range with min above max", (c) => (c["smart-factory:machineTypes"][0].tags[1].min = 200), /smart-factory:machineTypes\[0\]\.tags\[1\]\.max: expected a number greater than min \(200\), got 150/],
    ["an unknown unit", (c) => (c["smart-factory:machineTypes"][1].tags[2].unit = "celsius"), /smart-factory:machineTypes\[1\]\.tags\[2\]\.unit: expected a known unit id.*got "celsius"/],
    ["a duplicate machine id", (c) => (c["smart-factory:lines"][1].machines[0].id = "press-01"), /smart-factory:lines\[1\]\.machines\[0\]\.id: expected a machine id not used before.*lines\[0\]\.machines\[0\]\.id\), got "press-01"/],
    ["a machine of an unknown type", (c) => (c["smart-factory:lines"][2].machines[3].type = "lathe"), /smart-factory:lines\[2\]\.machines\[3\]\.type: expected one of the machine types \(servo-press, cnc-mill\), got "lathe"/],
    ["a machine missing a tag's node id", (c) => delete c["smart-factory:lines"][0].machines[2].tags.ramForce, /smart-factory:lines\[0\]\.machines\[2\]\.tags\.ramForce: expected a node id \(or a sensor topic\) for tag "ramForce"/],
    ["a misspelt key", (c) => {
      const m = c["smart-factory:lines"][0].machines[0];
      m.idealRunrate = m.idealRunRate;
      delete m.idealRunRate;
    }, /smart-factory:lines\[0\]\.machines\[0\]\.idealRunrate: expected no key "idealRunrate" here/],
    ["a negative ideal run rate", (c) => (c["smart-factory:lines"][0].machines[1].idealRunRate = -30), /smart-factory:lines\[0\]\.machines\[1\]\.idealRunRate: expected a number greater than 0, got -30/],
    ["an OPC UA node id that is not one", (c) => (c["smart-factory:lines"][0].machines[0].signals.state = "Press01.State"), /smart-factory:lines\[0\]\.machines\[0\]\.signals\.state: expected an OPC UA node id.*got "Press01.State"/],
    ["security mode None with a policy", (c) => (c["smart-factory:lines"][0].machines[0].opcua.securityMode = "None"), /opcua\.securityPolicy: expected policy "None" with security mode None, got "Basic256Sha256"/],
    ["a line served by two gateways", (c) => c["smart-factory:gateways"][1].lines.push("press-line-2"), /smart-factory:gateways\[1\]\.lines\[1\]: expected a line no other gateway serves \(gateway gw-press serves press-line-2/],
    ["a line served by no gateway", (c) => (c["smart-factory:gateways"][1].lines = ["press-line-1"]), /smart-factory:lines\[2\]\.id: expected a line that some gateway serves.*got "cnc-cell-1"/],
    ["a gateway serving an unknown line", (c) => (c["smart-factory:gateways"][0].lines[1] = "press-line-9"), /smart-factory:gateways\[0\]\.lines\[1\]: expected one of the line ids .*got "press-line-9"/],
    ["a memory retention beyond Timestream's limit", (c) => (c["smart-factory:telemetry"].memoryStoreRetentionHours = 9000), /smart-factory:telemetry\.memoryStoreRetentionHours: expected a whole number from 1 to 8766, got 9000/],
    ["a threshold in a unit of another quantity", (c) => (c["smart-factory:alerts"].thresholds[0].unit = "bar"), /smart-factory:alerts\.thresholds\[0\]\.unit: expected a unit of temperature, the quantity of tag motorTemperature \(degC\), got "bar"/],
    ["a threshold on a tag the type lacks", (c) => (c["smart-factory:alerts"].thresholds[3].tag = "ramForce"), /smart-factory:alerts\.thresholds\[3\]\.tag: expected a tag of machine type cnc-mill .*got "ramForce"/],
    ["a VPC without CIDR", (c) => delete c["smart-factory:features"].vpc.cidr, /smart-factory:features\.vpc\.cidr: expected a CIDR block when the VPC is enabled, got nothing/],
    ["a CIDR with host bits", (c) => (c["smart-factory:features"].vpc.cidr = "10.41.3.0/16"), /smart-factory:features\.vpc\.cidr: expected an IPv4 CIDR block .*got "10.41.3.0\/16"/],
    ["a missing cost-allocation tag", (c) => delete c["smart-factory:tags"].CostCenter, /smart-factory:tags\.CostCenter: expected the required cost-allocation tag CostCenter/],
    ["an unknown config key", (c) => (c["smart-factory:line"] = []), /smart-factory:line: no such config key/],
    ["structured config that is not JSON", (c) => (c["smart-factory:oee"] = "{window: 15m"), /smart-factory:oee: not valid structured config.*got "\{window: 15m"/],
  ];

  for (const [what, mutate, message] of cases) {
    it(`rejects ${what}`, async () => {
      const error = await rejection(mutate);
      assert.equal(error.name, "StackConfigError");
      assert.match(error.message, message);
    });
  }

  it("lists every problem at once, not only the first", async () => {
    const error = await rejection((c) => {
      c["aws:region"] = "mars-1";
      c["smart-factory:telemetry"].magneticStoreRetentionDays = 0;
      c["smart-factory:lines"][0].machines[0].idealRunRate = 0;
    });
    assert.equal(error.problems?.length, 3);
    assert.match(error.message, /3 problems/);
  });
});
