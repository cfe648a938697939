import { strict as assert } from "node:assert";
import { DASHBOARD_ACTIONS, DATA_SOURCE_ACTIONS, DATASET_ACTIONS, TELEMETRY_DATASET_COLUMNS, telemetryDatasetSql } from "../../infra/components/dashboards";
import { checkStack } from "../../infra/policy/engine";
import { POLICIES } from "../../infra/policy/policies";
import { loadFactoryConfigFromStack } from "../helpers/factoryConfig";
import { readStackConfig, renderStack, type RenderedStack, one } from "../helpers/stacks";

const QUICKSIGHT = /^aws-native:quicksight:/;

/** A stack's config with `features.quickSight` replaced. */
function withQuickSight(stack: string, settings: Record<string, unknown>): Record<string, unknown> {
  const config = readStackConfig(stack);
  const features = config["smart-factory:features"] as Record<string, unknown>;
  return { ...config, "smart-factory:features": { ...features, quickSight: settings } };
}

async function rejection(config: Record<string, unknown>): Promise<Error> {
  try {
    const r = await renderStack("factory-a", config);
    assert.fail(`the program accepted the config and declared ${r.resources.length} resources`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error as Error;
  }
}

describe("infra: QuickSightDashboards, the factory's telemetry in QuickSight", function () {
  this.timeout(120_000);
  let b: RenderedStack;
  const principal = (readStackConfig("factory-b")["smart-factory:features"] as { quickSight: { principalArn: string } }).quickSight.principalArn;
  before(async () => {
    b = await renderStack("factory-b", readStackConfig("factory-b"));
  });

  it("a Timestream data source owned by the configured principal", () => {
    const source = one(b, "aws-native:quicksight:DataSource");
    assert.equal(source.inputs.type, "TIMESTREAM");
    assert.equal(source.inputs.awsAccountId, "123456789012");
    assert.equal(source.inputs.dataSourceId, "factory-b-timestream");
    assert.deepEqual(source.inputs.permissions, [{ principal, actions: [...DATA_SOURCE_ACTIONS] }]);
    assert.match(principal, /^arn:aws:quicksight:[a-z0-9-]+:\d{12}:group\/default\//);
  });

  it("a direct-query dataset of every tag per machine and minute, from the factory's telemetry table", () => {
    const dataSet = one(b, "aws-native:quicksight:DataSet");
    const source = one(b, "aws-native:quicksight:DataSource");
    assert.equal(dataSet.inputs.importMode, "DIRECT_QUERY");
    assert.equal(dataSet.inputs.dataSetId, "factory-b-telemetry-per-machine");
    const physical = dataSet.inputs.physicalTableMap as Record<string, { customSql: { dataSourceArn: string; sqlQuery: string; columns: { name: string; type: string }[] } }>;
    const table = physical.telemetry?.customSql;
    assert.ok(table);
    assert.equal(table.dataSourceArn, source.state.arn);
    assert.deepEqual(table.columns, TELEMETRY_DATASET_COLUMNS.map((c) => ({ ...c })));
    assert.equal(table.sqlQuery, telemetryDatasetSql(loadFactoryConfigFromStack("factory-b"), "factory-b-telemetry", "telemetry"));
    for (const tag of ["barrelTemperature", "moldTemperature", "injectionPressure", "cycleTime", "clampForce", "motorCurrent", "beltSpeed", "vacuumPressure"]) {
      assert.ok(table.sqlQuery.includes(`'${tag}' AS "tag"`) && table.sqlQuery.includes(`AVG("${tag}") AS "value"`), tag);
    }
    assert.ok(table.sqlQuery.split("UNION ALL").every((part) => part.includes('FROM "factory-b-telemetry"."telemetry"') && part.includes("time > ago(7d)")));
    assert.deepEqual(dataSet.inputs.logicalTableMap, { telemetry: { alias: "telemetry", source: { physicalTableId: "telemetry" } } });
    assert.deepEqual(dataSet.inputs.permissions, [{ principal, actions: [...DATASET_ACTIONS] }]);
  });

  it("one SELECT per tag and SI unit, limited to the machine types that have the tag", () => {
    const sql = telemetryDatasetSql(loadFactoryConfigFromStack("factory-c"), "factory-c-telemetry", "telemetry");
    const parts = sql.split("\nUNION ALL\n");
    // weld-robot, torque-station and leak-tester have 9 tags, of which airPressure is shared
    assert.equal(parts.length, 8);
    const air = parts.find((p) => p.includes(`'airPressure' AS "tag"`)) ?? "";
    assert.ok(air.includes(`'Pa' AS "unit"`), "psi is stored in Pa");
    assert.ok(air.includes(`"machine_type" IN ('weld-robot', 'torque-station')`));
    const motor = parts.find((p) => p.includes(`'motorTemperature' AS "tag"`)) ?? "";
    assert.ok(motor.includes(`'degC' AS "unit"`), "degF is stored in degC");
    assert.ok(motor.includes(`"machine_type" IN ('torque-station')`));
  });

  it("a dashboard of one sheet with a trend and a peak visual over the dataset, owned by the principal", () => {
    const dashboard = one(b, "aws-native:quicksight:Dashboard");
    const dataSet = one(b, "aws-native:quicksight:DataSet");
    assert.equal(dashboard.inputs.dashboardId, "factory-b-telemetry");
    assert.deepEqual(dashboard.inputs.permissions, [{ principal, actions: [...DASHBOARD_ACTIONS] }]);
    const definition = dashboard.inputs.definition as Record<string, any>;
    assert.deepEqual(definition.dataSetIdentifierDeclarations, [{ identifier: "telemetry", dataSetArn: dataSet.state.arn }]);
    assert.equal(definition.sheets.length, 1);
    const [sheet] = definition.sheets;
    const visuals = sheet.visuals as Record<string, { visualId: string; chartConfiguration: { fieldWells: Record<string, Record<string, any[]>> } }>[];
    assert.deepEqual(visuals.map((v) => Object.keys(v)), [["lineChartVisual"], ["barChartVisual"]]);
    // every field names a column of the dataset
    const columns = new Set<string>(TELEMETRY_DATASET_COLUMNS.map((c) => c.name));
    const fields = visuals.flatMap((v) => Object.values(Object.values(v)[0]!.chartConfiguration.fieldWells).flatMap((wells) => Object.values(wells).flat()));
    assert.ok(fields.length >= 7);
    for (const field of fields) {
      const column = (Object.values(field)[0] as { column: { dataSetIdentifier: string; columnName: string } }).column;
      assert.equal(column.dataSetIdentifier, "telemetry");
      assert.ok(columns.has(column.columnName), column.columnName);
    }
    const laidOut = (sheet.layouts[0].configuration.gridLayout.elements as { elementId: string }[]).map((e) => e.elementId);
    assert.deepEqual(laidOut, visuals.map((v) => Object.values(v)[0]!.visualId));
    assert.deepEqual(b.exports.quickSightDashboards, {
      dashboardId: "factory-b-telemetry",
      dashboardUrl: "https://us-east-2.quicksight.aws.amazon.com/sn/dashboards/factory-b-telemetry",
      dataSet: dataSet.state.arn,
      dataSource: one(b, "aws-native:quicksight:DataSource").state.arn,
      sharedWith: principal,
    });
  });

  it("the QuickSight resources are tagged through the aws-native provider and pass the policy pack", async () => {
    assert.ok(b.resources.filter((x) => x.urn.includes("QuickSightDashboards")).length >= 4);
    const report = await checkStack(b, POLICIES);
    const mine = report.results.flatMap((x) => x.violations.filter((v) => v.enforcementLevel === "mandatory" && (v.urn ?? "").includes("QuickSightDashboards")));
    assert.deepEqual(mine, []);
    for (const x of b.resources.filter((r) => QUICKSIGHT.test(r.type))) assert.match(String(x.provider), /::pulumi:providers:aws-native::/);
  });

  it("nothing of QuickSight in a stack where it is off", async () => {
    const a = await renderStack("factory-a", readStackConfig("factory-a"));
    assert.equal(a.resources.filter((x) => QUICKSIGHT.test(x.type)).length, 0);
    assert.deepEqual(a.exports.quickSightDashboards, { status: "disabled by config (smart-factory:features.quickSight.enabled = false)" });
  });

  it("enabling QuickSight needs the principal, and a principal must be a QuickSight user or group ARN", async () => {
    const missing = await rejection(withQuickSight("factory-a", { enabled: true }));
    assert.match(missing.message, /smart-factory:features\.quickSight\.principalArn: expected the QuickSight user or group ARN the dashboards are shared with, when QuickSight is enabled/);
    const wrong = await rejection(withQuickSight("factory-a", { enabled: true, principalArn: "arn:aws:iam::123456789012:role/analysts" }));
    assert.match(wrong.message, /smart-factory:features\.quickSight\.principalArn: expected a QuickSight user or group ARN/);
    const user = "arn:aws:quicksight:eu-central-1:123456789012:user/default/analyst-role/jane.doe@example.com";
    const a = await renderStack("factory-a", withQuickSight("factory-a", { enabled: true, principalArn: user }));
    assert.deepEqual(one(a, "aws-native:quicksight:Dashboard").inputs.permissions, [{ principal: user, actions: [...DASHBOARD_ACTIONS] }]);
  });
});
